// TrafficPolicy `internalRedirect` (kgateway's shape) → the route action's internal_redirect_policy:
// Envoy follows the upstream's redirect itself (a fully qualified Location, same scheme unless
// allowCrossSchemeRedirect) and answers the client with the final response.
//   redirectResponseCodes    → redirect_response_codes (301, 302, 303, 307, 308; Envoy: only 302
//                              when unset)
//   allowCrossSchemeRedirect → allow_cross_scheme_redirect (default false)
//   responseHeadersToCopy    → response_headers_to_copy (headers of the redirect response copied
//                              into the redirected request)
//   maxRedirects             → max_internal_redirects (at least 1; Envoy's default 1)
// As kgateway does, an entry that already has an internal redirect policy keeps it; entries that
// do not forward are left alone.
import type { RouteActionJson, RouteJson } from "@waymark/envoy-proto";
import { type FeatureRead, FieldErrors, type PolicyFeature } from "../feature.ts";
import { readObject, unknownKeys } from "../route-fields.ts";

export type InternalRedirectPolicyJson = NonNullable<RouteActionJson["internalRedirectPolicy"]>;

const CODES = [301, 302, 303, 307, 308];
/** The Gateway API's HTTPHeaderName. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

export function readInternalRedirect(value: unknown): FeatureRead<InternalRedirectPolicyJson> {
  const errors = new FieldErrors();
  const o = readObject(value, "internalRedirect", errors);
  if (!o) return { ok: false, errors: errors.list };
  unknownKeys(
    o,
    ["redirectResponseCodes", "allowCrossSchemeRedirect", "responseHeadersToCopy", "maxRedirects"],
    "internalRedirect",
    errors,
  );
  const policy: InternalRedirectPolicyJson = {};

  if (o.redirectResponseCodes !== undefined) {
    const list = o.redirectResponseCodes;
    if (!Array.isArray(list) || list.length < 1 || list.length > 5)
      errors.at("internalRedirect.redirectResponseCodes", `must be a list of 1 to 5 of ${CODES.join(", ")}`);
    else {
      const codes: number[] = [];
      list.forEach((c, i) => {
        const at = `internalRedirect.redirectResponseCodes[${i}]`;
        if (typeof c !== "number" || !CODES.includes(c))
          errors.at(
            at,
            `${JSON.stringify(c)} is not a redirect code Envoy follows (use ${CODES.join(", ")})`,
          );
        else if (codes.includes(c)) errors.at(at, `${c} is listed twice`);
        else codes.push(c);
      });
      policy.redirectResponseCodes = codes;
    }
  }

  if (o.allowCrossSchemeRedirect !== undefined) {
    if (typeof o.allowCrossSchemeRedirect !== "boolean")
      errors.at("internalRedirect.allowCrossSchemeRedirect", "must be true or false");
    else if (o.allowCrossSchemeRedirect) policy.allowCrossSchemeRedirect = true;
  }

  if (o.responseHeadersToCopy !== undefined) {
    const list = o.responseHeadersToCopy;
    if (!Array.isArray(list) || list.length < 1 || list.length > 16)
      errors.at("internalRedirect.responseHeadersToCopy", "must be a list of 1 to 16 header names");
    else {
      const seen = new Set<string>();
      const names: string[] = [];
      list.forEach((h, i) => {
        const at = `internalRedirect.responseHeadersToCopy[${i}]`;
        if (typeof h !== "string" || h.length > 256 || !HEADER_NAME.test(h))
          errors.at(at, `${JSON.stringify(h)} is not a header name`);
        // Envoy refuses to copy headers it does not let config change.
        else if (h.toLowerCase() === "host")
          errors.at(at, '"host" cannot be copied (Envoy does not allow it)');
        else if (seen.has(h)) errors.at(at, `${JSON.stringify(h)} is listed twice`);
        else {
          seen.add(h);
          names.push(h);
        }
      });
      policy.responseHeadersToCopy = names;
    }
  }

  if (o.maxRedirects !== undefined) {
    const n = o.maxRedirects;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 0xffff_ffff)
      errors.at("internalRedirect.maxRedirects", `${JSON.stringify(n)} is not a whole number of 1 or more`);
    else policy.maxInternalRedirects = n;
  }

  return errors.length ? { ok: false, errors: errors.list } : { ok: true, value: policy };
}

export const internalRedirectFeature: PolicyFeature<InternalRedirectPolicyJson> = {
  field: "internalRedirect",
  read: readInternalRedirect,
  equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  editRoute(policy, route: RouteJson) {
    const action = route.route;
    if (!action || action.internalRedirectPolicy !== undefined) return;
    action.internalRedirectPolicy = structuredClone(policy);
  },
};
