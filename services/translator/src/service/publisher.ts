// Writes builds to NATS: blobs (content-addressed) before the manifest that names them, manifests only
// when their version changed, statuses only when they changed; deletes what no longer exists; collects
// unreferenced blobs after a grace period. Starts from what the buckets already hold, so a restarted
// translator rewrites nothing that is unchanged.
import {
  BLOB_PREFIX,
  Bucket,
  blobKey,
  type InfraEntry,
  infraKey,
  type Logger,
  MANIFEST_PREFIX,
  objectKey,
  type StatusEntry,
  type WaypointManifest,
  waypointId,
} from "@waymark/api";
import { getJson, isSourceFileKey, type KV, listKeys, manifestHashes, putJson } from "@waymark/bus";
import { type Context, endSpan, logIds, SpanKind, startSpan, traceContextOf } from "@waymark/telemetry";
import { infraHash } from "../infra/objects.ts";
import type { ObjectStatus, WaypointInfra } from "../translate/types.ts";
import { BlobCollector } from "./blob-gc.ts";
import { manifestOf, type WaypointSnapshot } from "./build.ts";
import { sameStatus, stampStatus } from "./status.ts";

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
  /** Each waypoint's Kubernetes objects; undefined leaves wm-infra alone. */
  infra?: readonly WaypointInfra[];
  /** Newest observation time among the changes this build includes. */
  observedAt: string | undefined;
  /** The build's trace context: each manifest written gets a child span whose context it carries. */
  parent?: Context;
}

/** Short names of the xDS types, for span attributes. */
const TYPE_ATTR: Record<string, string> = {
  "type.googleapis.com/envoy.config.cluster.v3.Cluster": "clusters",
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment": "endpoints",
  "type.googleapis.com/envoy.config.listener.v3.Listener": "listeners",
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration": "routes",
};

export interface PublishReport {
  blobsWritten: number;
  manifestsWritten: string[];
  manifestsDeleted: string[];
  statusesWritten: number;
  statusesDeleted: number;
  infraWritten?: number;
  infraDeleted?: number;
}

/** The entries a build's statuses give: all of them, and those to compare with what is stored. */
interface ProducedStatuses {
  entries: Map<string, StatusEntry>;
  changed: Array<[string, StatusEntry]>;
  /** Every status was looked at: stored keys not in `entries` are stale. */
  all: boolean;
  /** No key appeared twice. */
  unique: boolean;
}

export interface PublisherOptions {
  xds: KV;
  status: KV;
  log: Logger;
  blobGraceMs: number;
  /** wm-infra; without it, infra in the input is not published. */
  infra?: KV;
}

export class SnapshotPublisher {
  readonly #xds: KV;
  readonly #status: KV;
  readonly #log: Logger;
  readonly #gc: BlobCollector;
  /** What wm-xds holds: manifest key → manifest (null if unreadable), and the set of blob hashes. */
  readonly #manifests = new Map<string, WaypointManifest | null>();
  readonly #blobs = new Set<string>();
  /** What wm-status holds under the translator's keys. */
  readonly #statuses = new Map<string, StatusEntry | null>();
  /** Per status key: the computed status object that gave the stored entry. */
  readonly #computedFrom = new Map<
    string,
    { status: Record<string, unknown>; generation: number | undefined; entry: StatusEntry }
  >();
  readonly #infraKv: KV | undefined;
  /** Blob hash → how many stored manifests name it; kept as manifests are written and deleted. */
  readonly #refs = new Map<string, number>();
  /** Blobs whose references or existence changed since the collector last looked at them. */
  readonly #touched = new Set<string>();
  /** Status object → its key (null: a source file's status, not the translator's); statuses are never mutated. */
  readonly #statusKeys = new WeakMap<ObjectStatus, string | null>();
  /** The statuses of the last publish and their entries, when every key in it was one object's. */
  #lastStatuses: { list: readonly ObjectStatus[]; entries: Map<string, StatusEntry> } | undefined;
  /** What wm-infra holds: key → content hash (null if unreadable). */
  readonly #infra = new Map<string, string | null>();
  /**
   * The infra list of the last publish once wm-infra held exactly it. The memo hands back the very
   * same list when no waypoint's objects changed, so that publish visits no waypoint.
   */
  #lastInfra: readonly WaypointInfra[] | undefined;

  constructor(o: PublisherOptions) {
    this.#xds = o.xds;
    this.#status = o.status;
    this.#log = o.log;
    this.#gc = new BlobCollector(o.blobGraceMs);
    this.#infraKv = o.infra;
  }

