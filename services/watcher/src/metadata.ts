// Pure helpers for the objects the watcher publishes: trimming fields nobody downstream needs,
// stamping the server-set metadata a standalone source lacks, and content comparison.
import { createHash } from "node:crypto";
import { type KubeObject, objectKey, refOf } from "@waymark/api";

export const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/** A copy without metadata.managedFields and kubectl's last-applied annotation. */
export function trimObject(o: KubeObject): KubeObject {
  const metadata: Record<string, unknown> = { ...o.metadata };
  delete metadata["managedFields"];
  const annotations = o.metadata.annotations;
  if (annotations && LAST_APPLIED in annotations) {
    const rest = { ...annotations };
    delete rest[LAST_APPLIED];
    if (Object.keys(rest).length > 0) metadata["annotations"] = rest;
    else delete metadata["annotations"];
  }
  return { ...o, metadata: metadata as unknown as KubeObject["metadata"] };
}

/** JSON with object keys sorted at every level: equal content, equal text. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = (value as Record<string, unknown>)[k];
    return out;
  });
}

/** A stable UUID-shaped id derived from the object's key. */
export function stableUid(o: KubeObject): string {
  const h = createHash("sha256")
    .update(objectKey(refOf(o)))
    .digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Kubernetes' timestamp form: seconds, UTC. */
export function kubeTimestamp(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/**
 * Sets what the API server would: creationTimestamp (kept from `previous`, else now), generation
 * (kept from `previous` unless `spec` changed, then incremented; 1 for a new object) and uid.
 * `previous` is the last published version of the same object, if any.
 */
export function stampStandalone(o: KubeObject, previous: KubeObject | undefined, now: Date): KubeObject {
  const prevMeta = previous?.metadata;
  let generation = 1;
  if (previous && typeof prevMeta?.generation === "number") {
    generation =
      canonicalJson(previous.spec) === canonicalJson(o.spec) ? prevMeta.generation : prevMeta.generation + 1;
  }
  return {
    ...o,
    metadata: {
      ...o.metadata,
      creationTimestamp: prevMeta?.creationTimestamp ?? kubeTimestamp(now),
      generation,
      uid: stableUid(o),
    },
  };
}
