import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_SETTINGS } from "../../types.ts";
import { readTracing } from "./spec.ts";

const errorsOf = (v: unknown) => {
  const r = readTracing(v);
  assert.ok(!r.ok, "expected errors");
  return r.errors.map((e) => `${e.path}: ${e.message}`);
};

test("sampling percentages over 100 and every kind of attribute become the route's tracing", () => {
  const r = readTracing({
    clientSampling: 100,
    randomSampling: 0,
    overallSampling: 25,
    attributes: [
      { name: "team", literal: { value: "payments" } },
      { name: "node", environment: { name: "HOSTNAME", defaultValue: "unknown" } },
      { name: "tenant", requestHeader: { name: "x-tenant" } },
      {
        name: "owner",
        metadata: {
          kind: "Route",
          metadataKey: { key: "waymark", path: [{ key: "owner" }] },
          defaultValue: "-",
        },
      },
    ],
  });
  assert.ok(r.ok);
  assert.deepEqual(r.value.tracing, {
    clientSampling: { numerator: 100, denominator: "HUNDRED" },
    randomSampling: { numerator: 0, denominator: "HUNDRED" },
    overallSampling: { numerator: 25, denominator: "HUNDRED" },
    customTags: [
      { tag: "team", literal: { value: "payments" } },
      { tag: "node", environment: { name: "HOSTNAME", defaultValue: "unknown" } },
      { tag: "tenant", requestHeader: { name: "x-tenant" } },
      {
        tag: "owner",
        metadata: {
          kind: { route: {} },
          metadataKey: { key: "waymark", path: [{ key: "owner" }] },
          defaultValue: "-",
        },
      },
    ],
  });
  // Only what is given: an empty tracing overrides nothing.
  const empty = readTracing({});
  assert.ok(empty.ok);
  assert.deepEqual(empty.value.tracing, {});
});

test("disable: {} samples nothing on the route, and stands alone", () => {
  const r = readTracing({ disable: {} });
  assert.ok(r.ok);
  const zero = { numerator: 0, denominator: "HUNDRED" };
  assert.deepEqual(r.value.tracing, { clientSampling: zero, randomSampling: zero, overallSampling: zero });
  assert.deepEqual(errorsOf({ disable: {}, randomSampling: 5 }), [
    "tracing.disable: cannot be combined with other tracing fields",
  ]);
});

test("errors name the path: ranges, one source per attribute, what Envoy refuses (empty values)", () => {
  assert.deepEqual(
    errorsOf({
      clientSampling: 101,
      overallSampling: 2.5,
      provider: {},
      attributes: [
        { name: "a" },
        { name: "b", literal: { value: "x" }, requestHeader: { name: "y" } },
        { name: "", literal: { value: "" } },
        { name: "h", requestHeader: { name: "bad header" } },
        { name: "m", metadata: { kind: "Listener", metadataKey: { key: "", path: [] } } },
      ],
    }),
    [
      "tracing.provider: unknown field (known: attributes, clientSampling, randomSampling, overallSampling, disable)",
      "tracing.clientSampling: must be a whole number from 0 to 100",
      "tracing.overallSampling: must be a whole number from 0 to 100",
      "tracing.attributes[0]: set exactly one of literal, environment, requestHeader, metadata",
      "tracing.attributes[1]: set exactly one of literal, environment, requestHeader, metadata",
      "tracing.attributes[2].name: must be a non-empty string",
      'tracing.attributes[3].requestHeader.name: "bad header" is not a header name',
      "tracing.attributes[4].metadata.kind: must be one of Request, Route, Cluster, Host",
      "tracing.attributes[4].metadata.metadataKey.key: must be a non-empty string",
      "tracing.attributes[4].metadata.metadataKey.path: must be a list of at least one {key: ...}",
    ],
  );
});

test("only for route targets, as kgateway's CRD has it", () => {
  const r = readTracing({ randomSampling: 10 }, { targetKinds: new Set(["Gateway", "HTTPRoute"]) });
  assert.ok(!r.ok);
  assert.match(
    r.errors[0]?.message ?? "",
    /every target is HTTPRoute or GRPCRoute \(this policy also targets Gateway\)/,
  );
  assert.ok(readTracing({ randomSampling: 10 }, { targetKinds: new Set(["HTTPRoute", "GRPCRoute"]) }).ok);
});

test("with the waypoints' tracing provider, an unset randomSampling keeps the provider's default", () => {
  const settings = (randomSampling?: number) => ({
    settings: {
      ...DEFAULT_SETTINGS,
      waypointTracing: {
        host: "otel",
        port: 4317,
        ...(randomSampling === undefined ? {} : { randomSampling }),
      },
    },
  });
  const tags = { attributes: [{ name: "team", literal: { value: "payments" } }] };
  const filled = (v: unknown, s: ReturnType<typeof settings>) => {
    const r = readTracing(v, s);
    assert.ok(r.ok);
    return r.value.tracing;
  };
  // Without it, Envoy would sample the route at 100% (an unset route percentage), not at the default.
  assert.deepEqual(filled(tags, settings()).randomSampling, { numerator: 1, denominator: "HUNDRED" });
  assert.deepEqual(filled(tags, settings(0)).randomSampling, { numerator: 0, denominator: "HUNDRED" });
  assert.deepEqual(filled({ clientSampling: 5 }, settings(0.25)), {
    clientSampling: { numerator: 5, denominator: "HUNDRED" },
    randomSampling: { numerator: 25, denominator: "TEN_THOUSAND" },
  });
  // A randomSampling of the policy's own, and disable, are kept as they are.
  assert.deepEqual(filled({ randomSampling: 40 }, settings(0)).randomSampling, {
    numerator: 40,
    denominator: "HUNDRED",
  });
  const zero = { numerator: 0, denominator: "HUNDRED" };
  assert.deepEqual(filled({ disable: {} }, settings(50)), {
    clientSampling: zero,
    randomSampling: zero,
    overallSampling: zero,
  });
  // No provider: only what the policy gives.
  const none = readTracing(tags, { settings: DEFAULT_SETTINGS });
  assert.ok(none.ok);
  assert.equal(none.value.tracing.randomSampling, undefined);
});
