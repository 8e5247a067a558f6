// Added latency of Istio authorization on the waypoint (issue 13): the same allowed request to
// httpbin2 (GET /headers) through the ztunnel stand-in and the waypoint Envoy with 0, 1, 10 and 100
// AuthorizationPolicies bound to the waypoint Gateway, in alternating rounds. The policies are a mix
// a mesh would have: two thirds ALLOW on principals and paths, one third DENY on request headers.
// The one ALLOW that matches the client sorts last, so Envoy's RBAC filter walks every other ALLOW
// policy before it; no DENY matches. Load comes from a small bounded keep-alive HTTP client.
// `pnpm bench authz-latency [requests-per-round=2000] [concurrency=8] [rounds=3]`
import { rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { waitFor } from "@waymark/testing";
import { startGuideStack } from "../test/lib/guide-stack.ts";
import { closedLoop, latencySummary, type Sample } from "./stats.ts";

const CASES = [0, 1, 10, 100] as const;
const GATEWAY_REF = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "kgateway-waypoint" };
/** The stand-in's identity (test/lib/guide-stack.ts), as a principal. */
const CLIENT = "cluster.local/ns/httpbin/sa/client";

function policy(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [GATEWAY_REF], ...spec },
  };
}

/**
 * `count` policies. With 10 or more, one DENY is the case's marker: it denies a request carrying
 * `x-bench-case: <count>`, which tells the bench that this very set is in force. With 1, the
 * single ALLOW is its own marker: GET /get, allowed with none, is denied.
 */
export function policies(count: number): object[] {
  if (count === 0) return [];
  const allows = Math.max(1, Math.round((count * 2) / 3));
  const out: object[] = [];
  for (let i = 0; i < allows - 1; i++) {
    out.push(
      policy(`allow-${String(i).padStart(3, "0")}`, {
        action: "ALLOW",
        rules: [
          {
            from: [
              {
                source: {
                  principals: [
                    `cluster.local/ns/team-${i}/sa/frontend`,
                    `cluster.local/ns/team-${i}/sa/batch`,
                  ],
                },
              },
            ],
            to: [{ operation: { methods: ["GET", "POST"], paths: [`/api/team-${i}/*`, `/v${i}/items`] } }],
          },
        ],
      }),
    );
  }
  out.push(
    policy("allow-zz-client", {
      action: "ALLOW",
      rules: [{ from: [{ source: { principals: [CLIENT] } }], to: [{ operation: { paths: ["/headers"] } }] }],
    }),
  );
  for (let i = 0; i < count - allows; i++) {
    const marker = i === 0;
    out.push(
      policy(`deny-${String(i).padStart(3, "0")}`, {
        action: "DENY",
        rules: [
          {
            when: [
              marker
                ? { key: "request.headers[x-bench-case]", values: [String(count)] }
                : { key: `request.headers[x-blocked-${i}]`, values: ["true", "yes"] },
            ],
          },
        ],
      }),
    );
  }
  return out;
}

function get(
  agent: Agent,
  port: number,
  path = "/headers",
  headers: Record<string, string> = {},
): Promise<{ ms: number; status: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = request(
      { agent, host: "127.0.0.1", port, path, headers: { host: "httpbin2:8000", ...headers } },
      (res) => {
        res.resume();
        res.on("end", () =>
          resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, status: res.statusCode ?? 0 }),
        );
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function load(port: number, requests: number, concurrency: number): Promise<Sample> {
  return closedLoop(requests, concurrency, async (agent) => {
    const r = await get(agent, port);
    if (r.status !== 200) throw new Error(`the measured request was answered ${r.status}`);
    return r.ms;
  });
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const requests = Number(args[0] ?? 2000);
  const concurrency = Number(args[1] ?? 8);
  const rounds = Number(args[2] ?? 3);
  const guide = await startGuideStack("bench-authz", { bindAddress: "127.0.0.1" });
  const port = guide.standinPort("httpbin2");
  const file = join(guide.dir, "90-bench-policies.yaml");
  const agent = new Agent({ keepAlive: false });
  // One file per set, so the watcher publishes the whole set at once; the marker then shows it is in
  // force. The cases run in the order of CASES, so the 1-policy marker (/get denied) always follows
  // the 0-policy one (/get allowed).
  const apply = async (count: number) => {
    if (count === 0) rmSync(file, { force: true });
    else
      writeFileSync(
        file,
        policies(count)
          .map((p) => JSON.stringify(p))
          .join("\n---\n"),
      );
    const [path, headers, want] =
      count === 0
        ? ["/get", {}, 200]
        : count === 1
          ? ["/get", {}, 403]
          : ["/headers", { "x-bench-case": String(count) }, 403];
    await waitFor(
      `${count} policies in force`,
      async () => (await get(agent, port, path, headers)).status === want,
      30_000,
      20,
    );
  };
  try {
    const samples = new Map<number, Sample[]>(CASES.map((c) => [c, []]));
    await load(port, 500, concurrency); // warm-up
    for (let i = 0; i < rounds; i++) {
      for (const count of CASES) {
        await apply(count);
        if (i === 0) await load(port, 200, concurrency); // warm this configuration's connections
        samples.get(count)!.push(await load(port, requests, concurrency));
      }
    }
    await apply(0);
    const base = latencySummary(samples.get(0)!);
    const out: Record<string, unknown> = {
      scenario: "GET /headers via stand-in + waypoint Envoy, 0/1/10/100 AuthorizationPolicies on the Gateway",
      requests_per_case: requests * rounds,
      concurrency,
    };
    for (const count of CASES) {
      const s = latencySummary(samples.get(count)!);
      const key = count === 0 ? "none" : `policies_${count}`;
      out[`${key}_p50_ms`] = s.p50_ms;
      out[`${key}_p99_ms`] = s.p99_ms;
      out[`${key}_rps`] = s.rps;
      if (count > 0) {
        out[`${key}_added_p50_ms`] = Math.round((s.p50_ms - base.p50_ms) * 1000) / 1000;
        out[`${key}_added_p99_ms`] = Math.round((s.p99_ms - base.p99_ms) * 1000) / 1000;
      }
    }
    return out;
  } finally {
    agent.destroy();
    await guide.stop();
  }
}
