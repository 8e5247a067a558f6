// For tests: records every span of this process in memory with the real SDK (no export), so a test
// can assert on names, parents, links, attributes and status.
import { context, propagation, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import { otelSdk, w3cPropagator } from "./tracing.ts";

export type { ReadableSpan };

export interface SpanCapture {
  spans(): ReadableSpan[];
  reset(): void;
  stop(): Promise<void>;
}

export function captureSpans(serviceName = "test"): SpanCapture {
  // The SDK loads here, not with the package (see tracing.ts).
  const {
    AsyncLocalStorageContextManager,
    InMemorySpanExporter,
    resourceFromAttributes,
    SimpleSpanProcessor,
    TracerProvider,
  } = otelSdk();
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(w3cPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    async stop() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
