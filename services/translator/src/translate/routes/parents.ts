// Which parentRefs of an HTTPRoute are ours, and whether the route is accepted by each.
//
// Ours: a Gateway of our waypoint class, or a Service enrolled in one of our waypoints. A Service
// parent that exists but uses no waypoint of ours belongs to someone else (Istio's own waypoint, or
// no one): we write nothing for it. A Service parent that does not exist is claimed (Accepted=False,
// NoMatchingParent) only when the route is evidently meant for us: it has another parent of ours, or
// the missing Service's namespace is enrolled in one of our waypoints by its Namespace label. So a
// typo is reported without us writing status onto routes that belong to other controllers.
//
// An Istio ServiceEntry (group networking.istio.io, kind ServiceEntry, by name) and Istio's Hostname
// parent (kind Hostname, name = a host in spec.hosts of a ServiceEntry of the parent's namespace) are
// judged like a Service parent (serviceentry-parents.ts).
import { GATEWAY_GROUP, type KubeObject } from "@waymark/api";
import { int, isRecord, records, str } from "../input/guards.ts";
import { nsName, type ObjectIndex, type ServiceInfo } from "../input/objects.ts";
import { type Enrolment, USE_WAYPOINT_LABEL, USE_WAYPOINT_NAMESPACE_LABEL } from "../waypoints/enrolment.ts";
import { listenerAdmits, type WaypointInfo } from "../waypoints/gateways.ts";
import { isCoreGroup } from "./backends.ts";
import type { CompiledRoute } from "./compile.ts";
import { classifyEntryParent, entryParent } from "./serviceentry-parents.ts";

export interface Rejection {
  /** Conflicted: a GRPCRoute takes the Service's ports (GEP-1294 route type specificity, routes/grpc.ts). */
  reason: "NotAllowedByListeners" | "NoMatchingParent" | "UnsupportedValue" | "Conflicted";
  message: string;
}

export interface ParentOutcome {
  /** The parentRef as echoed in status (defaults filled in). */
  parentRef: Record<string, unknown>;
  kind: "Gateway" | "Service" | "ServiceEntry" | "Hostname";
  /** The waypoint the route's rules are programmed into (undefined for a missing Service). */
  waypoint: WaypointInfo | undefined;
  /** For Service parents: the Service, when it exists. */
  service: ServiceInfo | undefined;
  /** For Service parents: the ports selected by parentRef port/sectionName (undefined: all). */
  ports?: ReadonlySet<number>;
  /** Why the route is not accepted by this parent; undefined when it is. */
  rejected: Rejection | undefined;
}

/** What parent resolution reads of a route: its object, namespace and kind (default HTTPRoute). */
export type RouteLike = Pick<CompiledRoute, "namespace"> & { route: KubeObject; kind?: string };

export interface ParentContext {
  index: ObjectIndex;
  waypoints: ReadonlyMap<string, WaypointInfo>;
  enrolment: Enrolment;
}

function echo(group: string, kind: string, namespace: string, name: string, ref: Record<string, unknown>) {
  const out: Record<string, unknown> = { group, kind, name, namespace };
  const sectionName = str(ref.sectionName);
  const port = int(ref.port);
  if (sectionName) out.sectionName = sectionName;
  if (port !== undefined) out.port = port;
  return out;
}

function gatewayParent(
  route: RouteLike,
  ref: Record<string, unknown>,
  ctx: ParentContext,
): ParentOutcome | undefined {
  const name = str(ref.name) ?? "";
  const namespace = str(ref.namespace) || route.namespace;
  const waypoint = ctx.waypoints.get(nsName(namespace, name));
  if (!waypoint) return undefined;
  const outcome: ParentOutcome = {
    parentRef: echo(GATEWAY_GROUP, "Gateway", namespace, name, ref),
    kind: "Gateway",
    waypoint,
    service: undefined,
    rejected: undefined,
  };
  const inbound = waypoint.inbound;
  const sectionName = str(ref.sectionName);
  const port = int(ref.port);
  if (!inbound) {
    outcome.rejected = {
      reason: "NoMatchingParent",
      message: `Gateway ${waypoint.key} has no usable 'istio.io/PROXY' listener`,
    };
  } else if (sectionName && sectionName !== inbound.name) {
    outcome.rejected = waypoint.listeners.some((l) => l.name === sectionName)
      ? {
          reason: "NotAllowedByListeners",
          message: `listener ${JSON.stringify(sectionName)} of Gateway ${waypoint.key} is not its 'istio.io/PROXY' listener (${JSON.stringify(inbound.name)})`,
        }
      : {
          reason: "NoMatchingParent",
          message: `Gateway ${waypoint.key} has no listener named ${JSON.stringify(sectionName)}`,
        };
  } else if (port !== undefined && port !== inbound.port) {
    outcome.rejected = {
      reason: "NoMatchingParent",
      message: `Gateway ${waypoint.key} has no 'istio.io/PROXY' listener on port ${port} (it listens on ${inbound.port})`,
    };
  } else {
    const why = listenerAdmits(waypoint, inbound, route.namespace, ctx.index, route.kind);
    if (why) outcome.rejected = { reason: "NotAllowedByListeners", message: why };
  }
  return outcome;
}

/** Whether the namespace's label enrols its services in one of our waypoints. */
export function namespaceEnrolled(ctx: ParentContext, namespace: string): boolean {
  const nsLabels = ctx.index.namespaceLabels.get(namespace) ?? {};
  const nsWaypoint = nsLabels[USE_WAYPOINT_LABEL];
  return (
    nsWaypoint !== undefined &&
    nsWaypoint !== "none" &&
    ctx.waypoints.has(nsName(nsLabels[USE_WAYPOINT_NAMESPACE_LABEL] || namespace, nsWaypoint))
  );
}

