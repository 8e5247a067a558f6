import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_TEMPLATE_LIMITS, type TemplateError, tryCompileTemplate } from "./index.ts";
import type { TemplateLimits } from "./limits.ts";

const opts = { phase: "request", parseAs: "AsString" } as const;

function refusal(source: string, limits?: Partial<TemplateLimits>): TemplateError {
  const r = tryCompileTemplate(source, limits ? { ...opts, limits } : opts);
  assert.equal(r.ok, false, `accepted: ${source.slice(0, 60)}`);
  if (r.ok) throw new Error("unreachable");
  return r.error;
}
const accepted = (source: string, limits?: Partial<TemplateLimits>) =>
  assert.equal(tryCompileTemplate(source, limits ? { ...opts, limits } : opts).ok, true);

const nestedIfs = (n: number) => `${"{% if true %}".repeat(n)}x${"{% endif %}".repeat(n)}`;
const nestedParens = (n: number) => `{{ ${"(".repeat(n)}1${")".repeat(n)} }}`;
const loops = (n: number) => '{% for h in ["a"] %}{{ h }}{% endfor %}'.repeat(n);

test("the defaults", () => {
  assert.deepEqual(DEFAULT_TEMPLATE_LIMITS, {
    maxLength: 65536,
    maxExpressionDepth: 32,
    maxBlockDepth: 16,
    maxLoops: 16,
    maxElements: 4000,
  });
  assert.ok(Object.isFrozen(DEFAULT_TEMPLATE_LIMITS));
});

test("template length: the default and a setting, exact message", () => {
  accepted("x".repeat(65536));
  const e = refusal("x".repeat(65537));
  assert.equal(e.message, "line 1, column 1: template is longer than 65536 characters (it has 65537)");
  assert.equal(e.limit, "maxLength");
  accepted("x".repeat(10), { maxLength: 10 });
  assert.equal(
    refusal("x".repeat(11), { maxLength: 10 }).message,
    "line 1, column 1: template is longer than 10 characters (it has 11)",
  );
});

test("block nesting (render depth): the default and a setting", () => {
  accepted(nestedIfs(16));
  const e = refusal(nestedIfs(17));
  assert.equal(e.code, "template-limit");
  assert.equal(e.limit, "maxBlockDepth");
  assert.equal(e.detail, "blocks nested more than 16 levels deep");
  accepted(nestedIfs(3), { maxBlockDepth: 3 });
  assert.equal(refusal(nestedIfs(4), { maxBlockDepth: 3 }).detail, "blocks nested more than 3 levels deep");
  // Raised above the default.
  accepted(nestedIfs(20), { maxBlockDepth: 20 });
});

test("expression nesting: the default and a setting", () => {
  accepted(nestedParens(20));
  assert.equal(refusal(nestedParens(40)).limit, "maxExpressionDepth");
  const e = refusal(nestedParens(6), { maxExpressionDepth: 4 });
  assert.equal(e.limit, "maxExpressionDepth");
  assert.match(e.detail, /^expression nested more than 4 levels deep$/);
});

test("loops per template and elements per template", () => {
  accepted(loops(16));
  assert.equal(refusal(loops(17)).detail, "more than 16 for loops in one template");
  assert.equal(refusal(loops(3), { maxLoops: 2 }).detail, "more than 2 for loops in one template");
  accepted(loops(20), { maxLoops: 20 });
  const e = refusal("{{ 1 }}".repeat(30), { maxElements: 40 });
  assert.equal(e.limit, "maxElements");
  assert.equal(e.detail, "template is too large (more than 40 elements)");
});

test("fixed caps name no setting", () => {
  const e = refusal(`{{ [${Array.from({ length: 65 }, (_, i) => i).join(",")}] }}`);
  assert.equal(e.code, "template-limit");
  assert.equal(e.limit, undefined);
});
