import assert from "node:assert/strict";
import { test } from "node:test";
import { originMatcher, readCors } from "./spec.ts";

test("origins: exact, any, a trailing wildcard as a prefix, a wildcard label as a whole-value regex", () => {
  assert.deepEqual(originMatcher("https://a.example"), { exact: "https://a.example" });
  assert.deepEqual(originMatcher("*"), { safeRegex: { regex: ".*" } });
  assert.deepEqual(originMatcher("https://a.example:*"), { prefix: "https://a.example:" });
  assert.deepEqual(originMatcher("https://*.example.com"), {
    safeRegex: { regex: "https://.*\\.example\\.com" },
  });
});

test("TrafficPolicy cors: disable alone turns the filter off; the fields as the route filter reads them", () => {
  const off = readCors({ disable: {} });
  assert.ok(off.ok);
  assert.equal(off.value.policy.filterEnabled?.defaultValue?.numerator, 0);
  const mixed = readCors({ disable: {}, allowOrigins: ["*"] });
  assert.ok(!mixed.ok);
  assert.match(
    mixed.errors.map((e) => `${e.path}: ${e.message}`).join(),
    /cors\.disable: cannot be combined/,
  );
  const on = readCors({ allowOrigins: ["*", "https://a.example"], maxAge: 0 });
  assert.ok(!on.ok);
  assert.deepEqual(
    on.errors.map((e) => e.path),
    ["cors.allowOrigins", "cors.maxAge"],
  );
});
