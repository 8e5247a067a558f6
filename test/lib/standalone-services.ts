// Waymark's three services as processes in standalone mode (the watcher reads a directory), against
// any NATS (one server or a cluster's URLs), with waypoint Envoys of the chaos suite's waypoint:
// lighter than the guide's stack (no backends, no ztunnel stand-in), for tests that look only at the
// control plane and the proxies' configuration.
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type EnvoyProc, freePort, type Proc, startEnvoy, startProcess } from "@waymark/testing";
import { renderBootstrap } from "@waymark/waypoint";
import { baseObjects, WAYPOINT } from "./chaos/kube-target.ts";
import { randomLoopback } from "./guide-stack.ts";
import { REPO_ROOT } from "./kube-stack.ts";

export interface StandaloneServices {
  bindAddress: string;
  xdsTargets: string[];
  /** Base URLs of each service's /metrics (WAYMARK_METRICS_ADDRESS). */
  metrics: { watcher: string; translator: string; xds: string[] };
  procs: Proc[];
  envoys: EnvoyProc[];
  /** Node ids of the Envoys. */
  envoyIds: string[];
  stop(): Promise<void>;
}

/** Writes a file whole (a rename), so the watcher never reads half of it. */
export function writeSource(dir: string, name: string, objects: unknown[]): void {
  const tmp = join(dir, `.${name}.tmp`);
  writeFileSync(tmp, objects.map((o) => JSON.stringify(o)).join("\n---\n"));
  renameSync(tmp, join(dir, name));
}

/** The chaos suite's namespace, Services (with the cluster IPs an API server would give), EndpointSlices and Gateway. */
export function writeBaseObjects(dir: string): void {
  writeSource(
    dir,
    "base.yaml",
    baseObjects().map((o, i) => {
      const obj = o as { kind: string; spec?: Record<string, unknown> };
      return obj.kind === "Service" ? { ...obj, spec: { ...obj.spec, clusterIP: `10.96.0.${20 + i}` } } : obj;
    }),
  );
}

export async function startStandaloneServices(o: {
  logDir: string;
  sourceDir: string;
  natsUrl: string;
  env?: Record<string, string>;
  xdsReplicas?: number;
  envoys?: number;
}): Promise<StandaloneServices> {
  const bindAddress = randomLoopback();
  const xdsPorts = await Promise.all(Array.from({ length: o.xdsReplicas ?? 2 }, () => freePort()));
  const xdsTargets = xdsPorts.map((p) => `127.0.0.1:${p}`);
  const procs: Proc[] = [];
  const envoys: EnvoyProc[] = [];
  const stop = async () => {
    await Promise.all([...envoys.map((e) => e.stop()), ...procs.map((p) => p.stop())]);
  };
  const metricsAddress = async () => `127.0.0.1:${await freePort()}`;
  const service = async (name: string, svc: string, extra: Record<string, string>) => {
    const address = await metricsAddress();
    procs.push(
      startProcess({
        name,
        command: process.execPath,
        args: [join(REPO_ROOT, "services", svc, "src", "main.ts")],
        env: { WAYMARK_NATS_URL: o.natsUrl, WAYMARK_METRICS_ADDRESS: address, ...o.env, ...extra },
        logDir: o.logDir,
      }),
    );
    return `http://${address}`;
  };
  try {
    const translator = await service("translator", "translator", {
      WAYMARK_BIND_ADDRESS: bindAddress,
      WAYMARK_DEBOUNCE_QUIET_MS: "20",
    });
    const xds: string[] = [];
    for (const [i, t] of xdsTargets.entries())
      xds.push(
        await service(`xds-server-${i}`, "xds-server", {
          WAYMARK_XDS_ADDRESS: t,
          WAYMARK_REPLICA: `xds-${i}`,
        }),
      );
    const watcher = await service("watcher", "watcher", { WAYMARK_SOURCE: `dir:${o.sourceDir}` });
    const envoyIds: string[] = [];
    for (let i = 0; i < (o.envoys ?? 2); i++) {
      const podName = `${WAYPOINT.name}-sa-${i}`;
      envoyIds.push(`${podName}.${WAYPOINT.namespace}`);
      envoys.push(
        await startEnvoy({
          name: `envoy-waypoint-${i}`,
          bootstrap: renderBootstrap({
            waypoint: WAYPOINT,
            podName,
            // Each Envoy prefers another replica first; all know all.
            xds: (i % 2 === 0 ? xdsPorts : [...xdsPorts].reverse()).map((port) => ({
              host: "127.0.0.1",
              port,
            })),
          }),
          logDir: o.logDir,
        }),
      );
    }
    return { bindAddress, xdsTargets, metrics: { watcher, translator, xds }, procs, envoys, envoyIds, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
