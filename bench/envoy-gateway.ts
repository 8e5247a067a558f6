// Side by side with Envoy Gateway v1.9.1 (issue 17). The same `routes` HTTPRoutes on a Gateway
// parent (bench/lib/side-by-side.ts), each control plane in its standalone form with a real Envoy of
// its own, one after the other in one run:
// - Waymark: NATS, watcher (a directory of YAML), translator, one xds-server; its waypoint Gateway,
//   the backend a Service enrolled in it; requests through the ztunnel stand-in (as every standalone
//   test sends them), to the Service's VIP.
// - Envoy Gateway: `envoy-gateway server` with the File provider on a directory and the Host
//   infrastructure (bench/lib/envoy-gateway.ts), a Gateway on a free port, the backend an EG Backend;
//   requests straight to the Envoy's listener.
// Both route to one go-httpbin. The routes are one file, replaced whole at each change (written beside
// the directory and renamed into it; both read the whole file again). Per control plane: the routes file written → every route served (load); RSS at
// idle after `settleMs`; then `changes` edits of a route's header value (a different route each time),
// each timed from the file's rename to the Envoy serving the new value (the data plane polled with HTTP
// every `pollMs`), and also to the Envoy having applied the route configuration (its config_dump's
// last_updated) and, for Waymark, to its ACK as the xds-server records it; CPU time (utime + stime
// from /proc) over the load, an idle window of `idleMs`, and the changes; the peak RSS over the
// changes. The control plane's processes: Waymark's four (NATS, watcher, translator, xds-server), EG's
// one (its Envoy is a child process and not counted, like Waymark's Envoy and stand-in).
// With egProfileSeconds=N, EG's CPU is profiled (Go's pprof, from its admin server) over the first N
// seconds of the changes; the profile's file and its top functions are printed.
//   pnpm bench envoy-gateway routes=1000 changes=20 systems=waymark,eg [egProfileSeconds=60]
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Bucket, createLogger, manifestKey, type ProxyRecord, type WaypointManifest } from "@waymark/api";
import { connectBus, getJson, listKeys, openBucket } from "@waymark/bus";
import { REPO_ROOT, startStack } from "@waymark/devstack";
import { TypeUrl } from "@waymark/envoy-proto";
import { freePort, startHttpbin, startProcess, tempDir, waitFor } from "@waymark/testing";
import { randomLoopback } from "../test/lib/guide-stack.ts";
import { parseArgs } from "./lib/args.ts";
import { EG_BACKEND_REF, egBaseObjects, startEnvoyGateway } from "./lib/envoy-gateway.ts";
import {
  cpuSeconds,
  echoClient,
  GATEWAY,
  headerValue,
  NS,
  routePath,
  routesYaml,
  rssMiB,
  rssPeak,
  sumOf,
  toYaml,
} from "./lib/side-by-side.ts";
import { percentile, r1 } from "./stats.ts";

const GOAL_PROPAGATION_RATIO = 0.5;
const GOAL_RSS_RATIO = 1;
const VIP = "10.96.0.10";
/** The NODE_OPTIONS the Helm chart gives every service (as bench/memory.ts's CHART_NODE_OPTIONS). */
const CHART_NODE_OPTIONS = "--max-semi-space-size=1";

/** One control plane under test, started with its base objects and no route. */
interface Side {
  name: string;
  /** The control plane's processes. */
  pids: number[];
  routesFile: string;
  backendRef: Record<string, unknown>;
  get(path: string): Promise<string | undefined>;
  envoyAdminUrl: string;
  /**
   * Starts a CPU profile of the control plane over the next `seconds`, where it can be profiled; the
   * promise gives a file of it and the profile's top functions as text.
   */
  profile?(seconds: number): Promise<{ file: string; top: string }>;
  /** When the proxy ACKed the route configuration the control plane made after t0, where recorded. */
  ackedAt?(after: number): Promise<number | undefined>;
  stop(): Promise<void>;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** The latest last_updated (ms) of the Envoy's dynamic route configurations not after `notAfter`. */
async function appliedAt(adminUrl: string, notAfter: number): Promise<number | undefined> {
  const dump = (await (await fetch(`${adminUrl}/config_dump?resource=dynamic_route_configs`)).json()) as {
    configs?: Array<{ last_updated?: string }>;
  };
  const times = (dump.configs ?? [])
    .map((c) => (c.last_updated ? Date.parse(c.last_updated) : Number.NaN))
    .filter((t) => t <= notAfter);
  return times.length ? Math.max(...times) : undefined;
}

/**
 * Puts `text` in `file` whole, as one change: written beside the watched directory, then renamed
 * into it. Written in place, a control plane may read the file truncated or half written (EG reloads
 * on every write event). Returns the time of the rename.
 */
function replaceFile(file: string, text: string): number {
  const tmp = join(dirname(dirname(file)), `.${basename(file)}.next`);
  writeFileSync(tmp, text);
  const t = Date.now();
  renameSync(tmp, file);
  return t;
}

/** Polls `path` until it serves `want`; the time it was first seen. */
async function served(side: Side, path: string, want: string, pollMs: number, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await side.get(path).catch(() => undefined);
    const now = Date.now();
    if (v === want) return now;
    if (now > deadline) throw new Error(`${side.name}: ${path} still serves ${v ?? "nothing"}, not ${want}`);
    await sleep(pollMs);
  }
}

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1)! };
}

