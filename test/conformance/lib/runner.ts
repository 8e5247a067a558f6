// Replays one conformance test: applies its manifests to the watched directory, sends its requests as
// the suite's mesh client would and compares with the suite's rules (3 consecutive successes within
// 30 s, 1 s between failed attempts), then removes its manifests and waits until Envoy no longer has
// its routes, so one test never sees another's configuration.

import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { EnvoyProc } from "@waymark/testing";
import { waitFor } from "@waymark/testing";
import { stringify } from "yaml";
import { type MeshResponse, resolveTarget, type StandinPorts, send } from "./client.ts";
import { type ClusterModel, parseYaml, podsOf } from "./cluster.ts";
import { checkWeights, meshCompare, strictCompare } from "./compare.ts";
import type { ExpectedResponse, SuiteRun, SuiteTest } from "./suite.ts";

export const REQUIRED_SUCCESSES = 3;
export const MAX_TIME_TO_CONSISTENCY_MS = 30_000;
const WEIGHT_REQUESTS = 500;
const WEIGHT_RETRIES = 10;

export interface Env {
  conformanceDir: string;
  sourceDir: string;
  cluster: ClusterModel;
  /** Client namespace → its stand-in routes. */
  standins: ReadonlyMap<string, StandinPorts>;
  envoy: EnvoyProc;
}

export interface Row {
  test: string;
  result: "pass" | "fail" | "not supported";
  /** The Gateway-suite checks the mesh rule leaves out (path, method, namespace, Location). */
  strict: "pass" | "fail" | "-";
  reason: string;
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

async function once(exp: ExpectedResponse, run: SuiteRun, env: Env): Promise<MeshResponse> {
  const standin = env.standins.get(run.client.namespace);
  if (!standin) throw new Error(`no client in namespace ${run.client.namespace}`);
  const host = podAddresses(exp.Request.Host || "echo", env);
  const target = resolveTarget(host, run.client.namespace, env.cluster, standin);
  return send(target, exp.Request.Method || "GET", exp.Request.Path || "/", exp.Request.Headers ?? {});
}

interface CaseResult {
  name: string;
  ok: boolean;
  reason: string;
  strict: string | undefined;
}

async function converge(exp: ExpectedResponse, i: number, run: SuiteRun, env: Env): Promise<CaseResult> {
  const name = exp.TestCaseName || `${i} request to '${exp.Request.Host ?? ""}${exp.Request.Path ?? ""}'`;
  const deadline = Date.now() + MAX_TIME_TO_CONSISTENCY_MS;
  let successes = 0;
  let last = "no attempt";
  let strict: string | undefined;
  for (;;) {
    let why: string | undefined;
    try {
      const res = await once(exp, run, env);
      why = meshCompare(exp, res);
      if (!why) strict = strictCompare(exp, res);
    } catch (e) {
      why = `request failed: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (!why) {
      if (++successes >= REQUIRED_SUCCESSES) return { name, ok: true, reason: "", strict };
      continue;
    }
    successes = 0;
    last = why;
    if (Date.now() + 1000 > deadline) return { name, ok: false, reason: last, strict };
    await sleep(1000);
  }
}

async function weights(exp: ExpectedResponse, run: SuiteRun, want: Record<string, number>, env: Env) {
  let last = "";
  for (let attempt = 0; attempt < WEIGHT_RETRIES; attempt++) {
    const pods: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < WEIGHT_REQUESTS) {
        next++;
        const res = await once(exp, run, env);
        pods.push(res.echo?.pod ?? `status-${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    const why = checkWeights(pods, want);
    if (!why) return undefined;
    last = why;
  }
  return `weighted distribution failed ${WEIGHT_RETRIES} times: ${last}`;
}

function routeNames(docs: ReturnType<typeof parseYaml>): string[] {
  return docs
    .filter((d) => d.kind === "HTTPRoute")
    .map((d) => `"${d.metadata.namespace}/${d.metadata.name}/rule`);
}

async function routesProgrammed(env: Env, names: string[], present: boolean, timeoutMs: number) {
  await waitFor(
    present ? "the test's routes in Envoy" : "the test's routes gone from Envoy",
    async () => {
      const dump = await env.envoy.admin("/config_dump?resource=dynamic_route_configs");
      return names.every((n) => dump.includes(n) === present);
    },
    timeoutMs,
    50,
  );
}

export async function runTest(t: SuiteTest, env: Env): Promise<Row> {
  const started = Date.now();
  const row = (result: Row["result"], reason: string, strict: Row["strict"] = "-"): Row => ({
    test: t.name,
    result,
    strict,
    reason,
    ms: Date.now() - started,
  });
  if (t.features.some((f) => /GRPCRoute/.test(f)))
    return row("not supported", "GRPCRoute is not implemented");
  if (t.error || !t.runs) return row("fail", `cannot read the test's source: ${t.error ?? "no requests"}`);

  const docs = (t.manifests ?? []).flatMap((m) =>
    parseYaml(readFileSync(join(env.conformanceDir, m), "utf8")),
  );
  const file = join(env.sourceDir, `zz-test-${t.name}.yaml`);
  const names = routeNames(docs);
  if (docs.length) writeFileSync(file, docs.map((d) => stringify(d)).join("---\n"));
  try {
    await routesProgrammed(env, names, true, 15_000).catch(() => {});
    const failures: string[] = [];
    const strictFailures: string[] = [];
    for (const run of t.runs) {
      const results = await Promise.all(run.cases.map((c, i) => converge(c, i, run, env)));
      for (const r of results) {
        if (!r.ok) failures.push(`${r.name}: ${r.reason}`);
        if (r.strict) strictFailures.push(`${r.name}: ${r.strict}`);
      }
      const first = run.cases[0];
      if (run.weights && first && results.every((r) => r.ok)) {
        const why = await weights(first, run, run.weights, env);
        if (why) failures.push(why);
      }
    }
    const strict = strictFailures.length ? "fail" : "pass";
    if (failures.length) return row("fail", failures.join(" | "), strict);
    return row("pass", strictFailures.length ? `strict: ${strictFailures.join(" | ")}` : "", strict);
  } finally {
    if (docs.length) {
      rmSync(file, { force: true });
      await routesProgrammed(env, names, false, 15_000);
    }
  }
}

export function table(rows: Row[]): string {
  const head = ["test", "result", "strict", "time", "reason"];
  const cells = rows.map((r) => [r.test, r.result, r.strict, `${(r.ms / 1000).toFixed(1)}s`, r.reason]);
  const width = head.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => (i === 4 ? 0 : (c[i] ?? "").length))),
  );
  const line = (c: string[]) => c.map((v, i) => (i === 4 ? v : v.padEnd(width[i] ?? 0))).join(" | ");
  return [line(head), line(width.map((w) => "-".repeat(Math.max(w, 3)))), ...cells.map(line)].join("\n");
}
