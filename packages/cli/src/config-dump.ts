// `waymark config-dump <ns>/<gateway>`: one waypoint's xDS as the xds-server serves it, decoded from
// the manifest's blobs to proto3 JSON (the same JSON as Envoy's /config_dump resources), with secret
// values (API keys, htpasswd users, SDS secrets such as OAuth2's client and HMAC secrets) redacted. Pure: the caller fetches the manifest and the blobs.
import type { WaypointManifest } from "@waymark/api";
import { decodeResource, type JsonValue, SECRET_TYPE_URL } from "@waymark/envoy-proto";

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

const T = "type.googleapis.com/envoy.extensions.filters.http.";
/**
 * Fields that hold secret values (Envoy marks them sensitive), by the @type of the message holding
 * them: the dump shows that they are there, never what they are.
 */
const SENSITIVE: Record<string, readonly string[]> = {
  [`${T}api_key_auth.v3.ApiKeyAuth`]: ["credentials"],
  [`${T}api_key_auth.v3.ApiKeyAuthPerRoute`]: ["credentials"],
  [`${T}basic_auth.v3.BasicAuth`]: ["users"],
  [`${T}basic_auth.v3.BasicAuthPerRoute`]: ["users"],
};
export const REDACTED = "[redacted]";

/**
 * An SDS Secret resource with every value hidden: its name and which kind of secret it is stay (a
 * generic secret, a certificate...), what it holds does not.
 */
export function redactSecret(v: JsonValue): JsonValue {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return REDACTED;
  const out: Record<string, JsonValue> = {};
  for (const [k, x] of Object.entries(v)) out[k] = k === "name" ? x : REDACTED;
  return out;
}

/** A copy of decoded JSON with every sensitive field's value replaced (clients' names stay). */
export function redact(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(redact);
  if (v === null || typeof v !== "object") return v;
  const type = typeof v["@type"] === "string" ? v["@type"] : undefined;
  const hide = new Set(type ? (SENSITIVE[type] ?? []) : []);
  const out: Record<string, JsonValue> = {};
  for (const [k, x] of Object.entries(v)) {
    if (!hide.has(k)) out[k] = redact(x as JsonValue);
    else if (k === "credentials" && Array.isArray(x))
      out[k] = x.map((c) =>
        c && typeof c === "object" && !Array.isArray(c) ? { ...c, key: REDACTED } : REDACTED,
      );
    else out[k] = REDACTED;
  }
  return out;
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
        const json = decodeResource(typeUrl, bytes);
        resources[name] = typeUrl === SECRET_TYPE_URL ? redactSecret(json) : redact(json);
      } catch (err) {
        problems[hash] = `cannot decode ${name}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    out.types[typeUrl] = { version: m.versions[typeUrl], resources };
  }
  if (Object.keys(problems).length) out.problems = problems;
  return out;
}
