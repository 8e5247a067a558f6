// The apiKeyAuth feature of TrafficPolicy: Envoy's api_key_auth filter, disabled in every connection
// manager of a waypoint that uses it, enabled per route entry (or per virtual host, Gateway-level) by a
// FilterConfig carrying that policy's keys and key sources. A request without a known key gets 401.
// `disable` keeps the filter off where it is in force. Invalid apiKeyAuth fails closed.
import type { ApiKeyAuthJson } from "@waymark/envoy-proto";
import { filterOff, filterOn, pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import type { PolicyFeature } from "../feature.ts";
import { type ApiKeyAuth, readApiKeyAuth } from "./spec.ts";

export const API_KEY_AUTH_FILTER = "waymark.api_key_auth";
const FILTER = "envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth";
const PER_ROUTE = "envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuthPerRoute";

export const apiKeyAuthFeature: PolicyFeature<ApiKeyAuth> = {
  field: "apiKeyAuth",
  failClosed: true,
  read: readApiKeyAuth,
  equal: (a, b) =>
    a.kind === b.kind &&
    (a.kind === "disable" || (b.kind === "require" && JSON.stringify(a.config) === JSON.stringify(b.config))),
  httpFilters: [
    {
      slot: "apiKeyAuth",
      filter: {
        name: API_KEY_AUTH_FILTER,
        disabled: true,
        typedConfig: pack(FILTER, {} satisfies ApiKeyAuthJson),
      },
    },
  ],
  perRoute(v): PerFilterConfig {
    if (v.kind === "disable") return { [API_KEY_AUTH_FILTER]: filterOff() };
    return { [API_KEY_AUTH_FILTER]: filterOn(pack(PER_ROUTE, v.config)) };
  },
};
