// The stand-ins that keep a chain closed when its RBAC filters cannot be built (a builder bug): an
// RBAC ALLOW filter with no policy, which Envoy reads as "nothing is allowed".
import type { FilterJson, HttpFilterJson, HttpRbacJson, NetworkRbacJson } from "@waymark/envoy-proto";
import { pack } from "../ir/any.ts";

export const FAIL_CLOSED_HTTP_FILTER = "envoy.filters.http.rbac.fail_closed";
export const FAIL_CLOSED_NETWORK_FILTER = "envoy.filters.network.rbac.fail_closed";

/** An HTTP RBAC filter that denies every request (403). */
export function denyAllHttp(): HttpFilterJson {
  const config: HttpRbacJson = { rules: { action: "ALLOW", policies: {} } };
  return {
    name: FAIL_CLOSED_HTTP_FILTER,
    typedConfig: pack("envoy.extensions.filters.http.rbac.v3.RBAC", config),
  };
}

/** A network RBAC filter that closes every connection. */
export function denyAllNetwork(): FilterJson {
  const config: NetworkRbacJson = { statPrefix: "tcp.", rules: { action: "ALLOW", policies: {} } };
  return {
    name: FAIL_CLOSED_NETWORK_FILTER,
    typedConfig: pack("envoy.extensions.filters.network.rbac.v3.RBAC", config),
  };
}
