import assert from "node:assert/strict";
import { test } from "node:test";
import { GOLDEN_SETTINGS } from "../../golden-cases.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { ExtensionContext } from "../extensions/kind.ts";
import { type FeatureContext, FieldErrors } from "../feature.ts";
import { extProcExtension, readProcessingMode } from "./extension.ts";
import { readExtProc } from "./spec.ts";

const target = (appProtocol?: string): BackendTarget => ({
  service: { namespace: "ns", name: "proc" } as BackendTarget["service"],
  port: { name: "proc", port: 9000, ...(appProtocol ? { appProtocol } : {}) },
  cluster: "kube_ns_proc_9000",
});
function extCtx(t: BackendTarget | null = target()): ExtensionContext {
  return {
    settings: GOLDEN_SETTINGS,
    namespace: "ns",
    secret: () => undefined,
    backend: () => (t ? { ok: true, target: t } : { ok: false, message: "Service proc not found" }),
  };
}
const messages = (r: { ok: boolean; errors?: Array<{ path: string; message: string }> }) =>
  r.ok ? [] : (r.errors ?? []).map((e) => `${e.path}: ${e.message}`);
const SERVICE = { backendRef: { name: "proc", port: 9000 } };

test("processing mode: the CRD's defaults for what is left out", () => {
  const errors = new FieldErrors();
  assert.deepEqual(readProcessingMode({ responseBodyMode: "BUFFERED" }, "m", errors), {
    requestHeaderMode: "SEND",
    responseHeaderMode: "SEND",
    requestBodyMode: "NONE",
    responseBodyMode: "BUFFERED",
    requestTrailerMode: "SKIP",
    responseTrailerMode: "SKIP",
  });
  assert.equal(errors.length, 0);
});

test("processing mode: unknown values and fields, full duplex without trailers are refused", () => {
  const errors = new FieldErrors();
  assert.equal(readProcessingMode({ requestBodyMode: "ALL", extra: 1 }, "m", errors), undefined);
  assert.deepEqual(
    errors.list.map((e) => e.path),
    ["m.extra", "m.requestBodyMode"],
  );
  const duplex = new FieldErrors();
  assert.equal(readProcessingMode({ responseBodyMode: "FULL_DUPLEX_STREAMED" }, "m", duplex), undefined);
  assert.match(duplex.list[0]?.message ?? "", /must be SEND when responseBodyMode is FULL_DUPLEX_STREAMED/);
  const ok = new FieldErrors();
  assert.ok(
    readProcessingMode({ requestBodyMode: "FULL_DUPLEX_STREAMED", requestTrailerMode: "SEND" }, "m", ok),
  );
});

test("extension: kgateway's default failOpen true; the gRPC service's cluster speaks HTTP/2", () => {
  const r = extProcExtension.read({ grpcService: SERVICE }, extCtx());
  assert.ok(r.ok);
  assert.equal(r.value.filter.failureModeAllow, true);
  // An unmarked port gets an HTTP/2 cluster of its own, so a route's HTTP/1 cluster of it stays.
  assert.deepEqual(r.value.filter.grpcService, { envoyGrpc: { clusterName: "kube_ns_proc_9000_grpc" } });
  assert.equal(r.value.backend.port.appProtocol, "grpc", "an unmarked port is made gRPC");
  const marked = extProcExtension.read({ grpcService: SERVICE }, extCtx(target("http2")));
  assert.ok(marked.ok);
  assert.equal(marked.value.backend.port.appProtocol, "http2", "an HTTP/2 port is kept as it is");
  assert.equal(marked.value.backend.cluster, "kube_ns_proc_9000", "with its own cluster");
  const closed = extProcExtension.read({ grpcService: SERVICE, failOpen: false }, extCtx());
  assert.ok(closed.ok && closed.value.filter.failureModeAllow === false);
});

