// Golden tests: every case in services/translator/testdata goes through translate() and must equal its
// output.yaml. UPDATE_GOLDEN=1 rewrites output.yaml instead (review the diff!). Every resource is also
// encoded with the strict proto encoder, so a misspelt field fails here rather than in Envoy, and each
// RouteConfiguration spliced from its routes' bytes must decode to the same message as a whole encoding.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { caseNames, encodingProblems, goldenYaml, loadCase } from "./golden-cases.ts";
import { translate } from "./index.ts";

const update = process.env.UPDATE_GOLDEN === "1";

test("there are golden cases", () => {
  assert.ok(caseNames().length >= 10, `found only ${caseNames().length} cases`);
});

for (const name of caseNames()) {
  test(`golden: ${name}`, () => {
    const c = loadCase(name);
    const output = translate(c.input, c.settings);

    assert.deepEqual(encodingProblems(output), [], name);

    // Deterministic whatever the order of the input objects.
    const reversed = translate({ objects: new Map([...c.input.objects].reverse()) }, c.settings);
    assert.deepEqual(reversed, output, "output depends on input order");

    const file = join(c.dir, "output.yaml");
    const actual = goldenYaml(output);
    if (update) {
      writeFileSync(file, actual);
      return;
    }
    let expected: string;
    try {
      expected = readFileSync(file, "utf8");
    } catch {
      assert.fail(`${file} is missing; run with UPDATE_GOLDEN=1 to create it`);
    }
    assert.deepEqual(parse(actual), parse(expected), `${name}: output differs from output.yaml`);
  });
}
