// node.cluster of a waypoint Envoy: `<gateway>.<namespace>`, as kgateway sets it. The bootstrap writes
// it (waypointNodeCluster) and the xds-server reads it back (parseNodeCluster) to know which
// waypoint's configuration a proxy gets, so both sides use these two functions.
import type { WaypointRef } from "@waymark/api";

/** node.cluster of a proxy of waypoint `w`. */
export function waypointNodeCluster(w: WaypointRef): string {
  return `${w.name}.${w.namespace}`;
}

/**
 * The waypoint a proxy serves, from its node.cluster (the inverse of waypointNodeCluster). Namespaces
 * hold no dots, so the last dot splits; undefined when the string is not of that form.
 */
export function parseNodeCluster(cluster: string): WaypointRef | undefined {
  const i = cluster.lastIndexOf(".");
  if (i <= 0 || i === cluster.length - 1) return undefined;
  return { name: cluster.slice(0, i), namespace: cluster.slice(i + 1) };
}
