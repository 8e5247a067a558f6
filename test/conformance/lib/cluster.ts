// A Kubernetes cluster as the waypoint sees it, simulated for standalone mode: the suite's manifests
// become the objects the watcher reads. Each Deployment becomes one "pod" (a local echo-basic
// process), each Service gets a cluster IP, and EndpointSlices point at the pods' local ports. The
// mesh namespaces are labelled to use the waypoint, as a cluster's mesh set-up would do.
import type { KubeObject } from "@waymark/api";
import { parseAllDocuments } from "yaml";

export const WAYPOINT = { namespace: "gateway-conformance-mesh", name: "waypoint" };
export const WAYPOINT_PORT = 15088;

export interface Pod {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** The pod IP a client may address directly. */
  ip: string;
  /** Container port 8080 (http) → this local port of the echo-basic process. */
  httpPort: number;
  /** Container port 7070 (grpc) → this local port of the pod's echo-basic gRPC process. */
  grpcPort: number;
}

/** The local ports of one echo pod. */
export interface PodPorts {
  http: number;
  grpc: number;
}

export interface ServiceModel {
  namespace: string;
  name: string;
  vip: string;
  ports: Array<{ name: string; port: number; targetPort: number; appProtocol?: string }>;
}

export interface ClusterModel {
  pods: Pod[];
  services: ServiceModel[];
  /** What the watcher reads as the cluster's base state. */
  objects: KubeObject[];
}

/** The container ports the echo "pods" serve: the suite's echo serves HTTP on 8080, gRPC on 7070. */
export const HTTP_CONTAINER_PORT = 8080;
export const GRPC_CONTAINER_PORT = 7070;

export function parseYaml(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === "object" && typeof o.kind === "string");
}

function podName(deployment: string, i: number): string {
  // {deployment}-{replicaset hash}-{pod hash}, as the suite's weight test expects.
  const hash = (i * 2654435761).toString(36).padStart(10, "7").slice(-10);
  return `${deployment}-${hash}-${hash.slice(0, 5)}`;
}

const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/**
 * @param localPorts free local ports for each Deployment's pod, in manifest order.
 */
export function buildCluster(manifests: KubeObject[], localPorts: PodPorts[]): ClusterModel {
  const pods: Pod[] = [];
  const services: ServiceModel[] = [];
  const objects: KubeObject[] = [];
  let n = 0;
  for (const o of manifests) {
    const ns = o.metadata.namespace ?? "";
    if (o.kind === "Deployment") {
      const spec = o.spec as { template?: { metadata?: { labels?: Record<string, string> } } };
      const port = localPorts[pods.length];
      if (port === undefined) throw new Error("not enough local ports for the echo pods");
      pods.push({
        name: podName(o.metadata.name, pods.length + 1),
        namespace: ns,
        labels: spec.template?.metadata?.labels ?? {},
        ip: `10.244.0.${pods.length + 10}`,
        httpPort: port.http,
        grpcPort: port.grpc,
      });
    } else if (o.kind === "Namespace") {
      objects.push({
        ...o,
        metadata: {
          ...o.metadata,
          labels: { ...o.metadata.labels, ...USE_WAYPOINT },
        },
      });
    } else if (o.kind === "Service") {
      n++;
      const vip = `10.96.0.${n + 10}`;
      const spec = o.spec as {
        ports?: Array<{ name?: string; port: number; targetPort?: number; appProtocol?: string }>;
      };
      const ports = (spec.ports ?? []).map((p) => ({
        name: p.name ?? "",
        port: p.port,
        targetPort: typeof p.targetPort === "number" ? p.targetPort : p.port,
        ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
      }));
      services.push({ namespace: ns, name: o.metadata.name, vip, ports });
      objects.push({ ...o, spec: { ...(o.spec as object), clusterIP: vip, clusterIPs: [vip] } });
    } else {
      objects.push(o);
    }
  }
  // One EndpointSlice per (Service, pod): every pod listens on its own local port.
  for (const s of services) {
    const svc = manifests.find(
      (o) => o.kind === "Service" && o.metadata.name === s.name && o.metadata.namespace === s.namespace,
    );
    const selector = ((svc?.spec as { selector?: Record<string, string> })?.selector ?? {}) as Record<
      string,
      string
    >;
    for (const pod of pods) {
      if (pod.namespace !== s.namespace || !selects(selector, pod.labels)) continue;
      const local = new Map([
        [HTTP_CONTAINER_PORT, pod.httpPort],
        [GRPC_CONTAINER_PORT, pod.grpcPort],
      ]);
      const ports = s.ports.flatMap((p) => {
        const port = local.get(p.targetPort);
        return port === undefined ? [] : [{ name: p.name, port, protocol: "TCP" }];
      });
      objects.push({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: `${s.name}-${pod.name}`,
          namespace: s.namespace,
          labels: { "kubernetes.io/service-name": s.name },
        },
        addressType: "IPv4",
        endpoints: [
          {
            addresses: ["127.0.0.1"],
            conditions: { ready: true },
            targetRef: { kind: "Pod", name: pod.name },
          },
        ],
        ports,
      });
    }
  }
  objects.push(waypointGateway());
  return { pods, services, objects };
}

/** The waypoint of the mesh namespaces (the implementation's part of the suite's set-up). */
export function waypointGateway(): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: {
      name: WAYPOINT.name,
      namespace: WAYPOINT.namespace,
      labels: { "istio.io/waypoint-for": "service" },
    },
    spec: {
      gatewayClassName: "kgateway-waypoint",
      listeners: [{ name: "proxy", port: WAYPOINT_PORT, protocol: "istio.io/PROXY" }],
    },
  };
}

/** The labels that enroll a namespace in the waypoint. */
export const USE_WAYPOINT: Record<string, string> = {
  "istio.io/use-waypoint": WAYPOINT.name,
  "istio.io/use-waypoint-namespace": WAYPOINT.namespace,
};

/** The pods of an app selector ("app=echo,version=v1") in a namespace. */
export function podsOf(cluster: ClusterModel, namespace: string, app: string): Pod[] {
  const selector = Object.fromEntries(app.split(",").map((kv) => kv.split("=") as [string, string]));
  return cluster.pods.filter((p) => p.namespace === namespace && selects(selector, p.labels));
}
