// Memory of the whole control plane, standalone: NATS and the three services as processes (watcher on a
// directory of YAML, translator, one xds-server), each with its ops endpoint as the chart runs them.
// 1. idle: every service ready, no object at all; 2. `routes` HTTPRoutes over `services` Services on
// one waypoint, written as YAML into the watched directory, with one real Envoy connected, after its
// ACK of the RDS version that holds them all. At each point: VmRSS, RssAnon and RssFile from
// /proc/<pid>/status; Pss and Pss_File from smaps_rollup (the Node binary's pages are shared by every
// Node process on a machine, so PSS depends on what else runs: the goals are RSS); from smaps the
// binary's own resident pages and malloc's heap; and what V8 sees inside (heap used, external, array
// buffers, code) through bench/lib/memory-probe.ts, whose reports stay in <log_dir>/probe/<phase>-<svc>.json. The floor is an empty Node script (.js, and .ts for type stripping).
//   pnpm bench memory routes=1000 services=5 snapshot=0 nodeOptions=chart
// nodeOptions: the services' NODE_OPTIONS; `chart` is what the Helm chart sets (CHART_NODE_OPTIONS,
// keep it equal to waymark.commonEnv in deploy/charts/waymark/templates/_helpers.tpl), `none` is
// Node's defaults, anything else is used as it is. compileCache=1 (default) starts the services as
// the images do: from a compile cache warmed first (WAYMARK_WARM_COMPILE_CACHE=1, see their main.ts),
// so Node's TypeScript stripper is never loaded; compileCache=0 strips the types at every start.
// snapshot=1 also writes a heap snapshot per service at each point (paths printed; open them in
// Chrome DevTools' Memory tab).
import { copyFileSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  Bucket,
  createLogger,
  type KubeObject,
  manifestKey,
  objectKey,
  type ProxyRecord,
  refOf,
  type WaypointManifest,
} from "@waymark/api";
import { connectBus, getJson, listKeys, openBucket } from "@waymark/bus";
import { REPO_ROOT } from "@waymark/devstack";
import { TypeUrl } from "@waymark/envoy-proto";
import { freePort, type Proc, startEnvoy, startNats, startProcess, tempDir, waitFor } from "@waymark/testing";
import { stringify } from "yaml";
import { renderBootstrap } from "../packages/waypoint/src/index.ts";
import { parseArgs } from "./lib/args.ts";
import { baseObjects, route, WAYPOINT } from "./lib/objects.ts";
import { r1 } from "./stats.ts";

const MiB = 2 ** 20;
const GOAL_IDLE_MIB = 80;
const GOAL_TOTAL_MIB = 256;
/** The NODE_OPTIONS the chart gives every service. */
const CHART_NODE_OPTIONS = "--max-semi-space-size=1";

interface Rss {
  rss: number;
  anon: number;
  file: number;
  /** Proportional set size: each shared page divided by the processes that map it. */
  pss: number;
  pssFile: number;
  threads: number;
  /** Resident pages of the Node binary itself (file-backed, shared by every Node process on a node). */
  binary: number;
  /** glibc malloc's main heap ([heap]): native allocations (nghttp2, V8 zones, libuv, OpenSSL). */
  malloc: number;
}

/** Rss of the mappings of `path` and of the [heap] mapping, from /proc/<pid>/smaps (kB). */
function smapsRss(pid: number, path: string): { binary: number; malloc: number } {
  let binary = 0;
  let malloc = 0;
  let into: "binary" | "malloc" | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) into = head[1] === path ? "binary" : head[1] === "[heap]" ? "malloc" : undefined;
    else if (into && line.startsWith("Rss:")) {
      const kb = Number(/(\d+)/.exec(line)![1]);
      if (into === "binary") binary += kb;
      else malloc += kb;
    }
  }
  return { binary, malloc };
}

