// KvWriter (@waymark/bus) against a real NATS with JetStream: what it stores, and how it fails.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Bucket, createLogger } from "@waymark/api";
import { connectBus, KvPutError, KvWriter, openBucket } from "@waymark/bus";
import { pauseProcess, startNats, tempDir } from "./index.ts";

test("KvWriter: puts land in the bucket with their revisions; failures are errors, not hangs", async () => {
  const nats = await startNats({ logDir: tempDir("kv-writer") });
  const log = createLogger("test");
  const nc = await connectBus({ servers: nats.url, name: "test", log });
  const writer = new KvWriter(nc, Bucket.proxies, 1000);
  try {
    const kv = await openBucket(nc, Bucket.proxies);
    const rev = await writer.put("a.b", JSON.stringify({ x: 1 }));
    const e = await kv.get("a.b");
    assert.equal(e?.revision, rev);
    assert.deepEqual(e?.json(), { x: 1 });

    // Many at once: each resolves with its own revision, and the last value of a key wins.
    const revs = await Promise.all(
      Array.from({ length: 500 }, (_, i) => writer.put(`k.${i % 50}`, String(i))),
    );
    assert.equal(new Set(revs).size, 500);
    assert.equal((await kv.get("k.7"))?.string(), "457");

    // No stream behind the subject: refused by the server's answer (503, no responders), not by the
    // writer's timeout, which is a minute away here and would say "no ack in time".
    const lost = new KvWriter(nc, "no-such-bucket", 60_000);
    await assert.rejects(lost.put("a", "1"), (e: unknown) => {
      assert.ok(e instanceof KvPutError);
      assert.match(e.message, /503/);
      assert.doesNotMatch(e.message, /no ack in time/);
      return true;
    });
    lost.close();

    // NATS not answering: the put fails once its time is up; answering again, puts work again.
    await pauseProcess(nats.proc.child);
    try {
      await assert.rejects(writer.put("a.b", "2"), /no ack in time/);
    } finally {
      nats.proc.child.kill("SIGCONT");
    }
    const r = await writer.put("a.b", "3");
    assert.equal((await kv.get("a.b"))?.revision, r);
    assert.equal((await kv.get("a.b"))?.string(), "3");
  } finally {
    writer.close();
    await nc.close();
    await nats.stop();
  }
});
