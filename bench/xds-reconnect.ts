// Scenario 4, reconnect storm: P proxies synced on replica A all reconnect at once to replica B.
// (a) Versions match: bytes and responses B sends (a proxy whose versions match gets nothing resent).
// (b) One route configuration changed while they were away: time from the storm until the last proxy
//     ACKs the new version, and bytes sent. Waymark's replicas vs two go-control-plane instances.
//   pnpm bench xds-reconnect proxies=5000 workers=4
import { setTimeout as sleep } from "node:timers/promises";
import { TypeUrl } from "@waymark/envoy-proto";
import {
  encodeSnapshot,
  LoadGen,
  proxySpecs,
  syntheticWaypoint,
  type XdsProtocol,
} from "@waymark/xds-loadgen";
import { parseArgs } from "./lib/args.ts";
import { CLUSTER } from "./lib/objects.ts";
import { r2, SERVER_KINDS, startServers } from "./lib/targets.ts";

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, { proxies: 200, protocol: "delta", workers: 2, servers: "both", settleMs: 2000 });
  const kinds = a.servers === "both" ? SERVER_KINDS : SERVER_KINDS.filter((k) => k === a.servers);
  const opts = { services: 5, routesPerService: 20 };
  const v1 = encodeSnapshot(syntheticWaypoint(opts));
  const v2 = encodeSnapshot(syntheticWaypoint({ ...opts, changedService: 2, variant: "v2" }));
  const out: Record<string, unknown> = {
    scenario: "reconnect storm: P proxies move from replica A to B at once",
    proxies: a.proxies,
    protocol: a.protocol,
    target: "5,000 proxies resynced ≤ 30 s (≥ 250 streams/s); nothing resent when versions match",
  };
  const times: Record<string, number> = {};
  for (const kind of kinds) {
    const servers = await startServers(kind, 2);
    const lg = await LoadGen.start(a.workers);
    try {
      await servers.load(v1);
      const [ta, tb] = servers.targets as [string, string];
      const conn = await lg.connect(ta, proxySpecs(a.proxies, CLUSTER, a.protocol as XdsProtocol), 120_000);
      if (conn.synced !== a.proxies) throw new Error(`${kind}: only ${conn.synced} of ${a.proxies} synced`);
      // (a) matching versions
      const s0 = await lg.stats();
      await lg.reconnect(tb);
      await sleep(a.settleMs);
      const s1 = await lg.stats();
      out[`${kind}_matching_responses`] = s1.responses - s0.responses;
      out[`${kind}_matching_bytes`] = s1.bytes - s0.bytes;
      // (b) a changed route configuration while disconnected
      await lg.reconnect(ta);
      await sleep(a.settleMs);
      await lg.disconnect();
      await servers.load(v2);
      await sleep(500);
      const s2 = await lg.stats();
      const t0 = performance.timeOrigin + performance.now();
      await lg.reconnect(tb);
      const r = await lg.awaitVersion(TypeUrl.route, v2.versions[TypeUrl.route]!, 120_000);
      if (r.missing.length) throw new Error(`${kind}: ${r.missing.length} proxies did not resync`);
      const s3 = await lg.stats();
      times[kind] = Math.max(...r.acks) - t0;
      out[`${kind}_changed_resync_ms`] = Math.round(times[kind]);
      out[`${kind}_changed_streams_per_s`] = Math.round((a.proxies * 1000) / times[kind]);
      out[`${kind}_changed_kib_per_proxy`] = r2((s3.bytes - s2.bytes) / a.proxies / 1024);
    } finally {
      await lg.stop();
      await servers.stop();
    }
  }
  if (times["waymark"] && times["go-control-plane"]) {
    out["ratio_resync_time_waymark_to_go_control_plane"] = r2(times["waymark"] / times["go-control-plane"]);
  }
  return out;
}
