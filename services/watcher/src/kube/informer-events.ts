// The pure part of an informer: what one watch event does to its state (the resourceVersion to
// resume from, and the object change to hand on), what to do after a list or watch fails, and how a
// complete list reconciles the objects known before it. No I/O here; informer.ts and source.ts do it.
import { type KubeObject, objectKey, refOf } from "@waymark/api";
import { KubeApiError, type WatchEvent } from "./client.ts";
import { apiVersionOf, type ResourceInfo } from "./resources.ts";

/** Objects of a list or watch carry no apiVersion/kind (lists) or may differ: set them from the resource. */
export function stampObject(o: Record<string, unknown>, resource: ResourceInfo): KubeObject {
  return { ...o, apiVersion: apiVersionOf(resource), kind: resource.kind } as KubeObject;
}

export interface ObjectChange {
  type: "upsert" | "delete";
  object: KubeObject;
}

export interface WatchStep {
  /** The resourceVersion to resume the watch from after this event. */
  rv: string;
  /** The object change to hand on (none for a bookmark). */
  change?: ObjectChange;
}

/**
 * One watch event, from the state `rv`: ADDED/MODIFIED upsert, DELETED deletes, BOOKMARK only moves
 * the resourceVersion on. An ERROR event throws its Status as a KubeApiError (410 Gone: relist).
 */
export function applyWatchEvent(rv: string, e: WatchEvent, resource: ResourceInfo): WatchStep {
  if (e.type === "ERROR") {
    const st = e.object as { code?: number; reason?: string; message?: string };
    throw new KubeApiError(
      st.code ?? 500,
      st.reason ?? "",
      `watch ${resource.kind}: ${st.message ?? "error"}`,
    );
  }
  const next = (e.object["metadata"] as { resourceVersion?: string } | undefined)?.resourceVersion || rv;
  if (e.type === "BOOKMARK") return { rv: next };
  if (e.type !== "ADDED" && e.type !== "MODIFIED" && e.type !== "DELETED")
    throw new KubeApiError(0, "", `watch ${resource.kind}: unknown event type ${JSON.stringify(e.type)}`);
  const object = stampObject(e.object, resource);
  return { rv: next, change: { type: e.type === "DELETED" ? "delete" : "upsert", object } };
}

/**
 * After a watch failed:
 * - relist: the resourceVersion is gone (410 Gone / Expired), list again at once;
 * - restart: the watch was silent too long (our watchdog), watch again from the same version at once;
 * - retry-relist: the kind is no longer served (404), list again after a backoff;
 * - retry: anything else (server down, connection reset), watch again after a backoff.
 */
export type WatchFailureAction = "relist" | "restart" | "retry-relist" | "retry";

export function watchFailureAction(err: unknown): WatchFailureAction {
  if (!(err instanceof KubeApiError)) return "retry";
  if (err.status === 410 || err.reason === "Expired" || err.reason === "Gone") return "relist";
  if (err.reason === "Idle") return "restart";
  if (err.status === 404) return "retry-relist";
  return "retry";
}

/** After a list failed: a kind the server does not serve (404: its CRD is missing) counts as empty. */
export function listFailureAction(err: unknown): "empty" | "retry" {
  return err instanceof KubeApiError && err.status === 404 ? "empty" : "retry";
}

export interface ListDiff {
  /** key → object: what the kind holds now. */
  next: Map<string, KubeObject>;
  /** Known before, absent from the list: deleted while no watch saw it. */
  removed: KubeObject[];
  /** New, or changed since last known. */
  changed: KubeObject[];
  /** Keys listed exactly as known before (not handed on again). */
  unchanged: string[];
}

const sameVersion = (a: KubeObject, b: KubeObject): boolean => {
  const ra = a.metadata.resourceVersion;
  const rb = b.metadata.resourceVersion;
  return ra !== undefined && ra !== "" && ra === rb;
};

/** A complete list against the objects known before it (the first list, or a relist after a gap). */
export function diffList(current: ReadonlyMap<string, KubeObject>, items: readonly KubeObject[]): ListDiff {
  const next = new Map<string, KubeObject>();
  const changed: KubeObject[] = [];
  const unchanged: string[] = [];
  for (const o of items) {
    const key = objectKey(refOf(o));
    next.set(key, o);
    const before = current.get(key);
    if (before && sameVersion(before, o)) unchanged.push(key);
    else changed.push(o);
  }
  const removed = [...current].filter(([k]) => !next.has(k)).map(([, o]) => o);
  return { next, removed, changed, unchanged };
}
