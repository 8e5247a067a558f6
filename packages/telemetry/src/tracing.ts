// The tracer provider of one service: OTLP/HTTP export in batches to the configured endpoint, the
// service's resource, W3C trace context, async-local context. Off (the API's no-op tracer) when no
// endpoint is configured. Export failures are logged, never thrown into the service.
import { createRequire } from "node:module";
import { context, type DiagLogger, DiagLogLevel, diag, propagation, trace } from "@opentelemetry/api";
import type * as AsyncHooks from "@opentelemetry/context-async-hooks";
import type * as OtelCore from "@opentelemetry/core";
import type * as OtlpHttp from "@opentelemetry/exporter-trace-otlp-http";
import type * as Resources from "@opentelemetry/resources";
import type * as SdkTrace from "@opentelemetry/sdk-trace";
import type { Logger } from "@waymark/api";
import type { TelemetryConfig } from "./config.ts";

// The SDK, the OTLP exporter and the resource code load only when tracing is on (require() is
// synchronous, so startTracing stays so): a service without an endpoint does not hold them, about
// 2 MiB of heap, 4 MiB of RSS (`pnpm bench memory`). The API is always loaded; @opentelemetry/core
// (W3C propagation) on the first trace context to carry or read, so not at all while tracing is off
// and no message carries one: idle, 2.0 MiB less RSS in the watcher and 3.5 in the translator.
const requireOtel = createRequire(import.meta.url);
let w3c: OtelCore.W3CTraceContextPropagator | undefined;
/** The W3C trace-context propagator, loaded on first use. */
export function w3cPropagator(): OtelCore.W3CTraceContextPropagator {
  w3c ??= new (requireOtel("@opentelemetry/core") as typeof OtelCore).W3CTraceContextPropagator();
  return w3c;
}
export function otelSdk() {
  return {
    ...(requireOtel("@opentelemetry/context-async-hooks") as typeof AsyncHooks),
    ...(requireOtel("@opentelemetry/resources") as typeof Resources),
    ...(requireOtel("@opentelemetry/sdk-trace") as typeof SdkTrace),
  };
}

export interface Tracing {
  /** True when spans are exported. */
  readonly enabled: boolean;
  readonly serviceName: string;
  /** Exports every finished span now. */
  flush(): Promise<void>;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

function diagLogger(log: Logger): DiagLogger {
  const fields = (args: unknown[]) => (args.length ? { detail: args.map((a) => String(a)).join(" ") } : {});
  return {
    error: (m, ...a) => log.warn(`otel: ${m}`, fields(a)),
    warn: (m, ...a) => log.warn(`otel: ${m}`, fields(a)),
    info: (m, ...a) => log.debug(`otel: ${m}`, fields(a)),
    debug: () => {},
    verbose: () => {},
  };
}

/** Registers the global tracer provider for this process (once, at start-up). */
export function startTracing(cfg: TelemetryConfig, log: Logger): Tracing {
  const off: Tracing = {
    enabled: false,
    serviceName: cfg.serviceName,
    flush: async () => {},
    shutdown: async () => {},
  };
  if (!cfg.tracesEndpoint) return off;
  try {
    diag.setLogger(diagLogger(log), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    const { AsyncLocalStorageContextManager, BatchSpanProcessor, resourceFromAttributes, TracerProvider } =
      otelSdk();
    const { OTLPTraceExporter } = requireOtel("@opentelemetry/exporter-trace-otlp-http") as typeof OtlpHttp;
    const exporter = new OTLPTraceExporter({ url: cfg.tracesEndpoint, headers: { ...cfg.headers } });
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ ...cfg.resource }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter,
          scheduledDelayMillis: cfg.exportDelayMs,
          maxQueueSize: 8192,
          maxExportBatchSize: 512,
        }),
      ],
      spanLimits: { linkCountLimit: 128 },
    });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(w3cPropagator());
    trace.setGlobalTracerProvider(provider);
    log.info("tracing on", { service: cfg.serviceName, endpoint: cfg.tracesEndpoint });
    const guard = async (what: string, p: () => Promise<void>) => {
      try {
        await p();
      } catch (err) {
        log.warn(`otel ${what} failed`, { err });
      }
    };
    return {
      enabled: true,
      serviceName: cfg.serviceName,
      flush: () => guard("flush", () => provider.forceFlush({ timeoutMillis: 5000 })),
      shutdown: () => guard("shutdown", () => provider.shutdown()),
    };
  } catch (err) {
    log.warn("cannot start tracing; running without it", { err });
    return off;
  }
}
