// The CORS policy both places that speak the Gateway API's HTTPCORSFilter share: the TrafficPolicy
// `cors` field (these fields inline, plus kgateway's `disable: {}`) and the HTTPRoute `CORS` filter
// (routes/filters.ts). One reader, one rendering: Envoy's cors filter sits, disabled, in the
// connection manager, and a route entry or virtual host enables it with its CorsPolicy. Envoy
// answers a preflight from an allowed origin itself and adds the access-control-* headers to the
// responses of allowed origins; anything else passes through as if there were no policy.
//
// Gateway API semantics and how Envoy (1.40) meets them:
//   - allowOrigins: exact origins, `*` alone (any origin), or `*` as the left-most host label(s)
//     (`https://*.example.com` matches any number of labels before example.com, not example.com);
//   - Envoy always answers with the request's Origin, never `*`: with allowCredentials that is what
//     the spec requires, without it the spec allows it;
//   - allowMethods / allowHeaders `*`: with allowCredentials Envoy echoes the requested method and
//     headers (the spec's rule), without it it sends `*`;
//   - maxAge: 5 seconds when absent (the CRDs' default).
import type { CorsJson, CorsPolicyJson, StringMatcherJson } from "@waymark/envoy-proto";
import { re2Escape } from "../../authorization/rbac/matchers.ts";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig, PlacedHttpFilter } from "../../ir/types.ts";
import { type FieldError, FieldErrors } from "../feature.ts";
import { HEADER_NAME, object, readBool, readDisable, readInt, readStrings, unknownKeys } from "../read.ts";

export const CORS_FILTER = "envoy.filters.http.cors";

/** The CorsPolicy to place, computed once. */
export interface CorsValue {
  policy: CorsPolicyJson;
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
/** Gateway API (its CORSOrigin pattern): scheme://host[:port], `*` wildcards allowed in host and port; or `*` alone. */
const ORIGIN = /^[^:/?#\s]+:\/\/[^/?#\s]+$/;
/** Gateway API's default maxAge (seconds), which its CRD fills in when the field is absent. */
const DEFAULT_MAX_AGE = 5;
const FIELDS = [
  "allowOrigins",
  "allowMethods",
  "allowHeaders",
  "exposeHeaders",
  "maxAge",
  "allowCredentials",
  "disable",
];

/**
 * An allowed origin as Envoy matches it: exact when it has no `*`; `*` alone any origin; a prefix when
 * its only `*` ends it; else a whole-value regex in which `*` matches anything (kgateway's conversion).
 */
export function originMatcher(origin: string): StringMatcherJson {
  if (origin === "*") return { safeRegex: { regex: ".*" } };
  const stars = origin.split("*").length - 1;
  if (stars === 0) return { exact: origin };
  if (stars === 1 && origin.endsWith("*")) return { prefix: origin.slice(0, -1) };
  return { safeRegex: { regex: origin.split("*").map(re2Escape).join(".*") } };
}

/** A list of header names, or `*` alone. */
function headerList(v: unknown, path: string, errors: FieldErrors): string[] | undefined {
  const list = readStrings(v, path, errors, 64);
  if (!list) return undefined;
  if (list.includes("*") && list.length > 1) errors.at(path, '"*" must be the only entry when given');
  list.forEach((h, i) => {
    if (h !== "*" && !HEADER_NAME.test(h))
      errors.at(`${path}[${i}]`, `${JSON.stringify(h)} is not a header name`);
  });
  return list;
}

/** The HTTPCORSFilter fields of `v` (at `path`) as Envoy's CorsPolicy; errors name each field's path. */
export function readCorsFields(
  v: Record<string, unknown>,
  path: string,
  errors: FieldErrors,
): CorsPolicyJson {
  const policy: CorsPolicyJson = {};
  const origins = readStrings(v.allowOrigins, `${path}.allowOrigins`, errors, 64);
  if (origins?.includes("*") && origins.length > 1)
    errors.at(`${path}.allowOrigins`, '"*" must be the only entry when given');
  origins?.forEach((o, i) => {
    if (o !== "*" && !ORIGIN.test(o))
      errors.at(
        `${path}.allowOrigins[${i}]`,
        `${JSON.stringify(o)} is not an origin (scheme://host[:port], e.g. https://example.com or https://*.example.com, or "*")`,
      );
  });
  if (origins?.length) policy.allowOriginStringMatch = origins.map(originMatcher);
  const methods = readStrings(v.allowMethods, `${path}.allowMethods`, errors, 9);
  if (methods) {
    if (methods.includes("*") && methods.length > 1)
      errors.at(`${path}.allowMethods`, '"*" must be the only entry when given');
    methods.forEach((m, i) => {
      if (m !== "*" && !METHODS.includes(m))
        errors.at(
          `${path}.allowMethods[${i}]`,
          `${JSON.stringify(m)} is not one of ${METHODS.join(", ")} or "*"`,
        );
    });
    if (new Set(methods).size !== methods.length) errors.at(`${path}.allowMethods`, "lists a method twice");
    if (methods.length) policy.allowMethods = methods.join(", ");
  }
  const allowHeaders = headerList(v.allowHeaders, `${path}.allowHeaders`, errors);
  if (allowHeaders?.length) policy.allowHeaders = allowHeaders.join(", ");
  const exposeHeaders = headerList(v.exposeHeaders, `${path}.exposeHeaders`, errors);
  if (exposeHeaders?.length) policy.exposeHeaders = exposeHeaders.join(", ");
  const maxAge = readInt(v.maxAge, `${path}.maxAge`, errors, 1, 2 ** 31 - 1) ?? DEFAULT_MAX_AGE;
  policy.maxAge = String(maxAge);
  if (readBool(v.allowCredentials, `${path}.allowCredentials`, errors)) policy.allowCredentials = true;
  return policy;
}

/** The Gateway API HTTPCORSFilter's fields (the HTTPRoute CORS filter's `cors`). */
export const HTTP_CORS_FILTER_FIELDS = FIELDS.filter((f) => f !== "disable");

/** TrafficPolicy `cors`: the HTTPCORSFilter fields, or kgateway's `disable: {}` alone. */
export function readCors(
  value: unknown,
): { ok: true; value: CorsValue } | { ok: false; errors: FieldError[] } {
  const errors = new FieldErrors();
  const v = object(value, "cors", errors);
  let policy: CorsPolicyJson = {};
  if (v) {
    unknownKeys(v, FIELDS, "cors", errors);
    if (readDisable(v.disable, "cors.disable", errors)) {
      if (Object.keys(v).length > 1) errors.at("cors.disable", "cannot be combined with other cors fields");
      policy.filterEnabled = {
        defaultValue: { numerator: 0, denominator: "HUNDRED" },
        runtimeKey: "cors.disabled",
      };
    } else {
      policy = readCorsFields(v, "cors", errors);
    }
  }
  if (errors.length) return { ok: false, errors: errors.list };
  return { ok: true, value: { policy } };
}

/** Envoy's cors filter for a connection manager: disabled, enabled per route by a CorsPolicy. */
export const CORS_HTTP_FILTER: PlacedHttpFilter = {
  slot: "cors",
  filter: {
    name: CORS_FILTER,
    disabled: true,
    typedConfig: pack("envoy.extensions.filters.http.cors.v3.Cors", {} satisfies CorsJson),
  },
};

/** The typed_per_filter_config that puts `policy` in force on a route entry or virtual host. */
export function corsPerFilter(policy: CorsPolicyJson): PerFilterConfig {
  return { [CORS_FILTER]: pack("envoy.extensions.filters.http.cors.v3.CorsPolicy", policy) };
}
