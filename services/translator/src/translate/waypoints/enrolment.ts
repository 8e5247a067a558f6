// Which services use which waypoint: the Service's `istio.io/use-waypoint` label, else its
// Namespace's; `none` opts out (a `none` on the Service wins over a labelled Namespace). The waypoint's
// namespace is `istio.io/use-waypoint-namespace` from the same object, else the Service's namespace.

import type { ObjectIndex, ServiceInfo } from "../input/objects.ts";
import { nsName, serviceKey } from "../input/objects.ts";
import type { WaypointInfo } from "./gateways.ts";

export const USE_WAYPOINT_LABEL = "istio.io/use-waypoint";
export const USE_WAYPOINT_NAMESPACE_LABEL = "istio.io/use-waypoint-namespace";

/** `<ns>/<name>` of the waypoint a service asks for, or undefined for none. */
export function requestedWaypoint(service: ServiceInfo, index: ObjectIndex): string | undefined {
  const own = service.labels[USE_WAYPOINT_LABEL];
  const source = own ? service.labels : (index.namespaceLabels.get(service.namespace) ?? {});
  const name = source[USE_WAYPOINT_LABEL];
  if (!name || name === "none") return undefined;
  return nsName(source[USE_WAYPOINT_NAMESPACE_LABEL] || service.namespace, name);
}

export interface Enrolment {
  /** Service key (objects.ts serviceKey) → the waypoint of ours it uses (headless services included). */
  waypointOf: ReadonlyMap<string, WaypointInfo>;
  /**
   * Waypoint key → its services, sorted by namespace and name (headless services included), then its
   * ServiceEntries, sorted the same way.
   */
  servicesOf: ReadonlyMap<string, readonly ServiceInfo[]>;
}

export function enrol(index: ObjectIndex, waypoints: readonly WaypointInfo[]): Enrolment {
  const byKey = new Map(waypoints.map((w) => [w.key, w]));
  const waypointOf = new Map<string, WaypointInfo>();
  const servicesOf = new Map<string, ServiceInfo[]>(waypoints.map((w) => [w.key, []]));
  // Services first, then ServiceEntries (input/serviceentry.ts): a Service keeps a VIP:port both claim.
  for (const service of [...index.services, ...index.serviceEntries]) {
    const wanted = requestedWaypoint(service, index);
    const waypoint = wanted === undefined ? undefined : byKey.get(wanted);
    if (!waypoint) continue;
    waypointOf.set(serviceKey(service), waypoint);
    servicesOf.get(waypoint.key)?.push(service);
  }
  return { waypointOf, servicesOf };
}
