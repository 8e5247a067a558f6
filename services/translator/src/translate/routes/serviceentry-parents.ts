// HTTPRoute parents that are Istio ServiceEntries: `kind: ServiceEntry` (group networking.istio.io)
// names the ServiceEntry, `kind: Hostname` (same group) names one of its hosts (Istio's parent for a
// host: the ServiceEntry of the parent's namespace that lists it, the first by name). Either is
// judged as a Service parent is (parents.ts): ours when the ServiceEntry uses one of our waypoints;
// a missing one is claimed (NoMatchingParent) when the route has another parent of ours or the
// namespace is enrolled in one of our waypoints; `port` / `sectionName` select its ports.
//
// A Hostname parent attaches the route to the whole ServiceEntry holding the host (every VIP of it):
// a route's `hostnames` narrows by Host header when a ServiceEntry has several hosts.
import { str } from "../input/guards.ts";
import { serviceKey } from "../input/objects.ts";
import { ISTIO_NETWORKING_GROUP } from "../input/serviceentry.ts";
import {
  echoParentRef,
  judgeServiceParent,
  namespaceEnrolled,
  type ParentContext,
  type ParentOutcome,
  type RouteLike,
} from "./parents.ts";

export type EntryParentKind = "ServiceEntry" | "Hostname";

export function classifyEntryParent(
  group: string | undefined,
  kind: string | undefined,
): EntryParentKind | undefined {
  if (group !== ISTIO_NETWORKING_GROUP) return undefined;
  return kind === "ServiceEntry" || kind === "Hostname" ? kind : undefined;
}

export function entryParent(
  kind: EntryParentKind,
  route: RouteLike,
  ref: Record<string, unknown>,
  ctx: ParentContext,
  routeHasOtherParentOfOurs: boolean,
): ParentOutcome | undefined {
  const name = str(ref.name) ?? "";
  const namespace = str(ref.namespace) || route.namespace;
  const parentRef = echoParentRef(ISTIO_NETWORKING_GROUP, kind, namespace, name, ref);
  const entry =
    kind === "ServiceEntry"
      ? ctx.index.serviceEntry(namespace, name)
      : ctx.index.serviceEntryByHost(namespace, name);
  if (!entry) {
    if (!routeHasOtherParentOfOurs && !namespaceEnrolled(ctx, namespace)) return undefined;
    const message =
      kind === "ServiceEntry"
        ? `ServiceEntry ${namespace}/${name} not found`
        : `no ServiceEntry of namespace ${namespace} lists host ${JSON.stringify(name)} in spec.hosts`;
    return {
      parentRef,
      kind,
      waypoint: undefined,
      service: undefined,
      rejected: { reason: "NoMatchingParent", message },
    };
  }
  const waypoint = ctx.enrolment.waypointOf.get(serviceKey(entry));
  if (!waypoint) return undefined;
  const outcome: ParentOutcome = { parentRef, kind, waypoint, service: entry, rejected: undefined };
  const label =
    kind === "ServiceEntry"
      ? `ServiceEntry ${namespace}/${entry.name}`
      : `ServiceEntry ${namespace}/${entry.name} (host ${name})`;
  judgeServiceParent(outcome, entry, waypoint, ref, label);
  return outcome;
}
