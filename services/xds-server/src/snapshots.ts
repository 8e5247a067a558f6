// The snapshot store: watches the manifests in wm-xds, loads the blobs each one names (cached by
// hash and shared across waypoints, dropped once no snapshot refers to them), and publishes a
// waypoint's snapshot only once all its blobs are in memory.
import { type Logger, MANIFEST_PREFIX, type WaypointManifest } from "@waymark/api";
import {
  buckets,
  type KV,
  type KvEntry,
  keyFilters,
  manifestHashes,
  type Watch,
  watchBucket,
} from "@waymark/bus";
import { Blob, buildSnapshot, type Snapshot } from "./snapshot.ts";

export type SnapshotListener = (key: string, snapshot: Snapshot | undefined) => void;

/** How long a manifest may wait for a blob it names (written before it, so normally already there). */
const BLOB_WAIT_MS = 5_000;
const FETCH_BATCH = 64;

export class SnapshotStore {
  readonly #kv: KV;
  readonly #log: Logger;
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #blobs = new Map<string, { blob: Blob; refs: number }>();
  /** Manifest key → newest manifest not yet applied (null: deleted). */
  readonly #pending = new Map<string, WaypointManifest | null>();
  readonly #loading = new Map<string, Promise<void>>();
  readonly #listeners = new Set<SnapshotListener>();
  #watch: Watch | undefined;
  #stopped = false;

  constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log;
  }

  /** Starts watching; resolves once every manifest present at start is loaded (or given up on). */
  async start(): Promise<void> {
    this.#watch = watchBucket(
      this.#kv,
      keyFilters.manifests,
      { onEntry: (e) => this.#onEntry(e) },
      this.#log,
    );
    await this.#watch.ready;
    while (this.#loading.size > 0) await Promise.all(this.#loading.values());
  }

  stop(): void {
    this.#stopped = true;
    this.#watch?.stop();
  }

  get(key: string): Snapshot | undefined {
    return this.#snapshots.get(key);
  }

  get size(): number {
    return this.#snapshots.size;
  }

  /** Number of distinct blobs held in memory. */
  get blobCount(): number {
    return this.#blobs.size;
  }

  /** Called after a waypoint's snapshot is replaced or removed. Returns an unsubscribe function. */
  onChange(fn: SnapshotListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #onEntry(e: KvEntry): void {
    if (!e.key.startsWith(MANIFEST_PREFIX)) return;
    if (e.operation === "PUT") {
      let m: WaypointManifest;
      try {
        m = e.json<WaypointManifest>();
      } catch (err) {
        this.#log.error("unreadable manifest; ignored", { key: e.key, err });
        return;
      }
      if (!m || typeof m !== "object" || typeof m.resources !== "object" || !m.waypoint) {
        this.#log.error("malformed manifest; ignored", { key: e.key });
        return;
      }
      this.#pending.set(e.key, m);
    } else {
      this.#pending.set(e.key, null);
    }
    if (!this.#loading.has(e.key)) {
      const p = this.#load(e.key)
        .catch((err) => this.#log.error("manifest load failed", { key: e.key, err }))
        .finally(() => this.#loading.delete(e.key));
      this.#loading.set(e.key, p);
    }
  }

  /** Applies the newest pending manifest of one waypoint, skipping any superseded while loading. */
  async #load(key: string): Promise<void> {
    const fetched = new Map<string, Blob>();
    while (this.#pending.has(key) && !this.#stopped) {
      const m = this.#pending.get(key)!;
      this.#pending.delete(key);
      if (m === null) {
        this.#replace(key, undefined);
        continue;
      }
      const current = this.#snapshots.get(key);
      if (current && current.version === m.version) continue;
      const ok = await this.#fetchBlobs(key, manifestHashes(m), fetched);
      if (this.#pending.has(key) || this.#stopped) continue;
      if (!ok) continue;
      const blob = (h: string) => this.#blobs.get(h)?.blob ?? fetched.get(h)!;
      this.#replace(key, buildSnapshot(key, m, blob, current));
      fetched.clear();
    }
  }

  /** Fetches the blobs not yet in memory into `fetched`. False if one stays missing. */
  async #fetchBlobs(key: string, hashes: Set<string>, fetched: Map<string, Blob>): Promise<boolean> {
    let missing = [...hashes].filter((h) => !this.#blobs.has(h) && !fetched.has(h));
    const deadline = Date.now() + BLOB_WAIT_MS;
    for (let attempt = 0; missing.length > 0; attempt++) {
      for (let i = 0; i < missing.length; i += FETCH_BATCH) {
        const batch = missing.slice(i, i + FETCH_BATCH);
        const entries = await Promise.all(batch.map((h) => this.#kv.get(buckets.blobs.key(h))));
        entries.forEach((e, j) => {
          if (e && e.operation === "PUT") fetched.set(batch[j]!, new Blob(batch[j]!, e.value));
        });
      }
      missing = missing.filter((h) => !fetched.has(h));
      if (missing.length === 0) break;
      if (Date.now() > deadline || this.#pending.has(key) || this.#stopped) {
        if (!this.#pending.has(key) && !this.#stopped) {
          this.#log.error("manifest names missing blobs; keeping the previous snapshot", {
            key,
            missing: missing.slice(0, 10),
          });
        }
        return false;
      }
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1000)));
    }
    return true;
  }

  #replace(key: string, next: Snapshot | undefined): void {
    const prev = this.#snapshots.get(key);
    if (!prev && !next) return;
    if (next) {
      this.#snapshots.set(key, next);
      for (const [h, blob] of snapshotBlobs(next)) {
        const held = this.#blobs.get(h);
        if (held) held.refs++;
        else this.#blobs.set(h, { blob, refs: 1 });
      }
    } else {
      this.#snapshots.delete(key);
    }
    if (prev) {
      for (const h of snapshotBlobs(prev).keys()) {
        const held = this.#blobs.get(h);
        if (held && --held.refs <= 0) this.#blobs.delete(h);
      }
    }
    this.#log.debug(next ? "snapshot updated" : "snapshot removed", { key, version: next?.version });
    for (const fn of this.#listeners) {
      try {
        fn(key, next);
      } catch (err) {
        this.#log.error("snapshot listener failed", { key, err });
      }
    }
  }
}

/** The distinct blobs a snapshot holds, by hash. */
function snapshotBlobs(s: Snapshot): Map<string, Blob> {
  const out = new Map<string, Blob>();
  for (const t of s.types()) for (const r of t.resources.values()) out.set(r.hash, r.blob);
  return out;
}
