// Debounce against real NATS: a burst of changes inside the quiet period is one build; the initial
// load is one build however many objects the bucket holds.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { manifestKey, type WaypointManifest } from "@waymark/api";
import { getJson } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import type { Translator } from "../src/service/translator.ts";
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
  let rev = 0;
  let last = Date.now();
  let longestGap = 0;
  for (let i = 0; i < 50; i++) {
    rev = await putObject(env.objects, service("mesh", `s${i}`, "waypoint", [80, 81], `10.0.1.${i}`));
    longestGap = Math.max(longestGap, Date.now() - last);
    last = Date.now();
  }
  // The premise: no change came a whole quiet period after the one before it (a slow machine may
  // stretch the burst, but only a gap that long may end it).
  assert.ok(longestGap < 1000, `${longestGap} ms between two changes, longer than the quiet period`);
  const report = await buildIncluding(t, rev);
  assert.equal(report.ok, true);
  await sleep(1200);
  assert.equal(t.builds, buildsBefore + 1, "exactly one build for the burst");
  const m = await getJson<WaypointManifest>(env.xds, manifestKey({ namespace: "mesh", name: "waypoint" }));
  assert.equal(Object.keys(m?.resources[TypeUrl.cluster] ?? {}).length, 100);
});

test("a steady stream longer than the maximum delay still builds within it", async () => {
  await t?.stop();
  t = await runTranslator(env, { config: { debounceQuietMs: 200, debounceMaxMs: 500 } });
  const tr = t;
  const buildsBefore = tr.builds;
  const started = Date.now();
  let firstBuildAt: number | undefined;
  tr.events.once("built", () => {
    firstBuildAt = Date.now();
  });
  // One change every 50 ms for 1.2 s: never quiet for 200 ms.
  for (let i = 0; i < 24; i++) {
    await putObject(env.objects, service("mesh", "churn", "waypoint", [1000 + i], "10.0.2.1"));
    await sleep(50);
  }
  assert.ok(firstBuildAt !== undefined, "built during the stream");
  assert.ok(firstBuildAt - started < 1100, `first build after ${firstBuildAt - started} ms`);
  assert.ok(tr.builds - buildsBefore >= 2, `builds during the stream: ${tr.builds - buildsBefore}`);
});
