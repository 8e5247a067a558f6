import assert from "node:assert/strict";
import { test } from "node:test";
import { headers } from "@nats-io/transport-node";
import { ConfigError, createLogger } from "@waymark/api";
import { loadTelemetryConfig, parseListenAddress } from "./config.ts";
import { startOpsServer } from "./http.ts";
import { createRegistry, Histogram, histogramFromText, histogramQuantile, valueFromText } from "./metrics.ts";
import {
  contextFromTrace,
  endSpan,
  extractHeaders,
  injectHeaders,
  linkTo,
  startSpan,
  traceContextOf,
} from "./spans.ts";

const silent = createLogger("test", {}, () => {});
const TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

test("tracing is off without an endpoint, on with one", () => {
  assert.equal(loadTelemetryConfig("watcher", {}).tracesEndpoint, undefined);
  const on = loadTelemetryConfig("watcher", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318/" });
  assert.equal(on.tracesEndpoint, "http://127.0.0.1:4318/v1/traces");
  assert.equal(on.serviceName, "waymark-watcher");
  assert.equal(on.resource["service.name"], "waymark-watcher");
  assert.equal(on.resource["service.namespace"], "waymark");
  const full = loadTelemetryConfig("x", {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/custom",
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:1",
    OTEL_SERVICE_NAME: "mine",
    OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=prod,team=a%2Cb",
  });
  assert.equal(full.tracesEndpoint, "http://c:4318/custom");
  assert.equal(full.serviceName, "mine");
  assert.equal(full.resource["team"], "a,b");
  assert.equal(full.resource["deployment.environment.name"], "prod");
  const disabled = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" };
  assert.equal(loadTelemetryConfig("x", disabled).tracesEndpoint, undefined);
  assert.throws(() => loadTelemetryConfig("x", { OTEL_EXPORTER_OTLP_ENDPOINT: "c:4318" }), ConfigError);
  assert.throws(
    () =>
      loadTelemetryConfig("x", {
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://c",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      }),
    /http\/json or http\/protobuf/,
  );
  assert.throws(() => loadTelemetryConfig("x", { WAYMARK_METRICS_ADDRESS: "9090" }), ConfigError);
  assert.deepEqual(parseListenAddress("A", ":9090"), { host: "0.0.0.0", port: 9090 });
  assert.deepEqual(parseListenAddress("A", "[::1]:0"), { host: "::1", port: 0 });
});

test('trace context crosses NATS headers; a missing header ("" from MsgHdrs.get) is absent', () => {
  const h = headers();
  assert.equal(h.get("traceparent"), "", "nats.js answers '' for a missing key");
  const none = extractHeaders(h);
  assert.equal(traceContextOf(none), undefined);
  h.set("traceparent", TP);
  h.set("tracestate", "vendor=1");
  const ctx = extractHeaders(h);
  assert.deepEqual(traceContextOf(ctx), { traceparent: TP, tracestate: "vendor=1" });
  const out = headers();
  injectHeaders(ctx, out);
  assert.equal(out.get("traceparent"), TP);
});

test("envelope trace context: round trip, links, malformed input never throws", () => {
  const ctx = contextFromTrace({ traceparent: TP });
  assert.equal(traceContextOf(ctx)?.traceparent, TP);
  assert.equal(linkTo({ traceparent: TP })?.context.spanId, "b7ad6b7169203331");
  assert.equal(linkTo({ traceparent: "garbage" }), undefined);
  assert.equal(linkTo(undefined), undefined);
  assert.equal(traceContextOf(contextFromTrace({ traceparent: 42 as unknown as string })), undefined);
  // With no tracer provider registered, spans are non-recording but keep the parent's context.
  const span = startSpan("child", { parent: { traceparent: TP } });
  assert.equal(span.isRecording(), false);
  assert.equal(traceContextOf(span)?.traceparent, TP);
  endSpan(span, { error: new Error("x") });
  endSpan(span);
});

test("ops server: /metrics, /healthz, honest /readyz, debug routes", async () => {
  const registry = createRegistry("test", { processMetrics: false });
  const h = new Histogram({
    name: "t_seconds",
    help: "t",
    labelNames: ["type"],
    buckets: [0.01, 0.1, 1],
    registers: [registry],
  });
  h.observe({ type: "RDS" }, 0.005);
  h.observe({ type: "RDS" }, 0.05);
  h.observe({ type: "CDS" }, 0.5);
  let ready = false;
  const srv = await startOpsServer({
    address: { host: "127.0.0.1", port: 0 },
    registry,
    readiness: () => ({ ready, reason: ready ? "loaded" : "loading snapshots" }),
    routes: { "/debug/x": () => ({ x: 1 }) },
    log: silent,
  });
  try {
    const base = `http://127.0.0.1:${srv.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const r1 = await fetch(`${base}/readyz`);
    assert.equal(r1.status, 503);
    assert.equal(((await r1.json()) as { reason: string }).reason, "loading snapshots");
    ready = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.deepEqual(await (await fetch(`${base}/debug/x`)).json(), { x: 1 });
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    const text = await (await fetch(`${base}/metrics`)).text();
    const rds = histogramFromText(text, "t_seconds", { type: "RDS" });
    assert.equal(rds.count, 2);
    assert.equal(rds.buckets["0.01"], 1);
    assert.equal(rds.buckets["+Inf"], 2);
    assert.equal(histogramFromText(text, "t_seconds").count, 3);
    assert.equal(valueFromText(text, "t_seconds_count", { type: "CDS" }), 1);
    assert.ok(histogramQuantile(rds, 0.5) <= 0.01);
    assert.match(text, /service="test"/);
  } finally {
    await srv.close();
  }
});
