// Replays one conformance test: applies its manifests, sends its requests as the suite's mesh client
// would and compares with the suite's rules (lib/compare.ts; 3 consecutive successes within 30 s,
// 1 s between failed attempts), then removes its manifests and waits until Envoy no longer has its
// routes, so one test never sees another's configuration. A test Waymark does not claim
// (lib/claims.ts) is not run: its row says skipped and why.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeObject } from "@waymark/api";
import type { EnvoyProc } from "@waymark/testing";
import { waitFor } from "@waymark/testing";
import { type Claim, claim } from "./claims.ts";
import { type MeshResponse, resolveTarget, type StandinPorts, send } from "./client.ts";
import { type ClusterModel, parseYaml, podsOf } from "./cluster.ts";
import { CHECK_ORDER, type Check, checkWeights, compare, isGrpc } from "./compare.ts";
import { MeshGrpcClient, sendGrpc } from "./grpc-client.ts";
import type { ExpectedResponse, SuiteRun, SuiteTest } from "./suite.ts";

export const REQUIRED_SUCCESSES = 3;
export const MAX_TIME_TO_CONSISTENCY_MS = 30_000;
const WEIGHT_REQUESTS = 500;
const WEIGHT_RETRIES = 10;

/** Where a test's manifests go: the watched directory (standalone) or the API server (kubectl). */
export interface Manifests {
  apply(test: string, docs: KubeObject[]): Promise<void>;
  remove(test: string, docs: KubeObject[]): Promise<void>;
}

export interface Env {
  conformanceDir: string;
  manifests: Manifests;
  cluster: ClusterModel;
  /** Client namespace → its stand-in routes. */
  standins: ReadonlyMap<string, StandinPorts>;
  envoy: EnvoyProc;
  declared: Set<string>;
}

export interface Row {
  test: string;
  result: "pass" | "fail" | "skipped";
  reason: string;
  /** The checks the test's cases were put through (empty when skipped). */
  checks: Check[];
  ms: number;
}

/** Replaces `{{address <ns> <app>}}` (a pod IP in the suite) with our pod's. */
function podAddresses(host: string, env: Env): string {
  return host.replace(/\{\{address (\S+) (\S+)\}\}/g, (_, ns: string, app: string) => {
    const pod = podsOf(env.cluster, ns, app)[0];
    if (!pod) throw new Error(`no pod ${app} in ${ns}`);
    return pod.ip;
  });
}

function targetOf(exp: ExpectedResponse, run: SuiteRun, env: Env) {
  const standin = env.standins.get(run.client.namespace);
  if (!standin) throw new Error(`no client in namespace ${run.client.namespace}`);
  const host = podAddresses(exp.Request.Host || "echo", env);
  return resolveTarget(host, run.client.namespace, env.cluster, standin);
}

async function once(exp: ExpectedResponse, run: SuiteRun, env: Env): Promise<MeshResponse> {
  const target = targetOf(exp, run, env);
  if (isGrpc(exp))
    return sendGrpc(
      { port: target.port, authority: target.hostHeader },
      exp.Request.Headers ?? {},
      exp.Request.Path || undefined,
    );
  return send(target, exp.Request.Method || "GET", exp.Request.Path || "/", exp.Request.Headers ?? {});
}

interface CaseResult {
  name: string;
  ok: boolean;
  reason: string;
  applied: Set<Check>;
}

export function caseName(exp: ExpectedResponse, i: number): string {
  if (exp.TestCaseName) return exp.TestCaseName;
  return `${i} request to '${exp.Request.Host ?? ""}${exp.Request.Path ?? ""}'`;
}

async function converge(
  suiteCase: ExpectedResponse,
  i: number,
  run: SuiteRun,
  env: Env,
  maxTimeMs: number,
): Promise<CaseResult> {
  const name = caseName(suiteCase, i);
  // The case with the pod address it names filled in, as the suite has it at run time.
  const exp = {
    ...suiteCase,
    Request: { ...suiteCase.Request, Host: podAddresses(suiteCase.Request.Host || "echo", env) },
  };
  const deadline = Date.now() + maxTimeMs;
  let successes = 0;
  let last = "no attempt";
  let applied = new Set<Check>();
  for (;;) {
    let why: string | undefined;
    try {
      const v = compare(exp, await once(exp, run, env));
      why = v.failure;
      applied = v.applied;
    } catch (e) {
      why = `request failed: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (!why) {
      if (++successes >= REQUIRED_SUCCESSES) return { name, ok: true, reason: "", applied };
      continue;
    }
    successes = 0;
    last = why;
    if (Date.now() + 1000 > deadline) return { name, ok: false, reason: last, applied };
    await sleep(1000);
  }
}

/** 500 requests (10 at a time; a gRPC batch on one connection, as the mesh client's --count). */
async function batch(exp: ExpectedResponse, run: SuiteRun, env: Env): Promise<string[]> {
  const pods: string[] = [];
  let next = 0;
  const grpc = isGrpc(exp)
    ? (() => {
        const t = targetOf(exp, run, env);
        return new MeshGrpcClient({ port: t.port, authority: t.hostHeader });
      })()
    : undefined;
  const one = () => (grpc ? grpc.call(exp.Request.Headers ?? {}) : once(exp, run, env));
  const worker = async () => {
    while (next < WEIGHT_REQUESTS) {
      next++;
      const res = await one();
      pods.push(res.echo?.pod ?? `status-${res.status}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: 10 }, worker));
  } finally {
    grpc?.close();
  }
  return pods;
}