  /** Reads the current manifests, blob names and statuses. Unreferenced blobs get a fresh grace period. */
  async load(now: number): Promise<void> {
    const keys = await listKeys(this.#xds);
    const manifestKeys = keys.filter((k) => k.startsWith(MANIFEST_PREFIX));
    for (const k of keys) if (k.startsWith(BLOB_PREFIX)) this.#blobs.add(k.slice(BLOB_PREFIX.length));
    await inBatches(manifestKeys, async (k) => {
      this.#setManifest(k, await this.#read<WaypointManifest>(this.#xds, Bucket.xds, k));
    });
    const statusKeys = (await listKeys(this.#status)).filter((k) => !isSourceFileKey(k));
    await inBatches(statusKeys, async (k) => {
      this.#statuses.set(k, await this.#read<StatusEntry>(this.#status, Bucket.status, k));
    });
    if (this.#infraKv) {
      const kv = this.#infraKv;
      await inBatches(await listKeys(kv), async (k) => {
        this.#infra.set(k, (await this.#read<InfraEntry>(kv, Bucket.infra, k))?.hash ?? null);
      });
    }
    this.#gc.update(this.#blobs, new Set(this.#refs.keys()), now);
    this.#touched.clear();
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
        this.#touched.add(h);
        report.blobsWritten++;
      });
      const counts: Record<string, number> = {};
      for (const [t, byName] of Object.entries(s.resources))
        counts[`waymark.xds.${TYPE_ATTR[t] ?? t}`] = Object.keys(byName).length;
      const span = startSpan(`send ${Bucket.xds}`, {
        kind: SpanKind.PRODUCER,
        ...(input.parent ? { parent: input.parent } : {}),
        attributes: {
          "messaging.system": "nats",
          "messaging.operation.name": "send",
          "messaging.operation.type": "send",
          "messaging.destination.name": Bucket.xds,
          "messaging.message.id": s.key,
          "waymark.waypoint": waypointId(s.waypoint),
          "waymark.snapshot.version": s.version,
          "waymark.blobs.new": missing.length,
          ...counts,
        },
      });
      const m = manifestOf(s, nowIso, input.observedAt, traceContextOf(span));
      try {
        await putJson(this.#xds, s.key, m);
      } catch (err) {
        endSpan(span, { error: err });
        throw err;
      }
      endSpan(span);
      this.#setManifest(s.key, m);
      report.manifestsWritten.push(s.key);
      this.#log.info("published waypoint snapshot", {
        waypoint: waypointId(s.waypoint),
        version: s.version,
        newBlobs: missing.length,
        ...logIds(span),
      });
    }
    const live = new Set([...input.snapshots.map((s) => s.key), ...input.keep]);
    for (const k of [...this.#manifests.keys()]) {
      if (live.has(k)) continue;
      await this.#xds.delete(k);
      this.#setManifest(k, undefined);
      report.manifestsDeleted.push(k);
      this.#log.info("deleted manifest of a waypoint that no longer exists", { key: k });
    }
    await this.#publishStatuses(input.statuses, nowIso, report);
    if (input.infra && this.#infraKv) await this.#publishInfra(this.#infraKv, input.infra, nowIso, report);
    this.#updateGc(now);
    return report;
  }

  async #publishStatuses(
    statuses: readonly ObjectStatus[],
    nowIso: string,
    report: PublishReport,
  ): Promise<void> {
    const produced = this.#statusesSinceLast(statuses, nowIso) ?? this.#allStatuses(statuses, nowIso);
    this.#lastStatuses = undefined; // a failed write below leaves the next publish to look at every status
    const writes = produced.changed.filter(([k, e]) => this.#statuses.get(k) !== e);
    await inBatches(writes, async ([k, e]) => {
      await putJson(this.#status, k, e);
      this.#statuses.set(k, e);
      report.statusesWritten++;
    });
    const stale = produced.all ? [...this.#statuses.keys()].filter((k) => !produced.entries.has(k)) : [];
    await inBatches(stale, async (k) => {
      await this.#status.delete(k);
      this.#statuses.delete(k);
      report.statusesDeleted++;
    });
    // Only now, with wm-status holding exactly these entries, may the next publish start from them.
    this.#lastStatuses = produced.unique ? { list: statuses, entries: produced.entries } : undefined;
  }

  #statusKey(st: ObjectStatus): string | null {
    let k = this.#statusKeys.get(st);
    if (k === undefined) {
      k = objectKey(st.ref);
      if (isSourceFileKey(k)) k = null;
      this.#statusKeys.set(st, k);
    }
    return k;
  }

  /** The entry to store for a computed status: the stored one when nothing but computedAt would change. */
  #entryOf(st: ObjectStatus, k: string, nowIso: string): StatusEntry {
    const stored = this.#statuses.get(k) ?? undefined;
    // A translation memo returns the very same status object for an unchanged object: if that
    // object produced what is stored, there is nothing to stamp or compare.
    const last = this.#computedFrom.get(k);
    if (stored && last?.status === st.status && last.generation === st.generation && last.entry === stored)
      return stored;
    const entry = stampStatus(st, stored, nowIso);
    const kept = sameStatus(entry, stored) ? (stored as StatusEntry) : entry;
    this.#computedFrom.set(k, { status: st.status, generation: st.generation, entry: kept });
    return kept;
  }

  /** Every status's entry; stored keys not among them are stale. */
  #allStatuses(statuses: readonly ObjectStatus[], nowIso: string): ProducedStatuses {
    const entries = new Map<string, StatusEntry>();
    let ours = 0;
    for (const st of statuses) {
      const k = this.#statusKey(st);
      if (k === null) continue;
      ours++;
      entries.set(k, this.#entryOf(st, k, nowIso));
    }
    for (const k of this.#computedFrom.keys()) if (!entries.has(k)) this.#computedFrom.delete(k);
    return { entries, changed: [...entries], all: true, unique: entries.size === ours };
  }

  /**
   * Only the statuses that are not the very objects of the last publish, at the same positions, for
   * the same keys: a change to a few objects costs a few statuses, not every object's. Undefined when
   * the list's length or keys moved (then every status is looked at).
   */
  #statusesSinceLast(statuses: readonly ObjectStatus[], nowIso: string): ProducedStatuses | undefined {
    const last = this.#lastStatuses;
    if (!last || last.list.length !== statuses.length) return undefined;
    const moved: Array<[ObjectStatus, string | null]> = [];
    for (let i = 0; i < statuses.length; i++) {
      const st = statuses[i]!;
      if (st === last.list[i]) continue;
      const k = this.#statusKey(st);
      if (k !== this.#statusKey(last.list[i]!)) return undefined;
      moved.push([st, k]);
    }
    const changed: Array<[string, StatusEntry]> = [];
    for (const [st, k] of moved) {
      if (k === null) continue;
      const e = this.#entryOf(st, k, nowIso);
      last.entries.set(k, e);
      changed.push([k, e]);
    }
    return { entries: last.entries, changed, all: false, unique: true };
  }

  async #publishInfra(
    kv: KV,
    infra: readonly WaypointInfra[],
    nowIso: string,
    report: PublishReport,
  ): Promise<void> {
    report.infraWritten = 0;
    report.infraDeleted = 0;
    if (infra === this.#lastInfra) return;
    this.#lastInfra = undefined; // until every write below is done
    const live = new Set<string>();
    for (const w of infra) {
      const key = infraKey(w.waypoint);
      live.add(key);
      const hash = infraHash(w.objects);
      if (this.#infra.get(key) === hash) continue;
      const entry: InfraEntry = { waypoint: w.waypoint, objects: w.objects, hash, computedAt: nowIso };
      await putJson(kv, key, entry);
      this.#infra.set(key, hash);
      report.infraWritten++;
      this.#log.info("published waypoint infrastructure", { waypoint: waypointId(w.waypoint), hash });
    }
    for (const key of [...this.#infra.keys()]) {
      if (live.has(key)) continue;
      await kv.delete(key);
      this.#infra.delete(key);
      report.infraDeleted++;
      this.#log.info("deleted infrastructure of a waypoint that no longer exists", { key });
    }
    this.#lastInfra = infra;
  }

  /**
   * Records a manifest as stored (undefined: deleted) and moves the reference counts of the blobs it
   * names, so that collecting looks only at the blobs a build touched, not at every manifest.
   */
  #setManifest(key: string, m: WaypointManifest | null | undefined): void {
    const before = this.#manifests.get(key);
    if (before) for (const h of manifestHashes(before)) this.#ref(h, -1);
    if (m === undefined) this.#manifests.delete(key);
    else this.#manifests.set(key, m);
    if (m) for (const h of manifestHashes(m)) this.#ref(h, 1);
  }

  #ref(hash: string, by: 1 | -1): void {
    const n = (this.#refs.get(hash) ?? 0) + by;
    if (n > 0) this.#refs.set(hash, n);
    else this.#refs.delete(hash);
    this.#touched.add(hash);
  }

  #updateGc(now: number): void {
    for (const h of this.#touched) {
      if (!this.#blobs.has(h)) this.#gc.forget(h);
      else this.#gc.mark(h, this.#refs.has(h), now);
    }
    this.#touched.clear();
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
