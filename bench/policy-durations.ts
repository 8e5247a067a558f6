// The durations TrafficPolicy programs, measured where the tests only bound them: how long a request
// takes to get its 504 under `timeouts.request` (against go-httpbin's /delay/3, which answers later),
// and how much a `faultInjection.delay.fixedDelay` adds to a request (against the same route without
// it). One request at a time through the ztunnel stand-in and the waypoint Envoy, so the figures are
// the configured durations plus Envoy's timer granularity and the client's path.
// `pnpm bench policy-durations [requests=50] [timeout-ms=250] [delay-ms=100]`
import { rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { waitFor } from "@waymark/testing";
import { startGuideStack } from "../test/lib/guide-stack.ts";
import { summarize } from "./stats.ts";

function policy(name: string, spec: Record<string, unknown>): string {
  return `${JSON.stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: {
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "httpbin2" }],
      ...spec,
    },
  })}\n`;
}

function get(agent: Agent, port: number, path: string): Promise<{ ms: number; status: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = request(
      { agent, host: "127.0.0.1", port, path, headers: { host: "httpbin2:8000" } },
      (res) => {
        res.resume();
        res.on("end", () =>
          resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, status: res.statusCode ?? 0 }),
        );
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function series(agent: Agent, port: number, path: string, n: number, want: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await get(agent, port, path);
    if (r.status !== want) throw new Error(`${path}: status ${r.status}, expected ${want}`);
    out.push(r.ms);
  }
  return out;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const n = Number(args[0] ?? 50);
  const timeoutMs = Number(args[1] ?? 250);
  const delayMs = Number(args[2] ?? 100);
  const guide = await startGuideStack("bench-policy-durations", { bindAddress: "127.0.0.1" });
  const port = guide.standinPort("httpbin2");
  const file = join(guide.dir, "50-bench-durations.yaml");
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // timeouts.request: every request to /delay/3 ends in Envoy's 504.
    writeFileSync(file, policy("bench-timeout", { timeouts: { request: `${timeoutMs}ms` } }));
    await waitFor(
      "the timeout in force",
      async () => (await get(agent, port, "/delay/3")).status === 504,
      30_000,
      50,
    );
    const timeout = summarize(await series(agent, port, "/delay/3", n, 504));

    // faultInjection.delay: the same request with and without it, in alternating halves.
    rmSync(file);
    await waitFor("no policy", async () => (await get(agent, port, "/delay/3")).status === 200, 30_000, 50);
    await series(agent, port, "/get", 20, 200); // warm-up
    const without: number[] = [];
    const withDelay: number[] = [];
    for (let half = 0; half < 2; half++) {
      without.push(...(await series(agent, port, "/get", n / 2, 200)));
      writeFileSync(
        file,
        policy("bench-delay", { faultInjection: { delay: { fixedDelay: `${delayMs}ms` } } }),
      );
      await waitFor(
        "the delay in force",
        async () => (await get(agent, port, "/get")).ms >= delayMs,
        30_000,
        50,
      );
      withDelay.push(...(await series(agent, port, "/get", n / 2, 200)));
      rmSync(file);
      await waitFor("no delay", async () => (await get(agent, port, "/get")).ms < delayMs, 30_000, 50);
    }
    const a = summarize(without);
    const b = summarize(withDelay);
    return {
      scenario:
        "timeouts.request → 504 against /delay/3; faultInjection.delay added to GET /get (one request at a time)",
      requests_per_case: n,
      timeout_configured_ms: timeoutMs,
      timeout_504_min_ms: r3(timeout.min_ms),
      timeout_504_p50_ms: r3(timeout.p50_ms),
      timeout_504_p90_ms: r3(timeout.p90_ms),
      timeout_504_max_ms: r3(timeout.max_ms),
      delay_configured_ms: delayMs,
      without_p50_ms: r3(a.p50_ms),
      with_delay_p50_ms: r3(b.p50_ms),
      with_delay_min_ms: r3(b.min_ms),
      with_delay_max_ms: r3(b.max_ms),
      added_p50_ms: r3(b.p50_ms - a.p50_ms),
    };
  } finally {
    agent.destroy();
    await guide.stop();
  }
}