async function weights(exp: ExpectedResponse, run: SuiteRun, want: Record<string, number>, env: Env) {
  let last = "";
  for (let attempt = 0; attempt < WEIGHT_RETRIES; attempt++) {
    const why = checkWeights(await batch(exp, run, env), want);
    if (!why) return undefined;
    last = why;
  }
  return `weighted distribution failed ${WEIGHT_RETRIES} times: ${last}`;
}

const ROUTE_KINDS = new Set(["HTTPRoute", "GRPCRoute"]);

/**
 * Route entry names in Envoy: `<namespace>/<route>/rule…` (input/names.ts), a GRPCRoute's with a
 * `grpc:` in front (routes/grpc.ts).
 */
function routeNames(docs: KubeObject[]): string[] {
  return docs
    .filter((d) => ROUTE_KINDS.has(d.kind))
    .map((d) => `${d.metadata.namespace}/${d.metadata.name}/rule`);
}

async function routesProgrammed(env: Env, names: string[], present: boolean, timeoutMs: number) {
  await waitFor(
    present ? "the test's routes in Envoy" : "the test's routes gone from Envoy",
    async () => {
      const dump = await env.envoy.admin("/config_dump?resource=dynamic_route_configs");
      const has = (n: string) => dump.includes(`"${n}`) || dump.includes(`"grpc:${n}`);
      return names.every((n) => has(n) === present);
    },
    timeoutMs,
    50,
  );
}

export function testDocs(t: SuiteTest, conformanceDir: string): KubeObject[] {
  return (t.manifests ?? []).flatMap((m) => parseYaml(readFileSync(join(conformanceDir, m), "utf8")));
}

const sortChecks = (s: Set<Check>) => CHECK_ORDER.filter((c) => s.has(c));

export interface RunOptions {
  /** Changes the test's manifests before they are applied (to break a test on purpose). */
  mutate?: (docs: KubeObject[]) => KubeObject[];
  /** Per case, instead of the suite's 30 s. */
  maxTimeMs?: number;
}

export async function runTest(
  t: SuiteTest,
  env: Env,
  c: Claim = claim(t, env.declared),
  opts: RunOptions = {},
): Promise<Row> {
  const started = Date.now();
  const applied = new Set<Check>();
  const row = (result: Row["result"], reason: string): Row => ({
    test: t.name,
    result,
    reason,
    checks: result === "skipped" ? [] : sortChecks(applied),
    ms: Date.now() - started,
  });
  if (!c.claimed) return row("skipped", c.reason);
  if (t.error || !t.runs) return row("fail", `cannot read the test's source: ${t.error ?? "no requests"}`);

  const docs = (opts.mutate ?? ((d) => d))(testDocs(t, env.conformanceDir));
  const names = routeNames(docs);
  if (docs.length) await env.manifests.apply(t.name, docs);
  try {
    await routesProgrammed(env, names, true, 15_000).catch(() => {});
    const failures: string[] = [];
    for (const run of t.runs) {
      const maxTime = opts.maxTimeMs ?? MAX_TIME_TO_CONSISTENCY_MS;
      const results = await Promise.all(run.cases.map((c, i) => converge(c, i, run, env, maxTime)));
      for (const r of results) {
        for (const a of r.applied) applied.add(a);
        if (!r.ok) failures.push(`${r.name}: ${r.reason}`);
      }
      const first = run.cases[0];
      if (run.weights && first && results.every((r) => r.ok)) {
        const why = await weights(first, run, run.weights, env);
        if (why) failures.push(why);
      }
    }
    if (t.runs.some((r) => r.weights)) applied.add("weights");
    if (failures.length) return row("fail", failures.join(" | "));
    return row("pass", "");
  } finally {
    if (docs.length) {
      await env.manifests.remove(t.name, docs);
      await routesProgrammed(env, names, false, 15_000);
    }
  }
}

/** The table for a terminal: test, result, time, checks, reason. */
export function table(rows: Row[]): string {
  const head = ["test", "result", "time", "reason"];
  const cells = rows.map((r) => [r.test, r.result, `${(r.ms / 1000).toFixed(1)}s`, r.reason]);
  const width = head.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => (i === 3 ? 0 : (c[i] ?? "").length))),
  );
  const line = (c: string[]) => c.map((v, i) => (i === 3 ? v : v.padEnd(width[i] ?? 0))).join(" | ");
  return [line(head), line(width.map((w) => "-".repeat(Math.max(w, 3)))), ...cells.map(line)].join("\n");
}

/** The table for docs/conformance.md (no timings: it is the same on every run that agrees). */
export function markdownTable(rows: Row[]): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  return [
    "| test | result | checks applied | reason |",
    "| --- | --- | --- | --- |",
    ...[...rows]
      .sort((a, b) => a.test.localeCompare(b.test))
      .map((r) => `| ${r.test} | ${r.result} | ${r.checks.join(", ") || "-"} | ${esc(r.reason) || "-"} |`),
  ].join("\n");
}
