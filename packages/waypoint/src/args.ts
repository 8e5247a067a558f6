// How a waypoint Envoy drains the connections of a listener or filter chain that an update replaced.
// Envoy's default is gradual over 600 s: a connection opened before a change could go on for ten
// minutes on the filters it was opened with. Immediate: every such connection is closed after its
// next response (HTTP/1.1 `connection: close`, HTTP/2 GOAWAY), and whatever is left is closed after
// 45 s — the figures Istio's waypoints run with. Until then the guard (translator ir/guard.ts)
// refuses requests on a connection that lacks a security filter its route table counts on.
export const WAYPOINT_DRAIN_ARGS: readonly string[] = [
  "--drain-time-s",
  "45",
  "--drain-strategy",
  "immediate",
];
