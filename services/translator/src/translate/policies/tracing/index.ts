// TrafficPolicy `tracing`: the route entry's tracing (sampling percentages and custom tags), set on
// every entry where the policy is in force (a rule-level policy wins over a route-level one; a
// Gateway target makes the policy Invalid, as kgateway's CRD refuses it). See spec.ts for the shape.
// The spans need the waypoints' tracing provider (WAYMARK_WAYPOINT_TRACING, settings.waypointTracing:
// each connection manager gets an OpenTelemetry tracer, xds/tracing.ts); without it Envoy accepts and
// keeps these settings but records no spans.
import type { PolicyFeature } from "../feature.ts";
import { readTracing, type TracingValue } from "./spec.ts";

export const tracingFeature: PolicyFeature<TracingValue> = {
  field: "tracing",
  read: readTracing,
  equal: (a, b) => JSON.stringify(a.tracing) === JSON.stringify(b.tracing),
  editRoute(value, route) {
    route.tracing = structuredClone(value.tracing);
  },
};
