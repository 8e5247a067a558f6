import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type KubeObject, objectKey, refOf } from "@waymark/api";
import { KubeApiError, type WatchEvent } from "./client.ts";
import {
  applyWatchEvent,
  diffList,
  listFailureAction,
  stampObject,
  watchFailureAction,
} from "./informer-events.ts";
import { type ResourceInfo, WATCHED } from "./resources.ts";

const ROUTES = WATCHED.find((r) => r.kind === "HTTPRoute") as ResourceInfo;
const SERVICES = WATCHED.find((r) => r.kind === "Service") as ResourceInfo;

const route = (name: string, rv: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: "ns", resourceVersion: rv },
  spec: { parentRefs: [{ name: "svc", kind: "Service", group: "" }] },
  ...extra,
});
const stamped = (name: string, rv: string) => stampObject(route(name, rv), ROUTES);
const ev = (type: WatchEvent["type"], object: Record<string, unknown>): WatchEvent => ({ type, object });
const keyOf = (o: KubeObject) => objectKey(refOf(o));

describe("applyWatchEvent", () => {
  test("ADDED and MODIFIED upsert the object, stamped with apiVersion and kind, and move the version on", () => {
    for (const type of ["ADDED", "MODIFIED"] as const) {
      const step = applyWatchEvent("10", ev(type, route("a", "11")), ROUTES);
      assert.equal(step.rv, "11");
      assert.equal(step.change?.type, "upsert");
      assert.equal(step.change?.object.apiVersion, "gateway.networking.k8s.io/v1");
      assert.equal(step.change?.object.kind, "HTTPRoute");
      assert.equal(step.change?.object.metadata.name, "a");
      assert.deepEqual(step.change?.object.spec, route("a", "11").spec);
    }
  });

  test("a core-group object gets apiVersion v1", () => {
    const step = applyWatchEvent(
      "1",
      ev("ADDED", { metadata: { name: "s", resourceVersion: "2" } }),
      SERVICES,
    );
    assert.equal(step.change?.object.apiVersion, "v1");
    assert.equal(step.change?.object.kind, "Service");
  });

  test("DELETED deletes the object and moves the version on", () => {
    const step = applyWatchEvent("11", ev("DELETED", route("a", "12")), ROUTES);
    assert.equal(step.rv, "12");
    assert.equal(step.change?.type, "delete");
    assert.equal(step.change?.object.metadata.name, "a");
  });

  test("BOOKMARK only moves the version on", () => {
    const step = applyWatchEvent(
      "12",
      ev("BOOKMARK", { kind: "HTTPRoute", metadata: { resourceVersion: "40" } }),
      ROUTES,
    );
    assert.deepEqual(step, { rv: "40" });
  });

  test("an event without a resourceVersion keeps the version it had", () => {
    assert.equal(applyWatchEvent("12", ev("BOOKMARK", { metadata: {} }), ROUTES).rv, "12");
    assert.equal(applyWatchEvent("12", ev("MODIFIED", { metadata: { name: "a" } }), ROUTES).rv, "12");
  });

  test("ERROR 410 throws a KubeApiError that means: relist", () => {
    const status = { kind: "Status", status: "Failure", code: 410, reason: "Expired", message: "too old" };
    assert.throws(
      () => applyWatchEvent("12", ev("ERROR", status), ROUTES),
      (err: unknown) => {
        assert.ok(err instanceof KubeApiError);
        assert.equal(err.status, 410);
        assert.equal(err.reason, "Expired");
        assert.match(err.message, /HTTPRoute: too old/);
        assert.equal(watchFailureAction(err), "relist");
        return true;
      },
    );
    // "Gone" without a code (older servers) is a relist too.
    assert.throws(
      () => applyWatchEvent("12", ev("ERROR", { reason: "Gone" }), ROUTES),
      (err: unknown) => watchFailureAction(err) === "relist",
    );
  });

  test("another ERROR is retried, not relisted", () => {
    assert.throws(
      () => applyWatchEvent("12", ev("ERROR", { code: 500, reason: "InternalError", message: "x" }), ROUTES),
      (err: unknown) => err instanceof KubeApiError && watchFailureAction(err) === "retry",
    );
  });

  test("an unknown event type is a failure, not an upsert", () => {
    assert.throws(() => applyWatchEvent("1", ev("WHAT" as WatchEvent["type"], route("a", "2")), ROUTES));
  });

  test("a sequence of events: the version always follows the last event", () => {
    let rv = "5";
    const changes: string[] = [];
    for (const e of [
      ev("ADDED", route("a", "6")),
      ev("BOOKMARK", { metadata: { resourceVersion: "9" } }),
      ev("MODIFIED", route("a", "10")),
      ev("DELETED", route("a", "11")),
    ]) {
      const step = applyWatchEvent(rv, e, ROUTES);
      rv = step.rv;
      if (step.change) changes.push(`${step.change.type}:${step.change.object.metadata.resourceVersion}`);
    }
    assert.equal(rv, "11");
    assert.deepEqual(changes, ["upsert:6", "upsert:10", "delete:11"]);
  });
});