/** VmRSS, RssAnon, RssFile from /proc/<pid>/status and Pss, Pss_File from smaps_rollup, in MiB. */
function rssOf(pid: number): Rss {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const r = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const m = smapsRss(pid, readlinkSync(`/proc/${pid}/exe`));
  const kib = (text: string, k: string) =>
    Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN) / 1024;
  return {
    rss: kib(s, "VmRSS"),
    anon: kib(s, "RssAnon"),
    file: kib(s, "RssFile"),
    pss: kib(r, "Pss"),
    pssFile: kib(r, "Pss_File"),
    threads: Number(/^Threads:\s+(\d+)/m.exec(s)?.[1] ?? Number.NaN),
    binary: m.binary / 1024,
    malloc: m.malloc / 1024,
  };
}

/** RSS of an empty Node script, the floor under every service. */
async function floor(dir: string, ts: boolean): Promise<number> {
  const file = join(dir, ts ? "empty.ts" : "empty.mjs");
  writeFileSync(
    file,
    ts ? "const t: number = 1;\nsetInterval(() => t, 1000);\n" : "setInterval(() => {}, 1000);\n",
  );
  const proc = startProcess({
    name: `floor-${ts ? "ts" : "js"}`,
    command: process.execPath,
    args: [file],
    logDir: dir,
  });
  try {
    await sleep(1500);
    return rssOf(proc.child.pid!).rss;
  } finally {
    await proc.stop();
  }
}

interface Inside {
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  code: number;
  snapshot?: string;
}

