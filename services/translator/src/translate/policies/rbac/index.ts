// The rbac feature of TrafficPolicy: Envoy's RBAC HTTP filter in its matcher form, as kgateway
// programs it. The filter sits disabled, with no policy, in every connection manager of a waypoint
// that uses it; a route entry (or virtual host, Gateway-level) where a policy is in force enables it
// with a FilterConfig carrying RBACPerRoute: a matcher whose predicate is the policy's CEL expressions
// (ORed, each a CEL matcher over the HTTP attributes), whose match action is the policy's action and
// whose no-match action the other one. A refused request gets 403 "RBAC: access denied". Security:
// a policy that cannot be read (an expression that does not parse, or that Envoy cannot evaluate)
// is Invalid and its route entries answer 500 (fail closed).
import type { HttpRbacJson } from "@waymark/envoy-proto";
import { filterOn, pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import type { PolicyFeature } from "../feature.ts";
import { type RbacValue, readRbac } from "./spec.ts";

export const RBAC_FILTER = "waymark.rbac";
const FILTER = "envoy.extensions.filters.http.rbac.v3.RBAC";
const PER_ROUTE = "envoy.extensions.filters.http.rbac.v3.RBACPerRoute";

export const rbacFeature: PolicyFeature<RbacValue> = {
  field: "rbac",
  failClosed: true,
  read: readRbac,
  equal: (a, b) => a.action === b.action && JSON.stringify(a.perRoute) === JSON.stringify(b.perRoute),
  httpFilters: [
    {
      slot: "rbac",
      filter: { name: RBAC_FILTER, disabled: true, typedConfig: pack(FILTER, {} satisfies HttpRbacJson) },
    },
  ],
  perRoute: (v): PerFilterConfig => ({
    [RBAC_FILTER]: filterOn(pack(PER_ROUTE, v.perRoute)),
  }),
};
