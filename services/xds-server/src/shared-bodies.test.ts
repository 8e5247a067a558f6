import assert from "node:assert/strict";
import { test } from "node:test";
import { DeltaDiscoveryResponseSchema, fromBinary } from "@waymark/envoy-proto";
import { basic, RDS, routes } from "@waymark/testing/xds-fixtures";
import { snapshotOf } from "../test/snapshot-of.ts";
import { DeltaSession } from "./delta.ts";
import { SharedBodies } from "./shared-bodies.ts";
import { SotwSession } from "./sotw.ts";

const wp = { namespace: "ns", name: "gw" };
const sub = (typeUrl: string, names: string[]) => ({
  typeUrl,
  resourceNamesSubscribe: names,
  resourceNamesUnsubscribe: [],
  initialResourceVersions: {},
  responseNonce: "",
});

test("streams owed the same update share one body; each response keeps its own nonce", () => {
  const v1 = snapshotOf(wp, { ...basic(), [RDS]: { r1: routes("r1", "c1"), r2: routes("r2", "c1") } });
  const v2 = snapshotOf(wp, { ...basic(), [RDS]: { r1: routes("r1", "c2"), r2: routes("r2", "c1") } });
  const sessions = ["a", "b", "c"].map((id) => {
    let n = 0;
    const s = new DeltaSession(() => `${id}-${++n}`);
    s.onRequest(sub(RDS, ["r1"]), v1);
    return s;
  });
  const pushed = sessions.map((s) => s.onSnapshot(v2)[0]!);
  assert.equal(new Set(pushed.map((o) => o.message.shared)).size, 1, "one body for all three streams");
  assert.deepEqual(
    pushed.map((o) => o.nonce),
    ["a-2", "b-2", "c-2"],
  );
  for (const o of pushed) {
    const r = fromBinary(DeltaDiscoveryResponseSchema, o.body);
    assert.equal(r.nonce, o.nonce);
    assert.deepEqual(
      r.resources.map((x) => x.name),
      ["r1"],
    );
  }
  // A stream subscribed to other names gets its own body.
  const other = new DeltaSession(() => "o-1");
  const o = other.onRequest(sub(RDS, ["r1", "r2"]), v2).responses[0]!;
  assert.notEqual(o.message.shared, pushed[0]!.message.shared);
  // SotW streams subscribed to the same subset share theirs too.
  const sotw = [1, 2].map((i) => new SotwSession(() => `s${i}`));
  const sreq = { typeUrl: RDS, versionInfo: "", resourceNames: ["r2"], responseNonce: "" };
  const [s1, s2] = sotw.map((s) => s.onRequest(sreq, v2).responses[0]!);
  assert.equal(s1!.message.shared, s2!.message.shared);
  assert.notEqual(s1!.nonce, s2!.nonce);
});

test("the cache keeps at most its byte budget, dropping the least recently used body", () => {
  const c = new SharedBodies(100);
  const body = (n: number) => () => new Uint8Array(n);
  const a = c.get("a", body(40));
  c.get("b", body(40));
  assert.equal(c.get("a", body(40)), a, "a hit returns the same bytes");
  c.get("c", body(40)); // over budget: b (least recently used) goes
  assert.equal(c.bytes, 80);
  assert.equal(c.get("a", body(40)), a);
  const misses = c.misses;
  c.get("b", body(40));
  assert.equal(c.misses, misses + 1, "b was evicted");
  c.get("huge", body(500)); // larger than the budget: encoded, not kept
  assert.ok(c.bytes <= 100);
});
