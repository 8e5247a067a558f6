// TrafficPolicy rateLimit.global: Envoy's ratelimit filter asking a rate limit service (a RateLimit
// GatewayExtension) before a request goes upstream, as kgateway programs it. Every waypoint Envoy (all
// replicas) asks the same service, so the limit is shared by them. One filter per extension in force
// on a waypoint, with the extension's domain, timeout, failure mode and x-ratelimit headers; it sends
// nothing for a request unless its route entry names the descriptors in the filter's per-route config
// (RateLimitPerRoute.rate_limits, where kgateway puts them too). A Gateway-level policy's descriptors
// go onto every route entry that no route-level policy sets rateLimit.global on (editRoute), not onto
// the virtual host: with one filter per extension, a virtual host's config for the Gateway's
// extension would still apply on a route whose own policy names another extension. The virtual host
// only gets an empty per-route config (no descriptors: the filter asks nothing), which puts the
// Gateway's filter into the connection manager. Over the limit: Envoy's 429. The service down or slow (past timeout): the request
// passes when failOpen (kgateway's default, true), else Envoy answers 500 (failure_mode_deny). An
// invalid policy (missing or wrong-typed extension) is not programmed: the route serves without the
// limit, as it would with the service down in kgateway's default mode (rate limiting is not a security
// check, so it does not fail closed).
import type { HttpRateLimitJson, HttpRateLimitPerRouteJson } from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig, PlacedHttpFilter } from "../../ir/types.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { PolicyFeature } from "../feature.ts";
import { type GlobalRateLimit, readGlobalRateLimit } from "./spec.ts";

const TYPE = "envoy.extensions.filters.http.ratelimit.v3.RateLimit";
const PER_ROUTE = "envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute";

/** The filter of one extension (namespace/name). */
export function rateLimitFilterName(extension: string): string {
  return `waymark.rate_limit/${extension}`;
}

export const globalRateLimitFeature: PolicyFeature<GlobalRateLimit> = {
  field: "rateLimit.global",
  read: readGlobalRateLimit,
  equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
  filtersFor(values): PlacedHttpFilter[] {
    const out = new Map<string, PlacedHttpFilter>();
    for (const v of values) {
      const name = rateLimitFilterName(v.extension);
      if (out.has(name)) continue;
      const s = v.service;
      const config: HttpRateLimitJson = {
        domain: s.domain,
        timeout: s.timeout,
        failureModeDeny: !s.failOpen,
        rateLimitService: { grpcService: s.grpcService, transportApiVersion: "V3" },
        ...(s.xRateLimitHeaders ? { enableXRatelimitHeaders: "DRAFT_VERSION_03" as const } : {}),
      };
      out.set(name, { slot: "rateLimit", filter: { name, typedConfig: pack(TYPE, config) } });
    }
    return [...out.values()];
  },
  backendsFor(values): BackendTarget[] {
    return values.map((v) => v.service.backend);
  },
  perRoute(v): PerFilterConfig {
    const c: HttpRateLimitPerRouteJson = { rateLimits: v.rateLimits };
    return { [rateLimitFilterName(v.extension)]: pack(PER_ROUTE, c) };
  },
  perVirtualHost(v): PerFilterConfig {
    return { [rateLimitFilterName(v.extension)]: pack(PER_ROUTE, {} satisfies HttpRateLimitPerRouteJson) };
  },
  editRoute(v, route): void {
    // For a route-level value this repeats perRoute; for a Gateway-level one it is the only place.
    route.typedPerFilterConfig = { ...route.typedPerFilterConfig, ...globalRateLimitFeature.perRoute!(v) };
  },
};
