// A whole Waymark on one machine: real NATS, the three services as separate processes (as they are
// deployed), go-httpbin backends, the ztunnel stand-in and a waypoint Envoy bootstrapped exactly as the
// waypoint Deployment's. Used by the end-to-end tests and by `pnpm demo`.
//
// It refuses to start when a port it is about to bind is taken (naming the process that holds it), and
// it stops everything it started on SIGINT, SIGTERM and SIGHUP, as stop() does; see
// @waymark/testing's process.ts for how no child outlives the process even when it is killed.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { WaypointRef } from "@waymark/api";
import {
  type EnvoyProc,
  freePort,
  type Httpbin,
  type NatsServer,
  onShutdownSignal,
  type Proc,
  startEnvoy,
  startHttpbin,
  startNats,
  startProcess,
  waitFor,
} from "@waymark/testing";
import { renderBootstrap } from "@waymark/waypoint";
import { assertPortsFree } from "./port-owners.ts";

export { assertPortsFree, type PortHolder, PortInUseError, portHolders } from "./port-owners.ts";

export const REPO_ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..", "..");

export interface StandinRoute {
  /** Local port the stand-in listens on (127.0.0.1). */
  listenPort: number;
  /** Original destination it reports: the service VIP and port. */
  vip: string;
  port: number;
}

export interface StackOptions {
  /** Directory of Kubernetes YAML the watcher reads. */
  sourceDir: string;
  logDir: string;
  waypoint: WaypointRef;
  /** Port of the waypoint's istio.io/PROXY listener (the Gateway's, 15088 in the guide). */
  waypointPort: number;
  /** Address the waypoint listener binds (a loopback address; tests pick distinct ones). */
  bindAddress: string;
  backends: Array<{ name: string; port: number }>;
  standin: { identity: string; routes: StandinRoute[] };
  xdsReplicas?: number;
  /** Fixed ports for the demo; free ports when absent. */
  natsPort?: number;
  xdsPorts?: number[];
  envoyAdminPort?: number;
  debounceQuietMs?: number;
  /** Waypoint Envoys to start (default 1); they share the listener address (SO_REUSEPORT). */
  envoys?: number;
  /**
   * Runtime values layered over the Envoys' bootstrap (a last static layer): to run proxies that
   * differ from what the control plane expects, e.g. a stricter limit, as after a proxy upgrade.
   */
  envoyRuntime?: Record<string, unknown>;
  /** OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318) the services export traces to. */
  otlpEndpoint?: string;
  /** Serve /metrics, /healthz, /readyz from every service on free ports (see Stack.ops). */
  ops?: boolean;
  /** Extra environment for every service. */
  serviceEnv?: Record<string, string>;
}

export interface OpsUrls {
  watcher: string;
  translator: string;
  xds: string[];
}

export interface ServiceProcs {
  watcher: Proc;
  translator: Proc;
  xds: Proc[];
}

export interface Stack {
  nats: NatsServer;
  services: ServiceProcs;
  xdsPorts: number[];
  /** The first waypoint Envoy. */
  envoy: EnvoyProc;
  /** Every waypoint Envoy (StackOptions.envoys). */
  envoys: EnvoyProc[];
  /** Base URLs of the services' ops endpoints, when StackOptions.ops. */
  ops: OpsUrls | undefined;
  backends: Httpbin[];
  standin: Proc;
  /** Starts a stopped service again with its original configuration. */
  restart(which: "watcher" | "translator" | { xds: number }): Promise<void>;
  stop(): Promise<void>;
}

const node = process.execPath;
const main = (svc: string) => join(REPO_ROOT, "services", svc, "src", "main.ts");