interface Args {
  routes: number;
  changes: number;
  pollMs: number;
  settleMs: number;
  idleMs: number;
  gapMs: number;
  loadTimeoutMs: number;
  egProfileSeconds: number;
}

async function measure(side: Side, a: Args): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  const cpu = () => sumOf(side.pids, cpuSeconds);
  const tags = Array.from({ length: a.routes }, () => "v0");
  out["rss_before_routes_mib"] = r1(sumOf(side.pids, rssMiB));

  // Load: every route written at once; the last route of the file served, then every route checked.
  const cpu0 = cpu();
  const t0 = replaceFile(side.routesFile, routesYaml(tags, side.backendRef));
  const last = a.routes - 1;
  out["load_last_route_served_ms"] =
    (await served(side, routePath(last), headerValue(last, "v0"), 20, a.loadTimeoutMs)) - t0;
  for (let i = 0; i < a.routes; i++) await served(side, routePath(i), headerValue(i, "v0"), 20, 30_000);
  out["load_every_route_served_ms"] = Date.now() - t0;
  out["load_cpu_s"] = r3(cpu() - cpu0);

  await sleep(a.settleMs);
  out["idle_rss_mib"] = r1(sumOf(side.pids, rssMiB));
  const cpuIdle0 = cpu();
  await sleep(a.idleMs);
  out["idle_cpu_ms_per_s"] = r1(((cpu() - cpuIdle0) * 1000) / (a.idleMs / 1000));

  // Changes: a different route each time (379 is prime to any route count not a multiple of it).
  const servedMs: number[] = [];
  const appliedMs: number[] = [];
  const ackMs: number[] = [];
  const peak = rssPeak(side.pids);
  const profiling = a.egProfileSeconds > 0 ? side.profile?.(a.egProfileSeconds) : undefined;
  profiling?.catch(() => {});
  const cpuC0 = cpu();
  for (let k = 0; k < a.changes; k++) {
    const i = (k * 379 + 7) % a.routes;
    const path = routePath(i);
    // The route serves its old value before the change: what follows is the change, not a late load.
    const before = await side.get(path);
    if (before !== headerValue(i, tags[i]!))
      throw new Error(`${side.name}: ${path} serves ${before} before change ${k}`);
    tags[i] = `v${k + 1}`;
    const start = replaceFile(side.routesFile, routesYaml(tags, side.backendRef));
    const seen = await served(side, path, headerValue(i, tags[i]!), a.pollMs);
    servedMs.push(seen - start);
    const applied = await appliedAt(side.envoyAdminUrl, seen);
    if (applied !== undefined && applied >= start) appliedMs.push(applied - start);
    const acked = await side.ackedAt?.(start);
    if (acked !== undefined) ackMs.push(acked - start);
    await sleep(a.gapMs);
  }
  out["changes_cpu_s"] = r3(cpu() - cpuC0);
  out["changes_peak_rss_mib"] = r1(peak.stop());
  if (profiling) {
    const p = await profiling;
    out["cpu_profile"] = p.file;
    out["cpu_profile_top"] = p.top;
  }
  const s = stats(servedMs);
  out["served_p50_ms"] = s.p50;
  out["served_p99_ms"] = s.p99;
  out["served_samples_ms"] = servedMs.join(" ");
  if (appliedMs.length) {
    const ap = stats(appliedMs);
    out["envoy_applied_p50_ms"] = ap.p50;
    out["envoy_applied_p99_ms"] = ap.p99;
    out["envoy_applied_samples"] = appliedMs.length;
  }
  if (ackMs.length) {
    const ak = stats(ackMs);
    out["ack_p50_ms"] = ak.p50;
    out["ack_p99_ms"] = ak.p99;
    out["ack_samples"] = ackMs.length;
  }
  return out;
}

