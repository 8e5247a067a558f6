// Waymark against a real test cluster: the cluster (etcd, kube-apiserver, controllers, KWOK) with
// deploy/ installed, real NATS, and the three services as processes, the watcher with
// WAYMARK_SOURCE=kube and the kubeconfig of the `waymark-watcher` ServiceAccount (so it has exactly the
// RBAC of deploy/rbac.yaml). Also: running the guide's snippets with bash, and a waypoint Envoy
// bootstrapped from the ConfigMap Waymark created.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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
  waitFor,
} from "@waymark/testing";

/**
 * Kubernetes tests skip only when asked to (WAYMARK_SKIP_KUBE=1); otherwise missing binaries or a
 * missing pod network (scripts/pod-network.sh) fail them.
 */
export const kubeSkip: string | false =
  process.env["WAYMARK_SKIP_KUBE"] === "1" ? "WAYMARK_SKIP_KUBE=1 asks to skip the Kubernetes tests" : false;

export const REPO_ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");
export const DEPLOY = join(REPO_ROOT, "deploy");
const node = process.execPath;
const main = (svc: string) => join(REPO_ROOT, "services", svc, "src", "main.ts");

export interface KubeStack {
  cluster: KubeCluster;
  nats: NatsServer;
  xdsPort: number;
  bindAddress: string;
  watcherKubeconfig: string;
  procs: { watcher: Proc; translator: Proc; xds: Proc };
  startWatcher(): Proc;
  /** Runs a guide snippet with bash, kubectl acting as the cluster admin. */
  sh(script: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startKubeStack(o: {
  logDir: string;
  leaseMs?: number;
  apiserverArgs?: string[];
  /** Extra environment of every watcher (e.g. a short WAYMARK_KUBE_WATCH_TIMEOUT_S). */
  watcherEnv?: Record<string, string>;
  /** The API groups of Istio CRDs installed (default: security.istio.io only). */
  istioCrdGroups?: readonly string[];
}): Promise<KubeStack> {
  const cluster = await startKubeCluster({
    logDir: o.logDir,
    manifests: [join(DEPLOY, "namespace.yaml"), join(DEPLOY, "crds"), join(DEPLOY, "rbac.yaml")],
    ...(o.apiserverArgs ? { apiserverArgs: o.apiserverArgs } : {}),
    ...(o.istioCrdGroups ? { istioCrdGroups: o.istioCrdGroups } : {}),
  });
  const stops: Array<() => Promise<void>> = [() => cluster.stop()];
  try {
    const nats = await startNats({ logDir: o.logDir });
    stops.unshift(() => nats.stop());
    const watcherKubeconfig = await cluster.serviceAccountKubeconfig("waymark-system", "waymark-watcher");
    const xdsPort = await freePort();
    const bindAddress = `127.0.${10 + Math.floor(Math.random() * 200)}.${2 + Math.floor(Math.random() * 200)}`;
    const common = { WAYMARK_NATS_URL: nats.url };
    const translator = startProcess({
      name: "translator",
      command: node,
      args: [main("translator")],
      env: {
        ...common,
        WAYMARK_BIND_ADDRESS: bindAddress,
        WAYMARK_DEBOUNCE_QUIET_MS: "20",
        // Waypoint Envoys of this test run on this machine: they reach the xds-server by IP.
        WAYMARK_XDS_SERVICE: `127.0.0.1:${xdsPort}`,
      },
      logDir: o.logDir,
    });
    const xds = startProcess({
      name: "xds-server",
      command: node,
      args: [main("xds-server")],
      env: { ...common, WAYMARK_XDS_ADDRESS: `127.0.0.1:${xdsPort}`, WAYMARK_REPLICA: "xds-0" },
      logDir: o.logDir,
    });
    let n = 0;
    const startWatcher = () =>
      startProcess({
        name: `watcher-${n++}`,
        command: node,
        args: [main("watcher")],
        env: {
          ...common,
          WAYMARK_SOURCE: `kube:${watcherKubeconfig}`,
          WAYMARK_LEASE_DURATION_MS: String(o.leaseMs ?? 3000),
          WAYMARK_KUBE_WATCH_TIMEOUT_S: "60",
          ...o.watcherEnv,
        },
        logDir: o.logDir,
      });
    const procs = { watcher: startWatcher(), translator, xds };
    stops.unshift(async () => {
      await Promise.all([procs.watcher.stop(), translator.stop(), xds.stop()]);
    });
    const kubectlDir = process.env["WAYMARK_K8S_BIN"] ?? "";
    const sh = (script: string) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn("bash", ["-euo", "pipefail", "-c", script], {
          env: {
            ...process.env,
            PATH: `${kubectlDir}:${process.env["PATH"]}`,
            KUBECONFIG: cluster.adminKubeconfig,
          },
        });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (out += d.toString()));
        child.on("close", (code) =>
          code === 0 ? resolve(out) : reject(new Error(`${script}\n→ exit ${code}: ${out}`)),
        );
      });
    return {
      cluster,
      nats,
      xdsPort,
      bindAddress,
      watcherKubeconfig,
      procs,
      startWatcher,
      sh,
      async stop() {
        for (const s of stops) await s().catch(() => {});
      },
    };
  } catch (err) {
    for (const s of stops) await s().catch(() => {});
    throw err;
  }
}

