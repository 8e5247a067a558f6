// TCPRoutes and TLSRoutes into a waypoint's IR: each TCP chain (a Service's VIPs and port) learns
// which route its connections follow (ChainIR.stream), its backends get clusters, and the listener
// the ports where tls_inspector must read the SNI.
//
// Which route, when several apply (the Gateway API's conflict rule: the oldest route wins, then
// namespace/name; the others stay Accepted but get no traffic):
//   - TCPRoute: the oldest attached to the Service on that port; only when there is none, the oldest
//     attached to the waypoint Gateway (a Service's own routes are the more specific);
//   - TLSRoute (TLS ports only): per SNI host name, the oldest route of the Service's, then the
//     Gateway's, that lists it. A connection whose SNI no host name matches follows the TCPRoute of
//     the port if there is one, and is refused otherwise (no filter chain takes it).
// A port without any route keeps the plain passthrough to its Service.
import { compareStrings } from "../../input/guards.ts";
import { nsName, serviceKey } from "../../input/objects.ts";
import { isTlsPort } from "../../input/protocol.ts";
import type { ChainIR, StreamChainIR, StreamForwardIR, WaypointIR } from "../../ir/types.ts";
import { olderFirst, type StreamKind, type StreamRoute } from "./compile.ts";
import type { StreamRoutes } from "./stage.ts";

/** The cluster without hosts that a refused share of connections goes to: Envoy closes them at once. */
export const REFUSE_CLUSTER = "waymark_refused_connections";

function appliesTo(route: StreamRoute, serviceKey: string, port: number): boolean {
  if (!route.servicePorts.has(serviceKey)) return true;
  const ports = route.servicePorts.get(serviceKey);
  return ports === undefined || ports.has(port);
}

function forwardOf(route: StreamRoute): StreamForwardIR {
  const clusters = route.backends.map((b) => ({ cluster: b.target.cluster, weight: b.weight }));
  if (route.refusedWeight > 0 || clusters.length === 0)
    clusters.push({ cluster: REFUSE_CLUSTER, weight: route.refusedWeight || 1 });
  return { route: `${route.kind}/${nsName(route.namespace, route.name)}`, clusters };
}

/** The candidates for a chain: the Service's routes of the kind on the port, then the Gateway's, each oldest first. */
function candidates(
  streams: StreamRoutes,
  waypointKey: string,
  chain: ChainIR,
  kind: StreamKind,
): StreamRoute[] {
  const key = serviceKey(chain.service);
  const own = (streams.byService.get(key) ?? []).filter(
    (r) => r.kind === kind && appliesTo(r, key, chain.port),
  );
  const viaGateway = (streams.byWaypoint.get(waypointKey) ?? []).filter((r) => r.kind === kind);
  return [...own.sort(olderFirst), ...viaGateway.sort(olderFirst)];
}

export function applyStreamRoutes(ir: WaypointIR, streams: StreamRoutes): void {
  const listener = ir.listener;
  if (!listener || streams.all.length === 0) return;
  const used = new Map<string, StreamRoute>();
  const sniPorts = new Set<number>();
  for (const chain of listener.chains) {
    if (chain.kind !== "tcp") continue;
    const tcp = candidates(streams, ir.waypoint.key, chain, "TCPRoute")[0];
    const port = chain.service.ports.find((p) => p.port === chain.port);
    const sni: Array<{ hostname: string; forward: StreamForwardIR }> = [];
    if (port && isTlsPort(port)) {
      const claimed = new Set<string>();
      for (const route of candidates(streams, ir.waypoint.key, chain, "TLSRoute")) {
        const forward = forwardOf(route);
        for (const hostname of route.hostnames) {
          if (claimed.has(hostname)) continue;
          claimed.add(hostname);
          sni.push({ hostname, forward });
          used.set(forward.route, route);
        }
      }
    }
    if (!tcp && sni.length === 0) continue;
    const stream: StreamChainIR = { sni: sni.sort((a, b) => compareStrings(a.hostname, b.hostname)) };
    if (tcp) {
      stream.forward = forwardOf(tcp);
      used.set(stream.forward.route, tcp);
    }
    if (sni.length) sniPorts.add(chain.port);
    chain.stream = stream;
  }
  if (used.size === 0) return;
  const have = new Set(ir.clusters.map((t) => t.cluster));
  let refuse = false;
  for (const route of used.values()) {
    for (const b of route.backends)
      if (!have.has(b.target.cluster)) {
        have.add(b.target.cluster);
        ir.clusters.push(b.target);
      }
    if (route.refusedWeight > 0 || route.backends.length === 0) refuse = true;
  }
  if (refuse && !(ir.extraClusters ?? []).some((c) => c.name === REFUSE_CLUSTER)) {
    ir.extraClusters = [
      ...(ir.extraClusters ?? []),
      {
        name: REFUSE_CLUSTER,
        type: "STATIC",
        connectTimeout: "1s",
        loadAssignment: { clusterName: REFUSE_CLUSTER },
      },
    ];
  }
  if (sniPorts.size) listener.sniPorts = [...sniPorts].sort((a, b) => a - b);
}
