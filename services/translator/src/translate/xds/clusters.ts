// One EDS cluster per service port a waypoint sends to, and its ClusterLoadAssignment built from the
// Service's EndpointSlices. A ServiceEntry port (input/serviceentry.ts) gets the cluster its
// resolution asks for: STATIC an EDS cluster of its endpoints, DNS a STRICT_DNS cluster and
// DNS_ROUND_ROBIN a LOGICAL_DNS one (their addresses inline, no load assignment sent), NONE an
// ORIGINAL_DST cluster (the address the client dialled, restored from the PROXY protocol header).
import { isIP } from "node:net";
import type { ClusterJson, ClusterLoadAssignmentJson, HttpProtocolOptionsJson } from "@waymark/envoy-proto";
import { compareStrings, int, isRecord, records, str } from "../input/guards.ts";
import { nsName, type ObjectIndex } from "../input/objects.ts";
import { isHttp2Port, isHttpPort } from "../input/protocol.ts";
import { entryAddresses } from "../input/serviceentry.ts";
import { pack } from "../ir/any.ts";
import type { BackendTarget } from "../routes/backends.ts";

const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Whether the target's cluster reads its endpoints from EDS (a load assignment is sent for it). */
export function usesEds(target: BackendTarget): boolean {
  const resolution = target.service.entry?.resolution;
  return resolution === undefined || resolution === "STATIC";
}

/** The cluster of a ServiceEntry port that does not use EDS (DNS, DNS_ROUND_ROBIN, NONE). */
function entryCluster(target: BackendTarget): ClusterJson {
  const resolution = target.service.entry?.resolution;
  if (resolution === "NONE")
    return { name: target.cluster, type: "ORIGINAL_DST", connectTimeout: "5s", lbPolicy: "CLUSTER_PROVIDED" };
  const all = entryAddresses(target.service, target.port);
  // LOGICAL_DNS takes exactly one host (Envoy rejects more): Istio's DNS_ROUND_ROBIN uses the first.
  const addresses = resolution === "DNS_ROUND_ROBIN" ? all.slice(0, 1) : all;
  return {
    name: target.cluster,
    type: resolution === "DNS_ROUND_ROBIN" ? "LOGICAL_DNS" : "STRICT_DNS",
    connectTimeout: "5s",
    dnsLookupFamily: "V4_PREFERRED",
    loadAssignment: {
      clusterName: target.cluster,
      endpoints: [
        {
          lbEndpoints: addresses.map((a) => ({
            endpoint: { address: { socketAddress: { address: a.address, portValue: a.port } } },
          })),
        },
      ],
    },
  };
}

export function emitCluster(target: BackendTarget): ClusterJson {
  const cluster: ClusterJson = usesEds(target)
    ? {
        name: target.cluster,
        type: "EDS",
        connectTimeout: "5s",
        edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: "V3" } },
      }
    : entryCluster(target);
  if (isHttpPort(target.port) && isHttp2Port(target.port)) {
    const options: HttpProtocolOptionsJson = { explicitHttpConfig: { http2ProtocolOptions: {} } };
    cluster.typedExtensionProtocolOptions = { [HTTP_OPTIONS]: pack(HTTP_OPTIONS, options) };
  } else if (target.grpc) {
    // A GRPCRoute sends to a port not marked HTTP/2: upstream speaks what the client spoke (HTTP/2
    // for gRPC), so HTTPRoute traffic to the same port stays HTTP/1.1.
    const options: HttpProtocolOptionsJson = {
      useDownstreamProtocolConfig: { httpProtocolOptions: {}, http2ProtocolOptions: {} },
    };
    cluster.typedExtensionProtocolOptions = { [HTTP_OPTIONS]: pack(HTTP_OPTIONS, options) };
  }
  return cluster;
}

/** The slice port carrying the service port: same name, or the only port when the port is unnamed. */
function slicePort(ports: Record<string, unknown>[], portName: string): number | undefined {
  const named = ports.find((p) => (str(p.name) ?? "") === portName);
  const chosen = named ?? (portName === "" && ports.length === 1 ? ports[0] : undefined);
  const port = chosen ? int(chosen.port) : undefined;
  return port !== undefined && port >= 1 && port <= 65535 ? port : undefined;
}

/** Ready endpoints (conditions.ready !== false) of the target, sorted; empty when there are none. */
export function emitLoadAssignment(target: BackendTarget, index: ObjectIndex): ClusterLoadAssignmentJson {
  const seen = new Set<string>();
  const addresses: Array<{ address: string; port: number }> = [];
  // A ServiceEntry (STATIC): its endpoints' IP addresses; it has no EndpointSlices.
  const slices = target.service.entry
    ? []
    : (index.endpointSlices.get(nsName(target.service.namespace, target.service.name)) ?? []);
  if (target.service.entry)
    for (const a of entryAddresses(target.service, target.port)) {
      if (isIP(a.address) === 0 || seen.has(`${a.address}|${a.port}`)) continue;
      seen.add(`${a.address}|${a.port}`);
      addresses.push(a);
    }
  for (const slice of slices) {
    const addressType = str(slice.addressType);
    if (addressType !== undefined && addressType !== "IPv4" && addressType !== "IPv6") continue;
    const port = slicePort(records(slice.ports), target.port.name);
    if (port === undefined) continue;
    for (const ep of records(slice.endpoints)) {
      if (isRecord(ep.conditions) && ep.conditions.ready === false) continue;
      for (const address of Array.isArray(ep.addresses) ? ep.addresses : []) {
        if (typeof address !== "string" || isIP(address) === 0) continue;
        const key = `${address}|${port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        addresses.push({ address, port });
      }
    }
  }
  addresses.sort((a, b) => compareStrings(a.address, b.address) || a.port - b.port);
  const cla: ClusterLoadAssignmentJson = { clusterName: target.cluster };
  if (addresses.length) {
    cla.endpoints = [
      {
        lbEndpoints: addresses.map((a) => ({
          endpoint: { address: { socketAddress: { address: a.address, portValue: a.port } } },
        })),
      },
    ];
  }
  return cla;
}