async function startWaymark(logDir: string, backendPort: number): Promise<Side> {
  const sourceDir = join(logDir, "objects");
  mkdirSync(sourceDir, { recursive: true });
  const base = [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: NS, labels: { "istio.io/dataplane-mode": "ambient" } },
    },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: GATEWAY, namespace: NS },
      spec: {
        gatewayClassName: "kgateway-waypoint",
        listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "backend", namespace: NS, labels: { "istio.io/use-waypoint": GATEWAY } },
      spec: {
        clusterIP: VIP,
        ports: [{ name: "http", port: 8000, targetPort: 8080, protocol: "TCP", appProtocol: "http" }],
      },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "backend-local", namespace: NS, labels: { "kubernetes.io/service-name": "backend" } },
      addressType: "IPv4",
      ports: [{ name: "http", port: backendPort, protocol: "TCP" }],
      endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
    },
  ];
  writeFileSync(join(sourceDir, "00-base.yaml"), toYaml(base));
  // The services as the images and the chart run them (as bench memory does): from a compile cache
  // warmed first, so Node's type stripper is never loaded, and with the chart's NODE_OPTIONS.
  const compileCache = join(logDir, "compile-cache");
  for (const svc of ["watcher", "translator", "xds-server"]) {
    const p = startProcess({
      name: `${svc}-warm-up`,
      command: process.execPath,
      args: ["--disable-warning=ExperimentalWarning", join(REPO_ROOT, "services", svc, "src", "main.ts")],
      env: {
        NODE_COMPILE_CACHE: compileCache,
        WAYMARK_WARM_COMPILE_CACHE: "1",
        WAYMARK_SOURCE: `dir:${sourceDir}`,
      },
      logDir,
    });
    const code = await p.exited;
    if (code !== 0) throw new Error(`${svc} warm-up exited with ${code}:\n${p.log().slice(-3000)}`);
  }
  const standinPort = await freePort();
  const waypoint = { namespace: NS, name: GATEWAY };
  const stack = await startStack({
    sourceDir,
    logDir,
    waypoint,
    waypointPort: 15088,
    bindAddress: randomLoopback(),
    backends: [],
    standin: {
      identity: `spiffe://cluster.local/ns/${NS}/sa/client`,
      routes: [{ listenPort: standinPort, vip: VIP, port: 8000 }],
    },
    // The translator's own default (services/translator/src/config.ts), not the tests' shorter one.
    debounceQuietMs: 50,
    serviceEnv: { NODE_OPTIONS: CHART_NODE_OPTIONS, NODE_COMPILE_CACHE: compileCache },
  });
  const nc = await connectBus({
    servers: stack.nats.url,
    name: "bench",
    log: createLogger("bench", {}, () => {}),
  });
  const [xds, proxies] = await Promise.all([openBucket(nc, Bucket.xds), openBucket(nc, Bucket.proxies)]);
  const client = echoClient(standinPort, "backend:8000");
  const { services } = stack;
  return {
    name: "waymark",
    pids: [stack.nats.proc, services.watcher, services.translator, ...services.xds].map((p) => p.child.pid!),
    routesFile: join(sourceDir, "10-routes.yaml"),
    backendRef: { name: "backend", port: 8000 },
    get: client.get,
    envoyAdminUrl: stack.envoy.adminUrl,
    async ackedAt(after) {
      // The RDS version the manifest names now, once a proxy ACKed it after `after`.
      const version = (await getJson<WaypointManifest>(xds, manifestKey(waypoint)))?.versions[TypeUrl.route];
      return waitFor(
        "the waypoint's ACK of the route configuration",
        async () => {
          for (const k of await listKeys(proxies)) {
            const t = (await getJson<ProxyRecord>(proxies, k))?.types[TypeUrl.route];
            const at = t?.ackedAt ? Date.parse(t.ackedAt) : 0;
            if (t?.ackedVersion === version && at >= after) return at;
          }
          return undefined;
        },
        10_000,
        20,
      ).catch(() => undefined);
    },
    async stop() {
      client.close();
      await nc.close();
      await stack.stop();
    },
  };
}

