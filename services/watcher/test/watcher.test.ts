// The watcher against a real NATS server and a real directory.
import assert from "node:assert/strict";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { Bucket, createLogger, type ObjectEnvelope, objectKey, type StatusEntry } from "@waymark/api";
import {
  connectBus,
  deleteBuckets,
  type KV,
  type NatsConnection,
  openBucket,
  sourceFileKey,
} from "@waymark/bus";
import { type NatsServer, startNats, tempDir, waitFor } from "@waymark/testing";
import { type RunningWatcher, startWatcher } from "../src/index.ts";
import { kubeTimestamp } from "../src/metadata.ts";

let nats: NatsServer;
let nc: NatsConnection;
let objects: KV;
let status: KV;
let dir: string;
const logs: Array<Record<string, unknown>> = [];
const log = createLogger("watcher", {}, (line) => {
  logs.push(JSON.parse(line) as Record<string, unknown>);
  if (process.env["WATCHER_TEST_LOGS"]) process.stderr.write(line);
});
const running: RunningWatcher[] = [];
// How long a test waits for a change to land in NATS: generous, since it only bounds a wait (a change
// takes tens of milliseconds; the log records how long). Whether the file watch or the 10 s rescan saw
// a change is not what these tests tell.
const LANDS_MS = 10_000;

before(async () => {
  nats = await startNats({ logDir: tempDir("watcher-test") });
  nc = await connectBus({ servers: nats.url, name: "watcher-test", log });
});

after(async () => {
  await nc.close();
  await nats.stop();
});

beforeEach(async () => {
  for (const w of running.splice(0)) await w.stop();
  await deleteBuckets(nc);
  objects = await openBucket(nc, Bucket.objects);
  status = await openBucket(nc, Bucket.status);
  dir = tempDir("watcher-src");
  logs.length = 0;
});

async function start(): Promise<RunningWatcher> {
  const w = await startWatcher({ natsUrl: nats.url, source: { type: "dir", path: dir } }, log);
  running.push(w);
  return w;
}

async function stop(w: RunningWatcher): Promise<void> {
  running.splice(running.indexOf(w), 1);
  await w.stop();
}

const svcKey = (name: string, ns = "default") =>
  objectKey({ group: "", kind: "Service", namespace: ns, name });
const nsKey = (name: string) => objectKey({ group: "", kind: "Namespace", namespace: "", name });

function service(name: string, port: number, extra = ""): string {
  return `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n${extra}spec:\n  ports:\n  - port: ${port}\n`;
}
const namespace = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;

function write(rel: string, text: string): void {
  const path = join(dir, rel);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
}

async function entry(kv: KV, key: string) {
  const e = await kv.get(key);
  return e?.operation === "PUT" ? { revision: e.revision, value: e.json<ObjectEnvelope>() } : undefined;
}

async function port(key: string): Promise<number | undefined> {
  const e = await entry(objects, key);
  const spec = e?.value.object.spec as { ports?: Array<{ port: number }> } | undefined;
  return spec?.ports?.[0]?.port;
}

async function keys(kv: KV): Promise<string[]> {
  const out: string[] = [];
  for await (const k of await kv.keys()) out.push(k);
  return out.sort();
}

