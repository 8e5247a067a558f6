// TrafficPolicy csrf: Envoy's CSRF filter refuses (403) a state-changing request (POST, PUT, DELETE,
// PATCH) whose Origin is neither the request's own host nor one of additionalOrigins. As in kgateway,
// percentageEnabled is the share of requests checked and enforced (0 when not given: the filter only
// enforces where asked to), percentageShadowed the share checked and only counted. The filter sits,
// disabled, in the connection manager; a route entry or virtual host enables it with its CsrfPolicy.
import type { CsrfPolicyJson, StringMatcherJson } from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import { FieldErrors, type PolicyFeature } from "../feature.ts";
import { object, percentJson, readInt, readStringMatcher, unknownKeys } from "../read.ts";

export const CSRF_FILTER = "envoy.filters.http.csrf";

export interface CsrfValue {
  policy: CsrfPolicyJson;
}

const fraction = (percent: number, runtimeKey: string) => ({
  defaultValue: percentJson(percent),
  runtimeKey,
});

export function readCsrf(
  value: unknown,
): { ok: true; value: CsrfValue } | { ok: false; errors: FieldErrors["list"] } {
  const errors = new FieldErrors();
  const v = object(value, "csrf", errors);
  const policy: CsrfPolicyJson = {};
  if (v) {
    unknownKeys(v, ["percentageEnabled", "percentageShadowed", "additionalOrigins"], "csrf", errors);
    if (v.percentageEnabled !== undefined && v.percentageShadowed !== undefined)
      errors.at("csrf", "set at most one of percentageEnabled and percentageShadowed");
    const enabled = readInt(v.percentageEnabled, "csrf.percentageEnabled", errors, 0, 100);
    const shadowed = readInt(v.percentageShadowed, "csrf.percentageShadowed", errors, 0, 100);
    policy.filterEnabled = fraction(enabled ?? 0, "waymark.csrf.filter_enabled");
    if (shadowed !== undefined) policy.shadowEnabled = fraction(shadowed, "waymark.csrf.shadow_enabled");
    if (v.additionalOrigins !== undefined) {
      if (!Array.isArray(v.additionalOrigins))
        errors.at("csrf.additionalOrigins", "must be a list of string matchers");
      else {
        if (v.additionalOrigins.length > 16) errors.at("csrf.additionalOrigins", "at most 16 entries");
        const origins: StringMatcherJson[] = [];
        v.additionalOrigins.forEach((m, i) => {
          const s = readStringMatcher(m, `csrf.additionalOrigins[${i}]`, errors);
          if (s) origins.push(s);
        });
        if (origins.length) policy.additionalOrigins = origins;
      }
    }
  }
  if (errors.length) return { ok: false, errors: errors.list };
  return { ok: true, value: { policy } };
}

export const csrfFeature: PolicyFeature<CsrfValue> = {
  field: "csrf",
  read: readCsrf,
  equal: (a, b) => JSON.stringify(a.policy) === JSON.stringify(b.policy),
  httpFilters: [
    {
      slot: "csrf",
      filter: {
        name: CSRF_FILTER,
        disabled: true,
        typedConfig: pack("envoy.extensions.filters.http.csrf.v3.CsrfPolicy", {
          filterEnabled: fraction(0, "waymark.csrf.filter_enabled"),
        } satisfies CsrfPolicyJson),
      },
    },
  ],
  perRoute: ({ policy }): PerFilterConfig => ({
    [CSRF_FILTER]: pack("envoy.extensions.filters.http.csrf.v3.CsrfPolicy", policy),
  }),
};
