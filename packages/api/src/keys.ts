import type { ObjectRef } from "./kube.ts";

// NATS KV keys allow [-/_=.A-Za-z0-9] and use "." as the token separator. Kubernetes names and groups
// may contain "." but never "_", so "." → "_" keeps keys unique and one token per field.
const esc = (s: string) => s.replaceAll(".", "_");

/** `<group|core>.<Kind>.<namespace|_>.<name>`: one KV entry per object in wm-objects and wm-status. */
export function objectKey(r: ObjectRef): string {
  return `${esc(r.group || "core")}.${r.kind}.${esc(r.namespace || "_")}.${esc(r.name)}`;
}

/** A key filter matching every object of one kind (for KV watches). */
export function kindFilter(group: string, kind: string): string {
  return `${esc(group || "core")}.${kind}.>`;
}

export interface WaypointRef {
  namespace: string;
  name: string;
}

export function waypointId(w: WaypointRef): string {
  return `${w.namespace}/${w.name}`;
}

export const MANIFEST_PREFIX = "manifest.";
export const BLOB_PREFIX = "blob.";

export function manifestKey(w: WaypointRef): string {
  return `${MANIFEST_PREFIX}${esc(w.namespace)}.${esc(w.name)}`;
}

export function blobKey(hash: string): string {
  return `${BLOB_PREFIX}${hash}`;
}

/** wm-proxies key: one per (replica, proxy connection). */
export function proxyKey(replica: string, nodeId: string): string {
  return `${esc(replica)}.${nodeId.replace(/[^-/_=A-Za-z0-9]/g, "_")}`;
}

/** wm-replicas key of a replica's heartbeat. */
export function replicaKey(replica: string): string {
  return esc(replica);
}

/** wm-infra key of a waypoint's desired Kubernetes objects. */
export function infraKey(w: WaypointRef): string {
  return `${esc(w.namespace)}.${esc(w.name)}`;
}
