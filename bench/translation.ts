// Scenario 5, translation: the translator's work for R routes on one waypoint, in process: a full
// build (translate + encode every resource, cold caches) and a one-route change (translate with the
// translation memo + encode with the warm encode cache, as the service does between builds).
//   pnpm bench translation routes=1000,5000 services=5 changes=20
import { DEFAULT_SETTINGS, TranslationMemo, translate } from "@waymark/translator";
import { buildSnapshots, EncodeCache } from "../services/translator/src/service/build.ts";
import { numbers, parseArgs } from "./lib/args.ts";
import { baseObjects, objectMap, route } from "./lib/objects.ts";
import { r2 } from "./lib/targets.ts";
import { percentile } from "./stats.ts";

const settings = { ...DEFAULT_SETTINGS, bindAddress: "127.0.0.1" };

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv, { routes: "1000,5000", services: 5, changes: 20, fullRuns: 5 });
  const out: Record<string, unknown> = {
    scenario: "translation: full build and one-route change, one waypoint",
    services: a.services,
    target: "full build of 1,000 routes ≤ 100 ms; one-route change at 5,000 routes ≤ 5 ms",
  };
  for (const r of numbers(a.routes)) {
    const objects = [...baseObjects(a.services)];
    for (let i = 0; i < r; i++) objects.push(route(i, a.services));
    const map = objectMap(objects);
    const full: number[] = [];
    let cache = new EncodeCache();
    let memo = new TranslationMemo();
    for (let k = 0; k < a.fullRuns; k++) {
      cache = new EncodeCache();
      memo = new TranslationMemo();
      const t0 = performance.now();
      const res = buildSnapshots(translate({ objects: map }, settings, memo), cache);
      full.push(performance.now() - t0);
      if (res.failures.length) throw new Error(`build failed: ${String(res.failures[0]!.error)}`);
    }
    const inc: number[] = [];
    const translateOnly: number[] = [];
    // Each change edits one route of the previous state, so each translation differs from the one
    // before it in exactly one route (as when a user edits routes one after the other).
    let current = map;
    for (let k = 1; k <= a.changes; k++) {
      const i = (k * 7919) % r;
      const changed = route(i, a.services, `c${k}`, 1 + k);
      const next = new Map(current);
      next.set([...objectMap([changed]).keys()][0]!, changed);
      current = next;
      const t0 = performance.now();
      const output = translate({ objects: next }, settings, memo);
      const t1 = performance.now();
      buildSnapshots(output, cache);
      inc.push(performance.now() - t0);
      translateOnly.push(t1 - t0);
    }
    const p50 = (xs: number[]) =>
      r2(
        percentile(
          [...xs].sort((x, y) => x - y),
          50,
        ),
      );
    out[`full_${r}_p50_ms`] = p50(full);
    out[`one_route_${r}_p50_ms`] = p50(inc);
    out[`one_route_${r}_translate_p50_ms`] = p50(translateOnly);
    out[`one_route_${r}_p99_ms`] = r2(
      percentile(
        [...inc].sort((x, y) => x - y),
        99,
      ),
    );
  }
  return out;
}
