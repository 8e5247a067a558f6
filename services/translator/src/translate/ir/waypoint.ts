// Stage 5: one waypoint's IR. The inbound listener gets a chain per (service VIPs, port) of every
// enrolled service; each HTTP chain a route configuration holding the routes that apply to that
// service port (and the HTTP filters their own filters need); and every service port and backend
// sent to a cluster.
import { compareStrings } from "../input/guards.ts";
import { chainName, entryChainName } from "../input/names.ts";
import { type ServiceInfo, serviceKey } from "../input/objects.ts";
import { isHttp2Port, isHttpPort, isTcpTransport } from "../input/protocol.ts";
import { type BackendTarget, serviceTarget } from "../routes/backends.ts";
import { appliesToPort, type CompiledRoute } from "../routes/compile.ts";
import type { TranslatorSettings } from "../types.ts";
import type { WaypointInfo } from "../waypoints/gateways.ts";
import { listenerTracing, tracingCluster } from "../xds/tracing.ts";
import type { ChainIR, RouteConfigIR, WaypointIR } from "./types.ts";

export interface WaypointRoutes {
  /** Routes accepted with this waypoint's Gateway as parent. */
  gatewayRoutes: readonly CompiledRoute[];
  /** Service key → routes accepted with that Service as parent. */
  serviceRoutes: ReadonlyMap<string, readonly CompiledRoute[]>;
  /** Service keys some route applies to on selected ports only (for the others every route applies). */
  portRestricted?: ReadonlySet<string>;
}

const isGrpc = (r: CompiledRoute) => r.kind === "GRPCRoute";

/**
 * The routes of one service port by route type (routes/grpc.ts): GRPCRoutes only on HTTP/2 ports,
 * and where one applies, no HTTPRoute (GEP-1294: GRPCRoute is more specific than HTTPRoute).
 */
function byRouteType(
  port: Parameters<typeof isHttp2Port>[0],
  gatewayRoutes: readonly CompiledRoute[],
  serviceRoutes: readonly CompiledRoute[],
): { gatewayRoutes: readonly CompiledRoute[]; serviceRoutes: readonly CompiledRoute[] } {
  const grpc = isHttp2Port(port) && (gatewayRoutes.some(isGrpc) || serviceRoutes.some(isGrpc));
  const keep = (r: CompiledRoute) => isGrpc(r) === grpc;
  return {
    gatewayRoutes: gatewayRoutes.every(keep) ? gatewayRoutes : gatewayRoutes.filter(keep),
    serviceRoutes: serviceRoutes.every(keep) ? serviceRoutes : serviceRoutes.filter(keep),
  };
}

/** Every backend the routes send to, once per cluster, in the order first seen. */
export function targetsOf(...lists: ReadonlyArray<readonly CompiledRoute[]>): BackendTarget[] {
  const byCluster = new Map<string, BackendTarget>();
  for (const list of lists)
    for (const r of list)
      for (const t of r.targets) if (!byCluster.has(t.cluster)) byCluster.set(t.cluster, t);
  return [...byCluster.values()];
}

export function buildWaypointIR(
  waypoint: WaypointInfo,
  services: readonly ServiceInfo[],
  routes: WaypointRoutes,
  settings: TranslatorSettings,
): WaypointIR {
  const ir: WaypointIR = { waypoint, listener: undefined, routeConfigs: [], clusters: [] };
  const inbound = waypoint.inbound;
  if (!inbound || inbound.port === undefined || !waypoint.servesServices) return ir;

  const chains: ChainIR[] = [];
  const targets = new Map<string, BackendTarget>();
  const addTarget = (t: BackendTarget) => {
    const seen = targets.get(t.cluster);
    // A GRPCRoute sending there makes the cluster HTTP/2-capable, whoever saw it first.
    if (!seen || (t.grpc && !seen.grpc)) targets.set(t.cluster, seen ? { ...seen, grpc: true } : t);
  };
  // Envoy rejects a listener whose chains match the same (address, port) twice: the first service
  // (by namespace and name) keeps a VIP:port, a later one claiming it gets no chain for that port.
  const claimed = new Set<string>();
  const allGatewayRoutes = routes.gatewayRoutes;
  const viaGateway = new Set(allGatewayRoutes);
  const anyGrpc =
    allGatewayRoutes.some(isGrpc) || [...routes.serviceRoutes.values()].some((list) => list.some(isGrpc));

  for (const service of services) {
    if (service.vips.length === 0) continue; // headless: nothing to match on
    if (service.entry?.unusable) continue; // a ServiceEntry that cannot be served (its route parents say why)
    const key = serviceKey(service);
    const own = routes.serviceRoutes.get(key) ?? [];
    const ownRoutes = viaGateway.size ? own.filter((r) => !viaGateway.has(r)) : own;
    for (const port of service.ports) {
      if (!isTcpTransport(port)) continue;
      let serviceRoutes =
        routes.portRestricted && !routes.portRestricted.has(key)
          ? ownRoutes
          : ownRoutes.filter((r) => appliesToPort(r, key, port.port));
      let gatewayRoutes = allGatewayRoutes;
      if (anyGrpc) ({ gatewayRoutes, serviceRoutes } = byRouteType(port, gatewayRoutes, serviceRoutes));
      const pairs = service.vips.map((ip) => `${ip}|${port.port}`);
      if (pairs.some((p) => claimed.has(p))) continue;
      for (const p of pairs) claimed.add(p);
      const target = serviceTarget(service, port);
      addTarget(target);
      const http = isHttpPort(port);
      const name = (service.entry ? entryChainName : chainName)(
        http ? "http" : "tcp",
        port.port,
        service.name,
        service.namespace,
      );
      chains.push({
        name,
        kind: http ? "http" : "tcp",
        vips: service.vips,
        port: port.port,
        cluster: target.cluster,
        service,
        httpFilters: [],
        networkFilters: [],
      });
      if (!http) continue;
      const hasRoutes = gatewayRoutes.length > 0 || serviceRoutes.length > 0;
      const rc: RouteConfigIR = {
        name,
        service,
        port: port.port,
        cluster: target.cluster,
        hasRoutes,
        gatewayRoutes,
        serviceRoutes,
        targets: hasRoutes ? targetsOf(gatewayRoutes, serviceRoutes) : [],
      };
      for (const t of rc.targets) addTarget(t);
      ir.routeConfigs.push(rc);
      // The filters the routes' own per-filter config needs (an HTTPRoute CORS filter), once each.
      const chain = chains[chains.length - 1]!;
      if (hasRoutes)
        for (const r of [...gatewayRoutes, ...serviceRoutes])
          for (const f of r.httpFilters)
            if (!chain.httpFilters.some((h) => h.filter.name === f.filter.name)) chain.httpFilters.push(f);
    }
  }

  // No chains, no listener: Envoy would reject (or warn about) a listener without filter chains.
  if (chains.length > 0) {
    chains.sort((a, b) => compareStrings(a.name, b.name));
    ir.listener = { bindAddress: settings.bindAddress, port: inbound.port, chains };
    if (settings.xffTrustedHops) ir.listener.xffTrustedHops = settings.xffTrustedHops;
    // The tracing provider, for the HTTP connection managers: its cluster only where one is.
    if (settings.waypointTracing && chains.some((c) => c.kind === "http")) {
      ir.listener.tracing = listenerTracing(settings.waypointTracing, waypoint);
      ir.extraClusters = [tracingCluster(settings.waypointTracing)];
    }
  }
  ir.clusters = [...targets.values()];
  return ir;
}
