// openBucket's replicas (WAYMARK_NATS_REPLICAS) against real nats-servers: a JetStream cluster of
// three, and a single server.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Bucket, ConfigError, createLogger } from "@waymark/api";
import { connectBus, getJson, type NatsConnection, openBucket, putJson } from "@waymark/bus";
import { type NatsCluster, startNats, startNatsCluster, tempDir, waitFor } from "./index.ts";

const quiet = () => {
  const lines: string[] = [];
  return { lines, log: createLogger("test", {}, (l) => void lines.push(l)) };
};

describe("openBucket on a JetStream cluster of three", { timeout: 120_000 }, () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;
  before(async () => {
    cluster = await startNatsCluster({ logDir: tempDir("bus-replicas") });
    nc = await connectBus({ servers: cluster.url, name: "test", log: quiet().log });
  });
  after(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  test("a new bucket gets the replicas asked for, on as many servers", async () => {
    const kv = await openBucket(nc, Bucket.objects, undefined, { replicas: 3 });
    const st = await kv.status();
    assert.equal(st.replicas, 3);
    // Every server holds a replica (the leader and two followers).
    const si = st.streamInfo;
    assert.equal(1 + (si.cluster?.replicas?.length ?? 0), 3);
  });

  test("an existing bucket with other replicas: a reader uses it as it is, a writer scales it and keeps its entries", async () => {
    const first = await openBucket(nc, Bucket.status, undefined, { replicas: 1 });
    await putJson(first, "a.b", { n: 1 });
    const reader = quiet();
    const asReader = await openBucket(nc, Bucket.status, reader.log, { replicas: 3 });
    assert.equal((await asReader.status()).replicas, 1);
    assert.match(reader.lines.join(""), /bucket has other replicas than asked; its writers scale it/);
    const writer = quiet();
    const asWriter = await openBucket(nc, Bucket.status, writer.log, { replicas: 3, writer: true });
    assert.equal((await asWriter.status()).replicas, 3);
    assert.match(writer.lines.join(""), /"msg":"bucket scaled".*"from":1,"to":3/);
    assert.deepEqual(await getJson(asWriter, "a.b"), { n: 1 });
    // And back down.
    const down = await openBucket(nc, Bucket.status, undefined, { replicas: 1, writer: true });
    assert.equal((await down.status()).replicas, 1);
  });

  test("more replicas than servers: a ConfigError naming WAYMARK_NATS_REPLICAS, after the retries", async () => {
    await assert.rejects(
      openBucket(nc, Bucket.infra, undefined, { replicas: 5, attempts: 2 }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /bucket wm-infra: NATS has too few JetStream servers up to keep a bucket with 5 replicas \(WAYMARK_NATS_REPLICAS=5\)/.test(
          e.message,
        ) &&
        e.fix.includes("nats.replicas"),
    );
  });

  test("a bucket of three replicas keeps its entries and takes writes when its leader is killed", async () => {
    const kv = await openBucket(nc, Bucket.proxies, undefined, { replicas: 3 });
    await putJson(kv, "before", { n: 1 });
    const leader = await waitFor("the stream's leader", () => cluster.streamLeader("KV_wm-proxies"));
    const node = cluster.nodes.find((n) => n.name === leader)!;
    await node.kill();
    // A new leader among the two left, then the write goes through.
    await waitFor(
      "a new leader",
      async () => (await cluster.streamLeader("KV_wm-proxies").catch(() => leader)) !== leader,
      30_000,
    );
    await waitFor("a write after the kill", () => putJson(kv, "after", { n: 2 }), 30_000, 200);
    assert.deepEqual(await getJson(kv, "before"), { n: 1 });
    assert.deepEqual(await getJson(kv, "after"), { n: 2 });
    await node.start();
  });
});

test("replicas a single server cannot keep: a ConfigError at once", async () => {
  const nats = await startNats({ logDir: tempDir("bus-replicas-single") });
  const nc = await connectBus({ servers: nats.url, name: "test", log: quiet().log });
  try {
    await assert.rejects(
      openBucket(nc, Bucket.objects, undefined, { replicas: 3 }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.startsWith(
          "bucket wm-objects: NATS is a single server: it cannot keep a bucket with 3 replicas (WAYMARK_NATS_REPLICAS=3)",
        ),
    );
    // The default, 1, works.
    assert.equal((await (await openBucket(nc, Bucket.objects)).status()).replicas, 1);
  } finally {
    await nc.close();
    await nats.stop();
  }
});
