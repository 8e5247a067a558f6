// The object size limit, against a real NATS server: an object over the limit is not published, the
// version published before stays, and the problem is visible (SourceFile status for files, a log
// line and counters for every source). The NATS server's max_payload lowers the limit.
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  Bucket,
  type Condition,
  createLogger,
  type ObjectEnvelope,
  objectKey,
  type StatusEntry,
} from "@waymark/api";
import { connectBus, type KV, type NatsConnection, openBucket, sourceFileKey } from "@waymark/bus";
import { type NatsServer, startNats, tempDir, waitFor } from "@waymark/testing";
import { ObjectPublisher, type RunningWatcher, startWatcher } from "../src/index.ts";

const logs: Array<Record<string, unknown>> = [];
const log = createLogger("watcher", {}, (line) => {
  logs.push(JSON.parse(line) as Record<string, unknown>);
  if (process.env["WATCHER_TEST_LOGS"]) process.stderr.write(line);
});
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function nats(
  config?: string,
): Promise<{ server: NatsServer; nc: NatsConnection; objects: KV; status: KV }> {
  const server = await startNats({ logDir: tempDir("watcher-size"), ...(config ? { config } : {}) });
  const nc = await connectBus({ servers: server.url, name: "watcher-size-test", log });
  cleanups.push(async () => {
    await nc.close();
    await server.stop();
  });
  return {
    server,
    nc,
    objects: await openBucket(nc, Bucket.objects),
    status: await openBucket(nc, Bucket.status),
  };
}

const svcKey = (name: string) => objectKey({ group: "", kind: "Service", namespace: "default", name });

/** A Service whose annotation makes it about `pad` bytes larger. */
function service(name: string, port: number, pad = 0): string {
  const note = pad ? `  annotations:\n    padding: "${"x".repeat(pad)}"\n` : "";
  return `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n${note}spec:\n  ports:\n  - port: ${port}\n`;
}

async function portOf(kv: KV, key: string): Promise<number | undefined> {
  const e = await kv.get(key);
  if (e?.operation !== "PUT") return undefined;
  const spec = e.json<ObjectEnvelope>().object.spec as { ports?: Array<{ port: number }> };
  return spec.ports?.[0]?.port;
}

async function condition(kv: KV, key: string) {
  const e = await kv.get(key);
  if (e?.operation !== "PUT") return undefined;
  const st = e.json<StatusEntry>().status as { conditions?: Condition[] };
  return st.conditions?.[0];
}

async function watch(dir: string, url: string, maxObjectBytes?: number): Promise<RunningWatcher> {
  const w = await startWatcher(
    { natsUrl: url, source: { type: "dir", path: dir }, ...(maxObjectBytes ? { maxObjectBytes } : {}) },
    log,
  );
  cleanups.push(() => w.stop());
  return w;
}

