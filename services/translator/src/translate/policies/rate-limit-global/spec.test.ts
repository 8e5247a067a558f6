import assert from "node:assert/strict";
import { test } from "node:test";
import { GOLDEN_SETTINGS } from "../../golden-cases.ts";
import type { ServiceInfo, ServicePortInfo } from "../../input/objects.ts";
import { serviceTarget } from "../../routes/backends.ts";
import type { ExtensionContext } from "../extensions/kind.ts";
import type { FeatureContext, FeatureRead } from "../feature.ts";
import { type RateLimitService, rateLimitExtension } from "./extension.ts";
import { globalRateLimitFeature } from "./index.ts";
import { readGlobalRateLimit } from "./spec.ts";

const port = (p: Partial<ServicePortInfo>): ServicePortInfo => ({ name: "grpc", port: 8081, ...p });
const service = (ports: ServicePortInfo[]): ServiceInfo => ({
  object: { apiVersion: "v1", kind: "Service", metadata: { name: "rls", namespace: "ns" } },
  namespace: "ns",
  name: "rls",
  labels: {},
  vips: ["10.0.0.9"],
  ports,
});

function extCtx(ports: ServicePortInfo[] = [port({})]): ExtensionContext {
  return {
    settings: GOLDEN_SETTINGS,
    namespace: "ns",
    secret: () => undefined,
    backend: (ref) => {
      const p = ports.find((x) => x.port === (ref as { port?: number }).port);
      return p
        ? { ok: true, target: serviceTarget(service(ports), p) }
        : { ok: false, message: "no such port" };
    },
  };
}
const readExt = (v: unknown, ports?: ServicePortInfo[]) => rateLimitExtension.read(v, extCtx(ports));
const errors = (r: FeatureRead<unknown>) => (r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`));
const grpc = { backendRef: { name: "rls", port: 8081 } };

test("RateLimit extension: kgateway's defaults (timeout 100ms, failOpen true, no headers)", () => {
  const r = readExt({ domain: "d", grpcService: grpc });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.deepEqual(
    { ...r.value, backend: r.value.backend.cluster },
    {
      domain: "d",
      failOpen: true,
      timeout: "0.100s",
      xRateLimitHeaders: false,
      grpcService: { envoyGrpc: { clusterName: "kube_ns_rls_8081" } },
      backend: "kube_ns_rls_8081",
    },
  );
});

test("RateLimit extension: failure mode, headers, timeouts and retries carried", () => {
  const r = readExt({
    domain: "d",
    failOpen: false,
    timeout: "1s",
    xRateLimitHeaders: "DraftVersion03",
    grpcService: { ...grpc, authority: "a.b", requestTimeout: "50ms", retry: { attempts: 3 } },
  });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.failOpen, false);
  assert.equal(r.value.timeout, "1s");
  assert.equal(r.value.xRateLimitHeaders, true);
  assert.deepEqual(r.value.grpcService, {
    envoyGrpc: { clusterName: "kube_ns_rls_8081", authority: "a.b" },
    timeout: "0.050s",
    retryPolicy: { numRetries: 3 },
  });
});

test("RateLimit extension: errors name the field; a port not declared gRPC gets an HTTP/2 cluster of its own", () => {
  assert.deepEqual(errors(readExt({ grpcService: grpc, xRateLimitHeaders: "On", timeout: "soon" })), [
    "rateLimit.domain: required: the domain the rate limit service keeps these limits under",
    'rateLimit.timeout: "soon" is not a duration (e.g. 100ms, 2s, 1m30s; units h, m, s, ms)',
    "rateLimit.xRateLimitHeaders: must be Off or DraftVersion03",
  ]);
  assert.match(errors(readExt({ domain: "d" }))[0] ?? "", /^rateLimit\.grpcService: required/);
  // A port not declared gRPC gets an HTTP/2 cluster of its own (a route's HTTP/1 cluster stays).
  const plain = readExt({ domain: "d", grpcService: grpc }, [port({ name: "http", appProtocol: "http" })]);
  assert.ok(plain.ok);
  if (plain.ok) {
    assert.equal(plain.value.grpcService.envoyGrpc?.clusterName, "kube_ns_rls_8081_grpc");
    assert.equal(plain.value.backend.port.appProtocol, "grpc");
  }
  assert.match(
    errors(
      readExt({
        domain: "d",
        grpcService: { ...grpc, retry: { backoff: { baseInterval: "1s", maxInterval: "10ms" } } },
      }),
    )[0] ?? "",
    /^rateLimit\.grpcService\.retry\.backoff\.maxInterval: must not be below baseInterval/,
  );
});

const service0 = (): RateLimitService => {
  const r = readExt({ domain: "d", grpcService: grpc });
  assert.ok(r.ok);
  return (r as { ok: true; value: RateLimitService }).value;
};
function ctx(found = true): FeatureContext {
  return {
    settings: GOLDEN_SETTINGS,
    namespace: "ns",
    spec: {},
    targetKinds: new Set(["HTTPRoute"]),
    secret: () => undefined,
    secretsSelected: () => [],
    extension: <E>(_k: unknown, ref: unknown, path: string) =>
      (found
        ? { ok: true, value: { name: (ref as { name: string }).name, value: service0() as E } }
        : { ok: false, errors: [{ path, message: "GatewayExtension ns/x not found" }] }) as FeatureRead<{
        name: string;
        value: E;
      }>,
    backend: () => ({ ok: false, message: "none" }),
  };
}

test("rateLimit.global: one rate limit per descriptor, entries as kgateway's descriptor keys", () => {
  const r = readGlobalRateLimit(
    {
      extensionRef: { name: "rls" },
      descriptors: [
        { entries: [{ type: "Header", header: "x-user" }, { type: "Path" }] },
        { entries: [{ type: "Generic", generic: { key: "k", value: "v" } }, { type: "RemoteAddress" }] },
      ],
    },
    ctx(),
  );
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.extension, "ns/rls");
  assert.deepEqual(r.value.rateLimits, [
    {
      actions: [
        { requestHeaders: { headerName: "x-user", descriptorKey: "x-user" } },
        { requestHeaders: { headerName: ":path", descriptorKey: "path" } },
      ],
    },
    { actions: [{ genericKey: { descriptorKey: "k", descriptorValue: "v" } }, { remoteAddress: {} }] },
  ]);
  const per = globalRateLimitFeature.perRoute!(r.value);
  assert.deepEqual(Object.keys(per), ["waymark.rate_limit/ns/rls"]);
  // The virtual host's config has no descriptors (a Gateway-level value goes onto the route entries).
  const vh = globalRateLimitFeature.perVirtualHost!(r.value)["waymark.rate_limit/ns/rls"] as Record<
    string,
    unknown
  >;
  assert.equal(vh.rateLimits, undefined);
  const [f] = globalRateLimitFeature.filtersFor!([r.value, r.value]);
  assert.equal(globalRateLimitFeature.filtersFor!([r.value, r.value]).length, 1, "one filter per extension");
  const cfg = f?.filter.typedConfig as Record<string, unknown>;
  assert.equal(cfg.domain, "d");
  assert.equal(cfg.failureModeDeny, false, "failOpen (kgateway's default) lets requests pass");
});

test("rateLimit.global: errors name the field, the extension's problem included", () => {
  assert.deepEqual(errors(readGlobalRateLimit({ extensionRef: { name: "x" } }, ctx(false))), [
    "rateLimit.global.descriptors: required: at least one descriptor (a list of entries)",
    "rateLimit.global.extensionRef: GatewayExtension ns/x not found",
  ]);
  assert.deepEqual(
    errors(
      readGlobalRateLimit(
        {
          extensionRef: { name: "rls" },
          descriptors: [
            {
              entries: [
                { type: "Header", header: "bad header" },
                { type: "Path", header: "x" },
              ],
            },
            { entries: [{ type: "Generic", generic: { key: "k" } }] },
          ],
        },
        ctx(),
      ),
    ),
    [
      "rateLimit.global.descriptors[0].entries[0].header: not a header name",
      "rateLimit.global.descriptors[0].entries[1].header: not allowed with type Path",
      "rateLimit.global.descriptors[1].entries[0].generic.value: required: a non-empty descriptor value",
    ],
  );
});