describe("failure actions", () => {
  test("watch failures", () => {
    assert.equal(watchFailureAction(new KubeApiError(410, "Gone", "x")), "relist");
    assert.equal(watchFailureAction(new KubeApiError(500, "Expired", "x")), "relist");
    assert.equal(watchFailureAction(new KubeApiError(0, "Idle", "x")), "restart");
    assert.equal(watchFailureAction(new KubeApiError(404, "NotFound", "x")), "retry-relist");
    assert.equal(watchFailureAction(new KubeApiError(0, "", "ECONNREFUSED")), "retry");
    assert.equal(watchFailureAction(new KubeApiError(503, "ServiceUnavailable", "x")), "retry");
    assert.equal(watchFailureAction(new Error("boom")), "retry");
  });

  test("a kind the server does not serve (404) lists as empty; other list failures retry", () => {
    assert.equal(listFailureAction(new KubeApiError(404, "NotFound", "the server could not find")), "empty");
    assert.equal(listFailureAction(new KubeApiError(403, "Forbidden", "x")), "retry");
    assert.equal(listFailureAction(new KubeApiError(0, "", "ECONNRESET")), "retry");
    assert.equal(listFailureAction(new Error("x")), "retry");
  });
});

describe("diffList", () => {
  const known = (...objs: KubeObject[]) => new Map(objs.map((o) => [keyOf(o), o]));

  test("the first list: everything is new", () => {
    const d = diffList(new Map(), [stamped("a", "1"), stamped("b", "2")]);
    assert.deepEqual(
      d.changed.map((o) => o.metadata.name),
      ["a", "b"],
    );
    assert.deepEqual(d.removed, []);
    assert.deepEqual(d.unchanged, []);
    assert.deepEqual([...d.next.keys()], [keyOf(stamped("a", "1")), keyOf(stamped("b", "2"))]);
  });

  test("a relist after a watch gap: gone objects are removed, changed ones handed on, unchanged ones not", () => {
    const before = known(stamped("a", "1"), stamped("b", "2"), stamped("c", "3"));
    // During the gap: b was deleted, c changed, d was created; a stayed as it was.
    const d = diffList(before, [stamped("a", "1"), stamped("c", "7"), stamped("d", "8")]);
    assert.deepEqual(
      d.removed.map((o) => o.metadata.name),
      ["b"],
    );
    assert.deepEqual(
      d.changed.map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`),
      ["c@7", "d@8"],
    );
    assert.deepEqual(d.unchanged, [keyOf(stamped("a", "1"))]);
    assert.deepEqual(
      [...d.next.values()].map((o) => o.metadata.resourceVersion),
      ["1", "7", "8"],
    );
  });

  test("a relist that finds the kind empty (not served, or everything deleted) removes everything", () => {
    const d = diffList(known(stamped("a", "1"), stamped("b", "2")), []);
    assert.deepEqual(
      d.removed.map((o) => o.metadata.name),
      ["a", "b"],
    );
    assert.equal(d.next.size, 0);
    assert.deepEqual(d.changed, []);
  });

  test("an empty list of a kind that was empty changes nothing (a kind not served, listed again)", () => {
    const d = diffList(new Map(), []);
    assert.deepEqual([d.removed, d.changed, d.unchanged, d.next.size], [[], [], [], 0]);
  });

  test("objects are compared by resourceVersion; without one they count as changed", () => {
    const noRv = stampObject({ metadata: { name: "a", namespace: "ns" } }, ROUTES);
    const d = diffList(known(noRv), [noRv]);
    assert.equal(d.changed.length, 1);
    assert.deepEqual(d.unchanged, []);
  });

  test("a deleted and recreated object (same name, new version) is a change, not a removal", () => {
    const d = diffList(known(stamped("a", "1")), [stamped("a", "9")]);
    assert.deepEqual(d.removed, []);
    assert.equal(d.changed[0]?.metadata.resourceVersion, "9");
  });
});
