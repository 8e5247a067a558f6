import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, type ObjectEnvelope, objectKey, refOf } from "@waymark/api";
import type { TranslationOutput } from "../translate/types.ts";
import { EncodeCache } from "./build.ts";
import { type BuildContext, type BuildResult, runBuild } from "./build-run.ts";
import { ObjectIndex } from "./object-index.ts";
import type { SnapshotPublisher } from "./publisher.ts";

const log = createLogger("build-run-test", {}, () => {});
const OBSERVED = "2026-01-02T03:04:05.000Z";

function indexWithOne(): ObjectIndex {
  const index = new ObjectIndex();
  const env: ObjectEnvelope = {
    object: { apiVersion: "v1", kind: "Service", metadata: { name: "a", namespace: "ns" } },
    observedAt: OBSERVED,
    source: "test",
  };
  index.apply({
    key: objectKey(refOf(env.object)),
    operation: "PUT",
    value: new TextEncoder().encode(JSON.stringify(env)),
    created: new Date(0),
    revision: 7,
  });
  return index;
}

const empty: TranslationOutput = { waypoints: [], statuses: [] };
const published = {
  blobsWritten: 0,
  manifestsWritten: [],
  manifestsDeleted: [],
  statusesWritten: 0,
  statusesDeleted: 0,
};

function context(over: Partial<BuildContext> & { publish?: SnapshotPublisher["publish"] } = {}) {
  const calls: Array<Parameters<SnapshotPublisher["publish"]>[0]> = [];
  const publish: SnapshotPublisher["publish"] = over.publish ?? (async () => published);
  const c: BuildContext = {
    index: indexWithOne(),
    cache: new EncodeCache(),
    publisher: {
      publish: async (input, at) => {
        calls.push(input);
        return publish(input, at);
      },
    },
    translate: () => empty,
    settings: { controllerName: "c", waypointClassName: "w", bindAddress: "0.0.0.0" } as never,
    log,
    now: () => 0,
    retryMs: 1000,
    ...over,
  };
  return { c, calls };
}

test("a build translates the index, publishes with the newest change's time, and reports ok", async () => {
  const { c, calls } = context();
  const seen: BuildResult[] = [];
  const r = await runBuild(c, 3, (x) => seen.push(x));
  assert.equal(r.report.ok, true);
  assert.equal(r.report.seq, 3);
  assert.equal(r.report.revision, 7);
  assert.equal(r.report.objects, 1);
  assert.equal(r.retry, false);
  assert.deepEqual(r.report.published, published);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]?.observedAt, OBSERVED);
  assert.deepEqual(seen, [r], "done hears of the result");
});

test("a translation that throws publishes nothing and asks for no retry", async () => {
  const { c, calls } = context({
    translate: () => {
      throw new Error("boom");
    },
  });
  const r = await runBuild(c, 1);
  assert.equal(r.report.ok, false);
  assert.match(String(r.report.error), /boom/);
  assert.equal(r.retry, false);
  assert.equal(calls.length, 0);
});

test("a replica that may not publish translates but writes nothing", async () => {
  const { c, calls } = context({ canPublish: () => false });
  const r = await runBuild(c, 1);
  assert.equal(r.report.ok, false);
  assert.match(String(r.report.error), /not the leader/);
  assert.equal(calls.length, 0);
});

test("a failed publish asks for a retry and gives the change back to the index", async () => {
  const { c } = context({
    publish: async () => {
      throw new Error("nats down");
    },
  });
  const r = await runBuild(c, 1);
  assert.equal(r.report.ok, false);
  assert.equal(r.retry, true);
  assert.equal(c.index.takeNewestChange(), OBSERVED, "the next build carries the change's time again");
});
