import assert from "node:assert/strict";
import { test } from "node:test";
import { gatewayDurationToProto } from "./compile.ts";
import { escapeHeaderValue } from "./filters.ts";
import { checkRegex, compileMatch } from "./matches.ts";

function match(m: unknown) {
  const c = compileMatch(m);
  assert.ok(c.ok, c.ok ? "" : c.message);
  return c.value.match;
}

test("PathPrefix matches on segment boundaries (path_separated_prefix), '/' is a plain prefix", () => {
  assert.deepEqual(match(undefined), { prefix: "/" });
  assert.deepEqual(match({ path: { type: "PathPrefix", value: "/" } }), { prefix: "/" });
  assert.deepEqual(match({ path: { value: "/foo" } }), { pathSeparatedPrefix: "/foo" });
  assert.deepEqual(match({ path: { value: "/foo/" } }), { pathSeparatedPrefix: "/foo" });
  assert.deepEqual(match({ path: { type: "Exact", value: "/foo/" } }), { path: "/foo/" });
  assert.deepEqual(match({ path: { type: "RegularExpression", value: "/a[0-9]+" } }), {
    safeRegex: { regex: "/a[0-9]+" },
  });
});

test("headers, method and query parameters", () => {
  assert.deepEqual(
    match({
      method: "POST",
      headers: [
        { name: "x-a", value: "1" },
        { type: "RegularExpression", name: "x-b", value: "b.*" },
      ],
      queryParams: [{ name: "q", value: "v" }],
    }),
    {
      prefix: "/",
      headers: [
        { name: "x-a", stringMatch: { exact: "1" } },
        { name: "x-b", stringMatch: { safeRegex: { regex: "b.*" } } },
        { name: ":method", stringMatch: { exact: "POST" } },
      ],
      queryParameters: [{ name: "q", stringMatch: { exact: "v" } }],
    },
  );
});

test("invalid matches are reported, not emitted", () => {
  for (const bad of [
    { path: { value: "relative" } },
    { path: { type: "Exact", value: "/a?b" } },
    { path: { type: "Glob", value: "/a" } },
    { path: { type: "RegularExpression", value: "(" } },
    { headers: [{ name: "", value: "x" }] },
    { headers: [{ name: "a", type: "Prefix", value: "x" }] },
    { method: "get" },
    { queryParams: [{ name: "", value: "x" }] },
  ]) {
    const c = compileMatch(bad);
    assert.ok(!c.ok, JSON.stringify(bad));
    assert.ok(c.message.length > 10);
  }
});

test("regular expressions are checked for RE2", () => {
  assert.equal(checkRegex("^/api/v[0-9]+"), undefined);
  assert.equal(checkRegex("(?i)abc"), undefined);
  assert.equal(checkRegex("(?P<v>[0-9]+)"), undefined);
  assert.match(checkRegex("a(?=b)") ?? "", /lookaround/);
  assert.match(checkRegex("(?<!a)b") ?? "", /lookaround/);
  assert.match(checkRegex("(a)\\1") ?? "", /backreference/);
  assert.match(checkRegex("[") ?? "", /invalid/);
  assert.match(checkRegex("") ?? "", /empty/);
});

test("header values escape Envoy's format character", () => {
  assert.equal(escapeHeaderValue("100%"), "100%%");
  assert.equal(escapeHeaderValue("%REQ(x)%"), "%%REQ(x)%%");
  assert.equal(escapeHeaderValue("plain"), "plain");
});

test("Gateway API durations become proto durations", () => {
  assert.equal(gatewayDurationToProto("10s"), "10s");
  assert.equal(gatewayDurationToProto("1h30m"), "5400s");
  assert.equal(gatewayDurationToProto("500ms"), "0.500s");
  assert.equal(gatewayDurationToProto("1m1s1ms"), "61.001s");
  assert.equal(gatewayDurationToProto("0s"), "0s");
  assert.equal(gatewayDurationToProto("1.5s"), undefined);
  assert.equal(gatewayDurationToProto("10"), undefined);
  assert.equal(gatewayDurationToProto(""), undefined);
});
