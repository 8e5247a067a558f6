// Writes builds to NATS: blobs (content-addressed) before the manifest that names them, manifests only
// when their version changed, statuses only when they changed; deletes what no longer exists; collects
// unreferenced blobs after a grace period. Starts from what the buckets already hold, so a restarted
// translator rewrites nothing that is unchanged.
import {
  BLOB_PREFIX,
  Bucket,
  blobKey,
  type Logger,
  MANIFEST_PREFIX,
  objectKey,
  type StatusEntry,
  type WaypointManifest,
  waypointId,
} from "@waymark/api";
import { getJson, type KV, listKeys, putJson } from "@waymark/bus";
import type { ObjectStatus } from "../translate/types.ts";
import { BlobCollector } from "./blob-gc.ts";
import { hashesOf, manifestOf, type WaypointSnapshot } from "./build.ts";
import { sameStatus, stampStatus } from "./status.ts";

/** wm-status keys the watcher owns (its own report on the source files it reads). */
export const WATCHER_STATUS_PREFIX = "waymark_dev.SourceFile.";

/** Parallel writes in flight at once. */
const CONCURRENCY = 32;

async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += CONCURRENCY)
    await Promise.all(items.slice(i, i + CONCURRENCY).map(fn));
}

export interface PublishInput {
  snapshots: readonly WaypointSnapshot[];
  /** Manifest keys of waypoints that exist but failed to build: their stored manifest stays. */
  keep: ReadonlySet<string>;
  statuses: readonly ObjectStatus[];
  /** Newest observation time among the changes this build includes. */
  observedAt: string | undefined;
}

export interface PublishReport {
  blobsWritten: number;
  manifestsWritten: string[];
  manifestsDeleted: string[];
  statusesWritten: number;
  statusesDeleted: number;
}

export interface PublisherOptions {
  xds: KV;
  status: KV;
  log: Logger;
  blobGraceMs: number;
}

export class Publisher {
  readonly #xds: KV;
  readonly #status: KV;
  readonly #log: Logger;
  readonly #gc: BlobCollector;
  /** What wm-xds holds: manifest key → manifest (null if unreadable), and the set of blob hashes. */
  readonly #manifests = new Map<string, WaypointManifest | null>();
  readonly #blobs = new Set<string>();
  /** What wm-status holds under the translator's keys. */
  readonly #statuses = new Map<string, StatusEntry | null>();

  constructor(o: PublisherOptions) {
    this.#xds = o.xds;
    this.#status = o.status;
    this.#log = o.log;
    this.#gc = new BlobCollector(o.blobGraceMs);
  }

  /** Reads the current manifests, blob names and statuses. Unreferenced blobs get a fresh grace period. */
  async load(now: number): Promise<void> {
    const keys = await listKeys(this.#xds);
    const manifestKeys = keys.filter((k) => k.startsWith(MANIFEST_PREFIX));
    for (const k of keys) if (k.startsWith(BLOB_PREFIX)) this.#blobs.add(k.slice(BLOB_PREFIX.length));
    await inBatches(manifestKeys, async (k) => {
      this.#manifests.set(k, await this.#read<WaypointManifest>(this.#xds, Bucket.xds, k));
    });
    const statusKeys = (await listKeys(this.#status)).filter((k) => !k.startsWith(WATCHER_STATUS_PREFIX));
    await inBatches(statusKeys, async (k) => {
      this.#statuses.set(k, await this.#read<StatusEntry>(this.#status, Bucket.status, k));
    });
    this.#updateGc(now);
    this.#log.info("loaded published state", {
      manifests: this.#manifests.size,
      blobs: this.#blobs.size,
      unreferencedBlobs: this.#gc.tracked,
      statuses: this.#statuses.size,
    });
  }

  async #read<T>(kv: KV, bucket: string, key: string): Promise<T | null> {
    try {
      return (await getJson<T>(kv, key)) ?? null;
    } catch (err) {
      this.#log.warn("unreadable entry; it will be rewritten or deleted", { bucket, key, err });
      return null;
    }
  }

  /** The stored manifest of a waypoint, if any (for tests and diagnostics). */
  manifest(key: string): WaypointManifest | undefined {
    return this.#manifests.get(key) ?? undefined;
  }

  async publish(input: PublishInput, now: number): Promise<PublishReport> {
    const nowIso = new Date(now).toISOString();
    const report: PublishReport = {
      blobsWritten: 0,
      manifestsWritten: [],
      manifestsDeleted: [],
      statusesWritten: 0,
      statusesDeleted: 0,
    };
    for (const s of input.snapshots) {
      if (this.#manifests.get(s.key)?.version === s.version) continue;
      const missing = [...s.blobs].filter(([h]) => !this.#blobs.has(h));
      await inBatches(missing, async ([h, bytes]) => {
        await this.#xds.put(blobKey(h), bytes);
        this.#blobs.add(h);
        report.blobsWritten++;
      });
      const m = manifestOf(s, nowIso, input.observedAt);
      await putJson(this.#xds, s.key, m);
      this.#manifests.set(s.key, m);
      report.manifestsWritten.push(s.key);
      this.#log.info("published waypoint snapshot", {
        waypoint: waypointId(s.waypoint),
        version: s.version,
        newBlobs: missing.length,
      });
    }
    const live = new Set([...input.snapshots.map((s) => s.key), ...input.keep]);
    for (const k of [...this.#manifests.keys()]) {
      if (live.has(k)) continue;
      await this.#xds.delete(k);
      this.#manifests.delete(k);
      report.manifestsDeleted.push(k);
      this.#log.info("deleted manifest of a waypoint that no longer exists", { key: k });
    }
    await this.#publishStatuses(input.statuses, nowIso, report);
    this.#updateGc(now);
    return report;
  }

  async #publishStatuses(
    statuses: readonly ObjectStatus[],
    nowIso: string,
    report: PublishReport,
  ): Promise<void> {
    const produced = new Map<string, StatusEntry>();
    for (const st of statuses) {
      const k = objectKey(st.ref);
      if (k.startsWith(WATCHER_STATUS_PREFIX)) continue;
      const stored = this.#statuses.get(k) ?? undefined;
      const entry = stampStatus(st, stored, nowIso);
      if (!sameStatus(entry, stored)) produced.set(k, entry);
      else produced.set(k, stored as StatusEntry);
    }
    const writes = [...produced].filter(([k, e]) => this.#statuses.get(k) !== e);
    await inBatches(writes, async ([k, e]) => {
      await putJson(this.#status, k, e);
      this.#statuses.set(k, e);
      report.statusesWritten++;
    });
    const stale = [...this.#statuses.keys()].filter((k) => !produced.has(k));
    await inBatches(stale, async (k) => {
      await this.#status.delete(k);
      this.#statuses.delete(k);
      report.statusesDeleted++;
    });
  }

  #updateGc(now: number): void {
    const referenced = new Set<string>();
    for (const m of this.#manifests.values()) if (m) for (const h of hashesOf(m)) referenced.add(h);
    this.#gc.update(this.#blobs, referenced, now);
  }

  /** Deletes blobs that have been unreferenced for the grace period; returns their hashes. */
  async sweep(now: number): Promise<string[]> {
    const due = this.#gc.due(now);
    const deleted: string[] = [];
    await inBatches(due, async (h) => {
      await this.#xds.delete(blobKey(h));
      this.#blobs.delete(h);
      this.#gc.forget(h);
      deleted.push(h);
    });
    if (deleted.length) this.#log.info("collected unreferenced blobs", { count: deleted.length });
    return deleted.sort();
  }
}
