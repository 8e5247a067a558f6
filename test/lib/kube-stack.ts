// Waymark against a real test cluster: the cluster (etcd, kube-apiserver, controllers, KWOK) with
// deploy/ installed, real NATS, and the three services as processes, the watcher with
// WAYMARK_SOURCE=kube and the kubeconfig of the `waymark-watcher` ServiceAccount (so it has exactly the
// RBAC of deploy/rbac.yaml). Also: running the guide's snippets with bash, and a waypoint Envoy
// bootstrapped from the ConfigMap Waymark created.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
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
import { kubeletTokenDir } from "./token-dir.ts";

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

/** Runs a guide snippet with bash (kubectl on PATH, acting with `kubeconfig`); resolves with its output. */
export function kubeShell(kubeconfig: string): (script: string) => Promise<string> {
  const kubectlDir = process.env["WAYMARK_K8S_BIN"] ?? "";
  return (script) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn("bash", ["-euo", "pipefail", "-c", script], {
        env: { ...process.env, PATH: `${kubectlDir}:${process.env["PATH"]}`, KUBECONFIG: kubeconfig },
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      child.on("close", (code) =>
        code === 0 ? resolve(out) : reject(new Error(`${script}\n→ exit ${code}: ${out}`)),
      );
    });
}

/**
 * The ztunnel stand-in in front of a waypoint at `waypoint` (host:15088), as the guide's client:
 * each `routes` entry is a local port whose connections go to a Service VIP through the waypoint.
 */
export function startZtunnelStandin(o: {
  waypoint: string;
  routes: Array<{ port: number; vip: string; servicePort: number }>;
  logDir: string;
}): Proc {
  return startProcess({
    name: "ztunnel-standin",
    command: process.execPath,
    args: [
      `${REPO_ROOT}/tools/ztunnel-standin/src/main.ts`,
      "--waypoint",
      o.waypoint,
      "--identity",
      "spiffe://cluster.local/ns/httpbin/sa/client",
      ...o.routes.flatMap((r) => ["--route", `127.0.0.1:${r.port}=${r.vip}:${r.servicePort}`]),
    ],
    logDir: o.logDir,
  });
}

