// Golden tests for the parser (AST) and the Lua generator, over testdata/cases.yaml.
// UPDATE_GOLDEN=1 rewrites testdata/golden/ instead (review the diff).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import type { ParseAs, Phase } from "./checker.ts";
import { compileTemplate } from "./index.ts";

const DIR = new URL("../testdata/", import.meta.url);
const update = process.env.UPDATE_GOLDEN === "1";

interface Case {
  name: string;
  phase: Phase;
  parseAs?: ParseAs;
  template: string;
}

const cases = parseYaml(readFileSync(new URL("cases.yaml", DIR), "utf8")) as Case[];

function golden(file: string, actual: string): void {
  const url = new URL(`golden/${file}`, DIR);
  if (update) {
    writeFileSync(url, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(url, "utf8");
  } catch {
    assert.fail(`${file} is missing; run with UPDATE_GOLDEN=1`);
  }
  assert.equal(actual, expected, `${file} differs`);
}

for (const c of cases) {
  test(`golden: ${c.name}`, () => {
    const t = compileTemplate(c.template, { phase: c.phase, parseAs: c.parseAs ?? "AsString" });
    golden(`${c.name}.ast.json`, `${JSON.stringify(t.ast, null, 1)}\n`);
    golden(`${c.name}.lua`, `${t.lua}\n`);
  });
}
