// Replica heartbeats against a real NATS server: what a starting replica removes from wm-proxies, and
// what it leaves to the live replicas that own it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  Bucket,
  createLogger,
  type ProxyRecord,
  proxyKey,
  type ReplicaHeartbeat,
  replicaKey,
} from "@waymark/api";
import {
  connectBus,
  getJson,
  type KV,
  listKeys,
  type NatsConnection,
  openBucket,
  putJson,
} from "@waymark/bus";
import { type NatsServer, startNats } from "@waymark/testing";
import { ReplicaLiveness } from "../src/replicas.ts";

const log = createLogger("replicas-test", {}, () => {});
let nats: NatsServer;
let nc: NatsConnection;
let proxies: KV;
let replicas: KV;

before(async () => {
  nats = await startNats();
  nc = await connectBus({ servers: nats.url, name: "test", log });
  [proxies, replicas] = await Promise.all([openBucket(nc, Bucket.proxies), openBucket(nc, Bucket.replicas)]);
});

after(async () => {
  await nc?.close();
  await nats?.stop();
});

const record = (replica: string, nodeId: string, incarnation?: string): ProxyRecord =>
  ({
    nodeId,
    waypoint: null,
    replica,
    protocol: "delta",
    connectedAt: "",
    updatedAt: "",
    ...(incarnation !== undefined ? { incarnation } : {}),
    types: {},
  }) as ProxyRecord;

const beat = (replica: string, incarnation: string, ageMs: number): ReplicaHeartbeat => ({
  replica,
  incarnation,
  beatAt: new Date(Date.now() - ageMs).toISOString(),
  ttlMs: 30_000,
});

test("a starting replica removes its own old records and those no live replica owns", async () => {
  const put = (r: ProxyRecord) => putJson(proxies, proxyKey(r.replica, r.nodeId), r);
  await putJson(replicas, replicaKey("live"), beat("live", "L1", 1000));
  await putJson(replicas, replicaKey("dead"), beat("dead", "D1", 60_000));
  await put(record("live", "kept", "L1"));
  await put(record("dead", "gone", "D1"));
  await put(record("ghost", "no-heartbeat", "G1"));
  await put(record("legacy", "no-incarnation"));
  await put(record("me", "before-restart", "M0"));

  const incarnations: string[] = [];
  const me = new ReplicaLiveness(replicas, proxies, log, {
    replica: "me",
    ttlMs: 30_000,
    onIncarnation: (i) => incarnations.push(i),
  });
  await me.start();
  try {
    assert.deepEqual(await listKeys(proxies), [proxyKey("live", "kept")]);
    assert.deepEqual((await listKeys(replicas)).sort(), [replicaKey("live"), replicaKey("me")]);
    const mine = await getJson<ReplicaHeartbeat>(replicas, replicaKey("me"));
    assert.deepEqual(incarnations, [mine?.incarnation]);
    assert.notEqual(mine?.incarnation, "M0");
  } finally {
    await me.stop();
  }
  assert.equal(
    await getJson(replicas, replicaKey("me")),
    undefined,
    "a stopping replica removes its heartbeat",
  );
});
