import assert from "node:assert/strict";
import { test } from "node:test";
import { BlobCollector } from "./blob-gc.ts";

test("an unreferenced blob is due only after the grace period", () => {
  const gc = new BlobCollector(100);
  gc.update(["a", "b"], new Set(["a"]), 1000);
  assert.deepEqual(gc.due(1099), []);
  assert.deepEqual(gc.due(1100), ["b"]);
});

test("the grace period starts when a blob first became unreferenced", () => {
  const gc = new BlobCollector(100);
  gc.update(["a", "b"], new Set(["a"]), 1000);
  gc.update(["a", "b"], new Set(), 1050);
  assert.deepEqual(gc.due(1100), ["b"]);
  assert.deepEqual(gc.due(1150), ["a", "b"]);
});

test("a blob referenced again is no longer due; forgotten or vanished blobs are dropped", () => {
  const gc = new BlobCollector(10);
  gc.update(["a", "b", "c"], new Set(), 0);
  gc.update(["a", "b", "c"], new Set(["a"]), 5);
  gc.forget("b");
  assert.deepEqual(gc.due(100), ["c"]);
  gc.update(["a"], new Set(["a"]), 100);
  assert.deepEqual(gc.due(1000), []);
  assert.equal(gc.tracked, 0);
});
