// Scenario 2, fan-out: a changed ~50 KiB RouteConfiguration pushed to P connected proxies, on one
// replica of Waymark's xds-server and on go-control-plane's reference server, same proxies, same
// snapshot. Figures: pushes per second (P / time from publish to the last ACK), CPU (ms per push) and
// peak memory of the server process, and the Waymark / go-control-plane ratio.
//   pnpm bench xds-fanout proxies=5000 rounds=5 routes=470 protocol=delta workers=4
import { TypeUrl } from "@waymark/envoy-proto";
import {
  encodeSnapshot,
  LoadGen,
  proxySpecs,
  resourceBytes,
  sampleProcess,
  syntheticWaypoint,
  watchPeakRss,
  type XdsProtocol,
} from "@waymark/xds-loadgen";
import { parseArgs } from "./lib/args.ts";
import { CLUSTER } from "./lib/objects.ts";
import { r2, SERVER_KINDS, startServers } from "./lib/targets.ts";
import { percentile } from "./stats.ts";

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, {
    proxies: 200,
    rounds: 5,
    routes: 470,
    protocol: "delta",
    workers: 2,
    servers: "both",
  });
  const kinds = a.servers === "both" ? SERVER_KINDS : SERVER_KINDS.filter((k) => k === a.servers);
  const snap = (variant: string) =>
    encodeSnapshot(syntheticWaypoint({ services: 1, routesPerService: a.routes, variant }));
  const first = snap("v0");
  const rdsBytes = resourceBytes(first, TypeUrl.route, Object.keys(first.hashes[TypeUrl.route]!)[0]!).length;
  const out: Record<string, unknown> = {
    scenario: "fan-out: one changed RouteConfiguration to P proxies, one replica",
    proxies: a.proxies,
    protocol: a.protocol,
    route_config_kib: r2(rdsBytes / 1024),
    target: "≥ 3,000 pushes/s per replica for 50 KiB at P = 5,000, and ≥ 1.5× go-control-plane's rate",
  };
  const rates: Record<string, number> = {};
  for (const kind of kinds) {
    const servers = await startServers(kind, 1);
    const lg = await LoadGen.start(a.workers);
    try {
      await servers.load(first);
      const specs = proxySpecs(a.proxies, CLUSTER, a.protocol as XdsProtocol);
      const conn = await lg.connect(servers.targets[0]!, specs, 120_000);
      if (conn.synced !== a.proxies)
        throw new Error(`${kind}: only ${conn.synced} of ${a.proxies} proxies synced`);
      const pid = servers.pids[0]!;
      const perRound: number[] = [];
      const cpuPerPush: number[] = [];
      let peak = 0;
      for (let i = 1; i <= a.rounds; i++) {
        const s = snap(`v${i}`);
        const rss = watchPeakRss(pid);
        const c0 = sampleProcess(pid);
        const t0 = performance.timeOrigin + performance.now();
        await servers.load(s);
        const r = await lg.awaitVersion(TypeUrl.route, s.versions[TypeUrl.route]!, 120_000);
        const c1 = sampleProcess(pid);
        peak = Math.max(peak, rss.stop());
        if (r.missing.length) throw new Error(`${kind}: ${r.missing.length} proxies did not ACK round ${i}`);
        const last = Math.max(...r.acks) - t0;
        perRound.push((a.proxies * 1000) / last);
        cpuPerPush.push((c1.cpuMs - c0.cpuMs) / a.proxies);
        await new Promise((res) => setTimeout(res, 300));
      }
      const sorted = [...perRound].sort((x, y) => x - y);
      rates[kind] = percentile(sorted, 50);
      out[`${kind}_pushes_per_s_p50`] = Math.round(rates[kind]);
      out[`${kind}_pushes_per_s_min`] = Math.round(sorted[0]!);
      out[`${kind}_cpu_ms_per_push`] = r2(
        percentile(
          [...cpuPerPush].sort((x, y) => x - y),
          50,
        ),
      );
      out[`${kind}_peak_rss_mib`] = Math.round(peak / 2 ** 20);
    } finally {
      await lg.stop();
      await servers.stop();
    }
  }
  if (rates["waymark"] && rates["go-control-plane"]) {
    out["ratio_waymark_to_go_control_plane"] = r2(rates["waymark"] / rates["go-control-plane"]);
    out["ratio_goal"] = "≥ 1.5";
  }
  if (rates["waymark"]) {
    out["waymark_goal_met"] =
      rates["waymark"] >= 3000 &&
      (rates["go-control-plane"] === undefined || rates["waymark"] >= 1.5 * rates["go-control-plane"]) &&
      a.proxies >= 5000
        ? "yes"
        : a.proxies < 5000
          ? "n/a (the goal is at P = 5,000)"
          : "no";
  }
  return out;
}
