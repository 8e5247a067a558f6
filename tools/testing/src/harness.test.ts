import assert from "node:assert/strict";
import { test } from "node:test";
import { Bucket, createLogger } from "@waymark/api";
import { connectBus, getJson, openBucket, putJson, watchBucket } from "@waymark/bus";
import { startNats, tempDir } from "./index.ts";

test("a real NATS with JetStream KV keeps values across a restart", async () => {
  const nats = await startNats({ logDir: tempDir("harness") });
  const log = createLogger("test");
  const nc = await connectBus({ servers: nats.url, name: "test", log });
  try {
    const kv = await openBucket(nc, Bucket.objects);
    await putJson(kv, "a.b", { x: 1 });
    await nats.restart({ kill: true });
    const kv2 = await openBucket(nc, Bucket.objects);
    assert.deepEqual(await getJson(kv2, "a.b"), { x: 1 });
    const seen: string[] = [];
    const w = watchBucket(kv2, ">", { onEntry: (e) => void seen.push(e.key) }, log);
    await w.ready;
    assert.deepEqual(seen, ["a.b"]);
    w.stop();
  } finally {
    await nc.close();
    await nats.stop();
  }
});
