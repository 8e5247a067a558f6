import assert from "node:assert/strict";
import { test } from "node:test";
import { createDebouncer, type Timers } from "./debounce.ts";

/** A manual clock: timers run only when the test advances time. */
function fakeTimers() {
  let now = 0;
  let next = 1;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    now: () => now,
    setTimeout(fn, ms) {
      const id = next++;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(h) {
      pending.delete(h as number);
    },
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      const due = [...pending].filter(([, p]) => p.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      pending.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = end;
  };
  return { timers, advance, armed: () => pending.size };
}

test("fires once after the quiet period following the last change", () => {
  const { timers, advance } = fakeTimers();
  const fired: number[] = [];
  const d = createDebouncer({ quietMs: 50, maxMs: 1000, timers, fire: () => fired.push(timers.now()) });
  d.poke();
  advance(30);
  d.poke();
  advance(30);
  d.poke();
  assert.deepEqual(fired, []);
  assert.equal(d.pending, true);
  advance(49);
  assert.deepEqual(fired, []);
  advance(1);
  assert.deepEqual(fired, [110]);
  assert.equal(d.pending, false);
  advance(1000);
  assert.deepEqual(fired, [110], "no change, no further build");
});

test("a steady stream of changes still fires at the maximum delay", () => {
  const { timers, advance } = fakeTimers();
  const fired: number[] = [];
  const d = createDebouncer({ quietMs: 50, maxMs: 200, timers, fire: () => fired.push(timers.now()) });
  for (let i = 0; i < 20; i++) {
    d.poke();
    advance(20);
  }
  // Changes every 20 ms never leave a 50 ms gap: builds happen at 200 and 400 (the max delay after
  // the first pending change of each burst).
  assert.deepEqual(fired, [200, 400]);
  assert.equal(d.pending, false, "the change at 380 went into the build at 400");
  d.poke();
  advance(49);
  assert.equal(fired.length, 2);
  advance(1);
  assert.deepEqual(fired, [200, 400, 450]);
});

test("the max delay counts from the first pending change, not the last", () => {
  const { timers, advance } = fakeTimers();
  const fired: number[] = [];
  const d = createDebouncer({ quietMs: 100, maxMs: 150, timers, fire: () => fired.push(timers.now()) });
  d.poke();
  advance(90);
  d.poke();
  advance(59);
  assert.deepEqual(fired, []);
  advance(1);
  assert.deepEqual(fired, [150]);
});

test("cancel forgets pending changes", () => {
  const { timers, advance, armed } = fakeTimers();
  let fired = 0;
  const d = createDebouncer({ quietMs: 10, maxMs: 100, timers, fire: () => fired++ });
  d.poke();
  d.cancel();
  assert.equal(armed(), 0);
  advance(200);
  assert.equal(fired, 0);
  assert.equal(d.pending, false);
});

test("zero quiet period fires on the next tick of the clock", () => {
  const { timers, advance } = fakeTimers();
  let fired = 0;
  const d = createDebouncer({ quietMs: 0, maxMs: 0, timers, fire: () => fired++ });
  d.poke();
  d.poke();
  advance(0);
  assert.equal(fired, 1);
});
