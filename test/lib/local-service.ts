// A Service of the guide's namespace whose EndpointSlice points at a port on this machine: how tests
// and benchmarks put a real server (an authorization server, a rate limit service) behind a Service
// of the watched directory. The Service has no waypoint label, so nothing routes to it.
export function localService(
  name: string,
  clusterIP: string,
  port: { name: string; port: number; local: number },
  namespace = "httpbin",
): string {
  const doc = (o: Record<string, unknown>) => `${JSON.stringify(o)}\n`;
  return [
    doc({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace },
      spec: { clusterIP, ports: [{ name: port.name, port: port.port }] },
    }),
    doc({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${name}-local`, namespace, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: port.name, port: port.local }],
      endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
    }),
  ].join("---\n");
}
