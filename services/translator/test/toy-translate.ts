// A small, real translation for the service tests: waypoint Gateways of the configured class, and for
// each Service that uses one (label istio.io/use-waypoint) an EDS Cluster, its ClusterLoadAssignment
// and a filter chain on the waypoint's listener. Annotations let a test make it fail on purpose:
// `test.waymark.dev/throw` makes translate() throw; `test.waymark.dev/bad-cluster` puts a field the
// Cluster proto does not have (encoding fails for that waypoint only).
import type { Gateway, KubeObject, Service } from "@waymark/api";
import { type JsonObject, TypeUrl } from "@waymark/envoy-proto";
import type {
  ObjectStatus,
  TranslationInput,
  TranslationOutput,
  TranslatorSettings,
  WaypointOutput,
  XdsResource,
} from "../src/translate/types.ts";

export const THROW = "test.waymark.dev/throw";
export const BAD_CLUSTER = "test.waymark.dev/bad-cluster";
/** Gateway annotation: the status of its Accepted condition (default "True"). */
export const ACCEPTED = "test.waymark.dev/accepted";

const byName = (a: XdsResource, b: XdsResource) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function toyTranslate(input: TranslationInput, settings: TranslatorSettings): TranslationOutput {
  const all = [...input.objects.values()];
  if (all.some((o) => o.metadata.annotations?.[THROW] !== undefined))
    throw new Error("toy translation exploded");
  const gateways = all
    .filter(
      (o): o is Gateway =>
        o.kind === "Gateway" && (o as Gateway).spec?.gatewayClassName === settings.waypointClassName,
    )
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}` ? -1 : 1,
    );
  const services = all.filter((o): o is Service => o.kind === "Service");
  const waypoints: WaypointOutput[] = [];
  const statuses: ObjectStatus[] = [];
  for (const gw of gateways) {
    const ns = gw.metadata.namespace ?? "";
    const clusters: XdsResource[] = [];
    const endpoints: XdsResource[] = [];
    const chains: JsonObject[] = [];
    for (const svc of services) {
      if (
        svc.metadata.namespace !== ns ||
        svc.metadata.labels?.["istio.io/use-waypoint"] !== gw.metadata.name
      )
        continue;
      const host = `${svc.metadata.name}.${ns}.svc.cluster.local`;
      for (const p of svc.spec?.ports ?? []) {
        const name = `outbound|${p.port}||${host}`;
        const cluster: JsonObject = {
          name,
          type: "EDS",
          connectTimeout: "5s",
          edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: "V3" } },
        };
        if (svc.metadata.annotations?.[BAD_CLUSTER] !== undefined) cluster["noSuchField"] = true;
        clusters.push({ name, json: cluster });
        endpoints.push({ name, json: { clusterName: name, endpoints: [] } });
        chains.push({
          name: `${svc.spec?.clusterIP}:${p.port}`,
          filterChainMatch: {
            destinationPort: p.port,
            prefixRanges: [{ addressPrefix: svc.spec?.clusterIP ?? "0.0.0.0", prefixLen: 32 }],
          },
          filters: [
            {
              name: "envoy.filters.network.tcp_proxy",
              typedConfig: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                statPrefix: name,
                cluster: name,
              },
            },
          ],
        });
      }
    }
    const listeners: XdsResource[] = [
      {
        name: "main",
        json: {
          name: "main",
          address: { socketAddress: { address: settings.bindAddress, portValue: 15088 } },
          filterChains: chains,
        },
      },
    ];
    waypoints.push({
      waypoint: { namespace: ns, name: gw.metadata.name },
      resources: {
        [TypeUrl.cluster]: clusters.sort(byName),
        [TypeUrl.endpoint]: endpoints.sort(byName),
        [TypeUrl.listener]: listeners,
        [TypeUrl.route]: [],
      },
    });
    const accepted = gw.metadata.annotations?.[ACCEPTED] ?? "True";
    const status: ObjectStatus = {
      ref: { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: ns, name: gw.metadata.name },
      status: {
        conditions: [
          {
            type: "Accepted",
            status: accepted,
            reason: accepted === "True" ? "Accepted" : "Invalid",
            message: "",
            ...(gw.metadata.generation !== undefined ? { observedGeneration: gw.metadata.generation } : {}),
          },
        ],
      },
    };
    if (gw.metadata.generation !== undefined) status.generation = gw.metadata.generation;
    statuses.push(status);
  }
  return { waypoints, statuses };
}

export function gateway(ns: string, name: string, extra: Partial<Gateway["metadata"]> = {}): Gateway {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { namespace: ns, name, generation: 1, ...extra },
    spec: {
      gatewayClassName: "kgateway-waypoint",
      listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }],
    },
  };
}

export function service(
  ns: string,
  name: string,
  waypoint: string,
  ports: number[],
  clusterIP: string,
  annotations?: Record<string, string>,
): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      namespace: ns,
      name,
      labels: { "istio.io/use-waypoint": waypoint },
      ...(annotations ? { annotations } : {}),
    },
    spec: { clusterIP, ports: ports.map((port) => ({ port, protocol: "TCP" })) },
  };
}

export type { KubeObject };
