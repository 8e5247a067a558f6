// The bus contract: every kind of entry the services exchange through NATS KV — its bucket, how its
// key is formed, what its value is, and who writes and reads it — in one table, so that a writer and
// its readers name keys and decode values the same way. docs/architecture.md shows this table (a test
// keeps the two alike). The key functions and value types themselves come from @waymark/api, which
// the translation code also uses.
import {
  BLOB_PREFIX,
  Bucket,
  blobKey,
  type InfraEntry,
  ISSUER_KEY,
  type IssuerKeys,
  infraKey,
  kindFilter,
  MANIFEST_PREFIX,
  manifestKey,
  type ObjectEnvelope,
  type ObjectRef,
  objectKey,
  type ProxyRecord,
  proxyKey,
  type ReplicaHeartbeat,
  replicaKey,
  type StatusEntry,
  type WaypointManifest,
  type WaypointRef,
} from "@waymark/api";

/** One kind of entry: its bucket, its key function, and (for the compiler only) its value type. */
export interface BucketEntries<V, A extends readonly unknown[]> {
  readonly bucket: Bucket;
  /** Revisions NATS keeps per key (the same for every kind of entry of one bucket). */
  readonly history: number;
  /** JSON text, or raw bytes (encoded xDS resources). */
  readonly encoding: "json" | "bytes";
  readonly key: (...args: A) => string;
  /** Who writes → who reads. */
  readonly flow: string;
  /** Never set: carries the value type, read it with ValueOf<>. */
  readonly value?: V;
}

/** The value type of one kind of entry: `ValueOf<typeof buckets.objects>` is ObjectEnvelope. */
export type ValueOf<E> = E extends BucketEntries<infer V, infer _A> ? V : never;

function entries<V>() {
  return <A extends readonly unknown[]>(e: Omit<BucketEntries<V, A>, "value">): BucketEntries<V, A> => e;
}

export const buckets = {
  /** Every source object, as the watcher observed it. */
  objects: entries<ObjectEnvelope>()({
    bucket: Bucket.objects,
    history: 5,
    encoding: "json",
    key: (ref: ObjectRef) => objectKey(ref),
    flow: "watcher → translator",
  }),
  /** One encoded xDS resource, content-addressed: written before any manifest names it. */
  blobs: entries<Uint8Array>()({
    bucket: Bucket.xds,
    history: 1,
    encoding: "bytes",
    key: (hash: string) => blobKey(hash),
    flow: "translator → xds-server",
  }),
  /** A waypoint's whole xDS snapshot: type URL → resource name → blob hash. */
  manifests: entries<WaypointManifest>()({
    bucket: Bucket.xds,
    history: 1,
    encoding: "json",
    key: (w: WaypointRef) => manifestKey(w),
    flow: "translator → xds-server",
  }),
  /** The status the translator computed for an object (and the watcher's for its source files). */
  status: entries<StatusEntry>()({
    bucket: Bucket.status,
    history: 1,
    encoding: "json",
    key: (ref: ObjectRef) => objectKey(ref),
    flow: "translator (and the watcher for `waymark.dev/SourceFile`) → watcher, CLI",
  }),
  /** What each proxy was sent, ACKed and NACKed, per type. */
  proxies: entries<ProxyRecord>()({
    bucket: Bucket.proxies,
    history: 1,
    encoding: "json",
    key: (replica: string, nodeId: string) => proxyKey(replica, nodeId),
    flow: "xds-server → CLI, translator",
  }),
  /** One heartbeat per live xds-server replica. */
  replicas: entries<ReplicaHeartbeat>()({
    bucket: Bucket.replicas,
    history: 1,
    encoding: "json",
    key: (replica: string) => replicaKey(replica),
    flow: "xds-server → xds-server, CLI",
  }),
  /** The service-account token issuer and its public keys (one entry). */
  issuer: entries<IssuerKeys>()({
    bucket: Bucket.issuer,
    history: 1,
    encoding: "json",
    key: () => ISSUER_KEY,
    flow: "watcher → xds-server",
  }),
  /** The Kubernetes objects a waypoint needs. */
  infra: entries<InfraEntry>()({
    bucket: Bucket.infra,
    history: 1,
    encoding: "json",
    key: (w: WaypointRef) => infraKey(w),
    flow: "translator → watcher",
  }),
} as const;

/** Key filters (NATS subject wildcards) of the entries that share a bucket with others. */
export const keyFilters = {
  blobs: `${BLOB_PREFIX}>`,
  manifests: `${MANIFEST_PREFIX}>`,
} as const;

/** History of each bucket, from the table (openBucket creates the buckets with it). */
export const bucketHistory: Readonly<Record<Bucket, number>> = Object.fromEntries(
  Object.values(buckets).map((e) => [e.bucket, e.history]),
) as Record<Bucket, number>;

// The watcher's own wm-status entries: one per source file it could not read in full (standalone
// mode), under an object kind no Kubernetes API has. The translator leaves these entries alone when it
// prunes statuses of objects that are gone.
export const SOURCE_FILE_GROUP = "waymark.dev";
export const SOURCE_FILE_KIND = "SourceFile";

/** The ObjectRef a source file's wm-status entry carries (the file's name as it is). */
export function sourceFileRef(name: string): ObjectRef {
  return { group: SOURCE_FILE_GROUP, kind: SOURCE_FILE_KIND, namespace: "", name };
}

/** wm-status key of a source file's problems. Characters NATS keys do not allow become `_`. */
export function sourceFileKey(name: string): string {
  return buckets.status.key(sourceFileRef(name.replace(/[^-/_=A-Za-z0-9.]/g, "_")));
}

/** Key filter of every source file's wm-status entry. */
export const SOURCE_FILE_FILTER = kindFilter(SOURCE_FILE_GROUP, SOURCE_FILE_KIND);

/** Whether a wm-status key is one of the watcher's source-file entries. */
export function isSourceFileKey(key: string): boolean {
  return key.startsWith(SOURCE_FILE_FILTER.slice(0, -1));
}

/** Every blob hash a manifest names, once each (what a manifest keeps alive in wm-xds). */
export function manifestHashes(m: Pick<WaypointManifest, "resources">): Set<string> {
  const out = new Set<string>();
  for (const byName of Object.values(m.resources ?? {})) for (const h of Object.values(byName)) out.add(h);
  return out;
}

/**
 * Room in a NATS message for the subject and headers of a KV put, besides the value: a value may be
 * at most the server's max_payload less this (the watcher's object limit, the translator's resources).
 */
export const NATS_PUT_OVERHEAD = 1024;

/** The largest value one KV put can carry on a server with this max_payload. */
export function maxValueBytes(maxPayload: number): number {
  return Math.max(0, maxPayload - NATS_PUT_OVERHEAD);
}
