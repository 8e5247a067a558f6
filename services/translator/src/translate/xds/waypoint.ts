// The xDS resources of one waypoint: the inbound listener with a chain per enrolled service port,
// a route configuration per HTTP chain, and a cluster + load assignment per service port sent to.
import type { JsonObject } from "@waymark/envoy-proto";
import { PUSH_ORDER, TypeUrl } from "@waymark/envoy-proto";
import { compareStrings } from "../input/guards.ts";
import { chainName } from "../input/names.ts";
import { nsName, type ObjectIndex, type ServiceInfo } from "../input/objects.ts";
import { isHttpPort, isTcpTransport } from "../input/protocol.ts";
import type { RouteConfigPlan, WaypointRecord } from "../memo/incremental.ts";
import type { BuiltRouteConfig, TranslationMemo } from "../memo/memo.ts";
import { type BackendTarget, serviceTarget } from "../routes/backends.ts";
import { appliesToPort, type CompiledRoute } from "../routes/compile.ts";
import type { TranslatorSettings, WaypointOutput, XdsResource } from "../types.ts";
import type { WaypointInfo } from "../waypoints/gateways.ts";
import { buildCluster, buildLoadAssignment } from "./clusters.ts";
import { buildListener, httpChain, tcpChain } from "./listener.ts";
import { defaultRouteConfig, routesRouteConfig } from "./routeconfig.ts";

export interface WaypointRoutes {
  /** Routes accepted with this waypoint's Gateway as parent. */
  gatewayRoutes: readonly CompiledRoute[];
  /** Service key → routes accepted with that Service as parent. */
  serviceRoutes: ReadonlyMap<string, readonly CompiledRoute[]>;
  /** Service keys some route applies to on selected ports only (for the others every route applies). */
  portRestricted?: ReadonlySet<string>;
}

/** Every backend the routes send to, once per cluster, in the order first seen. */
function targetsOf(...lists: ReadonlyArray<readonly CompiledRoute[]>): BackendTarget[] {
  const byCluster = new Map<string, BackendTarget>();
  for (const list of lists)
    for (const r of list)
      for (const t of r.targets) if (!byCluster.has(t.cluster)) byCluster.set(t.cluster, t);
  return [...byCluster.values()];
}

/**
 * The route configuration of a chain that has routes, and the backends they send to (`targets`
 * when the caller knows they are the same as before).
 */
export function buildRoutesConfig(
  plan: Omit<RouteConfigPlan, "built">,
  targets?: readonly BackendTarget[],
): BuiltRouteConfig {
  const { name, service, cluster, gatewayRoutes, serviceRoutes } = plan;
  return {
    json: routesRouteConfig(name, service.name, service.namespace, gatewayRoutes, serviceRoutes, cluster),
    targets: targets ?? targetsOf(gatewayRoutes, serviceRoutes),
  };
}

function emptyResources(): Record<TypeUrl, XdsResource[]> {
  return Object.fromEntries(PUSH_ORDER.map((t) => [t, []])) as unknown as Record<TypeUrl, XdsResource[]>;
}

function byName(a: XdsResource, b: XdsResource): number {
  return compareStrings(a.name, b.name);
}

export function buildWaypoint(
  waypoint: WaypointInfo,
  services: readonly ServiceInfo[],
  routes: WaypointRoutes,
  index: ObjectIndex,
  settings: TranslatorSettings,
  memo?: TranslationMemo,
  /** Filled with how its route configurations and load assignments were made (with a memo only). */
  record?: WaypointRecord,
): WaypointOutput {
  const resources = emptyResources();
  const inbound = waypoint.inbound;
  if (!inbound || inbound.port === undefined || !waypoint.servesServices)
    return { waypoint: waypoint.ref, resources };

  const chains: Array<{ name: string; json: JsonObject }> = [];
  const targets = new Map<string, BackendTarget>();
  const addTarget = (t: BackendTarget) => {
    if (!targets.has(t.cluster)) targets.set(t.cluster, t);
  };
  // Envoy rejects a listener whose chains match the same (address, port) twice: the first service
  // (by namespace and name) keeps a VIP:port, a later one claiming it gets no chain for that port.
  const claimed = new Set<string>();

  for (const service of services) {
    if (service.vips.length === 0) continue; // headless: nothing to match on
    const key = nsName(service.namespace, service.name);
    const own = routes.serviceRoutes.get(key) ?? [];
    const gatewayRoutes = routes.gatewayRoutes;
    const viaGateway = new Set(gatewayRoutes);
    const ownRoutes = viaGateway.size ? own.filter((r) => !viaGateway.has(r)) : own;
    for (const port of service.ports) {
      if (!isTcpTransport(port)) continue;
      const serviceRoutes =
        routes.portRestricted && !routes.portRestricted.has(key)
          ? ownRoutes
          : ownRoutes.filter((r) => appliesToPort(r, key, port.port));
      const pairs = service.vips.map((ip) => `${ip}|${port.port}`);
      if (pairs.some((p) => claimed.has(p))) continue;
      for (const p of pairs) claimed.add(p);
      const target = serviceTarget(service, port);
      addTarget(target);
      if (isHttpPort(port)) {
        const name = chainName("http", port.port, service.name, service.namespace);
        chains.push({ name, json: httpChain(name, service.vips, port.port) });
        const useRoutes = gatewayRoutes.length > 0 || serviceRoutes.length > 0;
        const plan = { name, service, cluster: target.cluster, gatewayRoutes, serviceRoutes };
        const build = (): BuiltRouteConfig =>
          useRoutes
            ? buildRoutesConfig(plan)
            : {
                json: defaultRouteConfig(name, service.name, service.namespace, port.port, target.cluster),
                targets: [],
              };
        // The same compiled routes in the same order make the same route configuration.
        const built = memo
          ? memo.routeConfig(name, memo.routeConfigKey(target.cluster, gatewayRoutes, serviceRoutes), build)
          : build();
        if (record && useRoutes) record.plans.push({ ...plan, built });
        for (const t of built.targets) addTarget(t);
        resources[TypeUrl.route].push({ name, json: built.json });
      } else {
        const name = chainName("tcp", port.port, service.name, service.namespace);
        chains.push({ name, json: tcpChain(name, service.vips, port.port, target.cluster) });
      }
    }
  }

  // No chains, no listener: Envoy would reject (or warn about) a listener without filter chains.
  if (chains.length > 0) {
    chains.sort((a, b) => compareStrings(a.name, b.name));
    const json = buildListener(
      settings.bindAddress,
      inbound.port,
      chains.map((c) => c.json),
    );
    resources[TypeUrl.listener].push({ name: String(json.name), json });
  }
  if (record) record.targets = [...targets.values()];
  for (const target of targets.values()) {
    resources[TypeUrl.cluster].push({ name: target.cluster, json: buildCluster(target) });
    resources[TypeUrl.endpoint].push({ name: target.cluster, json: buildLoadAssignment(target, index) });
  }
  for (const list of Object.values(resources)) list.sort(byName);
  return { waypoint: waypoint.ref, resources };
}
