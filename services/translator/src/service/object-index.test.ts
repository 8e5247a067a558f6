import assert from "node:assert/strict";
import { test } from "node:test";
import { type ObjectEnvelope, objectKey, refOf } from "@waymark/api";
import fc from "fast-check";
import { JOURNAL_KEEP, ObjectIndex } from "./object-index.ts";

const names = ["a", "b", "c", "d", "e"];
const envelope = (name: string, v: number): ObjectEnvelope => ({
  object: {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "ns", resourceVersion: String(v) },
  },
  observedAt: new Date(0).toISOString(),
  source: "test",
});
const keyOf = (name: string) => objectKey(refOf(envelope(name, 0).object));

test("objects() is every indexed object in key order, whatever order the changes came in", () => {
  const op = fc.record({
    kind: fc.constantFrom("put", "put", "delete", "malformed"),
    name: fc.constantFrom(...names),
    v: fc.nat(),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const index = new ObjectIndex();
      const model = new Map<string, unknown>();
      let revision = 0;
      for (const o of ops) {
        const key = keyOf(o.name);
        const base = { key, created: new Date(0), revision: ++revision };
        if (o.kind === "delete") {
          index.apply({ ...base, operation: "DEL", value: new Uint8Array() });
          model.delete(key);
        } else if (o.kind === "malformed") {
          assert.throws(() =>
            index.apply({ ...base, operation: "PUT", value: new TextEncoder().encode("[]") }),
          );
          model.delete(key);
        } else {
          const env = envelope(o.name, o.v);
          index.apply({ ...base, operation: "PUT", value: new TextEncoder().encode(JSON.stringify(env)) });
          model.set(key, env.object);
        }
        const got = index.objects();
        const want = new Map([...model.keys()].sort().map((k) => [k, model.get(k)]));
        assert.deepEqual([...got.entries()], [...want.entries()]);
      }
    }),
    { numRuns: 300, seed: 20261126 },
  );
});

test("a map objects() returned is not changed by later changes", () => {
  const index = new ObjectIndex();
  const put = (name: string, v: number, revision: number) =>
    index.apply({
      key: keyOf(name),
      operation: "PUT",
      value: new TextEncoder().encode(JSON.stringify(envelope(name, v))),
      created: new Date(0),
      revision,
    });
  put("a", 1, 1);
  const first = index.objects();
  put("a", 2, 2);
  put("b", 1, 3);
  assert.equal(first.size, 1);
  assert.equal(first.get(keyOf("a"))?.metadata.resourceVersion, "1");
  assert.equal(index.objects().get(keyOf("a"))?.metadata.resourceVersion, "2");
});

test("the journal names every key changed after a generation, and stops reaching back beyond what it keeps", () => {
  const index = new ObjectIndex();
  let revision = 0;
  const put = (name: string, v: number) =>
    index.apply({
      key: keyOf(name),
      operation: "PUT",
      value: new TextEncoder().encode(JSON.stringify(envelope(name, v))),
      created: new Date(0),
      revision: ++revision,
    });
  const del = (name: string) =>
    index.apply({
      key: keyOf(name),
      operation: "DEL",
      value: new Uint8Array(),
      created: new Date(0),
      revision: ++revision,
    });
  put("a", 1);
  put("b", 1);
  const first = index.journal();
  assert.equal(first.generation, 2);
  put("a", 2);
  del("b");
  del("c"); // nothing to delete: not a change
  assert.throws(() =>
    index.apply({
      key: keyOf("d"),
      operation: "PUT",
      value: new TextEncoder().encode("[]"),
      created: new Date(0),
      revision: ++revision,
    }),
  ); // malformed, and nothing held under its key: not a change either
  const second = index.journal();
  assert.equal(second.generation, 4);
  assert.deepEqual(second.changedSince(first.generation), [keyOf("a"), keyOf("b")]);
  assert.deepEqual(second.changedSince(second.generation), []);
  // A journal taken earlier stops at its own generation.
  assert.deepEqual(first.changedSince(0), [keyOf("a"), keyOf("b")]);
  assert.equal(first.changedSince(3), undefined);
  for (let i = 0; i < 2 * JOURNAL_KEEP; i++) put("e", i);
  const late = index.journal();
  assert.equal(late.changedSince(first.generation), undefined);
  assert.deepEqual(late.changedSince(late.generation - 2), [keyOf("e"), keyOf("e")]);
});
