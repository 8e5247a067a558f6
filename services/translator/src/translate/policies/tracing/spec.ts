// TrafficPolicy `tracing` (kgateway v2.4): the per-route parts of tracing only — sampling
// percentages (clientSampling, randomSampling, overallSampling, whole numbers 0-100) and attributes
// (custom tags on the span: a literal, an environment variable, a request header, or metadata), or
// `disable: {}` alone. The tracing provider is not here: kgateway configures it on the listener
// (HTTPListenerPolicy / ListenerPolicy tracing.provider), Waymark mesh-wide (the translator setting
// WAYMARK_WAYPOINT_TRACING, xds/tracing.ts), and Envoy reads a route's tracing only when its
// connection manager has a tracing block. Each becomes the route entry's `tracing`
// (envoy.config.route.v3.Tracing): the percentages as FractionalPercent over 100, the attributes as
// custom_tags; `disable` samples nothing on the route (all three percentages 0). Only for policies
// whose every target is an HTTPRoute or GRPCRoute (kgateway's CRD rejects it on a Gateway). With the
// waypoints' tracing provider set (settings.waypointTracing), a policy that leaves randomSampling out
// gets the provider's default sampling on its routes rather than Envoy's 100% for an unset route
// percentage, which Envoy alone would use whatever the connection manager's sampling is.
import type { RouteJson } from "@waymark/envoy-proto";
import { DEFAULT_WAYPOINT_TRACING_SAMPLING } from "../../types.ts";
import { type FeatureContext, type FeatureRead, FieldErrors } from "../feature.ts";
import { HEADER_NAME, object, readDisable, readInt, unknownKeys } from "../read.ts";
import { onlyForKinds } from "../route-fields.ts";

/** The route entry's tracing (envoy.config.route.v3.Tracing) to set. */
export type RouteTracingJson = NonNullable<RouteJson["tracing"]>;
type CustomTagJson = NonNullable<RouteTracingJson["customTags"]>[number];
type MetadataKindJson = NonNullable<NonNullable<CustomTagJson["metadata"]>["kind"]>;

export interface TracingValue {
  tracing: RouteTracingJson;
}

const FIELDS = ["attributes", "clientSampling", "randomSampling", "overallSampling", "disable"];
const SAMPLING = [
  ["clientSampling", "clientSampling"],
  ["randomSampling", "randomSampling"],
  ["overallSampling", "overallSampling"],
] as const;
const SOURCES = ["literal", "environment", "requestHeader", "metadata"] as const;
const KINDS: Record<string, MetadataKindJson> = {
  Request: { request: {} },
  Route: { route: {} },
  Cluster: { cluster: {} },
  Host: { host: {} },
};
const MAX_ATTRIBUTES = 16;

const percent = (n: number) => ({ numerator: n, denominator: "HUNDRED" as const });

/** A non-empty string at `path` (Envoy refuses empty names and values), or undefined with an error. */
function nonEmpty(v: unknown, path: string, errors: FieldErrors): string | undefined {
  if (typeof v === "string" && v.length > 0) return v;
  errors.at(path, "must be a non-empty string");
  return undefined;
}

/** An optional defaultValue string. */
function defaultValue(o: Record<string, unknown>, path: string, errors: FieldErrors): string | undefined {
  if (o.defaultValue === undefined) return undefined;
  if (typeof o.defaultValue === "string") return o.defaultValue;
  errors.at(`${path}.defaultValue`, "must be a string");
  return undefined;
}

