// TrafficPolicy acl: allow or deny by the client's IP address with Envoy's RBAC HTTP filter (kgateway
// runs its own dynamic module for this; the decision is the same, see spec.ts). The filter sits,
// disabled, in every connection manager of a waypoint that uses it; a route entry (or the virtual
// host, Gateway-level) enables it with an RBACPerRoute. The address is the one Envoy takes as the
// downstream client (RBAC `remote_ip`, kgateway's `source.address`): on the waypoint that is the
// source of ztunnel's PROXY header, or the X-Forwarded-For client when the waypoint trusts hops
// (settings.xffTrustedHops). Denied: 403 `RBAC: access denied`. An acl that cannot be read fails
// closed (the routes it targets answer 500).
import type { HttpRbacJson, HttpRbacPerRouteJson } from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import type { PolicyFeature } from "../feature.ts";
import { type AclValue, readAcl } from "./spec.ts";

export const ACL_FILTER = "waymark.acl";
const RBAC = "envoy.extensions.filters.http.rbac.v3.RBAC";
const PER_ROUTE = "envoy.extensions.filters.http.rbac.v3.RBACPerRoute";

export const aclFeature: PolicyFeature<AclValue> = {
  field: "acl",
  failClosed: true,
  read: readAcl,
  equal: (a, b) => a.denyResponse === b.denyResponse && JSON.stringify(a.rbac) === JSON.stringify(b.rbac),
  httpFilters: [
    {
      slot: "acl",
      // No rules: the filter decides nothing where no route enables it (and it is disabled anyway).
      filter: { name: ACL_FILTER, disabled: true, typedConfig: pack(RBAC, {} satisfies HttpRbacJson) },
    },
  ],
  perRoute: ({ rbac }): PerFilterConfig => ({
    [ACL_FILTER]: pack(PER_ROUTE, { rbac } satisfies HttpRbacPerRouteJson),
  }),
  ignored: (v) => (v.denyResponse ? ["acl.denyResponse"] : []),
};