test("directory: an object over the limit is not published, its previous version stays, its file says why", async () => {
  const { server, objects, status } = await nats();
  const dir = tempDir("watcher-size-src");
  writeFileSync(join(dir, "svc.yaml"), service("web", 80));
  const w = await watch(dir, server.url, 8192);
  await waitFor("web published", async () => (await portOf(objects, svcKey("web"))) === 80);

  // Grows over the limit (and changes its port): refused; port 80 stays in force.
  writeFileSync(join(dir, "svc.yaml"), service("web", 81, 9000));
  const c = await waitFor("the SourceFile condition", () => condition(status, sourceFileKey("svc.yaml")));
  assert.equal(c.status, "False");
  assert.equal(c.reason, "ObjectTooLarge");
  assert.match(
    c.message,
    /^svc\.yaml: Service default\/web is \d+ bytes as published, over the limit of 8192 bytes \(WAYMARK_MAX_OBJECT_BYTES, at most the NATS server's max_payload\); it is not published, and its previous version stays in force$/,
  );
  const bytes = Number(/is (\d+) bytes/.exec(c.message)?.[1]);
  assert.ok(bytes > 8192 && bytes < 8192 + 2000, `size ${bytes}`);
  await w.publisher.idle();
  assert.equal(await portOf(objects, svcKey("web")), 80);
  const line = logs.find((l) => l.msg === "object too large; not published");
  assert.ok(line, "no log line");
  assert.equal(line.limit, 8192);
  assert.equal(line.keptPrevious, true);
  assert.equal(w.publisher.tooLarge, 1);
  assert.equal(w.publisher.refusedTooLarge, 1);

  // A new object over the limit is simply absent; its file's status lists it with the other one.
  writeFileSync(join(dir, "big.yaml"), service("big", 90, 9000));
  const b = await waitFor("big.yaml's condition", () => condition(status, sourceFileKey("big.yaml")));
  assert.match(b.message, /Service default\/big is \d+ bytes .*; it is not published$/);
  assert.equal(await portOf(objects, svcKey("big")), undefined);

  // Back under the limit: published, and the file's status is cleared.
  writeFileSync(join(dir, "svc.yaml"), service("web", 82));
  await waitFor("web back", async () => (await portOf(objects, svcKey("web"))) === 82);
  await waitFor(
    "svc.yaml cleared",
    async () => (await condition(status, sourceFileKey("svc.yaml"))) === undefined,
  );
  assert.equal(w.publisher.tooLarge, 1); // big is still refused
  // Deleting the refused file clears its status too.
  rmSync(join(dir, "big.yaml"));
  await waitFor(
    "big.yaml cleared",
    async () => (await condition(status, sourceFileKey("big.yaml"))) === undefined,
  );
  assert.equal(w.publisher.tooLarge, 0);
});

test("the NATS server's max_payload lowers the limit: the envelope must fit in one message", async () => {
  const { server, nc, objects, status } = await nats("max_payload: 16384\n");
  assert.equal(nc.info?.max_payload, 16384);
  const dir = tempDir("watcher-size-src");
  mkdirSync(join(dir, "a"));
  writeFileSync(join(dir, "a", "svc.yaml"), `${service("small", 80)}---\n${service("large", 80, 20_000)}`);
  const w = await watch(dir, server.url); // configured: the default, 1 MiB
  await waitFor("small published", async () => (await portOf(objects, svcKey("small"))) === 80);
  const c = await waitFor("the condition", () => condition(status, sourceFileKey("a/svc.yaml")));
  assert.match(c.message, /Service default\/large is \d+ bytes as published, over the limit of 15360 bytes/);
  assert.ok(logs.some((l) => l.msg?.toString().startsWith("the NATS server's max_payload is below")));
  // Nothing is stuck retrying a write NATS would refuse.
  await w.publisher.idle();
  assert.equal(w.publisher.pending, 0);
  assert.equal(await portOf(objects, svcKey("large")), undefined);
});

test("any source (as Kubernetes): a too-large version is logged and counted; the previous one stays", async () => {
  const { objects, status } = await nats();
  const p = new ObjectPublisher({ objects, status, log, stampMetadata: false, maxObjectBytes: 4096 });
  await p.load();
  const svc = (port: number, pad: number) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "api", namespace: "default", annotations: { pad: "x".repeat(pad) } },
    spec: { ports: [{ port }] },
  });
  p.replaceAll([{ object: svc(80, 0), origin: "kube" }]);
  await p.idle();
  assert.equal(await portOf(objects, svcKey("api")), 80);
  p.upsert(svc(81, 5000), "kube");
  p.upsert(svc(81, 5000), "kube"); // the same refused version again: one count, one log line
  await p.idle();
  assert.equal(await portOf(objects, svcKey("api")), 80);
  assert.equal(p.tooLarge, 1);
  assert.equal(p.refusedTooLarge, 1);
  // A relist does not delete the previous version either.
  p.replaceAll([{ object: svc(81, 5000), origin: "kube" }]);
  await p.idle();
  assert.equal(await portOf(objects, svcKey("api")), 80);
  const statusKeys: string[] = [];
  for await (const k of await status.keys()) statusKeys.push(k);
  assert.deepEqual(statusKeys, []); // no SourceFile status for a Kubernetes object
  p.upsert(svc(82, 10), "kube");
  await p.idle();
  assert.equal(await portOf(objects, svcKey("api")), 82);
  assert.equal(p.tooLarge, 0);
  await p.close();
});
