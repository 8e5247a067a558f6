// The Prometheus registry of one service (prom-client): process metrics plus the service's own,
// every series labelled with `service`. Metric names follow Prometheus conventions (`_total`,
// `_seconds`).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export { Counter, Gauge, Histogram, Registry };

export function createRegistry(service: string, opts: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  // Event-loop lag sampled every 100 ms, not prom-client's 10 ms: each sample wakes an idle process.
  if (opts.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: "waymark_", eventLoopMonitoringPrecision: 100 });
  }
  return registry;
}

/** Buckets (seconds) for config propagation: 1 ms … 30 s. */
export const PROPAGATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5,
  10, 30,
];

/** One histogram's figures, read back from the registry (tests, benchmarks, the closing note). */
export interface HistogramFigures {
  count: number;
  sum: number;
  /** upper bound (seconds, "+Inf") → cumulative count. */
  buckets: Record<string, number>;
}

/** Parses one histogram (optionally filtered by labels) from a Prometheus text exposition. */
export function histogramFromText(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): HistogramFigures {
  const out: HistogramFigures = { count: 0, sum: 0, buckets: {} };
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
  for (const l of text.split("\n")) {
    const m = line.exec(l);
    if (!m || !m[1]!.startsWith(name)) continue;
    const ls: Record<string, string> = {};
    for (const p of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) ls[p[1]!] = p[2]!;
    if (Object.entries(labels).some(([k, v]) => ls[k] !== v)) continue;
    const v = Number(m[3]);
    if (m[1] === `${name}_bucket` && ls["le"] !== undefined)
      out.buckets[ls["le"]] = (out.buckets[ls["le"]] ?? 0) + v;
    else if (m[1] === `${name}_count`) out.count += v;
    else if (m[1] === `${name}_sum`) out.sum += v;
  }
  return out;
}

/** Sample value(s) of one metric from a Prometheus text exposition, summed over matching series. */
export function valueFromText(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let seen = false;
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
  for (const l of text.split("\n")) {
    const m = line.exec(l);
    if (!m || m[1] !== name) continue;
    const ls: Record<string, string> = {};
    for (const p of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) ls[p[1]!] = p[2]!;
    if (Object.entries(labels).some(([k, v]) => ls[k] !== v)) continue;
    total += Number(m[3]);
    seen = true;
  }
  return seen ? total : Number.NaN;
}

/** Estimates a quantile from cumulative buckets (linear within a bucket), in seconds. */
export function histogramQuantile(h: HistogramFigures, q: number): number {
  const bounds = Object.keys(h.buckets)
    .filter((b) => b !== "+Inf")
    .map(Number)
    .sort((a, b) => a - b);
  const total = h.buckets["+Inf"] ?? h.count;
  if (!total) return Number.NaN;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const b of bounds) {
    const c = h.buckets[String(b)] ?? 0;
    if (c >= rank) return prevBound + (b - prevBound) * ((rank - prevCount) / Math.max(1, c - prevCount));
    prevBound = b;
    prevCount = c;
  }
  return Number.POSITIVE_INFINITY;
}
