// Envoy Gateway in standalone mode for the side-by-side bench (scripts/bootstrap-envoy-gateway.sh
// builds it): `envoy-gateway server --config-path <file>` with the File resource provider watching a
// directory and the Host infrastructure provider, which runs the Gateway's Envoy as its child through
// the func-e library, here with our Envoy and without any download.
//
// How func-e finds an installed Envoy, as EG v1.9.1 calls it (read in EG's internal/infrastructure/host
// and func-e v1.6.0's internal/run, runtime and envoy packages; behaviour only):
// - EG passes func-e its four directories as options (ConfigHome, DataHome, StateHome, RuntimeDir,
//   from `provider.custom.infrastructure.host` in its configuration; defaults under ~/.config,
//   ~/.local/share, ~/.local/state and /tmp/envoy-gateway-<uid>). Because they differ, func-e is not in
//   its legacy one-home mode, and FUNC_E_HOME and the other FUNC_E_* variables, which only func-e's
//   own command line reads, change nothing. EG never passes func-e's EnvoyPath option.
// - EG names the version: an EnvoyProxy's `provider.host.envoyVersion`, else the tag of EG's default
//   Envoy image, docker.io/envoyproxy/envoy:distroless-v1.39.1 in v1.9.1, so "1.39.1".
// - With a full x.y.z version func-e looks nothing up: it stats
//   <DataHome>/envoy-versions/<version>/bin/envoy and, when that exists and is executable, runs it
//   ("already downloaded"); only when it is missing does it fetch the versions list and a tarball.
// So an EnvoyProxy-less Gateway runs whatever <DataHome>/envoy-versions/1.39.1/bin/envoy is: here a
// symbolic link to $WAYMARK_ENVOY (1.40). The directory's name is only func-e's key; nothing checks the
// binary's own version. Were EG to ask for another version, func-e would try to download it, fail
// (no network), and EG would exit with "failed to run envoy"; start() then throws with its log.
//
// EG's fixed ports (not configurable in v1.9.1): xDS 18000 and the file provider's health probe
// 8081 on every address, the Wasm HTTP server 18002; its own admin server is put on a free loopback
// port and Prometheus is off. The Gateway's Envoy binds its listener on 0.0.0.0:<listener port> and
// its admin server on an ephemeral port that func-e writes to <StateHome>/envoy-runs/<run>/admin-address.txt.
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertPortsFree } from "@waymark/devstack";
import { freePort, type Proc, requireEnv, startProcess, waitFor } from "@waymark/testing";
import { stringify } from "yaml";

/** The Envoy version EG v1.9.1 asks func-e for when no EnvoyProxy names one. */
export const EG_DEFAULT_ENVOY_VERSION = "1.39.1";
const CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller";
const FIXED_PORTS = [18000, 8081, 18002];

export interface EnvoyGateway {
  proc: Proc;
  pid: number;
  /** The Gateway's Envoy (EG's child). */
  envoyPid: number;
  envoyAdminUrl: string;
  stop(): Promise<void>;
}

/** EG's objects besides the routes: its GatewayClass, the Gateway on `listenerPort`, the Backend. */
export function egBaseObjects(ns: string, gateway: string, listenerPort: number, backendPort: number) {
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "eg" },
      spec: { controllerName: CONTROLLER },
    },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: gateway, namespace: ns },
      spec: { gatewayClassName: "eg", listeners: [{ name: "http", protocol: "HTTP", port: listenerPort }] },
    },
    {
      apiVersion: "gateway.envoyproxy.io/v1alpha1",
      kind: "Backend",
      metadata: { name: "backend", namespace: ns },
      spec: { endpoints: [{ ip: { address: "127.0.0.1", port: backendPort } }] },
    },
  ];
}

/** A route's backendRef to egBaseObjects' Backend. */
export const EG_BACKEND_REF = { group: "gateway.envoyproxy.io", kind: "Backend", name: "backend" };

/** The PIDs of a process's children (every thread's /proc/<pid>/task/<tid>/children). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim();
    if (text) out.push(...text.split(" ").map(Number));
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function findFile(dir: string, name: string): string | undefined {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isFile() && e.name === name) return p;
    if (e.isDirectory()) {
      const f = findFile(p, name);
      if (f) return f;
    }
  }
  return undefined;
}

/**
 * Starts EG watching `sourceDir` (which must already hold egBaseObjects) and waits until the
 * Gateway's Envoy answers on `listenerPort`.
 */
export async function startEnvoyGateway(o: {
  sourceDir: string;
  workDir: string;
  listenerPort: number;
}): Promise<EnvoyGateway> {
  const bin = requireEnv("WAYMARK_ENVOY_GATEWAY", 'run `eval "$(bash scripts/bootstrap-envoy-gateway.sh)"`');
  const envoy = requireEnv("WAYMARK_ENVOY", 'run `eval "$(bash scripts/setup.sh)"`');
  assertPortsFree(FIXED_PORTS.map((port) => ({ host: "0.0.0.0", port })));
  const home = {
    configHome: join(o.workDir, "config"),
    dataHome: join(o.workDir, "data"),
    stateHome: join(o.workDir, "state"),
    runtimeDir: join(o.workDir, "runtime"),
  };
  const versionDir = join(home.dataHome, "envoy-versions", EG_DEFAULT_ENVOY_VERSION, "bin");
  mkdirSync(versionDir, { recursive: true });
  symlinkSync(envoy, join(versionDir, "envoy"));
  const adminPort = await freePort();
  const config = {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    kind: "EnvoyGateway",
    gateway: { controllerName: CONTROLLER },
    provider: {
      type: "Custom",
      custom: {
        resource: { type: "File", file: { paths: [o.sourceDir] } },
        infrastructure: { type: "Host", host: home },
      },
    },
    // Warnings and errors only, as Waymark's services run in the bench (WAYMARK_LOG_LEVEL=warn).
    logging: { level: { default: "warn" } },
    admin: { address: { host: "127.0.0.1", port: adminPort } },
    telemetry: { metrics: { prometheus: { disable: true } } },
    extensionApis: { enableBackend: true },
  };
  const configFile = join(o.workDir, "envoy-gateway.yaml");
  writeFileSync(configFile, stringify(config));
  const proc = startProcess({
    name: "envoy-gateway",
    command: bin,
    args: ["server", "--config-path", configFile],
    logDir: o.workDir,
  });
  const pid = proc.child.pid!;
  const stop = async () => {
    const envoys = alive(pid) ? childrenOf(pid) : [];
    await proc.stop(15_000);
    // EG stops its Envoy on SIGTERM; one left behind (EG killed) is ours to end.
    for (const p of envoys) if (alive(p)) process.kill(p, "SIGKILL");
  };
  try {
    await waitFor(
      `Envoy Gateway's Envoy listening on ${o.listenerPort}`,
      async () => {
        if (proc.child.exitCode !== null)
          throw new Error(`envoy-gateway exited:\n${proc.log().slice(-4000)}`);
        const r = await fetch(`http://127.0.0.1:${o.listenerPort}/`).catch(() => undefined);
        return r !== undefined;
      },
      120_000,
      100,
    );
    const envoyPid = childrenOf(pid)[0];
    if (envoyPid === undefined) throw new Error("envoy-gateway has no child Envoy");
    const adminFile = findFile(home.stateHome, "admin-address.txt");
    if (!adminFile) throw new Error(`no admin-address.txt under ${home.stateHome}`);
    const envoyAdminUrl = `http://${readFileSync(adminFile, "utf8").trim()}`;
    return { proc, pid, envoyPid, envoyAdminUrl, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
