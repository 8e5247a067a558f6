import assert from "node:assert/strict";
import { test } from "node:test";
import type { StatusEntry } from "@waymark/api";
import type { ObjectStatus } from "../translate/types.ts";
import { canonicalJson, sameStatus, stampStatus } from "./status.ts";

const ref = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "ns", name: "r" };
const parent = (gw: string, accepted: string) => ({
  parentRef: { name: gw },
  controllerName: "waymark.dev/waymark",
  conditions: [
    { type: "Accepted", status: accepted, reason: "x", message: "" },
    { type: "ResolvedRefs", status: "True", reason: "y", message: "" },
  ],
});
const computed = (parents: unknown[]): ObjectStatus => ({ ref, generation: 4, status: { parents } });
type Cond = { type: string; status: string; lastTransitionTime: string };
const conds = (e: StatusEntry, i: number) =>
  (e.status["parents"] as Array<{ conditions: Cond[] }>)[i]?.conditions ?? [];

test("new conditions get the current time", () => {
  const e = stampStatus(computed([parent("a", "True")]), undefined, "T1");
  assert.deepEqual(
    conds(e, 0).map((c) => c.lastTransitionTime),
    ["T1", "T1"],
  );
  assert.equal(e.computedAt, "T1");
  assert.equal(e.generation, 4);
});

test("times are kept per condition while its status holds, matched by parent even when reordered", () => {
  const first = stampStatus(computed([parent("a", "True"), parent("b", "True")]), undefined, "T1");
  const second = stampStatus(computed([parent("b", "False"), parent("a", "True")]), first, "T2");
  // b (now first) flipped Accepted; its ResolvedRefs held. a held both.
  assert.deepEqual(
    conds(second, 0).map((c) => c.lastTransitionTime),
    ["T2", "T1"],
  );
  assert.deepEqual(
    conds(second, 1).map((c) => c.lastTransitionTime),
    ["T1", "T1"],
  );
});

test("the computed status is not modified", () => {
  const c = computed([parent("a", "True")]);
  const before = canonicalJson(c);
  stampStatus(c, undefined, "T1");
  assert.equal(canonicalJson(c), before);
});

test("sameStatus ignores computedAt and key order", () => {
  const a = stampStatus(computed([parent("a", "True")]), undefined, "T1");
  const b = stampStatus(computed([parent("a", "True")]), a, "T2");
  assert.equal(b.computedAt, "T2");
  assert.ok(sameStatus(b, a));
  const reordered = JSON.parse(
    JSON.stringify({ status: a.status, computedAt: "T9", generation: 4, ref: a.ref }),
  ) as StatusEntry;
  assert.ok(sameStatus(b, reordered));
  assert.equal(sameStatus(b, undefined), false);
  assert.equal(
    sameStatus(stampStatus({ ...computed([parent("a", "True")]), generation: 5 }, a, "T3"), a),
    false,
  );
});
