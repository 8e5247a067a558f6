// @waymark/waypoint: what a waypoint Envoy is told at boot and how the control plane recognises it —
// the bootstrap (node, xDS source, admin, readiness, token), the node.cluster contract between the
// bootstrap and the xds-server, and the RE2 runtime limits the translator relies on. The translator's
// waypoint Deployments, the xds-server, the devstack and the tests all use it.
export { WAYPOINT_DRAIN_ARGS } from "./args.ts";
export {
  type BootstrapOptions,
  renderBootstrap,
  renderTokenSds,
  XDS_TOKEN_AUDIENCE,
  XDS_TOKEN_SECRET,
} from "./bootstrap.ts";
export { parseNodeCluster, waypointNodeCluster } from "./node-cluster.ts";
export { RE2_MAX_PROGRAM_SIZE, RE2_WARN_PROGRAM_SIZE, waypointRuntime } from "./runtime.ts";
