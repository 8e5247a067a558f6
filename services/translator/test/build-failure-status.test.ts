// A waypoint whose snapshot cannot be built keeps its last good snapshot, and its Gateway's status says
// why (Programmed=False, reason Invalid): a resource larger than the NATS server's max_payload (real
// nats-server with max_payload 16 KiB), and a resource that does not encode.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Bucket, type Condition, ERROR_CODES, manifestKey, objectKey, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { type NatsServer, startNats } from "@waymark/testing";
import { startTranslator, type Translator } from "../src/service/translator.ts";
import { buildIncluding, putObject, quietLog, testConfig } from "./helpers.ts";
import { BAD_CLUSTER, gateway, service, toyTranslate } from "./toy-translate.ts";

let nats: NatsServer;
let nc: NatsConnection;
let objects: KV;
let xds: KV;
let status: KV;
let t: Translator;
const logs = quietLog();

before(async () => {
  nats = await startNats({ config: "max_payload: 16384\n" });
  nc = await connectBus({ servers: nats.url, name: "test", log: logs.log });
  [objects, xds, status] = await Promise.all([
    openBucket(nc, Bucket.objects),
    openBucket(nc, Bucket.xds),
    openBucket(nc, Bucket.status),
  ]);
  assert.equal(nc.info?.max_payload, 16384);
  t = await startTranslator({
    config: testConfig(),
    log: logs.log,
    buckets: { objects, xds, status },
    translate: toyTranslate,
    maxPayload: nc.info!.max_payload,
  });
  await t.ready;
});

after(async () => {
  await t?.stop();
  await nc?.close();
  await nats?.stop();
});

const gwKey = (name: string) =>
  objectKey({ group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "app", name });
const programmed = async (name: string) =>
  ((await getJson<StatusEntry>(status, gwKey(name)))?.status["conditions"] as Condition[] | undefined)?.find(
    (c) => c.type === "Programmed",
  );
const manifestVersion = async (name: string) =>
  (await getJson<{ version: string }>(xds, manifestKey({ namespace: "app", name })))?.version;

test("a resource too large for NATS: Programmed=False naming it, its size and the limit; others publish", async () => {
  await putObject(objects, gateway("app", "big"));
  await putObject(objects, gateway("app", "other"));
  const r1 = await putObject(objects, service("app", "svc", "big", [80], "10.0.0.1"));
  await buildIncluding(t, r1);
  const good = await manifestVersion("big");
  assert.ok(good);
  assert.equal(await programmed("big"), undefined, "the toy translation sets no Programmed condition");

  // 200 ports: the waypoint's listener (one filter chain per port) is far larger than 16 KiB.
  const ports = Array.from({ length: 200 }, (_, i) => 1000 + i);
  const r2 = await putObject(objects, service("app", "svc", "big", ports, "10.0.0.1"));
  await putObject(objects, service("app", "side", "other", [81], "10.0.0.2"));
  const rep = await buildIncluding(t, r2);
  assert.deepEqual(rep.failed, ["app/big"]);
  const c = await programmed("big");
  assert.equal(c?.status, "False");
  assert.equal(c?.reason, "Invalid");
  assert.equal(c?.observedGeneration, 1);
  assert.match(
    c?.message ?? "",
    /^The waypoint's configuration could not be built, so it keeps serving the last configuration that was: Listener main: resource main encodes to \d+ bytes, more than a NATS message holds \(15360 bytes: the server's max_payload less 1024\)/,
  );
  assert.match(
    c?.message ?? "",
    /last good snapshot\. Raise the NATS server's max_payload, or attach fewer/,
    "says what to fix",
  );
  assert.ok(c?.lastTransitionTime, "stamped like any condition");
  assert.equal(await manifestVersion("big"), good, "the last good snapshot stays");
  assert.equal(await programmed("other"), undefined, "the other waypoint is untouched");

  // Fixed: the condition goes (the toy translation sets none), the new snapshot is published.
  const r3 = await putObject(objects, service("app", "svc", "big", [80, 81], "10.0.0.1"));
  const ok = await buildIncluding(t, r3);
  assert.deepEqual(ok.failed, []);
  assert.equal(await programmed("big"), undefined);
  assert.notEqual(await manifestVersion("big"), good);
});

test("a resource that does not encode: the same condition, with the encoder's error", async () => {
  const r = await putObject(objects, service("app", "svc", "big", [80], "10.0.0.1", { [BAD_CLUSTER]: "" }));
  const rep = await buildIncluding(t, r);
  assert.deepEqual(rep.failed, ["app/big"]);
  const c = await programmed("big");
  assert.equal(c?.status, "False");
  assert.equal(c?.reason, "Invalid");
  assert.match(
    c?.message ?? "",
    /could not be built.*: Cluster outbound\|80\|\|svc\.app\.svc\.cluster\.local: .*noSuchField/,
  );
  assert.ok(c?.message?.endsWith(ERROR_CODES["invalid-resource"].fix), `says what to fix: ${c?.message}`);
});
