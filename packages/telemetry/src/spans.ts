// Span helpers for the data path: they never throw (a tracing fault must not drop a change), and
// they carry W3C trace context across NATS in envelopes (`{traceparent, tracestate}`) or headers.
import {
  type Attributes,
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type TimeInput,
  trace,
} from "@opentelemetry/api";
import type { TraceContext } from "@waymark/api";
import { w3cPropagator } from "./tracing.ts";

const noopSpan = (): Span => trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** The tracer every Waymark span comes from (the no-op tracer while tracing is off). */
export function tracer() {
  return trace.getTracer("waymark", "0.1.0");
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  links?: Array<Link | undefined>;
  startTime?: TimeInput;
  /** The parent: an OTel context, or a trace context carried across NATS. Default: the active context. */
  parent?: Context | TraceContext | undefined | null;
}

const isTraceContext = (p: unknown): p is TraceContext =>
  typeof p === "object" && p !== null && typeof (p as TraceContext).traceparent === "string";

/** Starts a span; on any fault returns a non-recording span. */
export function startSpan(name: string, o: SpanOptions = {}): Span {
  try {
    const parent =
      o.parent === null
        ? ROOT_CONTEXT
        : o.parent === undefined
          ? context.active()
          : isTraceContext(o.parent)
            ? contextFromTrace(o.parent)
            : o.parent;
    const links = (o.links ?? []).filter((l): l is Link => l !== undefined);
    return tracer().startSpan(
      name,
      {
        ...(o.kind !== undefined ? { kind: o.kind } : {}),
        ...(o.attributes ? { attributes: o.attributes } : {}),
        ...(links.length ? { links } : {}),
        ...(o.startTime !== undefined ? { startTime: o.startTime } : {}),
      },
      parent,
    );
  } catch {
    return noopSpan();
  }
}

export interface EndOptions {
  /** Marks the span as failed with this description (and records it as an exception event). */
  error?: unknown;
  attributes?: Attributes;
  endTime?: TimeInput;
}

/** Ends a span (status ERROR when `error` is given); never throws. */
export function endSpan(span: Span, o: EndOptions = {}): void {
  try {
    if (o.attributes) span.setAttributes(o.attributes);
    if (o.error !== undefined) {
      const message = o.error instanceof Error ? o.error.message : String(o.error);
      span.setStatus({ code: SpanStatusCode.ERROR, message });
      span.recordException(o.error instanceof Error ? o.error : { name: "Error", message });
    }
    span.end(o.endTime);
  } catch {
    // tracing must not break the data path
  }
}

/** A context whose active span is `span` (to pass as a parent). */
export function asParent(span: Span): Context {
  try {
    return trace.setSpan(ROOT_CONTEXT, span);
  } catch {
    return ROOT_CONTEXT;
  }
}

/** Runs fn with span as the active span. */
export function withSpan<T>(span: Span, fn: () => T): T {
  let ctx: Context;
  try {
    ctx = trace.setSpan(context.active(), span);
  } catch {
    return fn();
  }
  return context.with(ctx, fn);
}

const recordSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};
const recordGetter: TextMapGetter<Record<string, string>> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

/** The W3C trace context of a span (or context) to carry in an envelope; undefined when not sampled/valid. */
export function traceContextOf(s: Span | Context | undefined): TraceContext | undefined {
  try {
    if (!s) return undefined;
    const ctx = "spanContext" in s ? trace.setSpan(ROOT_CONTEXT, s) : s;
    const sc = trace.getSpanContext(ctx);
    if (!sc || !isSpanContextValid(sc)) return undefined;
    const carrier: Record<string, string> = {};
    w3cPropagator().inject(ctx, carrier, recordSetter);
    const traceparent = carrier["traceparent"];
    if (!traceparent) return undefined;
    return carrier["tracestate"] ? { traceparent, tracestate: carrier["tracestate"] } : { traceparent };
  } catch {
    return undefined;
  }
}

/** An OTel context whose remote parent is the given trace context (ROOT when absent or malformed). */
export function contextFromTrace(tc: TraceContext | undefined): Context {
  if (!tc || typeof tc.traceparent !== "string") return ROOT_CONTEXT;
  try {
    const carrier: Record<string, string> = { traceparent: tc.traceparent };
    if (typeof tc.tracestate === "string" && tc.tracestate) carrier["tracestate"] = tc.tracestate;
    return w3cPropagator().extract(ROOT_CONTEXT, carrier, recordGetter);
  } catch {
    return ROOT_CONTEXT;
  }
}

/** A span link to a trace context carried across NATS; undefined when absent or malformed. */
export function linkTo(tc: TraceContext | undefined, attributes?: Attributes): Link | undefined {
  const sc = trace.getSpanContext(contextFromTrace(tc));
  if (!sc || !isSpanContextValid(sc)) return undefined;
  return attributes ? { context: sc, attributes } : { context: sc };
}

/** The ids to put in a log line so it can be found from the trace (and back). */
export function logIds(span: Span | undefined): { trace_id?: string; span_id?: string } {
  const sc = span?.spanContext();
  if (!sc || !isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/** The subset of nats.js MsgHdrs the header carriers use. */
export interface HeadersLike {
  get(k: string): string;
  set(k: string, v: string): void;
  keys(): string[];
}

/** Reads trace context from NATS headers. MsgHdrs.get() returns "" for a missing key: that is "absent". */
export const natsHeaderGetter: TextMapGetter<HeadersLike> = {
  get(carrier, key) {
    const v = carrier.get(key);
    return v === "" ? undefined : v;
  },
  keys: (carrier) => carrier.keys(),
};

export const natsHeaderSetter: TextMapSetter<HeadersLike> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** Writes the span's (or context's) trace context into NATS headers. */
export function injectHeaders(s: Span | Context, headers: HeadersLike): void {
  try {
    const ctx = "spanContext" in s ? trace.setSpan(ROOT_CONTEXT, s) : s;
    // Nothing to write for an invalid span (tracing off): the propagator would write nothing either.
    const sc = trace.getSpanContext(ctx);
    if (!sc || !isSpanContextValid(sc)) return;
    w3cPropagator().inject(ctx, headers, natsHeaderSetter);
  } catch {
    // no context is better than no message
  }
}

/** The trace context carried in NATS headers, as an OTel context (ROOT when none). */
export function extractHeaders(headers: HeadersLike | undefined): Context {
  if (!headers) return ROOT_CONTEXT;
  try {
    // No traceparent, no context (what the propagator returns too), without loading it.
    if (natsHeaderGetter.get(headers, "traceparent") === undefined) return ROOT_CONTEXT;
    return w3cPropagator().extract(ROOT_CONTEXT, headers, natsHeaderGetter);
  } catch {
    return ROOT_CONTEXT;
  }
}