/** go-httpbin on a chosen address (a KWOK pod's IP, which is on loopback), port 8080 as in the guide. */
export async function startHttpbinAt(o: {
  name: string;
  host: string;
  port: number;
  logDir: string;
}): Promise<Proc> {
  const bin = process.env["WAYMARK_HTTPBIN"];
  if (!bin) throw new Error("WAYMARK_HTTPBIN is not set");
  const proc = startProcess({
    name: o.name,
    command: bin,
    args: ["-host", o.host, "-port", String(o.port), "-max-duration", "600s", "-use-real-hostname"],
    logDir: o.logDir,
  });
  await waitFor(
    `${o.name} on ${o.host}:${o.port}`,
    async () => (await fetch(`http://${o.host}:${o.port}/status/200`)).ok,
  );
  return proc;
}

/**
 * A waypoint Envoy started from the bootstrap in the ConfigMap Waymark created, changed only where a
 * pod and this machine differ: node.id (the container's --service-node), the token file (the
 * kubelet's projected token → a file holding a token from the TokenRequest API with the same
 * audience) and the SDS file naming it, and the readiness port (8082 may be taken here).
 */
export async function startWaypointEnvoy(o: {
  cluster: KubeCluster;
  namespace: string;
  name: string;
  logDir: string;
}): Promise<{ envoy: EnvoyProc; bootstrap: Record<string, unknown> }> {
  const cmText = await o.cluster.kubectl(["-n", o.namespace, "get", "configmap", o.name, "-o", "json"]);
  const cm = JSON.parse(cmText) as { data: Record<string, string> };
  const text = cm.data["envoy.json"];
  if (!text) throw new Error("the waypoint ConfigMap has no envoy.json");
  const bootstrap = JSON.parse(text) as Record<string, unknown>;
  const deploy = JSON.parse(
    await o.cluster.kubectl(["-n", o.namespace, "get", "deployment", o.name, "-o", "json"]),
  ) as {
    spec: {
      template: {
        spec: {
          volumes: Array<{ projected?: { sources: Array<{ serviceAccountToken?: { audience: string } }> } }>;
        };
      };
    };
  };
  const audience = deploy.spec.template.spec.volumes
    .flatMap((v) => v.projected?.sources ?? [])
    .find((s) => s.serviceAccountToken)?.serviceAccountToken?.audience;
  if (!audience) throw new Error("the waypoint Deployment projects no service-account token");
  const tokenDir = join(o.logDir, "xds-tokens");
  mkdirSync(tokenDir, { recursive: true });
  writeFileSync(join(tokenDir, "token"), await o.cluster.token(o.namespace, o.name, audience));
  // The ConfigMap's other file: the SDS resource naming the token file, mounted beside the bootstrap.
  const sdsText = cm.data["xds-token-sds.json"];
  if (!sdsText) throw new Error("the waypoint ConfigMap has no xds-token-sds.json");
  const sdsFile = join(o.logDir, "xds-token-sds.json");
  writeFileSync(sdsFile, sdsText.replaceAll("/var/run/secrets/xds-tokens/token", join(tokenDir, "token")));
  const json = JSON.stringify(bootstrap)
    .replaceAll("/etc/envoy/xds-token-sds.json", sdsFile)
    .replaceAll("/var/run/secrets/xds-tokens/token", join(tokenDir, "token"))
    .replaceAll('"/var/run/secrets/xds-tokens"', JSON.stringify(tokenDir));
  const patched = JSON.parse(json) as {
    node: { id: string };
    static_resources: {
      listeners: Array<{ address: { socket_address: { address: string; port_value: number } } }>;
    };
  };
  patched.node.id = `${o.name}-test-pod.${o.namespace}`;
  for (const l of patched.static_resources.listeners) {
    l.address.socket_address.address = "127.0.0.1";
    l.address.socket_address.port_value = await freePort();
  }
  const envoy = await startEnvoy({
    name: "envoy-waypoint",
    bootstrap: patched as unknown as Record<string, unknown>,
    logDir: o.logDir,
  });
  return { envoy, bootstrap };
}
