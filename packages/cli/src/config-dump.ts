// `waymark config-dump <ns>/<gateway>`: one waypoint's xDS as the xds-server serves it, decoded from
// the manifest's blobs to proto3 JSON (the same JSON as Envoy's /config_dump resources). Pure: the
// caller fetches the manifest and the blobs.
import type { WaypointManifest } from "@waymark/api";
import { decodeResource, type JsonValue } from "@waymark/envoy-proto";

export interface ConfigDump {
  waypoint: string;
  version: string;
  builtAt: string;
  observedAt?: string;
  traceparent?: string;
  /** type URL → { version, resources: name → JSON } */
  types: Record<string, { version: string | undefined; resources: Record<string, JsonValue> }>;
  /** Blobs the manifest names that could not be read or decoded (hash → why). */
  problems?: Record<string, string>;
}

export function configDump(
  m: WaypointManifest,
  blobs: ReadonlyMap<string, Uint8Array | undefined>,
): ConfigDump {
  const out: ConfigDump = {
    waypoint: `${m.waypoint.namespace}/${m.waypoint.name}`,
    version: m.version,
    builtAt: m.builtAt,
    ...(m.observedAt ? { observedAt: m.observedAt } : {}),
    ...(m.trace?.traceparent ? { traceparent: m.trace.traceparent } : {}),
    types: {},
  };
  const problems: Record<string, string> = {};
  for (const [typeUrl, byName] of Object.entries(m.resources)) {
    const resources: Record<string, JsonValue> = {};
    for (const [name, hash] of Object.entries(byName)) {
      const bytes = blobs.get(hash);
      if (!bytes) {
        problems[hash] = `blob of ${name} is missing from wm-xds`;
        continue;
      }
      try {
        resources[name] = decodeResource(typeUrl, bytes);
      } catch (err) {
        problems[hash] = `cannot decode ${name}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    out.types[typeUrl] = { version: m.versions[typeUrl], resources };
  }
  if (Object.keys(problems).length) out.problems = problems;
  return out;
}
