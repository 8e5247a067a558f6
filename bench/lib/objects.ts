// Source objects for the translation and propagation benchmarks, in EG's benchmark shape: one waypoint,
// `services` Services enrolled in it (the "hostnames"), and `routes` HTTPRoutes spread over them, each
// with a path match and a request header modifier.
import { type KubeObject, type ObjectEnvelope, objectKey, refOf } from "@waymark/api";

export const NS = "bench";
export const WAYPOINT = { namespace: NS, name: "waypoint" };
export const CLUSTER = `${WAYPOINT.name}.${WAYPOINT.namespace}`;

const meta = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: NS,
  generation: 1,
  uid: `00000000-0000-4000-8000-${name
    .replace(/[^a-z0-9]/g, "")
    .padStart(12, "0")
    .slice(-12)}`,
  creationTimestamp: "2026-01-01T00:00:00Z",
  ...extra,
});

export function baseObjects(services: number): KubeObject[] {
  const out: KubeObject[] = [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: NS, labels: { "istio.io/dataplane-mode": "ambient" } },
    },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: meta(WAYPOINT.name),
      spec: {
        gatewayClassName: "kgateway-waypoint",
        listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
      },
    },
  ];
  for (let i = 0; i < services; i++) {
    const name = `svc${i}`;
    out.push(
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta(name, { labels: { app: name, "istio.io/use-waypoint": WAYPOINT.name } }),
        spec: {
          clusterIP: `10.96.${i >> 8}.${i & 255}`,
          ports: [{ name: "http", port: 8000, targetPort: 8080, protocol: "TCP", appProtocol: "http" }],
          selector: { app: name },
        },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: meta(`${name}-eps`, { labels: { "kubernetes.io/service-name": name } }),
        addressType: "IPv4",
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
        endpoints: [{ addresses: [`10.1.${i >> 8}.${i & 255}`], conditions: { ready: true } }],
      } as unknown as KubeObject,
    );
  }
  return out;
}

/** HTTPRoute `route-<i>` on service `i % services`; `tag` is its header value, `generation` its generation. */
export function route(i: number, services: number, tag = "v0", generation = 1): KubeObject {
  const svc = `svc${i % services}`;
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: meta(`route-${i}`, { generation }),
    spec: {
      parentRefs: [{ group: "", kind: "Service", name: svc, port: 8000 }],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: `/r${i}/` } }],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { set: [{ name: "x-bench-route", value: `route-${i}-${tag}` }] },
            },
          ],
          backendRefs: [{ name: svc, port: 8000 }],
        },
      ],
    },
  };
}

export function objectMap(objects: KubeObject[]): Map<string, KubeObject> {
  return new Map(objects.map((o) => [objectKey(refOf(o)), o]));
}

export function envelope(o: KubeObject): { key: string; value: string } {
  const env: ObjectEnvelope = { object: o, observedAt: new Date().toISOString(), source: "bench" };
  return { key: objectKey(refOf(o)), value: JSON.stringify(env) };
}
