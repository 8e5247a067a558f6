// The route configuration of one HTTP chain: one virtual host, domains "*". With no HTTPRoute for
// the service it forwards everything to the service port's cluster; otherwise it holds the rules of
// the waypoint's Gateway-parent routes, then those of the service's own (Service-parent) routes, each
// group sorted by Gateway API precedence. There is no implicit fallback after the rules.
//
// GAMMA consumer routes (Service parent in another namespace) apply only to clients of their own
// namespace and replace the producer routes for them: for each consumer namespace, its routes'
// entries (gated on the client's identity) come first, then a gated 404 for whatever they do not
// match. Clients of other namespaces see the producer routes, or, when the service has none, the
// default route to the service itself, as if the consumer routes did not exist.
import type { RouteConfigurationJson, RouteJson } from "@waymark/envoy-proto";
import { defaultVirtualHostName, routesVirtualHostName } from "../input/names.ts";
import type { RouteConfigIR } from "../ir/types.ts";
import { type CompiledRoute, consumerGate, entriesForService } from "../routes/compile.ts";
import { compareMatchRank } from "../routes/precedence.ts";

function sortedEntries(routes: readonly CompiledRoute[]): RouteJson[] {
  return routes
    .flatMap((r) => r.entries)
    .sort((a, b) => compareMatchRank(a.rank, b.rank))
    .map((e) => e.json);
}

/** Service routes: consumer routes per client namespace (see the file comment), then producer routes. */
function sortedServiceEntries(
  routes: readonly CompiledRoute[],
  namespace: string,
  fallbackCluster: string | undefined,
): RouteJson[] {
  const out: RouteJson[] = [];
  const consumerNamespaces = [
    ...new Set(routes.map((r) => r.namespace).filter((n) => n !== namespace)),
  ].sort();
  // Appended one by one: a service may hold more entries than a spread argument list allows.
  for (const ns of consumerNamespaces) {
    const consumer = routes
      .filter((r) => r.namespace === ns)
      .flatMap((r) => entriesForService(r, namespace))
      .sort((a, b) => compareMatchRank(a.rank, b.rank));
    for (const e of consumer) out.push(e.json);
    out.push({
      name: `${ns}/consumer-routes-no-match`,
      match: { prefix: "/", filterState: [consumerGate(ns)] },
      directResponse: { status: 404 },
    });
  }
  const producer = routes.filter((r) => r.namespace === namespace);
  for (const e of sortedEntries(producer)) out.push(e);
  if (producer.length === 0 && fallbackCluster)
    out.push({ name: "default", match: { prefix: "/" }, route: { cluster: fallbackCluster } });
  return out;
}

export function defaultRouteConfig(
  name: string,
  service: string,
  namespace: string,
  port: number,
  cluster: string,
): RouteConfigurationJson {
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
  /** The service port's own cluster: where clients no route applies to go (consumer routes only). */
  ownCluster?: string,
): RouteConfigurationJson {
  return {
    name,
    virtualHosts: [
      {
        name: routesVirtualHostName(service, namespace),
        domains: ["*"],
        routes: [
          ...sortedEntries(gatewayRoutes),
          ...sortedServiceEntries(serviceRoutes, namespace, gatewayRoutes.length ? undefined : ownCluster),
        ],
      },
    ],
  };
}

/** The route configuration of one HTTP chain, without the policy slots (see emitRouteConfig). */
export function routeConfigOf(rc: RouteConfigIR): RouteConfigurationJson {
  const { name, service } = rc;
  return rc.hasRoutes
    ? routesRouteConfig(name, service.name, service.namespace, rc.gatewayRoutes, rc.serviceRoutes, rc.cluster)
    : defaultRouteConfig(name, service.name, service.namespace, rc.port, rc.cluster);
}

/** Fills the policy slots of a route configuration built by routeConfigOf (possibly kept by a cache). */
export function fillRouteConfigSlots(
  json: RouteConfigurationJson,
  rc: RouteConfigIR,
): RouteConfigurationJson {
  const config = rc.virtualHostConfig;
  const edit = rc.routeEdit;
  const perFilter = config && Object.keys(config).length ? config : undefined;
  if (!perFilter && !edit) return json;
  // New virtual hosts and routes: `json` may be kept by the route configuration cache.
  return {
    ...json,
    virtualHosts: (json.virtualHosts ?? []).map((vh) => ({
      ...vh,
      ...(perFilter ? { typedPerFilterConfig: { ...perFilter } } : {}),
      ...(edit && vh.routes ? { routes: vh.routes.map((r) => edit(r) ?? r) } : {}),
    })),
  };
}