/** What the probe in a service reports (MiB), after a SIGUSR2. */
async function probe(probeDir: string, pid: number): Promise<Inside> {
  const file = join(probeDir, `${pid}.json`);
  rmSync(file, { force: true });
  process.kill(pid, "SIGUSR2");
  const j = await waitFor(
    `memory probe of ${pid}`,
    async () => {
      try {
        return JSON.parse(readFileSync(file, "utf8")) as {
          memoryUsage: NodeJS.MemoryUsage;
          code: { code_and_metadata_size: number; bytecode_and_metadata_size: number };
          snapshot?: string;
        };
      } catch {
        return undefined;
      }
    },
    120_000,
    50,
  );
  const m = j.memoryUsage;
  return {
    heapUsed: r1(m.heapUsed / MiB),
    heapTotal: r1(m.heapTotal / MiB),
    external: r1(m.external / MiB),
    arrayBuffers: r1(m.arrayBuffers / MiB),
    code: r1((j.code.code_and_metadata_size + j.code.bytecode_and_metadata_size) / MiB),
    ...(j.snapshot ? { snapshot: j.snapshot } : {}),
  };
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, {
    routes: 1000,
    services: 5,
    snapshot: 0,
    settleMs: 3000,
    nodeOptions: "chart",
    compileCache: 1,
  });
  const nodeOptions =
    a.nodeOptions === "chart" ? CHART_NODE_OPTIONS : a.nodeOptions === "none" ? "" : a.nodeOptions;
  const logDir = tempDir("bench-memory");
  const probeDir = join(logDir, "probe");
  const sourceDir = join(logDir, "objects");
  mkdirSync(probeDir, { recursive: true });
  mkdirSync(sourceDir, { recursive: true });
  const out: Record<string, unknown> = {
    scenario: "control-plane memory, standalone: idle and at R HTTPRoutes with one Envoy",
    routes: a.routes,
    node_options: nodeOptions || "(none)",
    compile_cache: a.compileCache ? "warmed at start, as in the images" : "none (types stripped at start)",
    goals: `idle service ≤ ${GOAL_IDLE_MIB} MiB; whole control plane at 1,000 routes ≤ ${GOAL_TOTAL_MIB} MiB`,
  };
  out["floor_empty_js_mib"] = r1(await floor(logDir, false));
  out["floor_empty_ts_mib"] = r1(await floor(logDir, true));

  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const nats = await startNats({ logDir });
    started.push(nats);
    const nc = await connectBus({
      servers: nats.url,
      name: "bench",
      log: createLogger("bench", {}, () => {}),
    });
    started.push({ stop: () => nc.close() });
    const [xdsKv, proxiesKv, statusKv] = await Promise.all([
      openBucket(nc, Bucket.xds),
      openBucket(nc, Bucket.proxies),
      openBucket(nc, Bucket.status),
    ]);

    // The services as the chart runs them (its NODE_OPTIONS), the probe preloaded; more node flags
    // from WAYMARK_BENCH_NODE_ARGS (e.g. --cpu-prof).
    const extra = (process.env["WAYMARK_BENCH_NODE_ARGS"] ?? "").split(" ").filter(Boolean);
    const probeArgs = ["--import", join(REPO_ROOT, "bench", "lib", "memory-probe.ts")];
    const xdsPort = await freePort();
    const opsPorts = {
      watcher: await freePort(),
      translator: await freePort(),
      "xds-server": await freePort(),
    };
    const compileCache = join(logDir, "compile-cache");
    const env = (svc: keyof typeof opsPorts, more: Record<string, string>) => ({
      NODE_OPTIONS: nodeOptions,
      ...(a.compileCache ? { NODE_COMPILE_CACHE: compileCache } : {}),
      WAYMARK_NATS_URL: nats.url,
      WAYMARK_METRICS_ADDRESS: `127.0.0.1:${opsPorts[svc]}`,
      WAYMARK_LOG_LEVEL: "warn",
      WAYMARK_MEMORY_PROBE_DIR: probeDir,
      WAYMARK_MEMORY_PROBE_SNAPSHOT: a.snapshot ? "1" : "0",
      ...more,
    });
    const launch = (svc: keyof typeof opsPorts, more: Record<string, string>): Proc =>
      startProcess({
        name: svc,
        command: process.execPath,
        args: [
          "--disable-warning=ExperimentalWarning",
          ...extra,
          ...probeArgs,
          join(REPO_ROOT, "services", svc, "src", "main.ts"),
        ],
        env: env(svc, more),
        logDir,
      });
    if (a.compileCache) {
      // As the Dockerfiles' warm-up step: each service loads its modules, fills the cache and exits.
      for (const svc of Object.keys(opsPorts) as Array<keyof typeof opsPorts>) {
        const p = launch(svc, { WAYMARK_WARM_COMPILE_CACHE: "1", WAYMARK_SOURCE: `dir:${sourceDir}` });
        const code = await p.exited;
        if (code !== 0) throw new Error(`${svc} warm-up exited with ${code}:\n${p.log().slice(-3000)}`);
      }
    }
    const procs: Record<string, Proc> = {
      watcher: launch("watcher", { WAYMARK_SOURCE: `dir:${sourceDir}` }),
      translator: launch("translator", {
        WAYMARK_BIND_ADDRESS: "127.0.0.1",
        WAYMARK_DEBOUNCE_QUIET_MS: "50",
      }),
      "xds-server": launch("xds-server", {
        WAYMARK_XDS_ADDRESS: `127.0.0.1:${xdsPort}`,
        WAYMARK_REPLICA: "xds-0",
      }),
    };
    for (const p of Object.values(procs)) started.push(p);
    for (const [svc, port] of Object.entries(opsPorts)) {
      await waitFor(
        `${svc} ready`,
        async () => {
          const p = procs[svc]!;
          if (p.child.exitCode !== null) throw new Error(`${svc} exited:\n${p.log().slice(-3000)}`);
          return (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200;
        },
        60_000,
        100,
      );
    }

    const measure = async (phase: string) => {
      await sleep(a.settleMs);
      let sum = 0;
      let pssSum = 0;
      for (const [svc, p] of Object.entries(procs)) {
        const pid = p.child.pid!;
        const inside = await probe(probeDir, pid);
        // Kept per phase (heap space statistics and all) for a closer look after the run.
        copyFileSync(join(probeDir, `${pid}.json`), join(probeDir, `${phase}-${svc}.json`));
        const r = rssOf(pid);
        sum += r.rss;
        pssSum += r.pss;
        out[`${phase}_${svc}_rss_mib`] = r1(r.rss);
        out[`${phase}_${svc}_anon_file_mib`] = `${r1(r.anon)} / ${r1(r.file)}`;
        out[`${phase}_${svc}_pss_pss_file_mib`] = `${r1(r.pss)} / ${r1(r.pssFile)}`;
        out[`${phase}_${svc}_binary_malloc_mib`] = `${r1(r.binary)} / ${r1(r.malloc)}`;
        out[`${phase}_${svc}_threads`] = r.threads;
        out[`${phase}_${svc}_heap_used_total_external_ab_code_mib`] =
          `${inside.heapUsed} / ${inside.heapTotal} / ${inside.external} / ${inside.arrayBuffers} / ${inside.code}`;
        if (inside.snapshot) out[`${phase}_${svc}_snapshot`] = inside.snapshot;
      }
      const n = rssOf(nats.proc.child.pid!);
      const natsRss = n.rss;
      out[`${phase}_nats_rss_mib`] = r1(natsRss);
      out[`${phase}_nats_pss_mib`] = r1(n.pss);
      out[`${phase}_total_rss_mib`] = r1(sum + natsRss);
      out[`${phase}_total_pss_mib`] = r1(pssSum + n.pss);
      return {
        services: Object.keys(procs).map((s) => out[`${phase}_${s}_rss_mib`] as number),
        total: sum + natsRss,
      };
    };

    const idle = await measure("idle");
    out["idle_worst_service_mib"] = Math.max(...idle.services);
    out["idle_goal"] =
      `≤ ${GOAL_IDLE_MIB} MiB per service: ${Math.max(...idle.services) <= GOAL_IDLE_MIB ? "met" : "missed"}`;

    // The waypoint and its Services, then one Envoy, then the routes.
    const yaml = (objs: KubeObject[]) => objs.map((o) => stringify(o)).join("---\n");
    writeFileSync(join(sourceDir, "00-base.yaml"), yaml(baseObjects(a.services)));
    const envoy = await startEnvoy({
      name: "envoy-waypoint",
      bootstrap: renderBootstrap({
        waypoint: WAYPOINT,
        podName: `${WAYPOINT.name}-bench`,
        xds: [{ host: "127.0.0.1", port: xdsPort }],
      }),
      logDir,
      logLevel: "warn",
    });
    started.push(envoy);
    await waitFor(
      "Envoy initialized",
      async () => (await fetch(`${envoy.adminUrl}/ready`)).status === 200,
      60_000,
      100,
    );

    const routes = Array.from({ length: a.routes }, (_, i) => route(i, a.services));
    const t0 = Date.now();
    writeFileSync(join(sourceDir, "10-routes.yaml"), yaml(routes));
    await waitFor(
      "a status for every route",
      async () => {
        const have = new Set(await listKeys(statusKv));
        return routes.every((r) => have.has(objectKey(refOf(r)))) || undefined;
      },
      300_000,
      200,
    );
    // The Envoy ACKs the RDS version of the manifest that holds every route (and it stays current).
    await waitFor(
      "Envoy's ACK of the RDS version with every route",
      async () => {
        const m = await getJson<WaypointManifest>(xdsKv, manifestKey(WAYPOINT));
        const v = m?.versions[TypeUrl.route];
        if (!v) return undefined;
        for (const k of await listKeys(proxiesKv)) {
          const r = await getJson<ProxyRecord>(proxiesKv, k);
          if (r?.types[TypeUrl.route]?.ackedVersion === v) return true;
        }
        return undefined;
      },
      300_000,
      100,
    );
    out["routes_written_to_ack_ms"] = Date.now() - t0;
    const loaded = await measure(`r${a.routes}`);
    out["total_goal"] =
      `≤ ${GOAL_TOTAL_MIB} MiB at 1,000 routes: ${loaded.total <= GOAL_TOTAL_MIB ? "met" : "missed"}`;
    out["log_dir"] = logDir;
    return out;
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => {});
  }
}
