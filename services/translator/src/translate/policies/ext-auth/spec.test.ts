import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { GOLDEN_SETTINGS } from "../../golden-cases.ts";
import { indexObjects } from "../../input/objects.ts";
import { Extensions, sameNamespaceBackend } from "../extensions/resolve.ts";
import type { FeatureContext } from "../feature.ts";
import { extAuthFeature, extAuthFilterName } from "./index.ts";
import { readExtAuth } from "./spec.ts";

const SERVICE: KubeObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "authz", namespace: "ns" },
  spec: {
    clusterIP: "10.96.0.9",
    ports: [
      { name: "check", port: 9000 },
      { name: "grpc", port: 9001 },
    ],
  },
} as KubeObject;

function ctx(extensions: Record<string, unknown>): FeatureContext {
  const objects = new Map<string, KubeObject>([["v1/Service/ns/authz", SERVICE]]);
  for (const [name, spec] of Object.entries(extensions))
    objects.set(`gateway.kgateway.dev/GatewayExtension/ns/${name}`, {
      apiVersion: "gateway.kgateway.dev/v1alpha1",
      kind: "GatewayExtension",
      metadata: { name, namespace: "ns" },
      spec,
    } as KubeObject);
  const index = indexObjects(objects);
  const all = new Extensions(index, GOLDEN_SETTINGS);
  return {
    settings: GOLDEN_SETTINGS,
    namespace: "ns",
    spec: {},
    targetKinds: new Set(["HTTPRoute"]),
    secret: () => undefined,
    secretsSelected: () => [],
    extension: (kind, ref, path) => all.resolve(kind, ref, path, "ns"),
    extensionsOfKind: (kind) => all.usable(kind, "ns"),
    backend: (ref) => sameNamespaceBackend(ref, "ns", index),
  };
}

const grpc = (extra: Record<string, unknown> = {}, port = 9000) => ({
  type: "ExtAuth",
  extAuth: { grpcService: { backendRef: { name: "authz", port } }, ...extra },
});
const messages = (r: ReturnType<typeof readExtAuth>) =>
  r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);

test("a gRPC extension: Envoy's defaults (200ms, 403 on error, fail closed) and an HTTP/2 cluster of its own", () => {
  const r = readExtAuth({ extensionRef: { name: "a" } }, ctx({ a: grpc(), b: grpc() }));
  assert.ok(r.ok && r.value.kind === "check");
  assert.equal(r.value.extension, "ns/a");
  assert.deepEqual(r.value.others, ["ns/b"], "the other extension's filter is turned off here");
  const c = r.value.server.config;
  assert.equal(c.grpcService?.timeout, "0.200s");
  assert.deepEqual(c.statusOnError, { code: "Forbidden" });
  assert.equal(c.failureModeAllow, undefined);
  assert.equal(r.value.server.backend.cluster, "kube_ns_authz_9000_grpc");
  assert.equal(r.value.server.backend.port.appProtocol, "grpc");
});

test("a port named grpc keeps its cluster", () => {
  const r = readExtAuth({ extensionRef: { name: "a" } }, ctx({ a: grpc({}, 9001) }));
  assert.ok(r.ok && r.value.kind === "check");
  assert.equal(r.value.server.backend.cluster, "kube_ns_authz_9001");
});

test("context extensions and the body go into the route's check settings", () => {
  const r = readExtAuth(
    { extensionRef: { name: "a" }, contextExtensions: { k: "v" }, withRequestBody: { maxRequestBytes: 10 } },
    ctx({ a: grpc() }),
  );
  assert.ok(r.ok && r.value.kind === "check");
  assert.deepEqual(r.value.checkSettings, {
    contextExtensions: { k: "v" },
    withRequestBody: { maxRequestBytes: 10 },
  });
  const per = extAuthFeature.perRoute!(r.value);
  assert.deepEqual(Object.keys(per), [extAuthFilterName("ns/a")]);
});

test("disable turns every usable ExtAuth extension's filter off", () => {
  const r = readExtAuth({ disable: {} }, ctx({ a: grpc(), b: grpc(), bad: grpc({}, 1) }));
  assert.ok(r.ok && r.value.kind === "disable");
  assert.deepEqual(r.value.all, ["ns/a", "ns/b"]);
  const per = extAuthFeature.perRoute!(r.value) as Record<string, { disabled?: boolean }>;
  assert.deepEqual(
    Object.values(per).map((p) => p.disabled),
    [true, true],
  );
});

test("errors name the field", () => {
  assert.deepEqual(messages(readExtAuth({}, ctx({}))), [
    "extAuth: set exactly one of extensionRef and disable",
  ]);
  assert.match(
    messages(readExtAuth({ extensionRef: { name: "x" } }, ctx({})))[0]!,
    /^extAuth\.extensionRef: GatewayExtension ns\/x not found/,
  );
  assert.match(
    messages(readExtAuth({ extensionRef: { name: "a" } }, ctx({ a: grpc({ statusOnError: 299 }) })))[0]!,
    /extAuth\.statusOnError.*not an HTTP status/,
  );
  assert.match(
    messages(
      readExtAuth(
        { extensionRef: { name: "a" } },
        ctx({
          a: grpc({
            grpcService: {
              backendRef: { name: "authz", port: 9000 },
              retry: { backoff: { baseInterval: "1s", maxInterval: "10ms" } },
            },
          }),
        }),
      ),
    )[0]!,
    /extAuth\.grpcService\.retry\.backoff\.maxInterval: must not be below baseInterval/,
  );
  assert.match(
    messages(
      readExtAuth({ extensionRef: { name: "a" }, contextExtensions: { k: 1 } }, ctx({ a: grpc() })),
    )[0]!,
    /extAuth\.contextExtensions\.k: must be a string/,
  );
});
