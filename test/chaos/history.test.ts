// The chaos suite's checks catch what they are meant to: lost changes, changes out of order, routes
// dropped while they existed (make-before-break), and markers never written.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkProxy, type Observation, SourceHistory } from "../lib/chaos/history.ts";

/** create a (v1, t=10), update a (v2, t=20), create b (v3, t=30), delete a (issued t=40), create a (v5, t=50). */
function history(): SourceHistory {
  const h = new SourceHistory();
  const write = (route: string, op: "create" | "update" | "delete", at: number) => {
    const seq = h.next();
    if (op === "delete") h.deleting(route, at);
    h.record({ seq, route, op, marker: seq, issuedAt: at, doneAt: at + 1 });
  };
  write("chaos-0", "create", 10);
  write("chaos-0", "update", 20);
  write("chaos-1", "create", 30);
  write("chaos-0", "delete", 40);
  write("chaos-0", "create", 50);
  return h;
}
const obs = (at: number, routes: Record<string, number>): Observation => ({
  at,
  typeUrl: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  routes: new Map(Object.entries(routes)),
});

test("a faithful history passes", () => {
  const h = history();
  assert.deepEqual(
    [...h.final()],
    [
      ["chaos-0", 5],
      ["chaos-1", 3],
    ],
  );
  const v = checkProxy(
    "p",
    [
      obs(12, { "chaos-0": 1 }),
      obs(35, { "chaos-0": 2, "chaos-1": 3 }),
      obs(45, { "chaos-1": 3 }), // chaos-0 dropped after its delete was issued: allowed
      obs(55, { "chaos-0": 5, "chaos-1": 3 }),
    ],
    h,
  );
  assert.deepEqual([v.unknown, v.outOfOrder, v.brokenBeforeMade, v.finalMismatch], [[], [], [], []]);
  assert.equal(v.markersSeen, 4);
});

test("an older marker after a newer one is out of order", () => {
  const v = checkProxy("p", [obs(25, { "chaos-0": 2 }), obs(26, { "chaos-0": 1 })], history());
  assert.equal(v.outOfOrder.length, 1);
});

test("a route missing while it existed breaks make-before-break", () => {
  const v = checkProxy("p", [obs(31, { "chaos-0": 2, "chaos-1": 3 }), obs(32, { "chaos-0": 2 })], history());
  assert.equal(v.brokenBeforeMade.length, 1);
  assert.match(v.brokenBeforeMade[0]!, /chaos-1/);
});

test("a lost last change, a deleted route kept, and an unknown marker are reported", () => {
  const v = checkProxy("p", [obs(60, { "chaos-0": 2, "chaos-1": 3, "chaos-9": 7 })], history());
  assert.deepEqual(v.unknown.length, 1);
  assert.equal(v.finalMismatch.length, 2, "chaos-0 at v2 instead of v5; chaos-9 not in the source");
});
