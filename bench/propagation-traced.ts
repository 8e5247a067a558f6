// Config propagation with tracing on and two waypoint Envoys: N route edits (default 20), then the
// xds-servers' propagation histogram (change observed by the watcher → each Envoy's ACK, RDS),
// scraped from their /metrics and summed over the replicas. Traces go to a real Jaeger when
// WAYMARK_JAEGER is set (scripts/bootstrap-jaeger.sh), so the figures include tracing's cost.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type HistogramFigures, histogramFromText, histogramQuantile } from "@waymark/telemetry";
import { tempDir, waitFor } from "@waymark/testing";
import { startGuideStack } from "../test/lib/guide-stack.ts";
import { echoedHeaders } from "../test/lib/http.ts";
import { type Jaeger, startJaeger } from "../test/lib/jaeger.ts";

const ENVOYS = 2;

function sum(a: HistogramFigures, b: HistogramFigures): HistogramFigures {
  const buckets = { ...a.buckets };
  for (const [k, v] of Object.entries(b.buckets)) buckets[k] = (buckets[k] ?? 0) + v;
  return { count: a.count + b.count, sum: a.sum + b.sum, buckets };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const n = Number(args[0] ?? 20);
  const logDir = tempDir("bench-propagation-traced");
  const jaeger: Jaeger | undefined = process.env["WAYMARK_JAEGER"]
    ? await startJaeger({ logDir })
    : undefined;
  const guide = await startGuideStack("bench-propagation-traced", {
    xdsReplicas: 2,
    envoys: ENVOYS,
    ops: true,
    ...(jaeger ? { otlpEndpoint: jaeger.otlpEndpoint } : {}),
  });
  const { stack, dir } = guide;
  const scrape = async () => {
    let h: HistogramFigures = { count: 0, sum: 0, buckets: {} };
    for (const url of stack.ops!.xds) {
      const text = await (await fetch(`${url}/metrics`)).text();
      h = sum(h, histogramFromText(text, "waymark_xds_propagation_seconds", { type: "RDS" }));
    }
    return h;
  };
  try {
    const before = await scrape();
    const file = join(dir, "30-httpbin3-route.yaml");
    const original = readFileSync(file, "utf8");
    for (let i = 0; i < n; i++) {
      const want = before.count + (i + 1) * ENVOYS;
      writeFileSync(file, original.replace("value: httpbin3", `value: httpbin3-${i}`));
      await waitFor("both Envoys' ACKs", async () => (await scrape()).count >= want, 10_000, 10);
      await new Promise((r) => setTimeout(r, 200));
    }
    await waitFor(
      "the last edit in traffic",
      async () => echoedHeaders(await guide.request("httpbin3", "/get"))["App"]?.[0] === `httpbin3-${n - 1}`,
    );
    const after = await scrape();
    const h: HistogramFigures = {
      count: after.count - before.count,
      sum: after.sum - before.sum,
      buckets: {},
    };
    for (const [k, v] of Object.entries(after.buckets)) h.buckets[k] = v - (before.buckets[k] ?? 0);
    const ms = (s: number) => Math.round(s * 10000) / 10;
    return {
      scenario: `file change → ACK of each of ${ENVOYS} Envoys (RDS), tracing ${jaeger ? "on (Jaeger)" : "off"}`,
      changes: n,
      acks_observed: h.count,
      mean_ms: ms(h.sum / h.count),
      p50_ms_est: ms(histogramQuantile(h, 0.5)),
      p90_ms_est: ms(histogramQuantile(h, 0.9)),
      p99_ms_est: ms(histogramQuantile(h, 0.99)),
      buckets_le_ms: Object.entries(h.buckets)
        .sort(([a], [b]) => (a === "+Inf" ? 1 : b === "+Inf" ? -1 : Number(a) - Number(b)))
        .filter(([le]) => le === "+Inf" || Number(le) <= 0.25)
        .map(([le, c]) => `${le === "+Inf" ? "+Inf" : ms(Number(le))}:${c}`)
        .join(" "),
    };
  } finally {
    await stack.stop();
    await jaeger?.stop();
  }
}
