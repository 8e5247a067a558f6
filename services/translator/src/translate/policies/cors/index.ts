// TrafficPolicy cors: the Gateway API HTTPCORSFilter fields inline, plus kgateway's `disable: {}`.
// The reader and the Envoy rendering are shared with the HTTPRoute CORS filter (spec.ts). Where both
// apply to a route entry, the route's own filter wins (kgateway documents the HTTPRoute CORS filter
// as taking precedence over any TrafficPolicy cors); see routes/compile.ts and policies/translation.ts.
import type { PolicyFeature } from "../feature.ts";
import { CORS_HTTP_FILTER, type CorsValue, corsPerFilter, readCors } from "./spec.ts";

export { CORS_FILTER } from "./spec.ts";

export const corsFeature: PolicyFeature<CorsValue> = {
  field: "cors",
  read: readCors,
  equal: (a, b) => JSON.stringify(a.policy) === JSON.stringify(b.policy),
  httpFilters: [CORS_HTTP_FILTER],
  perRoute: ({ policy }) => corsPerFilter(policy),
};
