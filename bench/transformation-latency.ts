// Added latency of the guide's transformation (a per-route Lua chunk in Envoy's Lua filter): the
// same request to httpbin2 (/headers with x-base64-encoded) through the ztunnel stand-in and the
// waypoint Envoy, without and then with examples/transformation's TrafficPolicy, in alternating
// rounds. Load comes from a small bounded keep-alive HTTP client on loopback.
// `pnpm bench transformation-latency [requests-per-round=2000] [concurrency=8] [rounds=3]`
import { copyFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { REPO_ROOT } from "@waymark/devstack";
import { waitFor } from "@waymark/testing";
import { startGuideStack } from "../test/lib/guide-stack.ts";
import { closedLoop, latencySummary, type Sample } from "./stats.ts";

function get(agent: Agent, port: number): Promise<{ ms: number; decoded: string | undefined }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = request(
      {
        agent,
        host: "127.0.0.1",
        port,
        path: "/headers",
        headers: { host: "httpbin2:8000", "x-base64-encoded": "dHJhbnNmb3JtYXRpb24gdGVzdA==" },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          const decoded = res.headers["x-base64-decoded"];
          resolve({
            ms: Number(process.hrtime.bigint() - t0) / 1e6,
            decoded: typeof decoded === "string" ? decoded : undefined,
          });
        });
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function load(port: number, requests: number, concurrency: number, expectDecoded: boolean): Promise<Sample> {
  return closedLoop(requests, concurrency, async (agent) => {
    const r = await get(agent, port);
    if ((r.decoded === "ion test") !== expectDecoded)
      throw new Error(`unexpected x-base64-decoded ${r.decoded}`);
    return r.ms;
  });
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const requests = Number(args[0] ?? 2000);
  const concurrency = Number(args[1] ?? 8);
  const rounds = Number(args[2] ?? 3);
  const guide = await startGuideStack("bench-transformation", { bindAddress: "127.0.0.1" });
  const { stack, dir } = guide;
  const port = guide.standinPort("httpbin2");
  const policy = join(dir, "50-transformation.yaml");
  const agent = new Agent({ keepAlive: false });
  const applied = async (want: boolean) =>
    waitFor(
      `transformation ${want ? "on" : "off"}`,
      async () => (await get(agent, port)).decoded === (want ? "ion test" : undefined),
      10_000,
      20,
    );
  try {
    const without: Sample[] = [];
    const withT: Sample[] = [];
    await load(port, 500, concurrency, false); // warm-up
    for (let i = 0; i < rounds; i++) {
      without.push(await load(port, requests, concurrency, false));
      copyFileSync(join(REPO_ROOT, "examples", "transformation", "50-transformation.yaml"), policy);
      await applied(true);
      if (i === 0) await load(port, 500, concurrency, true); // warm the Lua state
      withT.push(await load(port, requests, concurrency, true));
      rmSync(policy);
      await applied(false);
    }
    const a = latencySummary(without);
    const b = latencySummary(withT);
    return {
      scenario: "GET /headers via stand-in + waypoint Envoy: without vs with the guide's transformation",
      requests_per_case: requests * rounds,
      concurrency,
      without_p50_ms: a.p50_ms,
      without_p99_ms: a.p99_ms,
      without_rps: a.rps,
      with_p50_ms: b.p50_ms,
      with_p99_ms: b.p99_ms,
      with_rps: b.rps,
      added_p50_ms: Math.round((b.p50_ms - a.p50_ms) * 1000) / 1000,
      added_p99_ms: Math.round((b.p99_ms - a.p99_ms) * 1000) / 1000,
    };
  } finally {
    agent.destroy();
    await stack.stop();
  }
}
