// Added latency of the policies that call out, against the same route with none: TrafficPolicy
// extAuth with a gRPC server (Istio's ext-authz sample) and with an HTTP one (oauth2-proxy, basic
// auth), and rateLimit.global against Envoy's rate limit service with Redis, each a real server on
// loopback behind a Service of the watched directory. The same GET /headers to httpbin2 through the
// ztunnel stand-in and the waypoint Envoy, cases alternating within each round; every measured
// response is checked to be the case's (a header the case adds upstream or the server adds, or the
// rate limit's x-ratelimit-limit). The rate limit is large enough never to refuse.
// `pnpm bench extension-latency [requests-per-round=2000] [concurrency=8] [rounds=3]`
import { rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { waitFor } from "@waymark/testing";
import { ensureExtAuthz, ensureRateLimit } from "../scripts/lib/toolchain.ts";
import { OAUTH2_USER, startIstioExtAuthz, startOauth2Proxy } from "../test/lib/ext-authz.ts";
import { startGuideStack } from "../test/lib/guide-stack.ts";
import { localService } from "../test/lib/local-service.ts";
import { startRateLimitServer } from "../test/lib/ratelimit.ts";
import { closedLoop, latencySummary, type Sample } from "./stats.ts";

const KG = "gateway.kgateway.dev/v1alpha1";
const DOMAIN = "waymark-bench";
const LIMITS = `domain: ${DOMAIN}
descriptors:
  - key: x-user
    rate_limit:
      unit: hour
      requests_per_unit: 100000000
`;

function doc(kind: string, name: string, spec: Record<string, unknown>, apiVersion = KG): string {
  return `${JSON.stringify({ apiVersion, kind, metadata: { name, namespace: "httpbin" }, spec })}\n`;
}

type Case = "none" | "extAuthGrpc" | "extAuthHttp" | "rateLimitGlobal";
const CASES: readonly Case[] = ["none", "extAuthGrpc", "extAuthHttp", "rateLimitGlobal"];

function policyFor(c: Exclude<Case, "none">): string {
  const spec =
    c === "extAuthGrpc"
      ? { extAuth: { extensionRef: { name: "bench-grpc" } } }
      : c === "extAuthHttp"
        ? { extAuth: { extensionRef: { name: "bench-http" } } }
        : {
            rateLimit: {
              global: {
                extensionRef: { name: "bench-rl" },
                descriptors: [{ entries: [{ type: "Header", header: "x-user" }] }],
              },
            },
          };
  return doc("TrafficPolicy", "bench-extension", {
    targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "httpbin2" }],
    ...spec,
  });
}

const BASIC = `Basic ${Buffer.from(`${OAUTH2_USER.name}:${OAUTH2_USER.password}`).toString("base64")}`;

/** Which case a response shows: the header the case's server or extension leaves on it. */
function caseOf(headers: Record<string, string | string[] | undefined>, body: string): Case {
  if (headers["x-ratelimit-limit"] !== undefined) return "rateLimitGlobal";
  if (body.includes("X-Ext-Authz-Check-Result")) return "extAuthGrpc";
  if (body.includes("X-Auth-Request-User")) return "extAuthHttp";
  return "none";
}

function get(agent: Agent, port: number): Promise<{ ms: number; shows: Case }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = request(
      {
        agent,
        host: "127.0.0.1",
        port,
        path: "/headers",
        headers: { host: "httpbin2:8000", "x-ext-authz": "allow", authorization: BASIC, "x-user": "bench" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          resolve({
            ms: Number(process.hrtime.bigint() - t0) / 1e6,
            shows: caseOf(res.headers, Buffer.concat(chunks).toString()),
          });
        });
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function load(port: number, requests: number, concurrency: number, want: Case): Promise<Sample> {
  return closedLoop(requests, concurrency, async (agent) => {
    const r = await get(agent, port);
    if (r.shows !== want) throw new Error(`case ${want}, but the response shows ${r.shows}`);
    return r.ms;
  });
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const requests = Number(args[0] ?? 2000);
  const concurrency = Number(args[1] ?? 8);
  const rounds = Number(args[2] ?? 3);
  ensureExtAuthz();
  ensureRateLimit();
  const guide = await startGuideStack("bench-extension-latency", { bindAddress: "127.0.0.1" });
  const istio = await startIstioExtAuthz({ logDir: guide.logDir });
  const oauth2 = await startOauth2Proxy({ logDir: guide.logDir });
  const rls = await startRateLimitServer({ logDir: guide.logDir, config: LIMITS });
  const port = guide.standinPort("httpbin2");
  const file = join(guide.dir, "50-bench-extension.yaml");
  try {
    writeFileSync(
      join(guide.dir, "40-bench-servers.yaml"),
      [
        localService("bench-grpc", "10.96.0.51", { name: "grpc", port: 9000, local: istio.port }),
        localService("bench-http", "10.96.0.52", { name: "http", port: 4180, local: oauth2.port }),
        localService("bench-rl", "10.96.0.53", { name: "grpc", port: 8081, local: rls.grpcPort }),
        doc("GatewayExtension", "bench-grpc", {
          type: "ExtAuth",
          extAuth: { grpcService: { backendRef: { name: "bench-grpc", port: 9000 }, requestTimeout: "2s" } },
        }),
        doc("GatewayExtension", "bench-http", {
          type: "ExtAuth",
          extAuth: {
            httpService: {
              backendRef: { name: "bench-http", port: 4180 },
              requestTimeout: "2s",
              authorizationResponse: { headersToBackend: ["x-auth-request-user"] },
            },
          },
        }),
        doc("GatewayExtension", "bench-rl", {
          type: "RateLimit",
          rateLimit: {
            domain: DOMAIN,
            grpcService: { backendRef: { name: "bench-rl", port: 8081 } },
            timeout: "2s",
            xRateLimitHeaders: "DraftVersion03",
          },
        }),
      ].join("---\n"),
    );
    const probe = new Agent({ keepAlive: false });
    const inForce = (c: Case) =>
      waitFor(
        `case ${c} in force`,
        async () => (await get(probe, port).catch(() => undefined))?.shows === c,
        30_000,
        50,
      );
    const samples = new Map<Case, Sample[]>(CASES.map((c) => [c, []]));
    for (let i = 0; i < rounds; i++) {
      for (const c of CASES) {
        if (c === "none") rmSync(file, { force: true });
        else writeFileSync(file, policyFor(c));
        await inForce(c);
        if (i === 0) await load(port, 500, concurrency, c); // warm-up
        samples.get(c)!.push(await load(port, requests, concurrency, c));
      }
    }
    probe.destroy();
    const base = latencySummary(samples.get("none")!);
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const out: Record<string, unknown> = {
      scenario:
        "GET /headers via stand-in + waypoint Envoy: no policy vs extAuth (gRPC: Istio's ext-authz; HTTP: oauth2-proxy) vs rateLimit.global (envoyproxy/ratelimit + Redis)",
      requests_per_case: requests * rounds,
      concurrency,
    };
    for (const c of CASES) {
      const s = latencySummary(samples.get(c)!);
      out[`${c}_p50_ms`] = s.p50_ms;
      out[`${c}_p99_ms`] = s.p99_ms;
      out[`${c}_rps`] = s.rps;
      if (c !== "none") out[`${c}_added_p50_ms`] = r3(s.p50_ms - base.p50_ms);
    }
    return out;
  } finally {
    await guide.stop();
    await Promise.all([istio.stop(), oauth2.stop(), rls.stop()]);
  }
}
