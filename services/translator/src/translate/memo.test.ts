// The memo is an optimisation only: a translation with it must equal one without it, whatever
// sequence of changes came before. Each golden case is translated through a sequence of edits (a
// route changed, a route removed, a service relabelled, a route restored) with one memo kept across
// the sequence, and every step is compared with a fresh translation of the same objects.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { caseNames, loadCase } from "./golden-cases.ts";
import { TranslationMemo, translate } from "./index.ts";

function edits(objects: Map<string, KubeObject>): Array<Map<string, KubeObject>> {
  const steps: Array<Map<string, KubeObject>> = [];
  const keys = [...objects.keys()];
  const routeKey = keys.find((k) => k.includes(".HTTPRoute."));
  const serviceKey = keys.find((k) => k.startsWith("core.Service."));
  let cur = new Map(objects);
  steps.push(cur);
  if (routeKey) {
    const r = structuredClone(objects.get(routeKey)!) as KubeObject & { spec?: { rules?: unknown[] } };
    r.metadata.generation = (r.metadata.generation ?? 1) + 1;
    if (Array.isArray(r.spec?.rules)) r.spec.rules = [...r.spec.rules].reverse();
    cur = new Map(cur).set(routeKey, r);
    steps.push(cur);
    cur = new Map(cur);
    cur.delete(routeKey);
    steps.push(cur);
  }
  if (serviceKey) {
    const s = structuredClone(objects.get(serviceKey)!);
    s.metadata.labels = { ...s.metadata.labels, "istio.io/use-waypoint": "none" };
    cur = new Map(cur).set(serviceKey, s);
    steps.push(cur);
  }
  steps.push(new Map(objects)); // back to the start: same objects as the first step
  steps.push(new Map(objects)); // and once more unchanged
  return steps;
}

test("a translation with a memo equals one without, through a sequence of edits", () => {
  for (const name of caseNames()) {
    const c = loadCase(name);
    const memo = new TranslationMemo();
    for (const [i, objects] of edits(new Map(c.input.objects)).entries()) {
      const withMemo = translate({ objects }, c.settings, memo);
      const fresh = translate({ objects }, c.settings);
      assert.deepEqual(withMemo, fresh, `${name}, step ${i}`);
    }
  }
});

test("an unchanged route keeps its route configuration object (what lets encoding skip it)", () => {
  const c = loadCase("header-control");
  const memo = new TranslationMemo();
  const first = translate(c.input, c.settings, memo);
  const again = translate({ objects: new Map(c.input.objects) }, c.settings, memo);
  const rds = (o: typeof first) =>
    o.waypoints[0]!.resources["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"];
  assert.ok(rds(first).length > 0);
  for (const [i, r] of rds(first).entries()) assert.equal(rds(again)[i]!.json, r.json, r.name);
});
