// Stage 6: a waypoint's xDS resources, emitted from its IR: the listener, a route configuration per
// HTTP chain, a cluster and a load assignment per backend. A cache (the memo, kept beside the stages)
// may hand back the very route configuration it emitted last time for the same routes.
import {
  type ClusterJson,
  type ClusterLoadAssignmentJson,
  type JsonObject,
  type ListenerJson,
  PUSH_ORDER,
  type RouteConfigurationJson,
  SECRET_TYPE_URL,
  TypeUrl,
} from "@waymark/envoy-proto";
import { compareStrings } from "../input/guards.ts";
import type { ObjectIndex } from "../input/objects.ts";
import type { WaypointIR } from "../ir/types.ts";
import type { CompiledRoute } from "../routes/compile.ts";
import type { WaypointOutput, XdsResource } from "../types.ts";
import { emitCluster, emitLoadAssignment, usesEds } from "./clusters.ts";
import { emitListener } from "./listener.ts";
import { fillRouteConfigSlots, routeConfigOf } from "./routeconfig.ts";

/** Where emitted route configurations may be kept between translations (memo/memo.ts). */
export interface RouteConfigCache {
  /** What makes a route configuration: its fallback cluster and its routes, in order. */
  routeConfigKey(
    cluster: string,
    gatewayRoutes: readonly CompiledRoute[],
    serviceRoutes: readonly CompiledRoute[],
  ): string;
  /** The route configuration built last time under the same name and key, else build(). */
  routeConfig(name: string, key: string, build: () => RouteConfigurationJson): RouteConfigurationJson;
}

export function emptyResources(): Record<TypeUrl, XdsResource[]> {
  return Object.fromEntries(PUSH_ORDER.map((t) => [t, []])) as unknown as Record<TypeUrl, XdsResource[]>;
}

/**
 * The one place typed xDS meets the output contract: XdsResource.json is the JsonObject the service
 * encodes (service/build.ts), and a generated JSON type (optional fields) is not assignable to it.
 */
export function resource(
  name: string,
  json: ListenerJson | RouteConfigurationJson | ClusterJson | ClusterLoadAssignmentJson,
): XdsResource {
  return { name, json: json as JsonObject };
}

function byName(a: XdsResource, b: XdsResource): number {
  return compareStrings(a.name, b.name);
}

export function emitWaypoint(ir: WaypointIR, index: ObjectIndex, cache?: RouteConfigCache): WaypointOutput {
  const resources: WaypointOutput["resources"] = emptyResources();
  if (ir.listener) {
    const json = emitListener(ir.listener);
    resources[TypeUrl.listener].push(resource(String(json.name), json));
  }
  for (const rc of ir.routeConfigs) {
    const build = () => routeConfigOf(rc);
    // The same compiled routes in the same order make the same route configuration.
    const json = cache
      ? cache.routeConfig(
          rc.name,
          cache.routeConfigKey(rc.cluster, rc.gatewayRoutes, rc.serviceRoutes),
          build,
        )
      : build();
    resources[TypeUrl.route].push(resource(rc.name, fillRouteConfigSlots(json, rc)));
  }
  for (const target of ir.clusters) {
    resources[TypeUrl.cluster].push(resource(target.cluster, emitCluster(target)));
    if (usesEds(target))
      resources[TypeUrl.endpoint].push(resource(target.cluster, emitLoadAssignment(target, index)));
  }
  for (const cluster of ir.extraClusters ?? [])
    resources[TypeUrl.cluster].push(resource(String(cluster.name), structuredClone(cluster)));
  if (ir.secrets?.length)
    resources[SECRET_TYPE_URL] = ir.secrets.map((s) => ({
      name: String(s.name),
      json: structuredClone(s) as JsonObject,
    }));
  for (const list of Object.values(resources)) list.sort(byName);
  return { waypoint: ir.waypoint.ref, resources };
}
