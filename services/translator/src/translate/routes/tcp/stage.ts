// The routes stage for TCPRoute and TLSRoute: compile each, resolve its parents as an HTTPRoute's
// (routes/parents.ts: the waypoint Gateway, or a Service enrolled in a waypoint of ours), then check
// what a Service parent selects can carry the kind:
//   - a TCPRoute needs a port the waypoint proxies as TCP (not an HTTP port, see input/protocol.ts);
//     none among the selected ports: Accepted=False, NotAllowedByListeners (the spec's reason for a
//     TCPRoute on a listener that is not TCP);
//   - a TLSRoute needs a TLS port (`tls-*` / `https-*`, appProtocol tls or https: Istio's TLS and
//     HTTPS protocols, the ports whose TLS Istio passes through and routes by SNI); none: Accepted=False,
//     UnsupportedValue (the spec's reason for a TLSRoute on a listener of the wrong type).
// A consumer route (in another namespace than its Service parent) is not supported: a connection's
// route cannot depend on the client's namespace the way an HTTP route entry can.
// The routes are filed by Service and by waypoint for routes/tcp/ir.ts; their statuses and the
// waypoint Gateways' attachedRoutes are filled in here too.
import { refOf } from "@waymark/api";
import { nsName, serviceKey } from "../../input/objects.ts";
import { isHttpPort, isTcpTransport, isTlsPort } from "../../input/protocol.ts";
import { routeStatus } from "../../status/status.ts";
import type { ObjectStatus, TranslatorSettings } from "../../types.ts";
import type { Waypoints } from "../../waypoints/stage.ts";
import { type ParentOutcome, resolveParents } from "../parents.ts";
import { compileStreamRoute, type StreamKind, type StreamRoute } from "./compile.ts";

export interface StreamRoutes {
  /** Every TCPRoute then every TLSRoute with a parent of ours, in index order. */
  all: Array<{ route: StreamRoute; parents: ParentOutcome[] }>;
  /** Service key → the programmable routes accepted with that Service as parent. */
  byService: Map<string, StreamRoute[]>;
  /** Waypoint key → the programmable routes accepted with its Gateway as parent. */
  byWaypoint: Map<string, StreamRoute[]>;
}

/** Whether the kind can use this service port. */
export function portCarries(
  kind: StreamKind,
  port: { name: string; protocol?: string; appProtocol?: string },
) {
  if (!isTcpTransport(port)) return false;
  return kind === "TCPRoute" ? !isHttpPort(port) : isTlsPort(port);
}

/** Narrows a Service parent to the ports its kind can use, or rejects it saying what to fix. */
function checkServiceParent(route: StreamRoute, p: ParentOutcome): void {
  if (p.rejected || p.kind !== "Service" || !p.service) return;
  const service = p.service;
  const label = `${service.namespace}/${service.name}`;
  if (route.namespace !== service.namespace) {
    p.rejected = {
      reason: "UnsupportedValue",
      message: `a ${route.kind} in namespace ${route.namespace} cannot attach to Service ${label} of another namespace (consumer ${route.kind}s are not supported); create it in namespace ${service.namespace}`,
    };
    return;
  }
  const selected = service.ports.filter((sp) => !p.ports || p.ports.has(sp.port));
  const usable = selected.filter((sp) => portCarries(route.kind, sp));
  if (usable.length === 0) {
    const which = p.ports ? ` among the selected port(s) ${[...p.ports].join(", ")}` : "";
    p.rejected =
      route.kind === "TCPRoute"
        ? {
            reason: "NotAllowedByListeners",
            message: `Service ${label} has no TCP port${which}: the waypoint serves HTTP on ports whose appProtocol or name says http, http2, grpc (use an HTTPRoute there), and only TCP ports carry a TCPRoute`,
          }
        : {
            reason: "UnsupportedValue",
            message: `Service ${label} has no TLS port${which}: a TLSRoute needs a port whose appProtocol or name says tls or https (e.g. name: tls-db, or appProtocol: tls)`,
          };
    return;
  }
  if (usable.length !== service.ports.length || p.ports) p.ports = new Set(usable.map((sp) => sp.port));
}

export function compileStreamRoutes(context: Waypoints, attached: Map<string, Set<string>>): StreamRoutes {
  const { index } = context;
  const out: StreamRoutes = { all: [], byService: new Map(), byWaypoint: new Map() };
  const lists: Array<[StreamKind, typeof index.tcpRoutes]> = [
    ["TCPRoute", index.tcpRoutes],
    ["TLSRoute", index.tlsRoutes],
  ];
  for (const [kind, objects] of lists) {
    for (const object of objects) {
      const route = compileStreamRoute(object, kind, index);
      const parents = resolveParents({ route: object, namespace: route.namespace, kind }, context);
      if (parents.length === 0) continue;
      for (const p of parents) checkServiceParent(route, p);
      out.all.push({ route, parents });
      const programmable = route.unsupported.length === 0;
      for (const p of parents) {
        if (p.rejected || !p.waypoint) continue;
        attached.get(p.waypoint.key)?.add(`${kind}:${nsName(route.namespace, route.name)}`);
        if (!programmable) continue;
        const key = p.kind === "Gateway" ? p.waypoint.key : serviceKey(p.service!);
        const map = p.kind === "Gateway" ? out.byWaypoint : out.byService;
        const list = map.get(key) ?? [];
        if (list.at(-1) !== route) list.push(route);
        map.set(key, list);
        if (p.kind === "Service") {
          // Any parentRef to the Service without a port restriction means all of its usable ports.
          const had = route.servicePorts.get(key);
          if (!route.servicePorts.has(key) || had !== undefined)
            route.servicePorts.set(key, p.ports ? new Set([...(had ?? []), ...p.ports]) : undefined);
        }
      }
    }
  }
  return out;
}

/** The status of every stream route with a parent of ours. */
export function streamRouteStatuses(routes: StreamRoutes, settings: TranslatorSettings): ObjectStatus[] {
  return routes.all.map(({ route, parents }) => ({
    ref: refOf(route.route),
    ...(route.generation !== undefined ? { generation: route.generation } : {}),
    status: routeStatus(route, parents, settings),
  }));
}
