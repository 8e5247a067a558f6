import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { canonicalJson, LAST_APPLIED, stableUid, stampStandalone, trimObject } from "./metadata.ts";

const svc = (spec: unknown, labels?: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "s", namespace: "ns", ...(labels ? { labels } : {}) },
  spec,
});

test("trimObject drops managedFields and the last-applied annotation only", () => {
  const o = {
    ...svc({}),
    metadata: {
      name: "s",
      managedFields: [{ manager: "kubectl" }],
      annotations: { [LAST_APPLIED]: "{}", keep: "me" },
    },
  } as KubeObject;
  const t = trimObject(o);
  assert.deepEqual(t.metadata, { name: "s", annotations: { keep: "me" } });
  assert.ok("managedFields" in o.metadata, "input untouched");
  const only = trimObject({ ...o, metadata: { name: "s", annotations: { [LAST_APPLIED]: "{}" } } });
  assert.deepEqual(only.metadata, { name: "s" });
});

test("canonicalJson ignores key order", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: 3 } }),
    canonicalJson({ a: { c: 3, d: [2, { y: 2, z: 1 }] }, b: 1 }),
  );
  assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
});

test("stamping: new objects get generation 1, spec changes increment it, creationTimestamp is kept", () => {
  const t0 = new Date("2025-01-02T03:04:05.678Z");
  const t1 = new Date("2025-02-01T00:00:00.000Z");
  const first = stampStandalone(svc({ a: 1 }), undefined, t0);
  assert.equal(first.metadata.generation, 1);
  assert.equal(first.metadata.creationTimestamp, "2025-01-02T03:04:05Z");
  assert.match(first.metadata.uid ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const labelsOnly = stampStandalone(svc({ a: 1 }, { x: "y" }), first, t1);
  assert.equal(labelsOnly.metadata.generation, 1);
  assert.equal(labelsOnly.metadata.creationTimestamp, "2025-01-02T03:04:05Z");
  const specChange = stampStandalone(svc({ a: 2 }), labelsOnly, t1);
  assert.equal(specChange.metadata.generation, 2);
  assert.equal(specChange.metadata.uid, first.metadata.uid);
  const reordered = stampStandalone(svc({ b: 1, a: 2 }), { ...specChange, spec: { a: 2, b: 1 } }, t1);
  assert.equal(reordered.metadata.generation, 2);
});

test("uids are stable per key and differ between objects", () => {
  assert.equal(stableUid(svc({})), stableUid(svc({ other: true })));
  assert.notEqual(stableUid(svc({})), stableUid({ ...svc({}), metadata: { name: "t", namespace: "ns" } }));
});
