// Turns a translation into content-addressed snapshots: every resource encoded once to protobuf bytes
// and named by its hash, per-type versions over (name, hash) pairs, and a manifest version over the
// per-type versions. Pure apart from CPU: the clock and all I/O stay with the caller.
import {
  manifestKey,
  type TraceContext,
  WaymarkError,
  type WaypointManifest,
  type WaypointRef,
} from "@waymark/api";
import { NATS_PUT_OVERHEAD } from "@waymark/bus";
import {
  contentHash,
  encodeResource,
  encodeRouteConfiguration,
  type JsonObject,
  PUSH_ORDER,
  TypeUrl,
  versionOf,
} from "@waymark/envoy-proto";
import type { TranslationOutput, WaypointOutput, XdsResource } from "../translate/types.ts";

export interface WaypointSnapshot {
  waypoint: WaypointRef;
  /** manifestKey(waypoint). */
  key: string;
  version: string;
  versions: Record<string, string>;
  resources: Record<string, Record<string, string>>;
  /** Every blob the manifest names: hash → encoded bytes. */
  blobs: Map<string, Uint8Array>;
}

/** A waypoint whose snapshot could not be built: its last good manifest stays published. */
export interface WaypointFailure {
  waypoint: WaypointRef;
  key: string;
  typeUrl?: string;
  resource?: string;
  error: unknown;
}

export interface BuildResult {
  snapshots: WaypointSnapshot[];
  failures: WaypointFailure[];
}

/** Thrown for a snapshot that breaks an xDS invariant (e.g. two resources of one type with one name). */
export class SnapshotError extends WaymarkError {
  constructor(message: string, fix?: string) {
    super("invalid-snapshot", message, fix === undefined ? undefined : { fix });
    this.name = "SnapshotError";
  }
}

const TOO_LARGE_FIX =
  "Raise the NATS server's max_payload, or attach fewer or smaller routes and policies to this waypoint.";

interface Encoded {
  /** The JSON text encoded (RouteConfigurations: "", they are compared by hash). */
  json: string;
  hash: string;
  bytes: Uint8Array;
}

/**
 * Remembers the last encoding of each (waypoint, type, name) so an unchanged resource is not encoded again: a
 * JSON string comparison is far cheaper than proto encoding. Holds only what the last build used.
 * A changed RouteConfiguration re-encodes only its changed routes (see encodeRouteConfiguration).
 * It also remembers each waypoint's last snapshot by the very output object it was built from: a
 * translation memo hands back the same WaypointOutput for a waypoint a change did not touch, and then
 * the build reuses the snapshot without visiting its resources (a change costs what it touches, not
 * what the mesh holds).
 */
export class EncodeCache {
  /** Per waypoint (scope): (type, name) → its encoding, as the last build used them. */
  #current = new Map<string, Map<string, Encoded>>();
  #next = new Map<string, Map<string, Encoded>>();
  #byObject = new WeakMap<JsonObject, Encoded>();
  /** Route JSON object → its bytes; entries go with the objects. */
  #routes = new WeakMap<JsonObject, Uint8Array>();
  /** Waypoint output → the snapshot (or failure) built from it, and under which size limit. */
  #snapshots = new WeakMap<
    WaypointOutput,
    { maxValueBytes: number; result: WaypointSnapshot | WaypointFailure }
  >();