async function startEg(logDir: string, backendPort: number): Promise<Side> {
  const sourceDir = join(logDir, "objects");
  mkdirSync(sourceDir, { recursive: true });
  const listenerPort = await freePort();
  writeFileSync(
    join(sourceDir, "00-base.yaml"),
    toYaml(egBaseObjects(NS, GATEWAY, listenerPort, backendPort)),
  );
  const eg = await startEnvoyGateway({ sourceDir, workDir: logDir, listenerPort });
  const client = echoClient(listenerPort, "backend.bench");
  return {
    name: "envoy-gateway",
    pids: [eg.pid],
    routesFile: join(sourceDir, "10-routes.yaml"),
    backendRef: EG_BACKEND_REF,
    get: client.get,
    envoyAdminUrl: eg.envoyAdminUrl,
    async profile(seconds) {
      const res = await fetch(`${eg.adminUrl}/debug/pprof/profile?seconds=${seconds}`, {
        signal: AbortSignal.timeout((seconds + 60) * 1000),
      });
      if (!res.ok) throw new Error(`EG's pprof answered ${res.status}: ${await res.text()}`);
      const file = join(logDir, "eg-cpu.pprof");
      writeFileSync(file, Buffer.from(await res.arrayBuffer()));
      const bin = process.env["WAYMARK_ENVOY_GATEWAY"]!;
      const top = execFileSync("go", ["tool", "pprof", "-top", "-nodecount=40", bin, file], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      writeFileSync(join(logDir, "eg-cpu-top.txt"), top);
      return { file, top: `\n${top}` };
    },
    async stop() {
      client.close();
      await eg.stop();
    },
  };
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, {
    routes: 1000,
    changes: 20,
    pollMs: 5,
    settleMs: 5000,
    idleMs: 5000,
    gapMs: 500,
    loadTimeoutMs: 600_000,
    egProfileSeconds: 0,
    systems: "waymark,eg",
  });
  const systems = a.systems.split(",");
  if (systems.includes("eg") && !process.env["WAYMARK_ENVOY_GATEWAY"]) {
    const stdout = execFileSync("bash", [join(REPO_ROOT, "scripts", "bootstrap-envoy-gateway.sh")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    const bin = /WAYMARK_ENVOY_GATEWAY="([^"]+)"/.exec(stdout)?.[1];
    if (!bin)
      throw new Error(`scripts/bootstrap-envoy-gateway.sh printed no WAYMARK_ENVOY_GATEWAY: ${stdout}`);
    process.env["WAYMARK_ENVOY_GATEWAY"] = bin;
  }
  const logDir = tempDir("bench-envoy-gateway");
  const out: Record<string, unknown> = {
    scenario: `side by side with Envoy Gateway v1.9.1: ${a.routes} HTTPRoutes on a Gateway parent, ${a.changes} changes`,
    envoy: "both: $WAYMARK_ENVOY (for EG through func-e, installed as its version of that Envoy)",
    goals: `propagation ≤ ${GOAL_PROPAGATION_RATIO}× Envoy Gateway's; RSS ≤ Envoy Gateway's`,
    load_before: readLoad(),
  };
  const httpbin = await startHttpbin({ name: "httpbin", logDir });
  const results: Record<string, Record<string, number | string>> = {};
  try {
    for (const system of systems) {
      const dir = join(logDir, system);
      mkdirSync(dir, { recursive: true });
      const side =
        system === "waymark"
          ? await startWaymark(dir, httpbin.port)
          : system === "eg"
            ? await startEg(dir, httpbin.port)
            : undefined;
      if (!side) throw new Error(`unknown system ${system}: expected waymark or eg`);
      try {
        results[system] = await measure(side, a);
        for (const [k, v] of Object.entries(results[system]!)) out[`${system}_${k}`] = v;
      } catch (e) {
        // The other control plane's figures are still printed.
        out[`${system}_error`] = e instanceof Error ? e.message : String(e);
      } finally {
        await side.stop();
      }
    }
  } finally {
    await httpbin.stop();
  }
  out["load_after"] = readLoad();
  const w = results["waymark"];
  const e = results["eg"];
  if (w && e) {
    const ratio = (k: string) => r3(Number(w[k]) / Number(e[k]));
    const p50 = ratio("served_p50_ms");
    const p99 = ratio("served_p99_ms");
    const rss = ratio("idle_rss_mib");
    out["ratio_served_p50"] = p50;
    out["ratio_served_p99"] = p99;
    out["goal_propagation"] =
      `≤ ${GOAL_PROPAGATION_RATIO}× (p50 ${p50}×, p99 ${p99}×): ${p50 <= GOAL_PROPAGATION_RATIO && p99 <= GOAL_PROPAGATION_RATIO ? "met" : "missed"}`;
    out["ratio_idle_rss"] = rss;
    out["ratio_changes_peak_rss"] = ratio("changes_peak_rss_mib");
    out["goal_rss"] =
      `≤ ${GOAL_RSS_RATIO}× (idle after load ${rss}×): ${rss <= GOAL_RSS_RATIO ? "met" : "missed"}`;
    out["ratio_load_every_route_served"] = ratio("load_every_route_served_ms");
    out["ratio_load_cpu"] = ratio("load_cpu_s");
    out["ratio_changes_cpu"] = ratio("changes_cpu_s");
    if (w["envoy_applied_p50_ms"] !== undefined && e["envoy_applied_p50_ms"] !== undefined) {
      out["ratio_envoy_applied_p50"] = ratio("envoy_applied_p50_ms");
      out["ratio_envoy_applied_p99"] = ratio("envoy_applied_p99_ms");
    }
  }
  out["log_dir"] = logDir;
  return out;
}

/** /proc/loadavg's three averages. */
function readLoad(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}
