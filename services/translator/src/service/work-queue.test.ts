import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "@waymark/api";
import { WorkQueue } from "./work-queue.ts";

const log = createLogger("work-queue-test", {}, () => {});

/** A build that waits until released, counting starts. */
function gatedBuild() {
  let starts = 0;
  let release: () => void = () => {};
  let started: () => void = () => {};
  let startedP = new Promise<void>((r) => {
    started = r;
  });
  return {
    build: async () => {
      starts++;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const s = started;
      startedP = new Promise<void>((r) => {
        started = r;
      });
      s();
      await gate;
    },
    get starts() {
      return starts;
    },
    /** Resolves when the next build has started. */
    nextStart: () => startedP,
    release: () => release(),
  };
}

test("requests coalesce: while one build is queued, and while one runs, at most one more is queued", async () => {
  const g = gatedBuild();
  const q = new WorkQueue(log, g.build);
  const first = g.nextStart();
  q.requestBuild();
  q.requestBuild();
  q.requestBuild();
  await first;
  assert.equal(g.starts, 1);
  // During the running build: three requests make one more build.
  q.requestBuild();
  q.requestBuild();
  q.requestBuild();
  const second = g.nextStart();
  g.release();
  await second;
  assert.equal(g.starts, 2);
  g.release();
  await q.stop();
  assert.equal(g.starts, 2);
});

test("stop waits for the running build and takes no more requests; a failing job is logged, not thrown", async () => {
  const records: string[] = [];
  const errLog = createLogger("work-queue-test", {}, (l) => records.push(l));
  const g = gatedBuild();
  const q = new WorkQueue(errLog, g.build);
  const started = g.nextStart();
  q.requestBuild();
  await started;
  q.enqueue("sweep", async () => {
    throw new Error("sweep broke");
  });
  let stopped = false;
  const stopping = q.stop().then(() => {
    stopped = true;
  });
  q.requestBuild();
  q.retryIn(0);
  assert.equal(stopped, false, "the running build holds stop()");
  g.release();
  await stopping;
  assert.equal(g.starts, 1, "no build after stop");
  assert.ok(records.some((l) => l.includes("sweep failed") && l.includes("sweep broke")));
});

test("retryIn asks for a build later", async () => {
  let builds = 0;
  let built: () => void = () => {};
  const done = new Promise<void>((r) => {
    built = r;
  });
  const q = new WorkQueue(log, async () => {
    builds++;
    built();
  });
  q.retryIn(5);
  await done;
  assert.equal(builds, 1);
  await q.stop();
});
