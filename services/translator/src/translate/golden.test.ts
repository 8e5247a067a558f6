// Golden tests: every case in services/translator/testdata goes through translate() and must equal its
// golden files, one per xDS type plus status.yaml (and infra.yaml when the case asks for infra; the
// layout is described in golden-cases.ts). Each file is compared on its own, as a subtest named after
// it, and a golden file that is missing, or present when the output has no such part, fails the case.
// UPDATE_GOLDEN=1 rewrites the golden files instead and deletes stale ones (review the diff!).
// Every resource is also encoded with the strict proto encoder, so a misspelt field fails here rather
// than in Envoy, and each RouteConfiguration spliced from its routes' bytes must decode to the same
// message as a whole encoding.
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { DEFAULT_INFRA_SETTINGS } from "../infra/objects.ts";
import {
  caseNames,
  encodingProblems,
  goldenFiles,
  goldenFilesIn,
  loadCase,
  outputFromGoldenFiles,
} from "./golden-cases.ts";
import { translate } from "./index.ts";

const update = process.env.UPDATE_GOLDEN === "1";

/** Golden files parsed back: file name → data. */
function parsedFiles(files: Map<string, string>): Map<string, unknown> {
  return new Map([...files].map(([file, text]): [string, unknown] => [file, parse(text)]));
}

test("there are golden cases", () => {
  assert.ok(caseNames().length >= 10, `found only ${caseNames().length} cases`);
});

// No golden case asks for infra (the Kubernetes objects of each waypoint); this holds the split to
// carrying it whole in infra.yaml when one does, and to writing no infra.yaml otherwise.
test("infra.yaml is written only when the settings ask for infra, and holds all of it", () => {
  const c = loadCase("header-control");
  assert.equal(goldenFiles(translate(c.input, c.settings)).has("infra.yaml"), false);
  const output = translate(c.input, { ...c.settings, infra: DEFAULT_INFRA_SETTINGS });
  assert.ok(output.infra?.length, "no infra in the output");
  const files = goldenFiles(output);
  assert.ok(files.has("infra.yaml"));
  assert.deepEqual(outputFromGoldenFiles(parsedFiles(files)), JSON.parse(JSON.stringify(output)));
});

test("type files that list different waypoints are refused", () => {
  const c = loadCase("listeners-invalid");
  const files = parsedFiles(goldenFiles(translate(c.input, c.settings)));
  const routes = files.get("routes.yaml");
  assert.ok(Array.isArray(routes) && routes.length === 2, "the case has two waypoints");
  files.set("routes.yaml", [...routes].reverse());
  assert.throws(
    () => outputFromGoldenFiles(files),
    /routes\.yaml and listeners\.yaml do not list the same waypoints/,
  );
  files.set("routes.yaml", routes.slice(0, 1));
  assert.throws(
    () => outputFromGoldenFiles(files),
    /routes\.yaml and listeners\.yaml do not list the same waypoints/,
  );
});

for (const name of caseNames()) {
  test(`golden: ${name}`, async (t) => {
    const c = loadCase(name);
    const output = translate(c.input, c.settings);

    assert.deepEqual(encodingProblems(output), [], name);

    // Deterministic whatever the order of the input objects.
    const reversed = translate({ objects: new Map([...c.input.objects].reverse()) }, c.settings);
    assert.deepEqual(reversed, output, "output depends on input order");

    const files = goldenFiles(output);
    // The split loses nothing: put back together, the files are the whole output.
    const parsed = parsedFiles(files);
    assert.deepEqual(
      outputFromGoldenFiles(parsed),
      JSON.parse(JSON.stringify(output)),
      `${name}: the golden files do not hold the whole output`,
    );

    const present = goldenFilesIn(c.dir);
    const stale = present.filter((file) => !files.has(file));
    if (update) {
      for (const [file, text] of files) writeFileSync(join(c.dir, file), text);
      for (const file of stale) rmSync(join(c.dir, file));
      return;
    }
    for (const file of files.keys()) {
      await t.test(file, () => {
        const path = `testdata/${name}/${file}`;
        assert.ok(present.includes(file), `${path} is missing; run with UPDATE_GOLDEN=1 to create it`);
        const expected: unknown = parse(readFileSync(join(c.dir, file), "utf8"));
        assert.deepEqual(parsed.get(file), expected, `${path}: the output differs from the golden file`);
      });
    }
    await t.test("no stale golden files", () => {
      assert.deepEqual(
        stale,
        [],
        `testdata/${name} has golden files the output has no part for: ${stale.join(", ")}; UPDATE_GOLDEN=1 deletes them`,
      );
    });
  });
}
