// Waymark on a real test cluster for the chaos suite: etcd and kube-apiserver (no controllers: the
// suite writes the EndpointSlices itself), real NATS with JetStream on file storage, the watcher
// (WAYMARK_SOURCE=kube, the waymark-watcher ServiceAccount of deploy/rbac.yaml), the translator, two
// xds-server replicas and two waypoint Envoys whose xDS cluster names both replicas. Every service
// can be SIGKILLed and started again with its original configuration. HTTPRoutes are written straight
// to the API server (server-side apply over HTTPS as the cluster admin): a write costs milliseconds,
// where a kubectl process costs a few hundred.
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import type { WaypointRef } from "@waymark/api";
import {
  type EnvoyProc,
  freePort,
  type KubeCluster,
  type NatsServer,
  type Proc,
  startEnvoy,
  startKubeCluster,
  startNats,
  startProcess,
} from "@waymark/testing";
import { renderBootstrap } from "@waymark/waypoint";
import { DEPLOY, REPO_ROOT } from "../kube-stack.ts";

export const WAYPOINT: WaypointRef = { namespace: "httpbin", name: "kgateway-waypoint" };
/** The services the routes attach to (each has its own route configuration). */
export const SERVICES = ["httpbin2", "httpbin3"] as const;

export type Service = "watcher" | "translator" | "xds-0" | "xds-1";

export interface KubeTarget {
  cluster: KubeCluster;
  nats: NatsServer;
  bindAddress: string;
  xdsTargets: string[];
  envoys: EnvoyProc[];
  procs: Record<Service, Proc>;
  /** SIGKILLs a service (no-op if it is not running). */
  kill(s: Service): Promise<void>;
  /** Starts a killed service again, same configuration. */
  start(s: Service): void;
  /** Creates or updates an HTTPRoute (server-side apply); retries while the API server is away. */
  applyRoute(name: string, service: string, marker: string): Promise<void>;
  deleteRoute(name: string): Promise<void>;
  stop(): Promise<void>;
}

const node = process.execPath;
const main = (svc: string) => join(REPO_ROOT, "services", svc, "src", "main.ts");

export function routeObject(name: string, service: string, marker: string) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: WAYPOINT.namespace },
    spec: {
      parentRefs: [{ name: service, kind: "Service", group: "" }],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: `/${name}` } }],
          backendRefs: [{ name: service, port: 8000 }],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { set: [{ name: "X-Chaos-Marker", value: marker }] },
            },
          ],
        },
      ],
    },
  };
}

/** The namespace, Services, EndpointSlices and waypoint Gateway the routes attach to. */
export function baseObjects(): unknown[] {
  const ns = WAYPOINT.namespace;
  return [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { "istio.io/dataplane-mode": "ambient" } },
    },
    ...SERVICES.flatMap((svc, i) => [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: {
          name: svc,
          namespace: ns,
          labels: { app: svc, "istio.io/use-waypoint": WAYPOINT.name },
        },
        spec: {
          selector: { app: svc },
          ports: [{ name: "http", port: 8000, targetPort: 8080, protocol: "TCP", appProtocol: "http" }],
        },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: `${svc}-chaos`, namespace: ns, labels: { "kubernetes.io/service-name": svc } },
        addressType: "IPv4",
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
        endpoints: [{ addresses: [`10.244.0.${10 + i}`], conditions: { ready: true } }],
      },
    ]),
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: WAYPOINT.name, namespace: ns },
      spec: {
        gatewayClassName: "kgateway-waypoint",
        listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
      },
    },
  ];
}

/** A minimal HTTPS client for the API server with the admin's client certificate. */
function apiClient(cluster: KubeCluster) {
  const pki = join(cluster.dir, "pki");
  const tls = {
    ca: readFileSync(join(pki, "ca.crt")),
    cert: readFileSync(join(pki, "admin.crt")),
    key: readFileSync(join(pki, "admin.key")),
  };
  const url = new URL(cluster.server);
  return (method: string, path: string, body?: string, contentType?: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          ...tls,
          host: url.hostname,
          port: url.port,
          method,
          path,
          agent: false,
          timeout: 10_000,
          headers: body !== undefined ? { "content-type": contentType ?? "application/json" } : {},
        },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject);
      req.end(body);
    });
}

