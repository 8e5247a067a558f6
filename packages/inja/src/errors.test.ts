// Rejected templates fail with a precise code, line and column.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CheckOptions } from "./checker.ts";
import { TemplateError } from "./errors.ts";
import { compileTemplate } from "./index.ts";

const REQ: CheckOptions = { phase: "request", parseAs: "AsString" };

const cases: Array<[string, string, number, number, RegExp, CheckOptions?]> = [
  ["filter", "{{ header('a') | upper }}", 1, 16, /filters \(\|\) are not supported/],
  ["unknown function", "a\n  {{ nope(1) }}", 2, 6, /unknown function "nope"; available: header/],
  ["other dialect", "{{ word_count(body()) }}", 1, 4, /word_count\(\) is not available/],
  ["arity", "{{ substring('a') }}", 1, 4, /substring\(\) takes 2 to 3 arguments, got 1/],
  [
    "unknown variable",
    "{{ user }}",
    1,
    4,
    /unknown variable "user"; JSON body fields are variables only with body.parseAs: AsJson/,
  ],
  ["context needs AsJson", "{{ context() }}", 1, 4, /context\(\) needs body.parseAs: AsJson/],
  ["body with None", "{{ body() }}", 1, 4, /parseAs is None/, { phase: "request", parseAs: "None" }],
  ["macro", "{% macro m() %}{% endmacro %}", 1, 4, /macros \(\{% macro %\}\) are not supported/],
  ["set", "x{% set a = 1 %}", 1, 5, /variable assignment/],
  ["unclosed if", "{% if 1 %}\nyes", 1, 1, /\{% if %\} is never closed/],
  ["stray endfor", "{% if 1 %}{% endfor %}", 1, 11, /closes the \{% if %\} opened at line 1, column 1/],
  ["else if", "{% if 1 %}{% else if 2 %}{% endif %}", 1, 19, /use \{% elif %\}/],
  ["unterminated tag", "ok {{ header('x')", 1, 4, /never closed with "\}\}"/],
  ["unterminated string", "{{ 'abc }}", 1, 4, /unterminated string literal/],
  ["method call", "{{ header('x').lower() }}", 1, 21, /only named functions can be called/],
  ["numeric attribute", "{{ items.0 }}", 1, 10, /index with \[0\]/, { phase: "request", parseAs: "AsJson" }],
  ["loop property", "{% for x in [1] %}{{ loop.cycle }}{% endfor %}", 1, 26, /loop.cycle is not supported/],
  [
    "test",
    "{{ x is defined }}",
    1,
    6,
    /tests \(is \.\.\.\) are not supported/,
    { phase: "request", parseAs: "AsJson" },
  ],
  ["map literal", "{{ {'a': 1} }}", 1, 4, /map literals are not supported/],
  [
    "bad character",
    "{{ a $ b }}",
    1,
    6,
    /unexpected character "\$"/,
    { phase: "request", parseAs: "AsJson" },
  ],
  ["too deep", `{{ ${"(".repeat(40)}1${")".repeat(40)} }}`, 1, 0, /nested more than 32 levels/],
];

for (const [name, source, line, column, message, options] of cases) {
  test(`rejects: ${name}`, () => {
    assert.throws(
      () => compileTemplate(source, options ?? REQ),
      (e: unknown) => {
        assert.ok(e instanceof TemplateError, String(e));
        assert.equal(e.line, line, `line of ${e.message}`);
        if (column > 0) assert.equal(e.column, column, `column of ${e.message}`);
        assert.match(e.message, message);
        assert.match(e.message, /^line \d+, column \d+: /);
        return true;
      },
    );
  });
}

test("accepts the guide's template and kgateway's functions", () => {
  const t = compileTemplate('{{ substring(base64_decode(request_header("x-base64-encoded")), 11) }}', {
    phase: "response",
    parseAs: "AsString",
  });
  assert.deepEqual([...t.uses.requestHeaders], ["x-base64-encoded"]);
});
