// Debounce against real NATS: a burst of changes inside the quiet period is one build; the initial
// load is one build however many objects the bucket holds; a stream that is never quiet is built
// every maximum delay.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { manifestKey, type WaypointManifest } from "@waymark/api";
import { getJson } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import type { BuildReport, Translator } from "../src/service/translator.ts";
import { buildIncluding, type Env, putObject, runTranslator, sleep, startEnv } from "./helpers.ts";
import { gateway, service } from "./toy-translate.ts";

let env: Env;
let t: Translator | undefined;

before(async () => {
  env = await startEnv();
});
after(async () => {
  await t?.stop();
  await env.close();
});

test("the initial load of many objects is a single build", async () => {
  await putObject(env.objects, gateway("mesh", "waypoint"));
  for (let i = 0; i < 30; i++)
    await putObject(env.objects, service("mesh", `s${i}`, "waypoint", [80], `10.0.1.${i}`));
  t = await runTranslator(env, { config: { debounceQuietMs: 1000, debounceMaxMs: 10_000 } });
  assert.equal(t.builds, 1);
  assert.equal(t.lastBuild?.objects, 31);
  const m = await getJson<WaypointManifest>(env.xds, manifestKey({ namespace: "mesh", name: "waypoint" }));
  assert.equal(Object.keys(m?.resources[TypeUrl.cluster] ?? {}).length, 30);
});

test("a burst of 50 changes within the quiet period is one build", async () => {
  assert.ok(t);
  const buildsBefore = t.builds;
  // All 50 are sent at once, so the translator receives them back to back (the quiet period is 1 s):
  // the burst's premise holds by construction, not by measuring the gaps between awaited puts.
  const revs = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      putObject(env.objects, service("mesh", `s${i}`, "waypoint", [80, 81], `10.0.1.${i}`)),
    ),
  );
  const rev = Math.max(...revs);
  const report = await buildIncluding(t, rev);
  assert.equal(report.ok, true);
  // The first build after the burst already held its last change: one build, and nothing left to
  // build (a later one could only come from a change after the burst, and there is none).
  assert.equal(report.seq, buildsBefore + 1, "exactly one build for the burst");
  assert.equal(report.revision, rev);
  assert.equal(t.builds, buildsBefore + 1);
  const m = await getJson<WaypointManifest>(env.xds, manifestKey({ namespace: "mesh", name: "waypoint" }));
  assert.equal(Object.keys(m?.resources[TypeUrl.cluster] ?? {}).length, 100);
});

test("a steady stream longer than the maximum delay still builds during it", async () => {
  await t?.stop();
  // The quiet period is longer than the whole test: any build during the stream is the maximum
  // delay's doing, however the machine paces the changes.
  t = await runTranslator(env, { config: { debounceQuietMs: 60_000, debounceMaxMs: 500 } });
  const tr = t;
  const built: BuildReport[] = [];
  tr.events.on("built", (r) => void built.push(r));
  let rev = 0;
  // One change every 50 ms until two builds happened while the stream went on.
  for (let i = 0; built.length < 2; i++) {
    assert.ok(i < 600, `only ${built.length} builds in ${i} changes`);
    rev = await putObject(env.objects, service("mesh", "churn", "waypoint", [1000 + i], "10.0.2.1"));
    await sleep(50);
  }
  const last = await putObject(env.objects, service("mesh", "churn", "waypoint", [999], "10.0.2.1"));
  // Each build held only part of the stream: it came before the stream ended.
  for (const b of built) assert.ok(b.revision <= rev && b.revision < last, `build at revision ${b.revision}`);
  assert.ok(built[0]!.revision < built[1]!.revision);
});
