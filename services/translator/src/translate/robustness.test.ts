// The translation must never throw on bad input, and whatever it emits must still be valid xDS. Each
// golden input is mutated many times (a seeded PRNG replaces a random field with junk) and translated.
// FUZZ_SEED and FUZZ_ITERATIONS (per case) run a longer or different search.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { encodeResource, PUSH_ORDER, SECRET_TYPE_URL } from "@waymark/envoy-proto";
import { caseNames, loadCase } from "./golden-cases.ts";
import { translate } from "./index.ts";

const JUNK: unknown[] = [
  null,
  7,
  -1,
  0,
  1.5,
  "x",
  "",
  "None",
  "::1",
  "/",
  "istio.io/PROXY",
  true,
  [],
  {},
  [null],
  [7],
  { a: 1 },
];

/** mulberry32: a small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function containers(v: unknown, out: Array<Record<string, unknown> | unknown[]> = []) {
  if (Array.isArray(v)) {
    out.push(v);
    for (const x of v) containers(x, out);
  } else if (typeof v === "object" && v !== null) {
    out.push(v as Record<string, unknown>);
    for (const x of Object.values(v)) containers(x, out);
  }
  return out;
}

function mutate(objects: Map<string, KubeObject>, rnd: () => number): Map<string, KubeObject> {
  const copy = new Map([...objects].map(([k, o]) => [k, structuredClone(o)]));
  const all = containers([...copy.values()]);
  for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
    const target = all[Math.floor(rnd() * all.length)];
    if (!target) continue;
    const keys = Array.isArray(target) ? target.map((_, i) => i) : Object.keys(target);
    if (keys.length === 0) continue;
    const key = keys[Math.floor(rnd() * keys.length)] as never;
    (target as Record<string, unknown>)[key] = structuredClone(JUNK[Math.floor(rnd() * JUNK.length)]);
  }
  return copy;
}

test("mutated inputs never throw, always encode, and give a well-formed output", () => {
  const rnd = prng(Number(process.env.FUZZ_SEED ?? 20260601));
  const iterations = Number(process.env.FUZZ_ITERATIONS ?? 60);
  let withResources = 0;
  for (const name of caseNames()) {
    const c = loadCase(name);
    for (let i = 0; i < iterations; i++) {
      const objects = mutate(c.input.objects as Map<string, KubeObject>, rnd);
      const output = translate({ objects }, c.settings);
      const where = `case ${name}, mutation ${i}`;
      // The same input translates to the same output (no state, no clock, no iteration-order leak).
      assert.deepEqual(translate({ objects }, c.settings), output, `${where}: not deterministic`);
      const gateways = new Set(
        [...objects.values()]
          .filter((o) => o.kind === "Gateway")
          .map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`),
      );
      const inputRefs = new Set(
        [...objects.values()].map((o) => `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`),
      );
      for (const w of output.waypoints) {
        const id = `${w.waypoint.namespace}/${w.waypoint.name}`;
        assert.ok(gateways.has(id), `${where}: waypoint ${id} is no Gateway of the input`);
        // Every type of PUSH_ORDER, and SDS secrets only when some filter reads them.
        assert.deepEqual(
          Object.keys(w.resources)
            .filter((t) => t !== SECRET_TYPE_URL)
            .sort(),
          [...PUSH_ORDER].sort(),
          `${where}: ${id}'s types`,
        );
        if (SECRET_TYPE_URL in w.resources)
          assert.ok(w.resources[SECRET_TYPE_URL]?.length, `${where}: ${id}: an empty list of secrets`);
        for (const [typeUrl, list] of Object.entries(w.resources)) {
          const names = list.map((r) => r.name);
          assert.deepEqual(names, [...names].sort(), `${where}: ${id} ${typeUrl} sorted by name`);
          assert.equal(new Set(names).size, names.length, `${where}: ${id} ${typeUrl} names unique`);
          for (const r of list) assert.ok(encodeResource(typeUrl, r.name, r.json).length > 0);
        }
        if (Object.values(w.resources).some((l) => l.length > 0)) withResources++;
      }
      for (const st of output.statuses) {
        const ref = `${st.ref.kind}/${st.ref.namespace}/${st.ref.name}`;
        assert.ok(inputRefs.has(ref), `${where}: a status for ${ref}, which is not in the input`);
      }
    }
  }
  // Most mutations leave something to translate: the search reaches the encoder, not only rejections.
  assert.ok(
    withResources > (iterations * caseNames().length) / 4,
    `only ${withResources} waypoints with resources in ${iterations * caseNames().length} translations`,
  );
});

test("an empty input gives an empty output", () => {
  assert.deepEqual(
    translate({ objects: new Map() }, { controllerName: "c", waypointClassName: "w", bindAddress: "::" }),
    { waypoints: [], statuses: [] },
  );
});
