// Publishing snapshots: blobs before manifests, content-addressed versions, no-op rebuilds write
// nothing, removed waypoints lose their manifest, malformed entries are skipped.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { blobKey, manifestKey, objectKey, type WaypointManifest } from "@waymark/api";
import { getJson } from "@waymark/bus";
import { contentHash, decodeResource, TypeUrl } from "@waymark/envoy-proto";
import type { Translator } from "../src/service/translator.ts";
import {
  buildIncluding,
  deleteObject,
  type Env,
  putObject,
  quietLog,
  revisions,
  runTranslator,
  startEnv,
} from "./helpers.ts";
import { gateway, service } from "./toy-translate.ts";

let env: Env;
let t: Translator;
const logs = quietLog();
const wp = { namespace: "shop", name: "waypoint" };
const gw = gateway("shop", "waypoint");
const cart = service("shop", "cart", "waypoint", [80, 8080], "10.0.0.10");

before(async () => {
  env = await startEnv();
  t = await runTranslator(env, { log: logs.log });
});
after(async () => {
  await t.stop();
  await env.close();
});

test("objects in wm-objects become a manifest whose blobs were written first", async () => {
  const observedAt = "2030-01-02T03:04:05.678Z";
  await putObject(env.objects, gw, "2030-01-02T03:04:05.000Z");
  const rev = await putObject(env.objects, cart, observedAt);
  const report = await buildIncluding(t, rev);
  assert.equal(report.ok, true);

  const mEntry = await env.xds.get(manifestKey(wp));
  assert.ok(mEntry && mEntry.operation === "PUT", "manifest written");
  const m = mEntry.json<WaypointManifest>();
  assert.deepEqual(m.waypoint, wp);
  assert.equal(m.observedAt, observedAt, "observedAt is the newest change in the build");
  assert.ok(Date.parse(m.builtAt) > Date.parse("2020-01-01"));
  // Names in code-unit order ("8" sorts before "|").
  assert.deepEqual(Object.keys(m.resources[TypeUrl.cluster] ?? {}), [
    "outbound|8080||cart.shop.svc.cluster.local",
    "outbound|80||cart.shop.svc.cluster.local",
  ]);
  assert.deepEqual(Object.keys(m.versions).sort(), Object.values(TypeUrl).sort());

  for (const [typeUrl, byName] of Object.entries(m.resources)) {
    for (const [name, hash] of Object.entries(byName)) {
      const b = await env.xds.get(blobKey(hash));
      assert.ok(b && b.operation === "PUT", `blob of ${name}`);
      assert.ok(
        b.revision < mEntry.revision,
        `blob ${name} (rev ${b.revision}) before manifest (rev ${mEntry.revision})`,
      );
      assert.equal(contentHash(b.value), hash, "content-addressed");
      const decoded = decodeResource(typeUrl, b.value) as { name?: string; clusterName?: string };
      assert.equal(decoded.name ?? decoded.clusterName, name);
    }
  }
});

test("a rebuild with unchanged content writes nothing", async () => {
  const before = await revisions(env.xds);
  const statusBefore = await revisions(env.status);
  // Same object, observed again (as a watcher relist would): a new wm-objects revision, same content.
  const rev = await putObject(env.objects, cart);
  const report = await buildIncluding(t, rev);
  assert.equal(report.ok, true);
  assert.deepEqual(report.published?.manifestsWritten, []);
  assert.equal(report.published?.blobsWritten, 0);
  assert.deepEqual(await revisions(env.xds), before);
  assert.deepEqual(await revisions(env.status), statusBefore);
});

test("a changed service updates the manifest and writes only new blobs", async () => {
  const before = await getJson<WaypointManifest>(env.xds, manifestKey(wp));
  const blobsBefore = await revisions(env.xds, "blob.>");
  const rev = await putObject(env.objects, service("shop", "cart", "waypoint", [80, 9090], "10.0.0.10"));
  const report = await buildIncluding(t, rev);
  assert.deepEqual(report.published?.manifestsWritten, [manifestKey(wp)]);
  const m = await getJson<WaypointManifest>(env.xds, manifestKey(wp));
  assert.ok(before && m);
  assert.notEqual(m.version, before.version);
  assert.equal(m.versions[TypeUrl.route], before.versions[TypeUrl.route], "untouched type keeps its version");
  // The port-80 cluster is unchanged, so its blob was not rewritten.
  const h80 = m.resources[TypeUrl.cluster]?.["outbound|80||cart.shop.svc.cluster.local"];
  assert.ok(h80);
  assert.equal((await revisions(env.xds, "blob.>")).get(blobKey(h80)), blobsBefore.get(blobKey(h80)));
  // New: one cluster, one CLA, one listener.
  assert.equal(report.published?.blobsWritten, 3);
});

test("a malformed entry is logged and skipped; the service keeps building", async () => {
  await env.objects.put("core.Service.shop.junk", new TextEncoder().encode("{not json"));
  await env.objects.put(
    objectKey({ group: "", kind: "Service", namespace: "shop", name: "misfiled" }),
    new TextEncoder().encode(
      JSON.stringify({ object: cart, observedAt: new Date().toISOString(), source: "kube" }),
    ),
  );
  const rev = await putObject(env.objects, service("shop", "pay", "waypoint", [443], "10.0.0.11"));
  const report = await buildIncluding(t, rev);
  assert.equal(report.ok, true);
  const warned = logs.records
    .filter((r) => r["msg"] === "skipping malformed wm-objects entry")
    .map((r) => r["key"]);
  assert.deepEqual(warned.sort(), ["core.Service.shop.junk", "core.Service.shop.misfiled"]);
  const m = await getJson<WaypointManifest>(env.xds, manifestKey(wp));
  assert.ok(m?.resources[TypeUrl.cluster]?.["outbound|443||pay.shop.svc.cluster.local"]);
  assert.equal(Object.keys(m.resources[TypeUrl.cluster] ?? {}).length, 3, "the misfiled copy added nothing");
});

test("deleting the waypoint's objects deletes its manifest and status", async () => {
  await deleteObject(env.objects, cart);
  const rev = await deleteObject(env.objects, gw);
  const report = await buildIncluding(t, rev);
  assert.deepEqual(report.published?.manifestsDeleted, [manifestKey(wp)]);
  assert.equal(await getJson(env.xds, manifestKey(wp)), undefined);
  assert.equal(
    await getJson(
      env.status,
      objectKey({ group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "shop", name: "waypoint" }),
    ),
    undefined,
  );
});
