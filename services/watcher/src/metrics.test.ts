import assert from "node:assert/strict";
import { test } from "node:test";
import { WatcherMetrics } from "./metrics.ts";

test("the watcher's metrics read the publisher's counts when scraped", async () => {
  const m = new WatcherMetrics();
  const counts = { writes: 3, relists: 1, refusedTooLarge: 2, tooLarge: 1, pending: 4 };
  m.readFrom(counts);
  const first = await m.registry.metrics();
  assert.match(first, /^waymark_watcher_writes_total\{service="watcher"\} 3$/m);
  assert.match(first, /^waymark_watcher_relists_total\{service="watcher"\} 1$/m);
  assert.match(first, /^waymark_watcher_objects_refused_too_large_total\{service="watcher"\} 2$/m);
  assert.match(first, /^waymark_watcher_objects_too_large\{service="watcher"\} 1$/m);
  assert.match(first, /^waymark_watcher_pending_writes\{service="watcher"\} 4$/m);
  // Totals are the publisher's, not sums of scrapes.
  counts.writes = 5;
  assert.match(await m.registry.metrics(), /^waymark_watcher_writes_total\{service="watcher"\} 5$/m);
});
