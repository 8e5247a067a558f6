// The route configuration of one HTTP chain: one virtual host, domains "*". With no HTTPRoute for
// the service it forwards everything to the service port's cluster; otherwise it holds the rules of
// the waypoint's Gateway-parent routes, then those of the service's own (Service-parent) routes, each
// group sorted by Gateway API precedence. There is no implicit fallback after the rules.
import type { JsonObject } from "@waymark/envoy-proto";
import { defaultVirtualHostName, routesVirtualHostName } from "./names.ts";
import { compareMatchRank } from "./precedence.ts";
import type { CompiledRoute } from "./routes.ts";

function sortedEntries(routes: readonly CompiledRoute[]): JsonObject[] {
  return routes
    .flatMap((r) => r.entries)
    .sort((a, b) => compareMatchRank(a.rank, b.rank))
    .map((e) => e.json);
}

export function defaultRouteConfig(
  name: string,
  service: string,
  namespace: string,
  port: number,
  cluster: string,
): JsonObject {
  return {
    name,
    virtualHosts: [
      {
        name: defaultVirtualHostName(port, service, namespace),
        domains: ["*"],
        routes: [{ name: "default", match: { prefix: "/" }, route: { cluster } }],
      },
    ],
  };
}

export function routesRouteConfig(
  name: string,
  service: string,
  namespace: string,
  gatewayRoutes: readonly CompiledRoute[],
  serviceRoutes: readonly CompiledRoute[],
): JsonObject {
  return {
    name,
    virtualHosts: [
      {
        name: routesVirtualHostName(service, namespace),
        domains: ["*"],
        routes: [...sortedEntries(gatewayRoutes), ...sortedEntries(serviceRoutes)],
      },
    ],
  };
}
