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
//   its legacy one-home mode: FUNC_E_HOME and the FUNC_E_*_HOME variables, which only func-e's own
//   command line reads, change nothing. EG never passes func-e's EnvoyPath option.
// - EG passes a version when an EnvoyProxy names one (`provider.host.envoyVersion`), else the x.y.z it
//   finds in the tag of its default image. In v1.9.1 that image reference ends in "@sha256:<digest>",
//   so the last ":"-part it searches is the digest and it finds none: EG passes no version.
// - With no version, func-e takes the first of $ENVOY_VERSION, ./.envoy-version, then the file
//   <ConfigHome>/envoy-version; only when none is set does it look the latest up online.
// - With an x.y.z version it looks nothing up: it stats <DataHome>/envoy-versions/<x.y.z>/bin/envoy
//   and, when that is there and executable, runs it ("already downloaded"); only a missing binary
//   makes it fetch the versions list and a tarball.
// So here <ConfigHome>/envoy-version holds our Envoy's version (from `$WAYMARK_ENVOY --version`) and
// <DataHome>/envoy-versions/<it>/bin/envoy is a symbolic link to $WAYMARK_ENVOY. Should a lookup
// happen anyway, it fails here (no network) and EG logs "failed to run envoy"; start() then times out
// with EG's log in the error.
//
// EG's fixed ports (not configurable in v1.9.1): xDS 18000 and the file provider's health probe
// 8081 on every address, the Wasm HTTP server 18002; its own admin server is put on a free loopback
// port and Prometheus is off. The Gateway's Envoy binds its listener on 0.0.0.0:<listener port> and
// its admin server on an ephemeral port that func-e writes to <RuntimeDir>/<run>/admin-address.txt (its logs go to
// <StateHome>/envoy-runs/<run>/).
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertPortsFree } from "@waymark/devstack";
import { freePort, type Proc, requireEnv, startProcess, waitFor } from "@waymark/testing";
import { stringify } from "yaml";

const CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller";
const FIXED_PORTS = [18000, 8081, 18002];

export interface EnvoyGateway {
  proc: Proc;
  pid: number;
  /** The Gateway's Envoy (EG's child). */
  envoyPid: number;
  envoyAdminUrl: string;
  /** EG's own admin server, with Go's pprof handlers under /debug/pprof/. */
  adminUrl: string;
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
  const version = /version: [0-9a-f]+\/(\d+\.\d+\.\d+)\//.exec(
    execFileSync(envoy, ["--version"], { encoding: "utf8" }),
  )?.[1];
  if (!version) throw new Error(`no x.y.z in \`${envoy} --version\``);
  const versionDir = join(home.dataHome, "envoy-versions", version, "bin");
  mkdirSync(versionDir, { recursive: true });
  symlinkSync(envoy, join(versionDir, "envoy"));
  mkdirSync(home.configHome, { recursive: true });
  writeFileSync(join(home.configHome, "envoy-version"), `${version}\n`);
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
    // pprof on, so that `pnpm bench envoy-gateway egProfileSeconds=N` can show where EG's CPU goes.
    admin: { address: { host: "127.0.0.1", port: adminPort }, enablePprof: true },
    telemetry: { metrics: { prometheus: { disable: true } } },
    extensionApis: { enableBackend: true },
  };
  const configFile = join(o.workDir, "envoy-gateway.yaml");
  writeFileSync(configFile, stringify(config));
  // The xDS server's and Envoy's certificates, which the server only reads: EG's own local certgen.
  const certgen = startProcess({
    name: "envoy-gateway-certgen",
    command: bin,
    args: ["certgen", "--local", "--config-home", home.configHome],
    logDir: o.workDir,
  });
  const certCode = await certgen.exited;
  if (certCode !== 0)
    throw new Error(`envoy-gateway certgen exited with ${certCode}:\n${certgen.log().slice(-3000)}`);
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
    // A probe's throw only counts as "not yet" in waitFor: EG's exit ends the wait itself.
    const exited = proc.exited.then(() => {
      throw new Error(`envoy-gateway exited:\n${proc.log().slice(-4000)}`);
    });
    exited.catch(() => {});
    await Promise.race([
      exited,
      waitFor(
        `Envoy Gateway's Envoy listening on ${o.listenerPort}`,
        async () => (await fetch(`http://127.0.0.1:${o.listenerPort}/`).catch(() => undefined)) !== undefined,
        120_000,
        100,
      ),
    ]);
    const envoyPid = childrenOf(pid)[0];
    if (envoyPid === undefined) throw new Error("envoy-gateway has no child Envoy");
    const adminFile = findFile(home.runtimeDir, "admin-address.txt");
    if (!adminFile) throw new Error(`no admin-address.txt under ${home.runtimeDir}`);
    const envoyAdminUrl = `http://${readFileSync(adminFile, "utf8").trim()}`;
    return { proc, pid, envoyPid, envoyAdminUrl, adminUrl: `http://127.0.0.1:${adminPort}`, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
