// Blob garbage collection after a grace period, and restarts: a restarted translator rewrites
// nothing unchanged, and gives unreferenced blobs it finds a fresh grace period.
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { blobKey, manifestKey, type WaypointManifest } from "@waymark/api";
import { getJson } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import type { Translator } from "../src/service/translator.ts";
import { buildIncluding, type Env, putObject, revisions, runTranslator, sleep, startEnv } from "./helpers.ts";
import { gateway, service } from "./toy-translate.ts";

const GRACE = 800;
let env: Env;
let t: Translator;
const wp = { namespace: "gc", name: "waypoint" };

const hashes = (m: WaypointManifest | undefined) =>
  new Set(Object.values(m?.resources ?? {}).flatMap((byName) => Object.values(byName)));
const blobExists = async (h: string) => (await env.xds.get(blobKey(h)))?.operation === "PUT";
const manifest = () => getJson<WaypointManifest>(env.xds, manifestKey(wp));

before(async () => {
  env = await startEnv();
  t = await runTranslator(env, { config: { blobGraceMs: GRACE } });
  await putObject(env.objects, gateway("gc", "waypoint"));
  const rev = await putObject(env.objects, service("gc", "db", "waypoint", [5432], "10.9.0.1"));
  await buildIncluding(t, rev);
});
after(async () => {
  await t.stop();
  await env.close();
});

test("blobs no manifest refers to are deleted after the grace period, not before", async () => {
  const old = hashes(await manifest());
  const rev = await putObject(env.objects, service("gc", "db", "waypoint", [5433], "10.9.0.1"));
  await buildIncluding(t, rev);
  const unreferencedAt = Date.now();
  const current = hashes(await manifest());
  const orphans = [...old].filter((h) => !current.has(h));
  assert.equal(orphans.length, 3, "old cluster, CLA and listener");
  for (const h of orphans) assert.ok(await blobExists(h), "still there right after the change");

  const swept = new Set<string>();
  t.events.on("swept", (hs) => {
    for (const h of hs) swept.add(h);
  });
  await waitFor("orphans collected", async () => {
    for (const h of orphans) if (await blobExists(h)) return false;
    return true;
  });
  const elapsed = Date.now() - unreferencedAt;
  assert.ok(elapsed >= GRACE - 50, `collected after ${elapsed} ms (grace ${GRACE} ms)`);
  assert.deepEqual([...swept].sort(), orphans.sort());
  for (const h of current) assert.ok(await blobExists(h), "referenced blobs stay");
});

test("a restarted translator rewrites nothing that has not changed", async () => {
  const xdsBefore = await revisions(env.xds);
  const statusBefore = await revisions(env.status);
  await t.stop();
  t = await runTranslator(env, { config: { blobGraceMs: GRACE } });
  assert.equal(t.lastBuild?.ok, true);
  assert.deepEqual(t.lastBuild?.published?.manifestsWritten, []);
  await sleep(GRACE + 200);
  assert.deepEqual(await revisions(env.xds), xdsBefore);
  assert.deepEqual(await revisions(env.status), statusBefore);
});

test("unreferenced blobs found at start get a fresh grace period", async () => {
  const old = hashes(await manifest());
  const rev = await putObject(env.objects, service("gc", "db", "waypoint", [5434], "10.9.0.1"));
  await buildIncluding(t, rev);
  await t.stop();
  const current = hashes(await manifest());
  const orphans = [...old].filter((h) => !current.has(h));
  assert.equal(orphans.length, 3);

  // Let most of the first grace period pass while no translator runs, then restart.
  await sleep(GRACE - 200);
  const restartedAt = Date.now();
  t = await runTranslator(env, { config: { blobGraceMs: GRACE } });
  const [deleted] = (await once(t.events, "swept")) as [string[]];
  const elapsed = Date.now() - restartedAt;
  assert.ok(elapsed >= GRACE - 50, `collected ${elapsed} ms after restart (grace ${GRACE} ms)`);
  assert.deepEqual(deleted.sort(), orphans.sort());
  for (const h of orphans) assert.equal(await blobExists(h), false);
  for (const h of current) assert.ok(await blobExists(h));
});
