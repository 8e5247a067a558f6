/** The NATS JetStream KV buckets the services talk through (see docs/architecture.md). */
export const Bucket = {
  /** watcher → translator: every source object, keyed by objectKey(). */
  objects: "wm-objects",
  /** translator → xds-server: `blob.<hash>` encoded resources and `manifest.<ns>.<gateway>` snapshots. */
  xds: "wm-xds",
  /** translator → watcher: the status of every object the translator considered, keyed by objectKey(). */
  status: "wm-status",
  /** translator → watcher: desired Kubernetes objects of each waypoint deployment. */
  infra: "wm-infra",
  /** xds-server → translator, CLI: one record per connected proxy. */
  proxies: "wm-proxies",
  /** xds-server → xds-server, CLI: one heartbeat per live xds-server replica, keyed by replicaKey(). */
  replicas: "wm-replicas",
  /** watcher → xds-server: the service-account token issuer and its public keys (key `kubernetes`). */
  issuer: "wm-issuer",
} as const;
export type Bucket = (typeof Bucket)[keyof typeof Bucket];