export async function startKubeTarget(o: { logDir: string; envoys?: number }): Promise<KubeTarget> {
  const cluster = await startKubeCluster({
    logDir: o.logDir,
    workloads: false,
    manifests: [join(DEPLOY, "namespace.yaml"), join(DEPLOY, "crds"), join(DEPLOY, "rbac.yaml")],
  });
  const stops: Array<() => Promise<void>> = [() => cluster.stop()];
  try {
    for (const obj of baseObjects())
      await cluster.kubectl(["apply", "--server-side", "-f", "-"], { input: JSON.stringify(obj) });
    const nats = await startNats({ logDir: o.logDir });
    stops.unshift(() => nats.stop());
    const watcherKubeconfig = await cluster.serviceAccountKubeconfig("waymark-system", "waymark-watcher");
    const xdsPorts = [await freePort(), await freePort()];
    const xdsTargets = xdsPorts.map((p) => `127.0.0.1:${p}`);
    const bindAddress = `127.0.${10 + Math.floor(Math.random() * 200)}.${2 + Math.floor(Math.random() * 200)}`;
    const common = { WAYMARK_NATS_URL: nats.url };
    let n = 0;
    const launch: Record<Service, () => Proc> = {
      watcher: () =>
        startProcess({
          name: `watcher-${n++}`,
          command: node,
          args: [main("watcher")],
          env: {
            ...common,
            WAYMARK_SOURCE: `kube:${watcherKubeconfig}`,
            WAYMARK_LEASE_DURATION_MS: "3000",
            WAYMARK_KUBE_WATCH_TIMEOUT_S: "60",
          },
          logDir: o.logDir,
        }),
      translator: () =>
        startProcess({
          name: `translator-${n++}`,
          command: node,
          args: [main("translator")],
          env: {
            ...common,
            WAYMARK_BIND_ADDRESS: bindAddress,
            WAYMARK_DEBOUNCE_QUIET_MS: "20",
            WAYMARK_XDS_SERVICE: xdsTargets[0]!,
          },
          logDir: o.logDir,
        }),
      "xds-0": () => xds(0),
      "xds-1": () => xds(1),
    };
    const xds = (i: number) =>
      startProcess({
        name: `xds-server-${i}-${n++}`,
        command: node,
        args: [main("xds-server")],
        env: { ...common, WAYMARK_XDS_ADDRESS: xdsTargets[i]!, WAYMARK_REPLICA: `xds-${i}` },
        logDir: o.logDir,
      });
    const procs = {
      translator: launch.translator(),
      "xds-0": launch["xds-0"](),
      "xds-1": launch["xds-1"](),
      watcher: launch.watcher(),
    } as Record<Service, Proc>;
    stops.unshift(async () => {
      await Promise.all(Object.values(procs).map((p) => p.stop()));
    });
    const envoys: EnvoyProc[] = [];
    stops.unshift(async () => {
      await Promise.all(envoys.map((e) => e.stop()));
    });
    for (let i = 0; i < (o.envoys ?? 2); i++) {
      envoys.push(
        await startEnvoy({
          name: `envoy-waypoint-${i}`,
          bootstrap: renderBootstrap({
            waypoint: WAYPOINT,
            podName: `${WAYPOINT.name}-chaos-${i}`,
            // Each Envoy prefers another replica first; both know both.
            xds: (i % 2 === 0 ? xdsPorts : [...xdsPorts].reverse()).map((port) => ({
              host: "127.0.0.1",
              port,
            })),
          }),
          logDir: o.logDir,
        }),
      );
    }
    const api = apiClient(cluster);
    const routePath = (name: string) =>
      `/apis/gateway.networking.k8s.io/v1/namespaces/${WAYPOINT.namespace}/httproutes/${name}`;
    /** Retries a request until the API server answers it (it may be restarting). */
    const send = async (
      method: string,
      path: string,
      ok: (s: number) => boolean,
      body?: string,
      ct?: string,
    ) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const r = await api(method, path, body, ct).catch((err: Error) => ({ status: 0, text: err.message }));
        if (ok(r.status)) return;
        if (Date.now() > deadline) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 500)}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    };
    return {
      cluster,
      nats,
      bindAddress,
      xdsTargets,
      envoys,
      procs,
      async kill(s) {
        await procs[s].kill();
      },
      start(s) {
        procs[s] = launch[s]();
      },
      applyRoute: (name, service, marker) =>
        send(
          "PATCH",
          `${routePath(name)}?fieldManager=chaos&force=true`,
          (s) => s === 200 || s === 201,
          JSON.stringify(routeObject(name, service, marker)),
          "application/apply-patch+yaml",
        ),
      // A 404 after a retry means an earlier attempt went through.
      deleteRoute: (name) => send("DELETE", routePath(name), (s) => s === 200 || s === 202 || s === 404),
      async stop() {
        for (const s of stops) await s().catch(() => {});
      },
    };
  } catch (err) {
    for (const s of stops) await s().catch(() => {});
    throw err;
  }
}