test("extension: every setting mapped onto Envoy's ExternalProcessor", () => {
  const r = extProcExtension.read(
    {
      grpcService: {
        ...SERVICE,
        authority: "proc.example",
        requestTimeout: "1s500ms",
        retry: { attempts: 3, backoff: { baseInterval: "50ms" } },
      },
      processingMode: { requestBodyMode: "BUFFERED" },
      messageTimeout: "300ms",
      maxMessageTimeout: "1m",
      statPrefix: "proc",
      requestAttributes: ["request.path"],
      metadataOptions: { forwarding: { untyped: ["a"] } },
      allowProcessingModeOverride: true,
      allowedProcessingModeOverrides: [{ responseBodyMode: "STREAMED" }],
      routeCacheAction: "Retain",
      filterStage: { stage: "AuthZ", predicate: "After" },
    },
    extCtx(),
  );
  assert.ok(r.ok, messages(r).join("; "));
  const f = r.value.filter;
  assert.deepEqual(f.grpcService, {
    envoyGrpc: { clusterName: "kube_ns_proc_9000_grpc", authority: "proc.example" },
    timeout: "1.500s",
    retryPolicy: { numRetries: 3, retryBackOff: { baseInterval: "0.050s" } },
  });
  assert.equal(f.processingMode?.requestBodyMode, "BUFFERED");
  assert.equal(f.messageTimeout, "0.300s");
  assert.equal(f.maxMessageTimeout, "60s");
  assert.equal(f.statPrefix, "proc");
  assert.deepEqual(f.requestAttributes, ["request.path"]);
  assert.deepEqual(f.metadataOptions, { forwardingNamespaces: { untyped: ["a"] } });
  assert.equal(f.allowModeOverride, true);
  assert.equal(f.allowedOverrideModes?.[0]?.responseBodyMode, "STREAMED");
  assert.equal(f.routeCacheAction, "RETAIN");
});

test("extension: what Envoy would refuse, or Waymark cannot do, is an error at its path", () => {
  const r = extProcExtension.read(
    {
      grpcService: SERVICE,
      messageTimeout: "2h",
      maxMessageTimeout: "soon",
      allowedProcessingModeOverrides: [{}],
      routeCacheAction: "Sometimes",
      filterStage: { stage: "AuthN" },
      statPrefix: "",
      unknown: true,
    },
    extCtx(),
  );
  assert.deepEqual(
    messages(r).map((m) => m.slice(0, m.indexOf(":"))),
    [
      "extProc.unknown",
      "extProc.messageTimeout",
      "extProc.maxMessageTimeout",
      "extProc.statPrefix",
      "extProc.allowedProcessingModeOverrides",
      "extProc.routeCacheAction",
      "extProc.filterStage",
    ],
  );
  const noBackend = extProcExtension.read({ grpcService: SERVICE }, extCtx(null));
  assert.deepEqual(messages(noBackend), ["extProc.grpcService.backendRef: Service proc not found"]);
  assert.deepEqual(messages(extProcExtension.read({ grpcService: {} }, extCtx())), [
    "extProc.grpcService.backendRef: required: the Service (and port) to call",
  ]);
});

function featureCtx(): FeatureContext {
  const provider = extProcExtension.read({ grpcService: SERVICE }, extCtx());
  assert.ok(provider.ok);
  return {
    settings: GOLDEN_SETTINGS,
    namespace: "ns",
    spec: {},
    targetKinds: new Set(["HTTPRoute"]),
    secret: () => undefined,
    secretsSelected: () => [],
    extension: <E>(_kind: unknown, ref: unknown, path: string) =>
      (ref as { name?: string }).name === "proc"
        ? { ok: true as const, value: { name: "proc", value: provider.value as E } }
        : { ok: false as const, errors: [{ path, message: "GatewayExtension ns/x not found" }] },
    backend: () => ({ ok: false, message: "none" }),
  };
}

test("policy: exactly one of extensionRef and disable; processingMode only with an extension", () => {
  const ctx = featureCtx();
  assert.match(messages(readExtProc({}, ctx))[0] ?? "", /set exactly one of extensionRef and disable/);
  assert.match(
    messages(readExtProc({ extensionRef: { name: "proc" }, disable: {} }, ctx))[0] ?? "",
    /exactly one/,
  );
  assert.deepEqual(readExtProc({ disable: {} }, ctx), { ok: true, value: { kind: "disable" } });
  assert.match(
    messages(readExtProc({ disable: {}, processingMode: {} }, ctx)).join(";"),
    /processingMode: has no effect with disable/,
  );
  assert.deepEqual(messages(readExtProc({ extensionRef: { name: "x" } }, ctx)), [
    "extProc.extensionRef: GatewayExtension ns/x not found",
  ]);
});

test("policy: the extension's filter, named after it, with the policy's processing mode", () => {
  const r = readExtProc(
    { extensionRef: { name: "proc" }, processingMode: { responseBodyMode: "BUFFERED" } },
    featureCtx(),
  );
  assert.ok(r.ok && r.value.kind === "process");
  assert.equal(r.value.filterName, "waymark.ext_proc/ns/proc");
  assert.equal(r.value.processingMode?.responseBodyMode, "BUFFERED");
  assert.equal(r.value.filter.failureModeAllow, true);
});
