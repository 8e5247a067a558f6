// Versions come from content: two translators that never talk, on two NATS servers, given the same
// objects (observed at different times, put in a different order) publish identical manifests.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { manifestKey, type WaypointManifest } from "@waymark/api";
import { getJson } from "@waymark/bus";
import type { Translator } from "../src/service/translator.ts";
import { buildIncluding, type Env, putObject, runTranslator, startEnv } from "./helpers.ts";
import { gateway, type KubeObject, service } from "./toy-translate.ts";

const objects: KubeObject[] = [
  gateway("a", "waypoint"),
  gateway("b", "wp"),
  service("a", "one", "waypoint", [80, 81], "10.1.0.1"),
  service("a", "two", "waypoint", [5432], "10.1.0.2"),
  service("b", "three", "wp", [8080], "10.2.0.3"),
];
const runs: Array<{ env: Env; t: Translator }> = [];

before(async () => {
  for (let i = 0; i < 2; i++) {
    const env = await startEnv();
    runs.push({ env, t: await runTranslator(env) });
  }
});
after(async () => {
  for (const r of runs) {
    await r.t.stop();
    await r.env.close();
  }
});

test("two independent translators publish the same manifest versions for the same input", async () => {
  const [r1, r2] = runs;
  assert.ok(r1 && r2);
  let rev = 0;
  for (const o of objects) rev = await putObject(r1.env.objects, o, "2030-01-01T00:00:00.000Z");
  await buildIncluding(r1.t, rev);
  for (const o of [...objects].reverse()) rev = await putObject(r2.env.objects, o);
  await buildIncluding(r2.t, rev);

  for (const w of [
    { namespace: "a", name: "waypoint" },
    { namespace: "b", name: "wp" },
  ]) {
    const m1: WaypointManifest | undefined = await getJson<WaypointManifest>(r1.env.xds, manifestKey(w));
    const m2: WaypointManifest | undefined = await getJson<WaypointManifest>(r2.env.xds, manifestKey(w));
    assert.ok(m1 && m2, `both published ${w.namespace}/${w.name}`);
    assert.equal(m1.version, m2.version);
    assert.deepEqual(m1.versions, m2.versions);
    assert.deepEqual(m1.resources, m2.resources);
    assert.notEqual(m1.observedAt, m2.observedAt, "different observation times did not matter");
  }
  const a = await getJson<WaypointManifest>(r1.env.xds, manifestKey({ namespace: "a", name: "waypoint" }));
  const b = await getJson<WaypointManifest>(r1.env.xds, manifestKey({ namespace: "b", name: "wp" }));
  assert.notEqual(a?.version, b?.version, "different content, different version");
});
