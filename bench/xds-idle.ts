// Scenario 3, idle proxies: memory per connected proxy (server RSS after P proxies synced, minus before,
// over P) and the server's CPU while they idle, on Waymark's xds-server and go-control-plane.
//   pnpm bench xds-idle proxies=5000 idleSeconds=30 workers=4 syncTimeoutSeconds=60
import { setTimeout as sleep } from "node:timers/promises";
import {
  encodeSnapshot,
  LoadGen,
  proxySpecs,
  sampleProcess,
  syntheticWaypoint,
  type XdsProtocol,
} from "@waymark/xds-loadgen";
import { parseArgs } from "./lib/args.ts";
import { CLUSTER } from "./lib/objects.ts";
import { r2, SERVER_KINDS, startServers } from "./lib/targets.ts";

/** Issue 17: the idle cost of a connected proxy (go-control-plane measured 71 KiB). */
const GOAL_KIB_PER_PROXY = 64;

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, {
    proxies: 200,
    idleSeconds: 10,
    protocol: "delta",
    workers: 2,
    servers: "both",
    // How long the P proxies may take to sync (a loaded machine needs more than the default).
    syncTimeoutSeconds: 60,
  });
  const kinds = a.servers === "both" ? SERVER_KINDS : SERVER_KINDS.filter((k) => k === a.servers);
  const snap = encodeSnapshot(syntheticWaypoint({ services: 5, routesPerService: 20 }));
  const out: Record<string, unknown> = {
    scenario: "idle: memory per connected proxy, idle CPU",
    proxies: a.proxies,
    protocol: a.protocol,
    target: `≤ ${GOAL_KIB_PER_PROXY} KiB per idle proxy; idle CPU < 1% of a core at 5,000 proxies`,
  };
  const mem: Record<string, number> = {};
  for (const kind of kinds) {
    const servers = await startServers(kind, 1);
    const lg = await LoadGen.start(a.workers);
    try {
      await servers.load(snap);
      const pid = servers.pids[0]!;
      await sleep(1000);
      const before = sampleProcess(pid).rssBytes;
      const conn = await lg.connect(
        servers.targets[0]!,
        proxySpecs(a.proxies, CLUSTER, a.protocol as XdsProtocol),
        a.syncTimeoutSeconds * 1000,
      );
      if (conn.synced !== a.proxies) throw new Error(`${kind}: only ${conn.synced} of ${a.proxies} synced`);
      await sleep(2000);
      const s0 = sampleProcess(pid);
      const st0 = await lg.stats();
      await sleep(a.idleSeconds * 1000);
      const s1 = sampleProcess(pid);
      const st1 = await lg.stats();
      mem[kind] = (s1.rssBytes - before) / a.proxies;
      out[`${kind}_kib_per_proxy`] = r2(mem[kind] / 1024);
      if (kind === "waymark")
        out["waymark_goal"] =
          `${r2(mem[kind] / 1024)} KiB vs ≤ ${GOAL_KIB_PER_PROXY} KiB: ${mem[kind] / 1024 <= GOAL_KIB_PER_PROXY ? "met" : "missed"}`;
      out[`${kind}_rss_mib`] = Math.round(s1.rssBytes / 2 ** 20);
      out[`${kind}_idle_cpu_pct_of_core`] = r2(((s1.cpuMs - s0.cpuMs) / (s1.at - s0.at)) * 100);
      out[`${kind}_responses_while_idle`] = st1.responses - st0.responses;
    } finally {
      await lg.stop();
      await servers.stop();
    }
  }
  if (mem["waymark"] && mem["go-control-plane"]) {
    out["ratio_memory_waymark_to_go_control_plane"] = r2(mem["waymark"] / mem["go-control-plane"]);
  }
  return out;
}
