// Publishing snapshots: blobs before manifests, content-addressed versions, no-op rebuilds write
// nothing, removed waypoints lose their manifest, malformed entries are skipped.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  Bucket,
  blobKey,
  type InfraEntry,
  infraKey,
  manifestKey,
  objectKey,
  type WaypointManifest,
} from "@waymark/api";
import { getJson, openBucket } from "@waymark/bus";
import { contentHash, decodeResource, TypeUrl } from "@waymark/envoy-proto";
import { SnapshotPublisher } from "../src/service/publisher.ts";
import type { Translator } from "../src/service/translator.ts";
import type { WaypointInfra } from "../src/translate/types.ts";
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

test("infra: the last publish's list again writes nothing; a failed write is written by the next publish", async () => {
  const kv = await openBucket(env.nc, Bucket.infra);
  let failPuts = 0;
  // The real bucket, with its next puts refused when the test asks for it.
  const flaky = new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === "put")
        return (k: string, v: Uint8Array) => {
          if (failPuts > 0) {
            failPuts--;
            return Promise.reject(new Error("refused by the test"));
          }
          return target.put(k, v);
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const p = new SnapshotPublisher({
    xds: env.xds,
    status: env.status,
    log: logs.log,
    blobGraceMs: 60_000,
    infra: flaky,
  });
  await p.load(Date.now());
  const objects = (name: string, replicas: number) => [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: "infra-test" },
      spec: { replicas },
    },
  ];
  const a = { namespace: "infra-test", name: "a" };
  const b = { namespace: "infra-test", name: "b" };
  const publish = (infra: WaypointInfra[]) =>
    p.publish({ snapshots: [], keep: new Set(), statuses: [], infra, observedAt: undefined }, Date.now());
  const first = [
    { waypoint: a, objects: objects("a", 1) },
    { waypoint: b, objects: objects("b", 1) },
  ];
  assert.equal((await publish(first)).infraWritten, 2);
  const revs = await revisions(kv);
  assert.equal((await publish(first)).infraWritten, 0, "the same list");
  assert.deepEqual(await revisions(kv), revs);

  // b changes, and its write fails: the publish throws, and the next one (with the same list) writes it.
  const second = [first[0]!, { waypoint: b, objects: objects("b", 2) }];
  failPuts = 1;
  await assert.rejects(publish(second), /refused by the test/);
  assert.equal((await publish(second)).infraWritten, 1, "the failed write, again");
  assert.deepEqual((await getJson<InfraEntry>(kv, infraKey(b)))?.objects, objects("b", 2));
  assert.equal((await publish(second)).infraWritten, 0);
  // A new list with the same objects writes nothing either (compared by content).
  assert.equal((await publish([...second])).infraWritten, 0);
  assert.equal((await publish([second[1]!])).infraDeleted, 1, "a waypoint gone");
  assert.notEqual((await kv.get(infraKey(a)))?.operation, "PUT");
});
