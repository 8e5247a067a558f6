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

const put = (r: ProxyRecord) => putJson(proxies, proxyKey(r.replica, r.nodeId), r);

/** A liveness whose clock the test moves. */
function replica(name: string, ttlMs: number) {
  let offset = 0;
  const incarnations: string[] = [];
  const liveness = new ReplicaLiveness(replicas, proxies, log, {
    replica: name,
    ttlMs,
    onIncarnation: (i) => incarnations.push(i),
    now: () => new Date(Date.now() + offset),
  });
  const advance = (ms: number) => {
    offset += ms;
  };
  return { liveness, incarnations, advance };
}

test("a starting replica removes its own old records and those of replicas without a heartbeat", async () => {
  await putJson(replicas, replicaKey("live"), beat("live", "L1", 1000));
  await putJson(replicas, replicaKey("dead"), beat("dead", "D1", 60_000));
  await put(record("live", "kept", "L1"));
  await put(record("dead", "left-to-the-ticks", "D1"));
  await put(record("ghost", "no-heartbeat", "G1"));
  await put(record("legacy", "no-incarnation"));
  await put(record("me", "before-restart", "M0"));

  const me = replica("me", 30_000);
  await me.liveness.start();
  try {
    assert.deepEqual((await listKeys(proxies)).sort(), [
      proxyKey("dead", "left-to-the-ticks"),
      proxyKey("live", "kept"),
    ]);
    const mine = await getJson<ReplicaHeartbeat>(replicas, replicaKey("me"));
    assert.deepEqual(me.incarnations, [mine?.incarnation]);
    assert.notEqual(mine?.incarnation, "M0");
  } finally {
    await me.liveness.stop();
  }
  assert.equal(
    await getJson(replicas, replicaKey("me")),
    undefined,
    "a stopping replica removes its heartbeat",
  );
  await deleteAll();
});

test("a replica judges another dead only after beating without a break for the other's TTL", async () => {
  await putJson(replicas, replicaKey("quiet"), beat("quiet", "Q1", 0));
  await put(record("quiet", "p1", "Q1"));
  await put(record("quiet", "p2", "Q0")); // of an older incarnation: not the sweeper's to judge
  const me = replica("judge", 60_000);
  await me.liveness.start();
  try {
    // Both were cut off for 70 s (say NATS was down): "quiet" has not beaten yet, and neither had
    // this one. Its own break means it cannot tell a dead replica from a late one.
    me.advance(70_000);
    await me.liveness.tick();
    assert.equal((await listKeys(proxies)).length, 2, "nothing removed right after a break");
    // 35 s of unbroken beats later (more than quiet's 30 s TTL), quiet is gone.
    me.advance(35_000);
    await me.liveness.tick();
    assert.deepEqual(await listKeys(proxies), [proxyKey("quiet", "p2")]);
    assert.equal(await getJson(replicas, replicaKey("quiet")), undefined);
  } finally {
    await me.liveness.stop();
  }
  await deleteAll();
});

async function deleteAll(): Promise<void> {
  for (const kv of [proxies, replicas]) for (const k of await listKeys(kv)) await kv.delete(k);
}
