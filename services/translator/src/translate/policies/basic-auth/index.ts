// The basicAuth feature of TrafficPolicy: Envoy's basic_auth filter, disabled in every connection
// manager of a waypoint that uses it (with a placeholder user list: Envoy needs one, a lone comment
// lets nobody in), enabled per route entry (or per virtual host, Gateway-level) by a FilterConfig
// carrying that policy's users (BasicAuthPerRoute). A request without valid credentials gets 401.
// `disable` keeps the filter off where it is in force. Invalid basicAuth fails closed (500). As in
// kgateway, the username is not forwarded (no forward_username_header) and the Authorization header
// goes upstream unchanged.
import type { BasicAuthJson, BasicAuthPerRouteJson } from "@waymark/envoy-proto";
import { filterOff, filterOn, pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import type { PolicyFeature } from "../feature.ts";
import { type BasicAuth, readBasicAuth } from "./spec.ts";

export const BASIC_AUTH_FILTER = "waymark.basic_auth";
const FILTER = "envoy.extensions.filters.http.basic_auth.v3.BasicAuth";
const PER_ROUTE = "envoy.extensions.filters.http.basic_auth.v3.BasicAuthPerRoute";

export const basicAuthFeature: PolicyFeature<BasicAuth> = {
  field: "basicAuth",
  failClosed: true,
  read: readBasicAuth,
  equal: (a, b) =>
    a.kind === b.kind && (a.kind === "disable" || (b.kind === "require" && a.htpasswd === b.htpasswd)),
  httpFilters: [
    {
      slot: "basicAuth",
      filter: {
        name: BASIC_AUTH_FILTER,
        disabled: true,
        typedConfig: pack(FILTER, { users: { inlineString: "#" } } satisfies BasicAuthJson),
      },
    },
  ],
  perRoute(v): PerFilterConfig {
    if (v.kind === "disable") return { [BASIC_AUTH_FILTER]: filterOff() };
    const config: BasicAuthPerRouteJson = { users: { inlineString: v.htpasswd } };
    return { [BASIC_AUTH_FILTER]: filterOn(pack(PER_ROUTE, config)) };
  },
};
