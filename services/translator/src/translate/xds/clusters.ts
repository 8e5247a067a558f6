// One EDS cluster per service port a waypoint sends to, and its ClusterLoadAssignment built from the
// Service's EndpointSlices.
import { isIP } from "node:net";
import type { ClusterJson, ClusterLoadAssignmentJson, HttpProtocolOptionsJson } from "@waymark/envoy-proto";
import { compareStrings, int, isRecord, records, str } from "../input/guards.ts";
import { nsName, type ObjectIndex } from "../input/objects.ts";
import { isHttp2Port, isHttpPort } from "../input/protocol.ts";
import { pack } from "../ir/any.ts";
import type { BackendTarget } from "../routes/backends.ts";

const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

export function emitCluster(target: BackendTarget): ClusterJson {
  const cluster: ClusterJson = {
    name: target.cluster,
    type: "EDS",
    connectTimeout: "5s",
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: "V3" } },
  };
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
  for (const slice of index.endpointSlices.get(nsName(target.service.namespace, target.service.name)) ?? []) {
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
