// Property-based fuzzing of the whole translation (generators in fuzz/arbitraries.ts): for every
// generated input of Gateways, Services, EndpointSlices, HTTPRoutes, ReferenceGrants and
// TrafficPolicies,
//   - translate() never throws and every resource encodes with the strict proto encoder;
//   - every status condition has a type, a valid reason and a message Kubernetes accepts, and every
//     HTTPRoute naming one of our waypoints gets a status;
//   - a real Envoy accepts every output (`envoy --mode validate`, many cases per bootstrap).
// Short by default (CI); `pnpm test:fuzz` runs the long mode. FUZZ_CASES, FUZZ_SEED, FUZZ_BATCH.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import fc from "fast-check";
import { world } from "./fuzz/arbitraries.ts";
import { checkCase, type EnvoyCase, validateBatch } from "./fuzz/harness.ts";

const CASES = Number(process.env.FUZZ_CASES ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? 20260701);
const BATCH = Number(process.env.FUZZ_BATCH ?? 100);
const dir = mkdtempSync(join(tmpdir(), "waymark-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test(`fuzz: ${CASES} generated inputs (seed ${SEED}) translate, encode, carry valid status and pass Envoy`, async () => {
  const started = Date.now();
  const figures = {
    cases: 0,
    resources: 0,
    statuses: 0,
    rejectedConditions: 0,
    envoyValidations: 0,
    envoyCases: 0,
    nacks: 0,
    routeEntries: 0,
    luaChunks: 0,
  };
  const failures: string[] = [];
  const save = (id: number, objects: unknown) => {
    const file = join(tmpdir(), `waymark-fuzz-case-${SEED}-${id}.json`);
    writeFileSync(file, JSON.stringify([...(objects as Map<string, unknown>).values()], null, 2));
    return file;
  };
  for (let chunk = 0; chunk * BATCH < CASES; chunk++) {
    const n = Math.min(BATCH, CASES - chunk * BATCH);
    const inputs = fc.sample(world, { numRuns: n, seed: SEED + chunk });
    const envoyCases: EnvoyCase[] = [];
    const byId = new Map<number, (typeof inputs)[number]>();
    inputs.forEach((objects, j) => {
      const id = chunk * BATCH + j;
      const r = checkCase(objects);
      figures.cases++;
      figures.resources += r.resources;
      if (r.problems.length) {
        failures.push(
          `case ${id} (seed ${SEED + chunk}, index ${j}; input ${save(id, objects)}):\n  ${r.problems.slice(0, 5).join("\n  ")}`,
        );
        return;
      }
      if (!r.output) return;
      figures.statuses += r.output.statuses.length;
      figures.rejectedConditions += JSON.stringify(r.output.statuses).split('"status":"False"').length - 1;
      const text = JSON.stringify(r.output.waypoints);
      figures.routeEntries += text.split('"match":').length - 1;
      figures.luaChunks += text.split("LuaPerRoute").length - 1;
      envoyCases.push({ id, output: r.output });
      byId.set(id, objects);
    });
    const v = await validateBatch(envoyCases, dir);
    figures.envoyValidations += v.validations;
    figures.envoyCases += v.validated;
    figures.nacks += v.rejected.length;
    for (const r of v.rejected) {
      failures.push(`case ${r.id}: Envoy rejected it (input ${save(r.id, byId.get(r.id))}):\n  ${r.message}`);
    }
    if (failures.length >= Number(process.env.FUZZ_MAX_FAILURES ?? 10)) break;
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `fuzz figures: ${JSON.stringify({ ...figures, failures: failures.length, seconds, seed: SEED })}`,
  );
  assert.deepEqual(failures, [], `${failures.length} failing case(s):\n${failures.slice(0, 10).join("\n")}`);
  // The generators must reach Envoy with real configuration, not only reject everything, and the
  // outputs must hold what the properties above are about: statuses (some rejecting an input), routes
  // and transformation Lua. A generator that stopped producing one of them would pass vacuously.
  assert.ok(figures.envoyCases > CASES / 4, `only ${figures.envoyCases} of ${CASES} cases produced xDS`);
  assert.ok(figures.envoyValidations > 0, "Envoy validated no bootstrap");
  assert.ok(figures.resources > figures.envoyCases, `${figures.resources} resources in ${CASES} cases`);
  assert.ok(figures.statuses > CASES / 4, `${figures.statuses} statuses in ${CASES} cases`);
  assert.ok(figures.rejectedConditions > 0, "no generated input was rejected by any status condition");
  assert.ok(figures.routeEntries > CASES / 4, `${figures.routeEntries} route entries in ${CASES} cases`);
  assert.ok(figures.luaChunks > 0, "no generated TrafficPolicy produced transformation Lua");
});
