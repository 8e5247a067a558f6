// Added latency of a route with five common TrafficPolicy features (headerModifiers, retry, cors, a
// local rate limit, jwtAuth with an inline JWKS) against the same route with none: the same request
// to httpbin2 (/headers with a valid token and an Origin) through the ztunnel stand-in and the
// waypoint Envoy, in alternating rounds. Each feature is also measured on its own (beside
// headerModifiers, whose response header marks which case is in force), to say what each costs. The
// token bucket is large enough never to refuse.
// `pnpm bench policy-latency [requests-per-round=2000] [concurrency=8] [rounds=3]`
import { rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { createIssuer, waitFor } from "@waymark/testing";
import { startGuideStack } from "../test/lib/guide-stack.ts";
import { closedLoop, latencySummary, type Sample } from "./stats.ts";

const ORIGIN = "https://app.example";

const FIVE = ["headerModifiers", "retry", "cors", "rateLimit", "jwtAuth"] as const;
type Feature = (typeof FIVE)[number];

function documents(jwks: unknown, label: string, features: readonly Feature[]): string {
  const extension = {
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "GatewayExtension",
    metadata: { name: "bench-jwt", namespace: "httpbin" },
    spec: {
      type: "JWT",
      jwt: {
        providers: [
          {
            name: "bench",
            issuer: "https://bench.issuer",
            jwks: { local: { inline: JSON.stringify(jwks) } },
          },
        ],
      },
    },
  };
  const all: Record<Feature, unknown> = {
    headerModifiers: {
      request: { set: [{ name: "x-bench", value: "on" }] },
      response: { add: [{ name: "x-bench-response", value: label }] },
    },
    retry: { attempts: 2, retryOn: ["5xx", "connect-failure"] },
    cors: { allowOrigins: [ORIGIN], allowMethods: ["GET"], maxAge: 60 },
    rateLimit: {
      local: { tokenBucket: { maxTokens: 1_000_000, tokensPerFill: 1_000_000, fillInterval: "1s" } },
    },
    jwtAuth: { extensionRef: { name: "bench-jwt" } },
  };
  // Every case marks its responses (x-bench-response), so a measured round is known to run with it.
  const spec: Record<string, unknown> = {
    headerModifiers: all.headerModifiers,
    ...Object.fromEntries(features.map((f) => [f, all[f]])),
  };
  const policy = {
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: "bench-five", namespace: "httpbin" },
    spec: {
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "httpbin2" }],
      ...spec,
    },
  };
  return `${JSON.stringify(extension)}\n---\n${JSON.stringify(policy)}\n`;
}

function get(agent: Agent, port: number, token: string): Promise<{ ms: number; marker: string | undefined }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = request(
      {
        agent,
        host: "127.0.0.1",
        port,
        path: "/headers",
        headers: { host: "httpbin2:8000", authorization: `Bearer ${token}`, origin: ORIGIN },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          resolve({
            ms: Number(process.hrtime.bigint() - t0) / 1e6,
            marker: res.headers["x-bench-response"] as string | undefined,
          });
        });
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function load(
  port: number,
  token: string,
  requests: number,
  concurrency: number,
  marker: string | undefined,
): Promise<Sample> {
  return closedLoop(requests, concurrency, async (agent) => {
    const r = await get(agent, port, token);
    if (r.marker !== marker) throw new Error(`case ${marker ?? "none"}, but the response says ${r.marker}`);
    return r.ms;
  });
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const requests = Number(args[0] ?? 2000);
  const concurrency = Number(args[1] ?? 8);
  const rounds = Number(args[2] ?? 3);
  const issuer = await createIssuer("https://bench.issuer");
  // Long-lived: the benchmark must not outlast it.
  const token = await issuer.sign({ exp: Math.floor(Date.now() / 1000) + 86_400 });
  const guide = await startGuideStack("bench-policy-latency", { bindAddress: "127.0.0.1" });
  const port = guide.standinPort("httpbin2");
  const file = join(guide.dir, "50-bench-five.yaml");
  const agent = new Agent({ keepAlive: false });
  const applied = (marker: string | undefined) =>
    waitFor(
      `case ${marker ?? "none"} in force`,
      async () => (await get(agent, port, token)).marker === marker,
      10_000,
      20,
    );
  // Every case sets headerModifiers (its response header marks the case in force); the single-feature
  // cases add one feature to it, "five" all of them. Cases alternate within each round.
  const cases: Array<{ label: string; features: readonly Feature[] }> = [
    { label: "headerModifiers", features: [] },
    ...FIVE.filter((f) => f !== "headerModifiers").map((f) => ({ label: f, features: [f] })),
    { label: "five", features: FIVE },
  ];
  try {
    const without: Sample[] = [];
    const withCase = new Map<string, Sample[]>(cases.map((c) => [c.label, []]));
    await load(port, token, 500, concurrency, undefined); // warm-up
    for (let i = 0; i < rounds; i++) {
      without.push(await load(port, token, requests, concurrency, undefined));
      for (const c of cases) {
        writeFileSync(file, documents(issuer.jwks, c.label, c.features));
        await applied(c.label);
        if (i === 0) await load(port, token, 500, concurrency, c.label);
        withCase.get(c.label)!.push(await load(port, token, requests, concurrency, c.label));
      }
      rmSync(file);
      await applied(undefined);
    }
    const a = latencySummary(without);
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const out: Record<string, unknown> = {
      scenario:
        "GET /headers via stand-in + waypoint Envoy: no policy vs headerModifiers, + retry, + cors, + local rate limit, + jwtAuth, and all five",
      requests_per_case: requests * rounds,
      concurrency,
      without_p50_ms: a.p50_ms,
      without_p99_ms: a.p99_ms,
      without_rps: a.rps,
    };
    for (const c of cases) {
      const b = latencySummary(withCase.get(c.label)!);
      out[`${c.label}_p50_ms`] = b.p50_ms;
      out[`${c.label}_p99_ms`] = b.p99_ms;
      out[`${c.label}_rps`] = b.rps;
      out[`${c.label}_added_p50_ms`] = r3(b.p50_ms - a.p50_ms);
    }
    out["five_added_p99_ms"] = r3((out["five_p99_ms"] as number) - a.p99_ms);
    return out;
  } finally {
    agent.destroy();
    await guide.stop();
  }
}