function serviceParent(
  route: RouteLike,
  ref: Record<string, unknown>,
  ctx: ParentContext,
  routeHasOtherParentOfOurs: boolean,
): ParentOutcome | undefined {
  const name = str(ref.name) ?? "";
  const namespace = str(ref.namespace) || route.namespace;
  const parentRef = echo("", "Service", namespace, name, ref);
  const service = ctx.index.service(namespace, name);
  if (!service) {
    // Would the Service be ours if it existed? (see the file comment)
    if (!routeHasOtherParentOfOurs && !namespaceEnrolled(ctx, namespace)) return undefined;
    return {
      parentRef,
      kind: "Service",
      waypoint: undefined,
      service: undefined,
      rejected: { reason: "NoMatchingParent", message: `Service ${namespace}/${name} not found` },
    };
  }
  const waypoint = ctx.enrolment.waypointOf.get(nsName(namespace, name));
  if (!waypoint) return undefined;
  const outcome: ParentOutcome = { parentRef, kind: "Service", waypoint, service, rejected: undefined };
  judgeServiceParent(outcome, service, waypoint, ref, `Service ${namespace}/${name}`);
  return outcome;
}

/** Rejects a Service or ServiceEntry parent the waypoint cannot program, or selects its ports. */
export function judgeServiceParent(
  outcome: ParentOutcome,
  service: ServiceInfo,
  waypoint: WaypointInfo,
  ref: Record<string, unknown>,
  label: string,
): void {
  const { namespace, name } = service;
  if (service.entry?.unusable) {
    outcome.rejected = { reason: "UnsupportedValue", message: service.entry.unusable };
  } else if (service.vips.length === 0) {
    outcome.rejected = {
      reason: "UnsupportedValue",
      message: `Service ${namespace}/${name} is headless (no cluster IP); a waypoint only serves Services with a cluster IP`,
    };
  } else if (!waypoint.inbound) {
    outcome.rejected = {
      reason: "NoMatchingParent",
      message: `${label} uses waypoint ${waypoint.key}, which has no usable 'istio.io/PROXY' listener`,
    };
  } else if (!waypoint.servesServices) {
    outcome.rejected = {
      reason: "NoMatchingParent",
      message: `${label} uses waypoint ${waypoint.key}, which does not serve Services (label istio.io/waypoint-for)`,
    };
  } else {
    const selected = selectPorts(service, ref, label);
    if (typeof selected === "string") outcome.rejected = { reason: "NoMatchingParent", message: selected };
    else if (selected) outcome.ports = selected;
  }
}

/**
 * The ports of a Service a parentRef selects: `port` by number, `sectionName` by port name (both:
 * the port must match both). undefined when it names none (all ports); a message when nothing matches.
 */
function selectPorts(
  service: ServiceInfo,
  ref: Record<string, unknown>,
  label: string,
): Set<number> | string | undefined {
  const port = int(ref.port);
  const sectionName = str(ref.sectionName);
  if (port === undefined && !sectionName) return undefined;
  const ports = service.ports.filter(
    (p) => (port === undefined || p.port === port) && (!sectionName || p.name === sectionName),
  );
  if (ports.length > 0) return new Set(ports.map((p) => p.port));
  if (port !== undefined && sectionName)
    return `${label} has no port ${port} named ${JSON.stringify(sectionName)}`;
  return port !== undefined
    ? `${label} has no port ${port}`
    : `${label} has no port named ${JSON.stringify(sectionName)}`;
}

/** The parents of ours of one route, in spec order, duplicates dropped. */
export function resolveParents(route: RouteLike, ctx: ParentContext): ParentOutcome[] {
  const spec = isRecord(route.route.spec) ? route.route.spec : {};
  const refs = records(spec.parentRefs);
  const classify = (ref: Record<string, unknown>) => {
    const group = str(ref.group);
    const kind = str(ref.kind);
    if ((group ?? GATEWAY_GROUP) === GATEWAY_GROUP && (kind ?? "Gateway") === "Gateway") return "Gateway";
    if (group !== undefined && isCoreGroup(group) && kind === "Service") return "Service";
    return classifyEntryParent(group, kind);
  };
  // First pass: the parents that are ours whatever the others are.
  const firstPass = refs.map((ref) => {
    const k = classify(ref);
    if (k === "Gateway") return gatewayParent(route, ref, ctx);
    if (k === "Service") return serviceParent(route, ref, ctx, false);
    if (k) return entryParent(k, route, ref, ctx, false);
    return undefined;
  });
  const anyOurs = firstPass.some((o) => o !== undefined);
  const out: ParentOutcome[] = [];
  const seen = new Set<string>();
  refs.forEach((ref, i) => {
    const outcome = firstPass[i] ?? (anyOurs ? secondPass(classify(ref), route, ref, ctx) : undefined);
    if (!outcome) return;
    const key = JSON.stringify(outcome.parentRef);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(outcome);
  });
  return out;
}

/** A Service-like parent judged again once the route is known to have a parent of ours. */
function secondPass(
  k: ParentOutcome["kind"] | undefined,
  route: RouteLike,
  ref: Record<string, unknown>,
  ctx: ParentContext,
): ParentOutcome | undefined {
  if (k === "Service") return serviceParent(route, ref, ctx, true);
  if (k === "ServiceEntry" || k === "Hostname") return entryParent(k, route, ref, ctx, true);
  return undefined;
}

export { echo as echoParentRef };
