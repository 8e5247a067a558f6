import assert from "node:assert/strict";
import { test } from "node:test";
import { type ObjectEnvelope, objectKey, refOf } from "@waymark/api";
import fc from "fast-check";
import { JOURNAL_KEEP, ObjectIndex } from "./object-index.ts";

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

const names = Array.from({ length: 40 }, (_, i) => `s${String(i).padStart(2, "0")}`);

/** Every way the translation reads a map gives `want` (entries in key order). */
function assertSameMap(got: ReadonlyMap<string, unknown>, want: Map<string, unknown>, what: string): void {
  assert.deepEqual([...got.entries()], [...want.entries()], what);
  assert.deepEqual([...got], [...want], what);
  assert.deepEqual([...got.keys()], [...want.keys()], what);
  assert.deepEqual([...got.values()], [...want.values()], what);
  assert.equal(got.size, want.size, what);
  const seen: [string, unknown][] = [];
  got.forEach((v, k, m) => {
    assert.equal(m, got);
    seen.push([k, v]);
  });
  assert.deepEqual(seen, [...want.entries()], what);
  for (const n of names) {
    const k = keyOf(n);
    assert.equal(got.has(k), want.has(k), what);
    assert.deepEqual(got.get(k), want.get(k), what);
  }
}

test("objects() is every indexed object in key order, whatever order the changes came in, and a map it returned never changes", () => {
  const op = fc.record({
    kind: fc.constantFrom("put", "put", "put", "put", "delete", "malformed"),
    // Mostly a few names, so that most puts edit an object already laid out.
    name: fc.oneof(fc.constantFrom(...names.slice(0, 3)), fc.constantFrom(...names)),
    v: fc.nat(),
    take: fc.boolean(),
  });
  // How many returned maps were views over an earlier layout (edits only), so that path is covered.
  let views = 0;
  fc.assert(
    fc.property(fc.array(op, { minLength: 60, maxLength: 200 }), (ops) => {
      const index = new ObjectIndex();
      const model = new Map<string, unknown>();
      const taken: { map: ReadonlyMap<string, unknown>; want: Map<string, unknown> }[] = [];
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
        if (!o.take) continue;
        const want = new Map([...model.keys()].sort().map((k) => [k, model.get(k)]));
        const map = index.objects();
        if (!(map instanceof Map)) views++;
        taken.push({ map, want });
      }
      const want = new Map([...model.keys()].sort().map((k) => [k, model.get(k)]));
      assertSameMap(index.objects(), want, "now");
      for (const [i, t] of taken.entries()) assertSameMap(t.map, t.want, `taken at ${i}`);
    }),
    { numRuns: 100, seed: 20261126 },
  );
  assert.ok(views > 100, `only ${views} views`);
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
