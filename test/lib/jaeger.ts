// A real Jaeger v2 (all-in-one: OTLP receiver, in-memory storage, query API) for the tracing tests and
// the traced benchmark, built by scripts/bootstrap-jaeger.sh (WAYMARK_JAEGER). Every port is free-picked
// so several can run side by side.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type Proc, requireEnv, startProcess, waitFor } from "@waymark/testing";

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: "CHILD_OF" | "FOLLOWS_FROM"; traceID: string; spanID: string }>;
  /** µs since epoch. */
  startTime: number;
  /** µs. */
  duration: number;
  tags: Array<{ key: string; type: string; value: unknown }>;
  logs: Array<{ timestamp: number; fields: Array<{ key: string; value: unknown }> }>;
  processID: string;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: Array<{ key: string; value: unknown }> }>;
}

export interface Jaeger {
  proc: Proc;
  /** OTLP/HTTP base URL for OTEL_EXPORTER_OTLP_ENDPOINT. */
  otlpEndpoint: string;
  /** host:port of the OTLP/gRPC receiver (what Envoy's OpenTelemetry tracer exports to). */
  otlpGrpcAddress: string;
  /** Query API base URL (`/api/services`, `/api/traces`, …). */
  queryUrl: string;
  /** Traces holding spans of a service (newest first), from the query API. */
  traces(
    service: string,
    opts?: { lookback?: string; limit?: number; operation?: string },
  ): Promise<JaegerTrace[]>;
  trace(traceId: string): Promise<JaegerTrace | undefined>;
  stop(): Promise<void>;
}

export const JAEGER_HINT = 'run `eval "$(scripts/bootstrap-jaeger.sh)"` (node scripts/test.ts does it)';

export async function startJaeger(o: { logDir: string }): Promise<Jaeger> {
  const bin = requireEnv("WAYMARK_JAEGER", JAEGER_HINT);
  const [grpc, http, query, queryGrpc, health] = await Promise.all(
    Array.from({ length: 5 }, () => freePort()),
  );
  const config = join(o.logDir, "jaeger.yaml");
  writeFileSync(
    config,
    `service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${query}
    grpc:
      endpoint: 127.0.0.1:${queryGrpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:${health}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${grpc}
      http:
        endpoint: 127.0.0.1:${http}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`,
  );
  const proc = startProcess({ name: "jaeger", command: bin, args: ["--config", config], logDir: o.logDir });
  const queryUrl = `http://127.0.0.1:${query}`;
  await waitFor(
    "jaeger query API",
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`jaeger exited:\n${proc.log().slice(-3000)}`);
      return (await fetch(`${queryUrl}/api/services`)).ok;
    },
    30_000,
    100,
  );
  const get = async <T>(path: string): Promise<T | undefined> => {
    const r = await fetch(queryUrl + path);
    if (r.status === 404) return undefined;
    if (!r.ok) throw new Error(`jaeger ${path}: HTTP ${r.status} ${await r.text()}`);
    return ((await r.json()) as { data: T }).data;
  };
  return {
    proc,
    otlpEndpoint: `http://127.0.0.1:${http}`,
    otlpGrpcAddress: `127.0.0.1:${grpc}`,
    queryUrl,
    async traces(service, opts = {}) {
      const q = new URLSearchParams({
        service,
        lookback: opts.lookback ?? "1h",
        limit: String(opts.limit ?? 100),
        ...(opts.operation ? { operation: opts.operation } : {}),
      });
      return (await get<JaegerTrace[]>(`/api/traces?${q}`)) ?? [];
    },
    async trace(traceId) {
      return (await get<JaegerTrace[]>(`/api/traces/${traceId}`))?.[0];
    },
    stop: () => proc.stop(),
  };
}

/** A span's tag value. */
export function tag(s: JaegerSpan, key: string): unknown {
  return s.tags.find((t) => t.key === key)?.value;
}

/** The service that emitted a span. */
export function serviceOf(t: JaegerTrace, s: JaegerSpan): string {
  return t.processes[s.processID]?.serviceName ?? "";
}
