// waitFor: which probe results mean "not yet", and what it resolves with.
import assert from "node:assert/strict";
import { test } from "node:test";
import { waitFor } from "./process.ts";

/** A probe that returns each of `values` in turn, then `final`. */
const sequence = <T>(values: unknown[], final: T) => {
  let i = 0;
  return () => (i < values.length ? values[i++] : final) as T;
};

test("waitFor keeps polling through undefined, null, false, 0 and the empty string", async () => {
  const probe = sequence([undefined, null, false, 0, ""], "done");
  assert.equal(await waitFor("the value", probe, 5000, 1), "done");
});

test("waitFor resolves with the first value that is not 'not yet', and keeps polling after a throw", async () => {
  let calls = 0;
  const v = await waitFor(
    "an object",
    async () => {
      calls++;
      if (calls === 1) throw new Error("not up yet");
      return calls === 2 ? null : { n: calls };
    },
    5000,
    1,
  );
  assert.deepEqual(v, { n: 3 });
  let pending = 3;
  assert.equal(await waitFor("a count down to 0, said explicitly", () => --pending === 0, 5000, 1), true);
  assert.equal(pending, 0);
  assert.equal(await waitFor("a non-zero count", () => 2, 5000, 1), 2);
});

test("waitFor's timeout names what it waited for and the probe's last answer", async () => {
  await assert.rejects(
    waitFor("zero", () => 0, 1, 1),
    /waiting for zero \(the probe last returned 0\)/,
  );
  await assert.rejects(
    waitFor(
      "a server",
      () => {
        throw new Error("ECONNREFUSED");
      },
      1,
      1,
    ),
    /waiting for a server: ECONNREFUSED/,
  );
});
