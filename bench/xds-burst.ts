// Scenario 6, burst: `routes` HTTPRoutes created as fast as NATS takes them, with P proxies connected:
// time from the last write to the last proxy's ACK of the route configurations holding them all, and
// how many RDS pushes each proxy got meanwhile.
//   pnpm bench xds-burst proxies=1000 routes=1000 workers=4
import { TypeUrl } from "@waymark/envoy-proto";
import { waitFor } from "@waymark/testing";
import { LoadGen, proxySpecs, type XdsProtocol } from "@waymark/xds-loadgen";
import { parseArgs } from "./lib/args.ts";
import { baseObjects, CLUSTER, route } from "./lib/objects.ts";
import { startPipeline } from "./lib/pipeline.ts";
import { r2 } from "./lib/targets.ts";

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, { proxies: 100, routes: 1000, services: 5, workers: 2, protocol: "delta" });
  const pl = await startPipeline("burst");
  const lg = await LoadGen.start(a.workers);
  try {
    await pl.write(baseObjects(a.services));
    await waitFor("first manifest", () => pl.rdsVersion(), 60_000);
    const conn = await lg.connect(
      pl.xds.target,
      proxySpecs(a.proxies, CLUSTER, a.protocol as XdsProtocol),
      300_000,
    );
    if (conn.synced !== a.proxies) throw new Error(`only ${conn.synced} of ${a.proxies} proxies synced`);
    const s0 = await lg.stats();
    const routes = Array.from({ length: a.routes }, (_, i) => route(i, a.services));
    const t0 = performance.timeOrigin + performance.now();
    await pl.write(routes);
    const tLast = performance.timeOrigin + performance.now();
    await pl.statusesOf(routes);
    const version = (await pl.rdsVersion())!;
    const r = await lg.awaitVersion(TypeUrl.route, version, 120_000);
    if (r.missing.length) throw new Error(`${r.missing.length} proxies did not ACK`);
    await new Promise((res) => setTimeout(res, 500));
    const s1 = await lg.stats();
    const pushes = (t: string) => (s1.types[t]!.responses - s0.types[t]!.responses) / a.proxies;
    return {
      scenario: "burst: route creations → last proxy ACK",
      proxies: a.proxies,
      routes: a.routes,
      protocol: a.protocol,
      target: "last ACK ≤ 5 s after the last write; ≤ 3 pushes per proxy",
      write_ms: Math.round(tLast - t0),
      last_ack_after_last_write_ms: Math.round(Math.max(...r.acks) - tLast),
      rds_pushes_per_proxy: r2(pushes(TypeUrl.route)),
      all_pushes_per_proxy: r2(Object.keys(s1.types).reduce((n, t) => n + pushes(t), 0)),
    };
  } finally {
    await lg.stop();
    await pl.stop();
  }
}