  encode(scope: string, typeUrl: string, name: string, json: JsonObject): Encoded {
    const id = `${typeUrl}\u0000${name}`;
    let next = this.#next.get(scope);
    if (!next) {
      next = new Map();
      this.#next.set(scope, next);
    }
    // A translation memo hands back the very same JSON object for an unchanged resource: no need to
    // even stringify it. (Callers never mutate resource JSON after a build.)
    const same = this.#byObject.get(json);
    if (same) {
      next.set(id, same);
      return same;
    }
    const seen = next.get(id) ?? this.#current.get(scope)?.get(id);
    if (typeUrl === TypeUrl.route) {
      const bytes = encodeRouteConfiguration(name, json, this.#routes);
      const hash = contentHash(bytes);
      const e = seen?.hash === hash ? seen : { json: "", hash, bytes };
      next.set(id, e);
      this.#byObject.set(json, e);
      return e;
    }
    const text = JSON.stringify(json);
    if (seen && seen.json === text) {
      next.set(id, seen);
      return seen;
    }
    const bytes = encodeResource(typeUrl, name, json);
    const e = { json: text, hash: contentHash(bytes), bytes };
    next.set(id, e);
    this.#byObject.set(json, e);
    return e;
  }

  /** The snapshot last built from this very output under this limit; its encodings are kept for the next build. */
  reuse(w: WaypointOutput, maxValueBytes: number): WaypointSnapshot | WaypointFailure | undefined {
    const hit = this.#snapshots.get(w);
    if (!hit || hit.maxValueBytes !== maxValueBytes) return undefined;
    const scope = manifestKey(w.waypoint);
    const kept = this.#current.get(scope);
    if (kept && !this.#next.has(scope)) this.#next.set(scope, kept);
    return hit.result;
  }

  remember(w: WaypointOutput, maxValueBytes: number, result: WaypointSnapshot | WaypointFailure): void {
    this.#snapshots.set(w, { maxValueBytes, result });
  }

  /** Ends a build: entries not used by it are dropped. */
  commit(): void {
    this.#current = this.#next;
    this.#next = new Map();
  }
}

function buildWaypoint(
  w: WaypointOutput,
  cache: EncodeCache,
  maxValueBytes: number,
): WaypointSnapshot | WaypointFailure {
  const key = manifestKey(w.waypoint);
  const blobs = new Map<string, Uint8Array>();
  const versions: Record<string, string> = {};
  const resources: Record<string, Record<string, string>> = {};
  // PUSH_ORDER first, then any other type the translation produced, so the manifest is stable.
  const types = [
    ...PUSH_ORDER,
    ...Object.keys(w.resources)
      .filter((t) => !(PUSH_ORDER as string[]).includes(t))
      .sort(),
  ];
  for (const typeUrl of types) {
    const list = (w.resources as Record<string, XdsResource[] | undefined>)[typeUrl] ?? [];
    const byName = new Map<string, string>();
    for (const r of list) {
      if (byName.has(r.name)) {
        return {
          waypoint: w.waypoint,
          key,
          typeUrl,
          resource: r.name,
          error: new SnapshotError(
            `duplicate resource name ${r.name}`,
            "Report it as a Waymark bug with the objects attached to this waypoint: translation should never name two resources alike.",
          ),
        };
      }
      try {
        const e = cache.encode(key, typeUrl, r.name, r.json);
        if (e.bytes.length > maxValueBytes) {
          return {
            waypoint: w.waypoint,
            key,
            typeUrl,
            resource: r.name,
            error: new SnapshotError(
              `resource ${r.name} encodes to ${e.bytes.length} bytes, more than a NATS message holds (${maxValueBytes} bytes: the server's max_payload less ${NATS_PUT_OVERHEAD}); the waypoint keeps its last good snapshot`,
              TOO_LARGE_FIX,
            ),
          };
        }
        byName.set(r.name, e.hash);
        blobs.set(e.hash, e.bytes);
      } catch (error) {
        return { waypoint: w.waypoint, key, typeUrl, resource: r.name, error };
      }
    }
    const sorted = [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    resources[typeUrl] = Object.fromEntries(sorted);
    versions[typeUrl] = versionOf(byName);
  }
  const snapshot = { waypoint: w.waypoint, key, version: versionOf(versions), versions, resources, blobs };
  // The manifest names every resource: it must fit in one message too (a generous estimate).
  const manifestBytes = Buffer.byteLength(JSON.stringify({ resources, versions })) + 2048;
  if (manifestBytes > maxValueBytes) {
    return {
      waypoint: w.waypoint,
      key,
      error: new SnapshotError(
        `the waypoint's manifest would be about ${manifestBytes} bytes, more than a NATS message holds (${maxValueBytes} bytes); the waypoint keeps its last good snapshot`,
        TOO_LARGE_FIX,
      ),
    };
  }
  return snapshot;
}

/** Encodes every waypoint of a translation; a waypoint with a bad resource fails alone. */
export function buildSnapshots(
  output: TranslationOutput,
  cache = new EncodeCache(),
  opts: { maxValueBytes?: number } = {},
): BuildResult {
  const snapshots: WaypointSnapshot[] = [];
  const failures: WaypointFailure[] = [];
  const maxValueBytes = opts.maxValueBytes ?? Number.POSITIVE_INFINITY;
  for (const w of output.waypoints) {
    let r = cache.reuse(w, maxValueBytes);
    if (!r) {
      r = buildWaypoint(w, cache, maxValueBytes);
      cache.remember(w, maxValueBytes, r);
    }
    if ("blobs" in r) snapshots.push(r);
    else failures.push(r);
  }
  cache.commit();
  return { snapshots, failures };
}

/** The manifest to store for a snapshot. */
export function manifestOf(
  s: WaypointSnapshot,
  builtAt: string,
  observedAt: string | undefined,
  trace?: TraceContext,
): WaypointManifest {
  const m: WaypointManifest = {
    waypoint: s.waypoint,
    version: s.version,
    versions: s.versions,
    resources: s.resources,
    builtAt,
  };
  if (observedAt !== undefined) m.observedAt = observedAt;
  if (trace) m.trace = trace;
  return m;
}
