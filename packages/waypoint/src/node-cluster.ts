import type { WaypointRef } from "@waymark/api";

/**
 * The waypoint a proxy serves, from its node.cluster `<gateway>.<namespace>` (as kgateway sets it).
 * Namespaces hold no dots, so the last dot splits; undefined when malformed.
 */
export function waypointOfCluster(cluster: string): WaypointRef | undefined {
  const i = cluster.lastIndexOf(".");
  if (i <= 0 || i === cluster.length - 1) return undefined;
  return { name: cluster.slice(0, i), namespace: cluster.slice(i + 1) };
}
