// Scenario 1, propagation: one route change with P connected proxies and R routes, through the whole
// pipeline (wm-objects → translator → wm-xds → xds-server → simulated Envoys): time from the write of
// the changed HTTPRoute until the last proxy ACKs the route configuration containing it, p50/p99 over
// `changes` changes, for each P in the list (proxies are added between steps).
//   pnpm bench xds-propagation proxies=100,500,1000,2000,5000 routes=5000 changes=20 workers=4
import { TypeUrl } from "@waymark/envoy-proto";
import { waitFor } from "@waymark/testing";
import { LoadGen, proxySpecs, type XdsProtocol } from "@waymark/xds-loadgen";
import { numbers, parseArgs } from "./lib/args.ts";
import { baseObjects, CLUSTER, route } from "./lib/objects.ts";
import { startPipeline } from "./lib/pipeline.ts";
import { percentile } from "./stats.ts";

const GOAL_P50_MS = 250;
const GOAL_P99_MS = 500;

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, {
    proxies: "100,500",
    routes: 1000,
    services: 5,
    changes: 20,
    workers: 2,
    protocol: "delta",
    pauseMs: 200,
  });
  const pl = await startPipeline("propagation");
  const lg = await LoadGen.start(a.workers);
  const series: { proxies: number; p50_ms: number; p99_ms: number; max_ms: number }[] = [];
  try {
    const routes = Array.from({ length: a.routes }, (_, i) => route(i, a.services));
    await pl.write([...baseObjects(a.services), ...routes]);
    await pl.statusesOf(routes);
    let version = await waitFor("first manifest", () => pl.rdsVersion(), 60_000);
    let connected = 0;
    let gen = 1;
    for (const p of numbers(a.proxies)) {
      const specs = proxySpecs(p, CLUSTER, a.protocol as XdsProtocol).slice(connected);
      const conn = await lg.connect(pl.xds.target, specs, 300_000);
      if (conn.synced !== p) throw new Error(`only ${conn.synced} of ${p} proxies synced`);
      connected = p;
      const samples: number[] = [];
      for (let k = 0; k < a.changes; k++) {
        const i = (++gen * 7919) % a.routes;
        const changed = route(i, a.services, `g${gen}`, gen);
        const t0 = performance.timeOrigin + performance.now();
        await pl.write([changed]);
        const prev = version;
        version = await waitFor(
          "new RDS version",
          async () => {
            const v = await pl.rdsVersion();
            return v !== prev ? v : undefined;
          },
          30_000,
          2,
        );
        const r = await lg.awaitVersion(TypeUrl.route, version!, 60_000);
        if (r.missing.length) throw new Error(`${r.missing.length} proxies did not ACK`);
        samples.push(Math.max(...r.acks) - t0);
        await new Promise((res) => setTimeout(res, a.pauseMs));
      }
      const s = [...samples].sort((x, y) => x - y);
      series.push({
        proxies: p,
        p50_ms: Math.round(percentile(s, 50)),
        p99_ms: Math.round(percentile(s, 99)),
        max_ms: Math.round(s[s.length - 1]!),
      });
    }
  } finally {
    await lg.stop();
    await pl.stop();
  }
  const out: Record<string, unknown> = {
    scenario: "propagation: route write → last proxy ACK (whole pipeline)",
    routes: a.routes,
    services: a.services,
    changes: a.changes,
    protocol: a.protocol,
    target: `p50 ≤ ${GOAL_P50_MS} ms and p99 ≤ ${GOAL_P99_MS} ms at P = 1,000, R = 5,000`,
  };
  for (const s of series) {
    out[`P${s.proxies}_p50_ms`] = s.p50_ms;
    out[`P${s.proxies}_p99_ms`] = s.p99_ms;
  }
  const at1000 = series.find((s) => s.proxies === 1000);
  out["goal_met"] =
    at1000 && a.routes === 5000
      ? at1000.p50_ms <= GOAL_P50_MS && at1000.p99_ms <= GOAL_P99_MS
      : "n/a (the goal is at P = 1,000, R = 5,000)";
  out["series"] = series;
  return out;
}