function attribute(a: unknown, path: string, errors: FieldErrors): CustomTagJson | undefined {
  const o = object(a, path, errors);
  if (!o) return undefined;
  unknownKeys(o, ["name", ...SOURCES], path, errors);
  const tag = nonEmpty(o.name, `${path}.name`, errors);
  const given = SOURCES.filter((s) => o[s] !== undefined);
  if (given.length !== 1) {
    errors.at(path, `set exactly one of ${SOURCES.join(", ")}`);
    return undefined;
  }
  const source = given[0]!;
  const at = `${path}.${source}`;
  const s = object(o[source], at, errors);
  if (!s || tag === undefined) return undefined;
  const before = errors.length;
  let out: CustomTagJson | undefined;
  if (source === "literal") {
    unknownKeys(s, ["value"], at, errors);
    const value = nonEmpty(s.value, `${at}.value`, errors);
    if (value !== undefined) out = { tag, literal: { value } };
  } else if (source === "environment" || source === "requestHeader") {
    unknownKeys(s, ["name", "defaultValue"], at, errors);
    const name = nonEmpty(s.name, `${at}.name`, errors);
    if (source === "requestHeader" && name !== undefined && !HEADER_NAME.test(name))
      errors.at(`${at}.name`, `${JSON.stringify(name)} is not a header name`);
    const def = defaultValue(s, at, errors);
    if (name !== undefined) {
      const body = { name, ...(def !== undefined ? { defaultValue: def } : {}) };
      out = source === "environment" ? { tag, environment: body } : { tag, requestHeader: body };
    }
  } else {
    unknownKeys(s, ["kind", "metadataKey", "defaultValue"], at, errors);
    const kind = typeof s.kind === "string" ? KINDS[s.kind] : undefined;
    if (!kind) errors.at(`${at}.kind`, `must be one of ${Object.keys(KINDS).join(", ")}`);
    const k = object(s.metadataKey, `${at}.metadataKey`, errors);
    let key: string | undefined;
    const path: Array<{ key: string }> = [];
    if (k) {
      unknownKeys(k, ["key", "path"], `${at}.metadataKey`, errors);
      key = nonEmpty(k.key, `${at}.metadataKey.key`, errors);
      if (!Array.isArray(k.path) || k.path.length === 0)
        errors.at(`${at}.metadataKey.path`, "must be a list of at least one {key: ...}");
      else
        k.path.forEach((p, i) => {
          const segment = `${at}.metadataKey.path[${i}]`;
          const po = object(p, segment, errors);
          if (!po) return;
          unknownKeys(po, ["key"], segment, errors);
          const pk = nonEmpty(po.key, `${segment}.key`, errors);
          if (pk !== undefined) path.push({ key: pk });
        });
    }
    const def = defaultValue(s, at, errors);
    if (kind && key !== undefined)
      out = {
        tag,
        metadata: { kind, metadataKey: { key, path }, ...(def !== undefined ? { defaultValue: def } : {}) },
      };
  }
  return errors.length === before ? out : undefined;
}

/**
 * The waypoints' default random sampling as a route's FractionalPercent: whole percents over 100,
 * else over 10,000 (the setting has steps of 0.01).
 */
export function defaultSampling(percentage: number): RouteTracingJson["randomSampling"] {
  return Number.isInteger(percentage)
    ? percent(percentage)
    : { numerator: Math.round(percentage * 100), denominator: "TEN_THOUSAND" };
}

export function readTracing(
  value: unknown,
  ctx?: Partial<Pick<FeatureContext, "targetKinds" | "settings">>,
): FeatureRead<TracingValue> {
  const errors = new FieldErrors();
  if (ctx?.targetKinds)
    onlyForKinds({ targetKinds: ctx.targetKinds }, ["HTTPRoute", "GRPCRoute"], "tracing", errors);
  const v = object(value, "tracing", errors);
  const tracing: RouteTracingJson = {};
  if (v) {
    unknownKeys(v, FIELDS, "tracing", errors);
    if (readDisable(v.disable, "tracing.disable", errors)) {
      if (Object.keys(v).length > 1)
        errors.at("tracing.disable", "cannot be combined with other tracing fields");
      tracing.clientSampling = percent(0);
      tracing.randomSampling = percent(0);
      tracing.overallSampling = percent(0);
    } else {
      for (const [field, key] of SAMPLING) {
        const n = readInt(v[field], `tracing.${field}`, errors, 0, 100);
        if (n !== undefined) tracing[key] = percent(n);
      }
      // Envoy reads a percentage the route's tracing leaves out as 100%, not as the connection
      // manager's: with a tracing provider, an unset randomSampling keeps the waypoints' default
      // (client and overall sampling are 100% on the connection managers too, as Envoy's defaults).
      const provider = ctx?.settings?.waypointTracing;
      if (provider && v.randomSampling === undefined)
        tracing.randomSampling = defaultSampling(
          provider.randomSampling ?? DEFAULT_WAYPOINT_TRACING_SAMPLING,
        );
      if (v.attributes !== undefined) {
        if (!Array.isArray(v.attributes)) errors.at("tracing.attributes", "must be a list");
        else {
          if (v.attributes.length > MAX_ATTRIBUTES)
            errors.at("tracing.attributes", `at most ${MAX_ATTRIBUTES} entries`);
          const tags = v.attributes
            .map((a, i) => attribute(a, `tracing.attributes[${i}]`, errors))
            .filter((t): t is CustomTagJson => t !== undefined);
          if (tags.length) tracing.customTags = tags;
        }
      }
    }
  }
  if (errors.length) return { ok: false, errors: errors.list };
  return { ok: true, value: { tracing } };
}
