// TrafficPolicy rateLimit.local (a feature of its own beside rateLimit.global): Envoy's
// local_ratelimit filter, as kgateway programs it. The filter sits, disabled and without a bucket, in
// every connection manager of a waypoint that uses it; a route entry (route-level policy) or the
// virtual host (Gateway-level) enables it with its own LocalRateLimit holding the token bucket. Envoy
// keeps one bucket per such config, shared by every connection and worker of the waypoint
// (local_rate_limit_per_downstream_connection stays false, its default): a route-level limit is per
// route entry, a Gateway-level one per virtual host (one per service of the waypoint). A refused
// request gets 429 `local_rate_limited`, and every response of a limited route carries
// x-ratelimit-limit / -remaining / -reset (kgateway sends none; see spec.ts).
import type { LocalRateLimitJson } from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import type { PolicyFeature } from "../feature.ts";
import { disabledConfig, type LocalRateLimit, readRateLimit, STAT_PREFIX } from "./spec.ts";

export const LOCAL_RATE_LIMIT_FILTER = "envoy.filters.http.local_ratelimit";
const TYPE = "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

export const localRateLimitFeature: PolicyFeature<LocalRateLimit> = {
  field: "rateLimit.local",
  read: readRateLimit,
  equal: (a, b) =>
    a.kind === b.kind &&
    (a.kind !== "limit" || (b.kind === "limit" && JSON.stringify(a.config) === JSON.stringify(b.config))),
  httpFilters: [
    {
      slot: "localRateLimit",
      filter: {
        name: LOCAL_RATE_LIMIT_FILTER,
        disabled: true,
        typedConfig: pack(TYPE, { statPrefix: STAT_PREFIX } satisfies LocalRateLimitJson),
      },
    },
  ],
  perRoute(v): PerFilterConfig {
    return { [LOCAL_RATE_LIMIT_FILTER]: pack(TYPE, v.kind === "limit" ? v.config : disabledConfig()) };
  },
};