test("initial load publishes every object with stamped metadata", async () => {
  write("a.yaml", `${service("one", 80)}---\n${namespace("httpbin")}`);
  write(
    "sub/b.yml",
    service(
      "two",
      81,
      "  namespace: httpbin\n  managedFields: [{manager: x}]\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{}'\n",
    ),
  );
  write(".hidden.yaml", service("hidden", 1));
  write("c.yaml~", service("backup", 1));
  write("notes.txt", "not yaml: [");
  const w = await start();
  await w.publisher.idle();
  assert.deepEqual(await keys(objects), [nsKey("httpbin"), svcKey("one"), svcKey("two", "httpbin")].sort());
  const one = await entry(objects, svcKey("one"));
  assert.ok(one);
  assert.equal(one.value.source, "file:a.yaml#0");
  assert.match(one.value.observedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(one.value.object.metadata.namespace, "default");
  assert.equal(one.value.object.metadata.generation, 1);
  assert.match(one.value.object.metadata.creationTimestamp ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.match(one.value.object.metadata.uid ?? "", /^[0-9a-f-]{36}$/);
  const two = await entry(objects, svcKey("two", "httpbin"));
  assert.equal(two?.value.source, "file:sub/b.yml#0");
  assert.equal("managedFields" in (two?.value.object.metadata ?? {}), false);
  assert.equal(two?.value.object.metadata.annotations, undefined);
  assert.deepEqual(await keys(status), []);
});

test("edits land; unchanged objects are not rewritten; deletions delete", async () => {
  write("a.yaml", `${service("one", 80)}---\n${service("two", 81)}---\n${service("three", 82)}`);
  write("b.yaml", namespace("b"));
  write("c.yaml", namespace("c"));
  const w = await start();
  await w.publisher.idle();
  const two = await entry(objects, svcKey("two"));
  const three = await entry(objects, svcKey("three"));
  const nsB = await entry(objects, nsKey("b"));

  const t0 = Date.now();
  write("a.yaml", `${service("one", 8080)}---\n${service("two", 81)}---\n${service("three", 82)}`);
  await waitFor("edited port", async () => (await port(svcKey("one"))) === 8080, LANDS_MS, 10);
  const took = Date.now() - t0;
  await w.publisher.idle();
  assert.equal(
    (await entry(objects, svcKey("two")))?.revision,
    two?.revision,
    "unchanged object not rewritten",
  );
  assert.equal((await entry(objects, nsKey("b")))?.revision, nsB?.revision, "other file not rewritten");
  log.info("edit propagation", { ms: took });

  // Remove the middle document: "three" moves from document 2 to 1 of the same file, still no write.
  write("a.yaml", `${service("one", 8080)}---\n${service("three", 82)}`);
  await waitFor(
    "document removed",
    async () => (await entry(objects, svcKey("two"))) === undefined,
    LANDS_MS,
    10,
  );
  await w.publisher.idle();
  assert.equal((await entry(objects, svcKey("three")))?.revision, three?.revision);

  rmSync(join(dir, "b.yaml"));
  await waitFor("file removed", async () => (await entry(objects, nsKey("b"))) === undefined, LANDS_MS, 10);

  // Rename: the object stays (rewritten once, as its origin changed); the old file's objects are gone.
  renameSync(join(dir, "c.yaml"), join(dir, "d.yaml"));
  await waitFor(
    "renamed",
    async () => (await entry(objects, nsKey("c")))?.value.source === "file:d.yaml#0",
    LANDS_MS,
    10,
  );

  // An editor's atomic save: write a temporary file, rename it over the original.
  writeFileSync(join(dir, ".a.yaml.tmp"), `${service("one", 9090)}---\n${service("three", 82)}`);
  renameSync(join(dir, ".a.yaml.tmp"), join(dir, "a.yaml"));
  await waitFor("atomic replace", async () => (await port(svcKey("one"))) === 9090, LANDS_MS, 10);

  // A new file in a new sub-directory.
  write("new/dir/e.yaml", namespace("e"));
  await waitFor(
    "new file in new directory",
    async () => (await entry(objects, nsKey("e"))) !== undefined,
    LANDS_MS,
    10,
  );
  await w.publisher.idle();
  assert.deepEqual(await keys(objects), [nsKey("c"), nsKey("e"), svcKey("one"), svcKey("three")].sort());
});

test("a restart reconciles the bucket; generation and creationTimestamp survive it", async () => {
  write("a.yaml", `${service("one", 80)}---\n${service("two", 81)}`);
  write("b.yaml", namespace("b"));
  let w = await start();
  await w.publisher.idle();
  const created = (await entry(objects, svcKey("one")))?.value.object.metadata.creationTimestamp;
  write("a.yaml", `${service("one", 8080)}---\n${service("two", 81)}`);
  await waitFor(
    "gen 2",
    async () => (await entry(objects, svcKey("one")))?.value.object.metadata.generation === 2,
  );
  write("a.yaml", `${service("one", 8080, "  labels: {a: b}\n")}---\n${service("two", 81)}`);
  await waitFor(
    "label",
    async () => (await entry(objects, svcKey("one")))?.value.object.metadata.labels?.["a"] === "b",
  );
  assert.equal(
    (await entry(objects, svcKey("one")))?.value.object.metadata.generation,
    2,
    "metadata change keeps generation",
  );
  await stop(w);

  const before = await entry(objects, svcKey("one"));
  const twoBefore = await entry(objects, svcKey("two"));
  rmSync(join(dir, "b.yaml"));
  write("a.yaml", `${service("one", 8080, "  labels: {a: b}\n")}---\n${service("two", 82)}`);
  // A creationTimestamp set again now would differ from the first one (it has a resolution of 1 s).
  await waitFor(
    "another second than creationTimestamp's",
    () => kubeTimestamp(new Date()) !== created,
    2000,
    20,
  );
  w = await start();
  await w.publisher.idle();
  assert.deepEqual(await keys(objects), [svcKey("one"), svcKey("two")].sort(), "stale key deleted");
  const after = await entry(objects, svcKey("one"));
  assert.equal(after?.revision, before?.revision, "identical object not rewritten on restart");
  assert.equal(after?.value.object.metadata.creationTimestamp, created);
  const two = await entry(objects, svcKey("two"));
  assert.equal(two?.value.object.metadata.generation, 2, "spec changed while down: generation + 1");
  assert.equal(
    two?.value.object.metadata.creationTimestamp,
    twoBefore?.value.object.metadata.creationTimestamp,
  );
});

test("invalid YAML keeps the file's objects and reports it until fixed", async () => {
  write("a.yaml", `${service("one", 80)}---\n${service("two", 81)}`);
  write("b.yaml", namespace("b"));
  const w = await start();
  await w.publisher.idle();
  write("a.yaml", `${service("one", 8080)}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: [two\n`);
  const key = sourceFileKey("a.yaml");
  const st = await waitFor("status", async () => (await status.get(key))?.json<StatusEntry>(), LANDS_MS);
  assert.deepEqual(st.ref, { group: "waymark.dev", kind: "SourceFile", namespace: "", name: "a.yaml" });
  const cond = (st.status["conditions"] as Array<Record<string, string>>)[0];
  assert.equal(cond?.["type"], "Accepted");
  assert.equal(cond?.["status"], "False");
  assert.equal(cond?.["reason"], "InvalidYAML");
  assert.match(cond?.["message"] ?? "", /^a\.yaml:\d+:\d+: /);
  const logged = logs.find((l) => l["msg"]?.toString().startsWith("invalid YAML"));
  assert.ok(logged, "one log line");
  assert.equal(logged["file"], "a.yaml");
  assert.equal(typeof logged["line"], "number");
  assert.equal(typeof logged["column"], "number");
  await w.publisher.idle();
  assert.equal(await port(svcKey("one")), 80, "old objects kept, not half-applied");
  assert.equal(await port(svcKey("two")), 81);

  // Still broken across a restart: what the previous run published from it is kept.
  await stop(w);
  const w2 = await start();
  await w2.publisher.idle();
  assert.deepEqual(await keys(objects), [nsKey("b"), svcKey("one"), svcKey("two")].sort());
  assert.ok(await status.get(key).then((e) => e?.operation === "PUT"));

  write("a.yaml", service("one", 8080));
  await waitFor("fixed", async () => (await port(svcKey("one"))) === 8080, LANDS_MS, 10);
  await waitFor("two removed", async () => (await entry(objects, svcKey("two"))) === undefined, LANDS_MS, 10);
  await waitFor("status cleared", async () => (await status.get(key))?.operation !== "PUT", LANDS_MS, 10);
});

test("unknown kinds and incomplete documents are skipped with a status; duplicates: the later wins", async () => {
  write(
    "mixed.yaml",
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n---\n${service("ok", 80)}---\nkind: Service\nmetadata: {name: x}\n`,
  );
  write("x1.yaml", service("dup", 1));
  write("x2.yaml", service("dup", 2));
  const w = await start();
  await w.publisher.idle();
  assert.deepEqual(await keys(objects), [svcKey("dup"), svcKey("ok")].sort());
  assert.equal(await port(svcKey("dup")), 2);
  assert.ok(logs.some((l) => l["msg"] === "object defined twice"));
  assert.ok(logs.some((l) => l["msg"] === "unsupported kind skipped" && l["line"] === 1));
  const st = (await status.get(sourceFileKey("mixed.yaml")))?.json<StatusEntry>();
  assert.ok(st);
  const cond = (st.status["conditions"] as Array<Record<string, string>>)[0];
  assert.equal(cond?.["reason"], "UnsupportedKind");
  assert.match(cond?.["message"] ?? "", /^mixed\.yaml:1:1: .*Deployment/);
  assert.match(cond?.["message"] ?? "", /\nmixed\.yaml:14:1: .*apiVersion/);

  write("mixed.yaml", service("ok", 80));
  await waitFor(
    "status cleared",
    async () => (await status.get(sourceFileKey("mixed.yaml")))?.operation !== "PUT",
    LANDS_MS,
    10,
  );
  rmSync(join(dir, "x2.yaml"));
  await waitFor("earlier definition again", async () => (await port(svcKey("dup"))) === 1, LANDS_MS, 10);
});

test("a change made while NATS restarts lands after the reconnect", async () => {
  write("a.yaml", service("one", 80));
  const w = await start();
  await w.publisher.idle();
  await nats.proc.kill();
  write("a.yaml", service("one", 8080));
  write("b.yaml", namespace("b"));
  await new Promise((r) => setTimeout(r, 300));
  await nats.restart();
  objects = await openBucket(nc, Bucket.objects);
  await waitFor("change after reconnect", async () => (await port(svcKey("one"))) === 8080, 20_000, 100);
  await waitFor(
    "new object after reconnect",
    async () => (await entry(objects, nsKey("b"))) !== undefined,
    5000,
  );
  write("a.yaml", service("one", 9090));
  await waitFor("later change", async () => (await port(svcKey("one"))) === 9090, LANDS_MS, 20);
});

test("a missing directory is a clear start-up error", async () => {
  await assert.rejects(
    startWatcher({ natsUrl: nats.url, source: { type: "dir", path: join(dir, "nope") } }, log),
    (e: Error) => e.name === "SourceError" && /cannot be read/.test(e.message),
  );
});

after(async () => {
  for (const w of running.splice(0)) await w.stop();
});
