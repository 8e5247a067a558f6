// @waymark/telemetry: tracing (OpenTelemetry, OTLP/HTTP, off unless configured), trace context across
// NATS, span helpers that never throw, a Prometheus registry and the /metrics, /healthz, /readyz server.
export {
  type Attributes,
  type Context,
  type Link,
  type Span,
  SpanKind,
  SpanStatusCode,
} from "@opentelemetry/api";
export * from "./capture.ts";
export * from "./config.ts";
export * from "./http.ts";
export * from "./metrics.ts";
export * from "./service.ts";
export * from "./spans.ts";
export * from "./tracing.ts";
