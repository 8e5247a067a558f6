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
    { type: "RequestMirror", requestMirror: { backendRef: { name: "x", port: 80 } } },
    {
      type: "ExtensionRef",
      extensionRef: { group: "gateway.kgateway.dev", kind: "TrafficPolicy", name: "p" },
    },
  ]);
  assert.equal(problems.length, 2);
  assert.match(problems[0] ?? "", /RequestMirror/);
  assert.match(problems[1] ?? "", /ExtensionRef/);
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
  assert.deepEqual(compileFilters(undefined), { headerOps: {}, problems: [] });
  assert.deepEqual(compileFilters([]), { headerOps: {}, problems: [] });
});
