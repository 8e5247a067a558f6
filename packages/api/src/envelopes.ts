import type { WaypointRef } from "./keys.ts";
import type { Condition, KubeObject, ObjectRef } from "./kube.ts";

/** W3C trace context carried across NATS with each change. */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

/** A wm-objects entry: one source object as the watcher observed it. */
export interface ObjectEnvelope {
  object: KubeObject;
  /** When the watcher observed this version (ISO 8601, ms). */
  observedAt: string;
  /** Where it came from: `file:<path>#<doc>` or `kube`. */
  source: string;
  trace?: TraceContext;
}

/**
 * A wm-xds manifest: the complete xDS snapshot of one waypoint, as type URL → resource name → blob
 * hash. Written after every blob it names, so a reader never sees a half-written snapshot.
 */
export interface WaypointManifest {
  waypoint: WaypointRef;
  /** Hash over all per-type versions: equal content, equal version, on every replica. */
  version: string;
  /** Per type URL: the version of that type's resource set. */
  versions: Record<string, string>;
  resources: Record<string, Record<string, string>>;
  /** Newest `observedAt` among the changes this build includes (for propagation latency). */
  observedAt?: string;
  builtAt: string;
  trace?: TraceContext;
}

/** A wm-status entry: the status the translator computed for one object. */
export interface StatusEntry {
  ref: ObjectRef;
  /** metadata.generation of the object the status was computed from. */
  generation?: number;
  /** The object's whole `status` stanza as Kubernetes would hold it. */
  status: Record<string, unknown>;
  computedAt: string;
}

/** Per type URL, what one proxy was sent and what it said. */
export interface ProxyTypeState {
  sentVersion?: string;
  sentAt?: string;
  ackedVersion?: string;
  ackedAt?: string;
  nackedVersion?: string;
  nackedAt?: string;
  nackMessage?: string;
  /**
   * Why the xds-server could not send this type's latest version (e.g. too large); present until a
   * response of this type is sent again.
   */
  sendError?: string;
  sendErrorVersion?: string;
  sendErrorAt?: string;
}

/** A wm-proxies entry: one proxy connected to one xds-server replica. */
export interface ProxyRecord {
  nodeId: string;
  waypoint: WaypointRef | null;
  replica: string;
  protocol: "delta" | "sotw";
  connectedAt: string;
  updatedAt: string;
  /**
   * The owning replica's incarnation when it wrote the record: the record is current only while the
   * replica's heartbeat in wm-replicas carries the same incarnation and is fresh.
   */
  incarnation: string;
  types: Record<string, ProxyTypeState>;
}

/**
 * A wm-replicas entry: one xds-server replica's heartbeat, rewritten every ttlMs / 3. A replica whose
 * heartbeat is older than ttlMs is gone: the live replicas delete its proxy records.
 */
export interface ReplicaHeartbeat {
  replica: string;
  /** New each time the replica starts, or finds that others took it for dead and removed its records. */
  incarnation: string;
  beatAt: string;
  /** 0: the replica never expires (it writes one heartbeat at start). */
  ttlMs: number;
}

export type { Condition };

/**
 * A wm-infra entry: the Kubernetes objects one waypoint needs (ServiceAccount, ConfigMap, Service,
 * Deployment), as the translator wants them. The watcher's leader applies them with server-side apply.
 */
export interface InfraEntry {
  waypoint: WaypointRef;
  /** Fully specified objects (apiVersion, kind, metadata with ownerReferences, spec/data). */
  objects: KubeObject[];
  /** Hash over `objects`: equal content, equal hash (the watcher skips applies that change nothing). */
  hash: string;
  computedAt: string;
}