export async function startKubeStack(o: {
  logDir: string;
  leaseMs?: number;
  apiserverArgs?: string[];
  /** Extra environment of every watcher (e.g. a short WAYMARK_KUBE_WATCH_TIMEOUT_S). */
  watcherEnv?: Record<string, string>;
  /** Extra environment of the xds-server (e.g. WAYMARK_XDS_AUTH=kubernetes). */
  xdsEnv?: Record<string, string>;
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
      env: { ...common, WAYMARK_XDS_ADDRESS: `127.0.0.1:${xdsPort}`, WAYMARK_REPLICA: "xds-0", ...o.xdsEnv },
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
    const sh = kubeShell(cluster.adminKubeconfig);
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

/** The service-account token a waypoint Deployment projects, as its pod spec says. */
export interface ProjectedToken {
  namespace: string;
  serviceAccount: string;
  audience: string;
  expirationSeconds: number;
  /** The volume's mount path in the proxy container, and the token's path in it. */
  mountPath: string;
  path: string;
}

/**
 * A token from the TokenRequest API (`kubectl create token`) for what a Deployment projects: its
 * ServiceAccount, lifetime and audience (or another audience).
 */
export async function mintProjectedToken(
  cluster: KubeCluster,
  p: ProjectedToken,
  audience = p.audience,
): Promise<string> {
  const out = await cluster.kubectl([
    ...["-n", p.namespace, "create", "token", p.serviceAccount],
    ...["--audience", audience, "--duration", `${p.expirationSeconds}s`],
  ]);
  return out.trim();
}

type PodSpec = {
  serviceAccountName: string;
  containers: Array<{ volumeMounts?: Array<{ name: string; mountPath: string }> }>;
  volumes: Array<{
    name: string;
    projected?: {
      sources: Array<{
        serviceAccountToken?: { audience: string; expirationSeconds?: number; path: string };
      }>;
    };
  }>;
};

/**
 * A waypoint Envoy started from the bootstrap in the ConfigMap Waymark created, changed only where a
 * pod and this machine differ: node.id (the container's --service-node), the token mount (the
 * kubelet's projected-token directory → a directory here laid out as the kubelet lays it out: only
 * that directory prefix of the token file and of the watched directory is rewritten) and the SDS file
 * naming the token, and the readiness port (8082 may be taken here). The token is minted with the
 * TokenRequest API for exactly what the Deployment projects (its ServiceAccount, audience and
 * expirationSeconds), unless `token` gives another. `rotate` swaps in a new token as the kubelet does.
 */
export async function startWaypointEnvoy(o: {
  cluster: KubeCluster;
  namespace: string;
  name: string;
  logDir: string;
  /** The Envoy's name (its log, its token directory); default envoy-waypoint. */
  envoyName?: string;
  /** The token to present instead of one minted for what the Deployment projects. */
  token?: (p: ProjectedToken) => Promise<string>;
}): Promise<{
  envoy: EnvoyProc;
  bootstrap: Record<string, unknown>;
  projected: ProjectedToken;
  rotate(token: string): void;
}> {
  const envoyName = o.envoyName ?? "envoy-waypoint";
  const cmText = await o.cluster.kubectl(["-n", o.namespace, "get", "configmap", o.name, "-o", "json"]);
  const cm = JSON.parse(cmText) as { data: Record<string, string> };
  const text = cm.data["envoy.json"];
  if (!text) throw new Error("the waypoint ConfigMap has no envoy.json");
  const bootstrap = JSON.parse(text) as Record<string, unknown>;
  const deploy = JSON.parse(
    await o.cluster.kubectl(["-n", o.namespace, "get", "deployment", o.name, "-o", "json"]),
  ) as { spec: { template: { spec: PodSpec } } };
  const pod = deploy.spec.template.spec;
  const volume = pod.volumes.find((v) => v.projected?.sources.some((s) => s.serviceAccountToken));
  const sat = volume?.projected?.sources.find((s) => s.serviceAccountToken)?.serviceAccountToken;
  const mount = pod.containers[0]?.volumeMounts?.find((m) => m.name === volume?.name);
  if (!volume || !sat || !mount) throw new Error("the waypoint Deployment mounts no service-account token");
  const projected: ProjectedToken = {
    namespace: o.namespace,
    serviceAccount: pod.serviceAccountName,
    audience: sat.audience,
    expirationSeconds: sat.expirationSeconds ?? 3600,
    mountPath: mount.mountPath,
    path: sat.path,
  };
  const tokenFile = `${projected.mountPath}/${projected.path}`;
  const sdsText = cm.data["xds-token-sds.json"];
  if (!sdsText) throw new Error("the waypoint ConfigMap has no xds-token-sds.json");
  if (!sdsText.includes(JSON.stringify(tokenFile)))
    throw new Error(`the bootstrap's token SDS does not name the mounted token ${tokenFile}`);
  const token = (await o.token?.(projected)) ?? (await mintProjectedToken(o.cluster, projected));
  const tokenDir = join(o.logDir, `${envoyName}-xds-tokens`);
  const rotate = kubeletTokenDir(tokenDir, token);
  // The ConfigMap's other file: the SDS resource naming the token file, mounted beside the bootstrap.
  const sdsFile = join(o.logDir, `${envoyName}-xds-token-sds.json`);
  const moved = (t: string) => t.replaceAll(`"${projected.mountPath}/`, `"${tokenDir}/`);
  writeFileSync(sdsFile, moved(sdsText));
  const json = moved(JSON.stringify(bootstrap))
    .replaceAll("/etc/envoy/xds-token-sds.json", sdsFile)
    .replaceAll(JSON.stringify(projected.mountPath), JSON.stringify(tokenDir));
  const patched = JSON.parse(json) as {
    node: { id: string };
    static_resources: {
      listeners: Array<{ address: { socket_address: { address: string; port_value: number } } }>;
    };
  };
  patched.node.id = `${o.name}-${o.envoyName ?? "test-pod"}.${o.namespace}`;
  for (const l of patched.static_resources.listeners) {
    l.address.socket_address.address = "127.0.0.1";
    l.address.socket_address.port_value = await freePort();
  }
  const envoy = await startEnvoy({
    name: envoyName,
    bootstrap: patched as unknown as Record<string, unknown>,
    logDir: o.logDir,
  });
  return { envoy, bootstrap, projected, rotate };
}