export async function startStack(o: StackOptions): Promise<Stack> {
  const started: Array<{ stop(): Promise<void> }> = [];
  const stopStarted = async () => {
    for (const s of [...started].reverse()) await s.stop().catch(() => {});
  };
  const natsPort = o.natsPort ?? (await freePort());
  const replicas = o.xdsReplicas ?? 1;
  const xdsPorts = o.xdsPorts ?? (await Promise.all(Array.from({ length: replicas }, () => freePort())));
  const local = (port: number) => ({ host: "127.0.0.1", port });
  assertPortsFree([
    local(natsPort),
    ...xdsPorts.map(local),
    { host: o.bindAddress, port: o.waypointPort },
    ...(o.envoyAdminPort ? [local(o.envoyAdminPort)] : []),
    ...o.standin.routes.map((r) => local(r.listenPort)),
    ...o.backends.map((b) => local(b.port)),
  ]);
  const removeHook = onShutdownSignal(stopStarted);
  try {
    const nats = await startNats({ logDir: o.logDir, port: natsPort });
    started.push(nats);
    const backends = await Promise.all(
      o.backends.map((b) => startHttpbin({ name: b.name, port: b.port, logDir: o.logDir })),
    );
    started.push(...backends);

    const common: Record<string, string> = { WAYMARK_NATS_URL: nats.url, ...o.serviceEnv };
    if (o.otlpEndpoint) {
      common["OTEL_EXPORTER_OTLP_ENDPOINT"] = o.otlpEndpoint;
      common["OTEL_BSP_SCHEDULE_DELAY"] ??= "200";
    }
    const opsPort = o.ops
      ? {
          watcher: await freePort(),
          translator: await freePort(),
          xds: await Promise.all(xdsPorts.map(() => freePort())),
        }
      : undefined;
    const opsEnv = (port: number | undefined): Record<string, string> =>
      port ? { WAYMARK_METRICS_ADDRESS: `127.0.0.1:${port}` } : {};
    const ops: OpsUrls | undefined = opsPort && {
      watcher: `http://127.0.0.1:${opsPort.watcher}`,
      translator: `http://127.0.0.1:${opsPort.translator}`,
      xds: opsPort.xds.map((p) => `http://127.0.0.1:${p}`),
    };
    const launch = {
      translator: () =>
        startProcess({
          name: "translator",
          command: node,
          args: [main("translator")],
          env: {
            ...common,
            ...opsEnv(opsPort?.translator),
            WAYMARK_BIND_ADDRESS: o.bindAddress,
            WAYMARK_DEBOUNCE_QUIET_MS: String(o.debounceQuietMs ?? 20),
          },
          logDir: o.logDir,
        }),
      xds: (i: number) =>
        startProcess({
          name: `xds-server-${i}`,
          command: node,
          args: [main("xds-server")],
          env: {
            ...common,
            ...opsEnv(opsPort?.xds[i]),
            WAYMARK_XDS_ADDRESS: `127.0.0.1:${xdsPorts[i]}`,
            WAYMARK_REPLICA: `xds-${i}`,
          },
          logDir: o.logDir,
        }),
      watcher: () =>
        startProcess({
          name: "watcher",
          command: node,
          args: [main("watcher")],
          env: { ...common, ...opsEnv(opsPort?.watcher), WAYMARK_SOURCE: `dir:${o.sourceDir}` },
          logDir: o.logDir,
        }),
    };
    const services: ServiceProcs = {
      translator: launch.translator(),
      xds: xdsPorts.map((_, i) => launch.xds(i)),
      watcher: launch.watcher(),
    };
    const allServices = () => [services.translator, services.watcher, ...services.xds];
    started.push({ stop: async () => void (await Promise.all(allServices().map((p) => p.stop()))) });

    const standinArgs = [
      join(REPO_ROOT, "tools", "ztunnel-standin", "src", "main.ts"),
      "--waypoint",
      `${o.bindAddress}:${o.waypointPort}`,
      "--identity",
      o.standin.identity,
      ...o.standin.routes.flatMap((r) => ["--route", `127.0.0.1:${r.listenPort}=${r.vip}:${r.port}`]),
    ];
    const standin = startProcess({
      name: "ztunnel-standin",
      command: node,
      args: standinArgs,
      logDir: o.logDir,
    });
    started.push(standin);

    const envoys: EnvoyProc[] = [];
    for (let i = 0; i < (o.envoys ?? 1); i++) {
      // The first keeps the demo's names and admin port; the others are further pods of the waypoint.
      const adminPort = i === 0 ? o.envoyAdminPort : undefined;
      const bootstrap = renderBootstrap({
        waypoint: o.waypoint,
        podName: i === 0 ? `${o.waypoint.name}-standalone` : `${o.waypoint.name}-standalone-${i}`,
        xds: xdsPorts.map((port) => ({ host: "127.0.0.1", port })),
        ...(adminPort ? { admin: { address: "127.0.0.1", port: adminPort } } : {}),
      });
      if (o.envoyRuntime) withRuntimeLayer(bootstrap, o.envoyRuntime);
      const envoy = await startEnvoy({
        name: i === 0 ? "envoy-waypoint" : `envoy-waypoint-${i}`,
        bootstrap,
        logDir: o.logDir,
        ...(adminPort ? { adminPort } : {}),
      });
      started.push(envoy);
      envoys.push(envoy);
    }
    const envoy = envoys[0]!;

    // Ready when the waypoint answers through the stand-in for every route.
    for (const r of o.standin.routes) {
      await waitFor(
        `waypoint serving ${r.vip}:${r.port} via 127.0.0.1:${r.listenPort}`,
        async () => {
          for (const p of allServices()) {
            if (p.child.exitCode !== null) throw new Error(`${p.name} exited:\n${p.log().slice(-3000)}`);
          }
          const res = await fetch(`http://127.0.0.1:${r.listenPort}/status/200`);
          return res.status === 200;
        },
        30_000,
        100,
      );
    }
    // Every Envoy has its initial configuration (LIVE), not only the one that answered.
    for (const e of envoys) {
      await waitFor(
        `${e.proc.name} initialized`,
        async () => (await fetch(`${e.adminUrl}/ready`)).status === 200,
        30_000,
        100,
      );
    }

    return {
      nats,
      services,
      xdsPorts,
      envoy,
      envoys,
      ops,
      backends,
      standin,
      async restart(which) {
        if (which === "watcher") services.watcher = launch.watcher();
        else if (which === "translator") services.translator = launch.translator();
        else services.xds[which.xds] = launch.xds(which.xds);
      },
      async stop() {
        removeHook();
        await stopStarted();
      },
    };
  } catch (e) {
    removeHook();
    await stopStarted();
    throw e;
  }
}

/** Appends a static runtime layer to a bootstrap (later layers win over earlier ones). */
function withRuntimeLayer(bootstrap: Record<string, unknown>, values: Record<string, unknown>): void {
  const runtime = (bootstrap["layered_runtime"] ?? { layers: [] }) as { layers: unknown[] };
  runtime.layers = [...runtime.layers, { name: "devstack-overrides", static_layer: values }];
  bootstrap["layered_runtime"] = runtime;
}
