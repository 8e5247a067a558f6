import assert from "node:assert/strict";
import { test } from "node:test";
import { compileFilters } from "./filters.ts";

test("header modifiers: set overwrites, add appends, remove removes", () => {
  const { headerOps, problems } = compileFilters([
    {
      type: "RequestHeaderModifier",
      requestHeaderModifier: {
        set: [{ name: "A", value: "1" }],
        add: [{ name: "B", value: "2" }],
        remove: ["C"],
      },
    },
    {
      type: "ResponseHeaderModifier",
      responseHeaderModifier: { add: [{ name: "D", value: "50%" }], remove: ["E", "E"] },
    },
  ]);
  assert.deepEqual(problems, []);
  assert.deepEqual(headerOps, {
    requestHeadersToAdd: [
      { header: { key: "A", value: "1" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" },
      { header: { key: "B", value: "2" }, appendAction: "APPEND_IF_EXISTS_OR_ADD" },
    ],
    requestHeadersToRemove: ["C"],
    responseHeadersToAdd: [{ header: { key: "D", value: "50%%" }, appendAction: "APPEND_IF_EXISTS_OR_ADD" }],
    responseHeadersToRemove: ["E"],
  });
});

test("unsupported filters are reported by name, never silently ignored", () => {
  const { problems } = compileFilters([
    { type: "ExternalAuth", externalAuth: {} },
    {
      type: "ExtensionRef",
      extensionRef: { group: "gateway.kgateway.dev", kind: "TrafficPolicy", name: "p" },
    },
  ]);
  assert.equal(problems.length, 2);
  assert.match(problems[0] ?? "", /ExternalAuth/);
  assert.match(problems[1] ?? "", /ExtensionRef/);
});

test("redirect, rewrite and mirrors are read; backendRef filters allow only header modifiers", () => {
  const f = compileFilters([
    { type: "RequestRedirect", requestRedirect: { scheme: "https", port: 8443, statusCode: 301 } },
    { type: "RequestMirror", requestMirror: { backendRef: { name: "m", port: 80 }, percent: 25 } },
    {
      type: "RequestMirror",
      requestMirror: { backendRef: { name: "n", port: 80 }, fraction: { numerator: 1, denominator: 3 } },
    },
  ]);
  assert.deepEqual(f.problems, []);
  assert.deepEqual(f.redirect, { scheme: "https", port: 8443, statusCode: 301 });
  assert.deepEqual(
    f.mirrors.map((m) => m.millionths),
    [250_000, 333_333],
  );
  const both = compileFilters([
    { type: "RequestRedirect", requestRedirect: {} },
    { type: "URLRewrite", urlRewrite: { hostname: "x.example" } },
  ]);
  assert.match(both.problems.join(), /cannot be used in the same rule/);
  const onBackend = compileFilters([{ type: "URLRewrite", urlRewrite: {} }], "backendRef");
  assert.match(onBackend.problems.join(), /not supported on a backendRef/);
  const bad = compileFilters([
    { type: "RequestRedirect", requestRedirect: { statusCode: 305, scheme: "ftp" } },
  ]);
  assert.equal(bad.problems.length, 2);
  assert.equal(bad.redirect, undefined);
});

test("Envoy refuses to modify Host: reported instead of emitted", () => {
  const { headerOps, problems } = compileFilters([
    {
      type: "RequestHeaderModifier",
      requestHeaderModifier: { set: [{ name: "Host", value: "x" }], remove: ["host"] },
    },
  ]);
  assert.deepEqual(headerOps, {});
  assert.equal(problems.length, 2);
});

test("no filters, no header operations", () => {
  assert.deepEqual(compileFilters(undefined), { headerOps: {}, mirrors: [], problems: [] });
  assert.deepEqual(compileFilters([]), { headerOps: {}, mirrors: [], problems: [] });
});

test("CORS: read as the TrafficPolicy cors field is; wildcard origins; errors name the field", () => {
  const f = compileFilters([
    {
      type: "CORS",
      cors: {
        allowOrigins: ["https://www.foo.com", "https://*.bar.com"],
        allowMethods: ["GET", "OPTIONS"],
        allowHeaders: ["x-header-1"],
        exposeHeaders: ["x-header-3"],
        allowCredentials: true,
        maxAge: 3600,
      },
    },
  ]);
  assert.deepEqual(f.problems, []);
  assert.deepEqual(f.cors, {
    allowOriginStringMatch: [
      { exact: "https://www.foo.com" },
      { safeRegex: { regex: "https://.*\\.bar\\.com" } },
    ],
    allowMethods: "GET, OPTIONS",
    allowHeaders: "x-header-1",
    exposeHeaders: "x-header-3",
    maxAge: "3600",
    allowCredentials: true,
  });
  // maxAge defaults to 5 (the CRD's default); "*" alone for any origin.
  assert.deepEqual(compileFilters([{ type: "CORS", cors: { allowOrigins: ["*"] } }]).cors, {
    allowOriginStringMatch: [{ safeRegex: { regex: ".*" } }],
    maxAge: "5",
  });
  const bad = compileFilters([
    { type: "CORS", cors: { allowOrigins: ["example.com", "*"], allowMethods: ["FETCH"], disable: {} } },
  ]);
  assert.equal(bad.cors, undefined);
  assert.deepEqual(bad.problems, [
    "CORS: cors.disable: unknown field (known: allowOrigins, allowMethods, allowHeaders, exposeHeaders, maxAge, allowCredentials)",
    'CORS: cors.allowOrigins: "*" must be the only entry when given',
    'CORS: cors.allowOrigins[0]: "example.com" is not an origin (scheme://host[:port], e.g. https://example.com or https://*.example.com, or "*")',
    'CORS: cors.allowMethods[0]: "FETCH" is not one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH or "*"',
  ]);
  assert.match(compileFilters([{ type: "CORS" }]).problems.join(), /CORS filter has no cors configuration/);
  assert.match(
    compileFilters([{ type: "CORS", cors: {} }], "backendRef").problems.join(),
    /not supported on a backendRef/,
  );
});
