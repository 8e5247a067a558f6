// The jwtAuth feature of TrafficPolicy: one jwt_authn filter per connection manager of a waypoint
// (apart from the one RequestAuthentication uses), with every provider of every GatewayExtension in
// force on the waypoint and one requirement per extension. The filter has no rules: a route entry (or
// a virtual host, for a Gateway-level policy) names its requirement in a PerRouteConfig, so routes
// without jwtAuth check nothing, and `disable` turns the check off where a more specific policy says
// so. A request without a valid token gets Envoy's 401. Invalid jwtAuth fails closed.
import type { JwtAuthenticationJson, JwtPerRouteConfigJson, JwtProviderJson } from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig, PlacedHttpFilter } from "../../ir/types.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { PolicyFeature } from "../feature.ts";
import { type JwtAuth, readJwtAuth } from "./spec.ts";

export const JWT_AUTH_FILTER = "waymark.jwt_auth";
const AUTHN = "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const PER_ROUTE = "envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";

export const jwtAuthFeature: PolicyFeature<JwtAuth> = {
  field: "jwtAuth",
  failClosed: true,
  read: readJwtAuth,
  equal: (a, b) =>
    a.kind === b.kind &&
    (a.kind === "disable" || (b.kind === "require" && a.extension === b.extension && a.key === b.key)),
  filtersFor(values): PlacedHttpFilter[] {
    const providers: Record<string, JwtProviderJson> = {};
    const requirementMap: NonNullable<JwtAuthenticationJson["requirementMap"]> = {};
    for (const v of values) {
      if (v.kind !== "require") continue;
      Object.assign(providers, v.providers);
      requirementMap[v.extension] = v.requirement;
    }
    const config: JwtAuthenticationJson = { providers, requirementMap, bypassCorsPreflight: true };
    return [{ slot: "jwtAuth", filter: { name: JWT_AUTH_FILTER, typedConfig: pack(AUTHN, config) } }];
  },
  backendsFor(values): BackendTarget[] {
    return values.flatMap((v) => (v.kind === "require" ? v.backends : []));
  },
  perRoute(v): PerFilterConfig {
    const c: JwtPerRouteConfigJson =
      v.kind === "disable" ? { disabled: true } : { requirementName: v.extension };
    return { [JWT_AUTH_FILTER]: pack(PER_ROUTE, c) };
  },
};
