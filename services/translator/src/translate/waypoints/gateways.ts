// Which GatewayClass and Gateways are ours, and what each waypoint Gateway's listeners mean: the first
// `istio.io/PROXY` listener is the inbound listener; every other listener is invalid on a waypoint.
import type { Gateway, WaypointRef } from "@waymark/api";
import { GATEWAY_GROUP } from "@waymark/api";
import { int, isRecord, records, str, stringMap } from "../input/guards.ts";
import type { ObjectIndex } from "../input/objects.ts";
import type { TranslatorSettings } from "../types.ts";

export const PROXY_PROTOCOL = "istio.io/PROXY";
export const WAYPOINT_FOR_LABEL = "istio.io/waypoint-for";

/** The route kinds (group gateway.networking.k8s.io) the inbound listener supports. */
export const ROUTE_KINDS: readonly string[] = ["HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute"];

export interface ListenerInfo {
  name: string;
  port: number | undefined;
  protocol: string;
  /** Present only for the inbound listener. */
  allowedRoutes?: Record<string, unknown>;
  /** Why the listener is not used; undefined for the inbound listener. */
  invalid?: string;
  /** Route kinds in allowedRoutes.kinds that are not in ROUTE_KINDS (ResolvedRefs=False/InvalidRouteKinds). */
  invalidKinds: string[];
  /** The inbound listener's supported kinds that allowedRoutes.kinds admits (all of ROUTE_KINDS when it lists none). */
  kinds: string[];
}

export interface WaypointInfo {
  gateway: Gateway;
  ref: WaypointRef;
  key: string;
  generation: number | undefined;
  listeners: ListenerInfo[];
  /** The inbound listener, when the Gateway has a usable istio.io/PROXY listener. */
  inbound: ListenerInfo | undefined;
  /** istio.io/waypoint-for is absent, service or all (workload mode is not implemented). */
  servesServices: boolean;
}

/**
 * Our waypoint class is the one named settings.waypointClassName whose controllerName is ours. When
 * no GatewayClass object of that name exists (standalone mode), it is treated as installed.
 */
export function waypointClassIsOurs(index: ObjectIndex, settings: TranslatorSettings): boolean {
  const cls = index.gatewayClasses.get(settings.waypointClassName);
  if (!cls) return true;
  return isRecord(cls.spec) && cls.spec.controllerName === settings.controllerName;
}

function readListeners(gateway: Gateway): { listeners: ListenerInfo[]; inbound: ListenerInfo | undefined } {
  const spec = isRecord(gateway.spec) ? gateway.spec : {};
  const listeners: ListenerInfo[] = [];
  let inbound: ListenerInfo | undefined;
  for (const l of records(spec.listeners)) {
    const port = int(l.port);
    const info: ListenerInfo = {
      name: str(l.name) ?? "",
      port,
      protocol: str(l.protocol) ?? "",
      invalidKinds: [],
      kinds: [],
    };
    if (info.protocol !== PROXY_PROTOCOL) {
      info.invalid = `Only a '${PROXY_PROTOCOL}' listener is allowed on a waypoint Gateway; listener ${JSON.stringify(info.name)} has protocol ${JSON.stringify(info.protocol)} and is ignored`;
    } else if (inbound) {
      info.invalid = `Only the first '${PROXY_PROTOCOL}' listener (${JSON.stringify(inbound.name)}) is used; listener ${JSON.stringify(info.name)} is ignored`;
    } else if (port === undefined || port < 1 || port > 65535) {
      info.invalid = `listener ${JSON.stringify(info.name)} has no valid port`;
    } else {
      info.allowedRoutes = isRecord(l.allowedRoutes) ? l.allowedRoutes : {};
      for (const k of records(info.allowedRoutes.kinds)) {
        const group = str(k.group) ?? GATEWAY_GROUP;
        const kind = str(k.kind) ?? "";
        if (group !== GATEWAY_GROUP || !ROUTE_KINDS.includes(kind))
          info.invalidKinds.push(group ? `${kind}.${group}` : kind);
        else if (!info.kinds.includes(kind)) info.kinds.push(kind);
      }
      if (records(info.allowedRoutes.kinds).length === 0) info.kinds = [...ROUTE_KINDS];
      inbound = info;
    }
    listeners.push(info);
  }
  return { listeners, inbound };
}

/** The Gateways of our waypoint class, sorted by namespace and name. */
export function ourWaypoints(index: ObjectIndex, settings: TranslatorSettings): WaypointInfo[] {
  if (!waypointClassIsOurs(index, settings)) return [];
  const out: WaypointInfo[] = [];
  for (const gateway of index.gateways) {
    const spec = isRecord(gateway.spec) ? gateway.spec : {};
    if (spec.gatewayClassName !== settings.waypointClassName) continue;
    const namespace = gateway.metadata.namespace ?? "";
    const name = gateway.metadata.name;
    const waypointFor = stringMap(gateway.metadata.labels)[WAYPOINT_FOR_LABEL];
    const { listeners, inbound } = readListeners(gateway);
    out.push({
      gateway,
      ref: { namespace, name },
      key: `${namespace}/${name}`,
      generation: int(gateway.metadata.generation),
      listeners,
      inbound,
      servesServices: waypointFor !== "workload" && waypointFor !== "none",
    });
  }
  return out;
}

function selectorMatches(selector: unknown, labels: Record<string, string>): boolean {
  if (!isRecord(selector)) return false;
  for (const [k, v] of Object.entries(stringMap(selector.matchLabels))) if (labels[k] !== v) return false;
  for (const e of records(selector.matchExpressions)) {
    const key = str(e.key) ?? "";
    const values = Array.isArray(e.values) ? e.values.filter((v): v is string => typeof v === "string") : [];
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    switch (e.operator) {
      case "In":
        if (!has || value === undefined || !values.includes(value)) return false;
        break;
      case "NotIn":
        if (has && value !== undefined && values.includes(value)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/**
 * Whether the inbound listener's allowedRoutes admits a route of `kind` (default HTTPRoute) from
 * `routeNamespace`; a message saying why not otherwise.
 */
export function listenerAdmits(
  waypoint: WaypointInfo,
  listener: ListenerInfo,
  routeNamespace: string,
  index: ObjectIndex,
  kind = "HTTPRoute",
): string | undefined {
  const allowed = listener.allowedRoutes ?? {};
  if (!listener.kinds.includes(kind)) {
    return `listener ${JSON.stringify(listener.name)} does not allow ${kind}s (allowedRoutes.kinds)`;
  }
  const namespaces = isRecord(allowed.namespaces) ? allowed.namespaces : {};
  const from = str(namespaces.from) ?? "Same";
  if (from === "All") return undefined;
  if (from === "Same") {
    return routeNamespace === waypoint.ref.namespace
      ? undefined
      : `listener ${JSON.stringify(listener.name)} only allows routes from namespace ${waypoint.ref.namespace} (allowedRoutes.namespaces.from: Same)`;
  }
  if (from === "Selector") {
    const labels = index.namespaceLabels.get(routeNamespace) ?? {};
    return selectorMatches(namespaces.selector, labels)
      ? undefined
      : `namespace ${routeNamespace} does not match the allowedRoutes namespace selector of listener ${JSON.stringify(listener.name)}`;
  }
  return `listener ${JSON.stringify(listener.name)} has an unknown allowedRoutes.namespaces.from ${JSON.stringify(from)}`;
}
