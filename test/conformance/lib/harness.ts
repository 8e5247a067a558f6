// The parts of a conformance run shared by the standalone run (mesh.test.ts) and the Kubernetes one
// (mesh-kubernetes.test.ts): the echo pods as local processes, the mesh clients as ztunnel stand-ins,
// and the suite as node:test tests whose table goes to the terminal and to docs/conformance.md.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Proc, requireEnv, startProcess, waitFor } from "@waymark/testing";
import { type Standin, startStandin } from "@waymark/ztunnel-standin";
import { CLAIMED, claim, claimProblems, declaredFeatures } from "./claims.ts";
import type { ClusterModel, Pod, ServiceModel } from "./cluster.ts";
import { type Env, markdownTable, type Row, runTest, table } from "./runner.ts";
import { conformanceDir, loadMeshTests, type SuiteTest } from "./suite.ts";

export const HINT =
  'run `eval "$(scripts/bootstrap-conformance.sh)"` first (node scripts/test.ts conformance does)';
export const MESH_NS = "gateway-conformance-mesh";
export const CONSUMER_NS = "gateway-conformance-mesh-consumer";
export const identity = (ns: string) => `spiffe://cluster.local/ns/${ns}/sa/default`;

const DOC = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..", "docs", "conformance.md");

/** One echo pod = two echo-basic processes: HTTP (and h2c) on httpPort, gRPC on grpcPort. */
export async function startEchoPods(pods: Pod[], logDir: string, h2cPorts: number[]): Promise<Proc[]> {
  const echoBasic = requireEnv("WAYMARK_ECHO_BASIC", HINT);
  const procs: Proc[] = [];
  for (const [i, pod] of pods.entries()) {
    const common = { POD_NAME: pod.name, NAMESPACE: pod.namespace };
    procs.push(
      startProcess({
        name: `echo-${pod.namespace}-${pod.name}`,
        command: echoBasic,
        env: { ...common, HTTP_PORT: String(pod.httpPort), H2C_PORT: String(h2cPorts[i]) },
        logDir,
      }),
      startProcess({
        name: `echo-grpc-${pod.namespace}-${pod.name}`,
        command: echoBasic,
        env: { ...common, GRPC_ECHO_SERVER: "1", HTTP_PORT: String(pod.grpcPort) },
        logDir,
      }),
    );
  }
  const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
  for (const pod of pods) {
    await waitFor(
      `echo pod ${pod.name}`,
      async () => (await fetch(`http://127.0.0.1:${pod.httpPort}/health`)).ok,
    );
    await waitFor(`echo pod ${pod.name} gRPC`, () => listening(pod.grpcPort));
  }
  return procs;
}

/** The Service ports a mesh client sends to: HTTP and gRPC ones. */
export const clientPorts = (s: ServiceModel) =>
  s.ports
    .filter((p) => p.appProtocol === "http" || p.appProtocol === "grpc")
    .map((p) => ({ vip: s.vip, port: p.port }));

/** A mesh client per namespace: a stand-in with that namespace's identity, a route per Service port. */
export async function startClients(
  cluster: ClusterModel,
  waypoint: { host: string; port: number },
): Promise<{ standins: Env["standins"]; stop(): Promise<void> }> {
  const targets = cluster.services.flatMap(clientPorts);
  const started: Standin[] = [];
  const standins = new Map<string, Map<string, number>>();
  for (const ns of [MESH_NS, CONSUMER_NS]) {
    const s = await startStandin({
      waypoint,
      identity: identity(ns),
      routes: targets.map((t) => ({
        listen: { host: "127.0.0.1", port: 0 },
        destination: { address: t.vip, port: t.port },
      })),
    });
    started.push(s);
    standins.set(ns, new Map(targets.map((t, i) => [`${t.vip}:${t.port}`, s.ports[i] ?? 0])));
  }
  return {
    standins,
    async stop() {
      await Promise.all(started.map((s) => s.stop()));
    },
  };
}

/** Rewrites the section between `<!-- table:<name> -->` and `<!-- /table:<name> -->` of the doc. */
function section(doc: string, name: string): { start: number; end: number } | undefined {
  const open = `<!-- table:${name} -->\n`;
  const start = doc.indexOf(open);
  const end = doc.indexOf(`<!-- /table:${name} -->`);
  return start < 0 || end < start ? undefined : { start: start + open.length, end };
}

/**
 * The suite as node:test tests: one per mesh test (a claimed test that does not pass every check
 * fails; a test not claimed is not run, its row says skipped and why), the claims' consistency, and
 * the doc's table. `setup` brings up Waymark, Envoy, the pods and the clients.
 */
export function meshSuite(o: {
  title: string;
  /** The doc section this run's table is kept in. */
  docSection: string;
  /** Limits the run (e.g. the Kubernetes run to the claimed tests). */
  filter?: (t: SuiteTest) => boolean;
  timeoutMs: number;
  skip?: string | false;
  setup(): Promise<{ env: Env; stop(): Promise<void> }>;
  /** More tests after the suite's (e.g. no NACK). */
  extra?: (env: () => Env) => void;
}): void {
  const dir = process.env["WAYMARK_GWAPI_CONFORMANCE"] ? conformanceDir() : "";
  const all: SuiteTest[] = dir ? loadMeshTests(dir) : [];
  const tests = all.filter(o.filter ?? (() => true));
  const rows: Row[] = [];
  let env: Env | undefined;
  let stop: (() => Promise<void>) | undefined;
  const extraFeatures = (process.env["WAYMARK_CONFORMANCE_FEATURES"] ?? "").trim() !== "";

  describe(o.title, { timeout: o.timeoutMs, skip: o.skip ?? false }, () => {
    before(async () => {
      if (!dir) throw new Error(`WAYMARK_GWAPI_CONFORMANCE is not set: ${HINT}`);
      const up = await o.setup();
      env = up.env;
      stop = up.stop;
    });

    after(async () => {
      console.log(`\n${table(rows)}\n`);
      await stop?.();
    });

    test("the suite's sources were read; the claims are consistent with the declared features", () => {
      assert.ok(all.length >= 22, `found ${all.length} mesh tests`);
      assert.deepEqual(claimProblems(all, env?.declared ?? declaredFeatures()), []);
      for (const name of CLAIMED)
        assert.ok(
          all.some((t) => t.name === name),
          `${name} is in the suite`,
        );
    });

    const declared = declaredFeatures();
    for (const t of tests) {
      // A test not claimed is not run; its node:test test only records the row, and says so in its
      // name (a node:test skip would fail CI, where a skip means a test that should have run did not).
      const c = claim(t, declared);
      const title = c.claimed ? t.name : `${t.name}: skipped, not claimed (${c.reason.split(":")[0]})`;
      test(title, async () => {
        assert.ok(env, "set-up failed");
        const row = await runTest(t, env, c);
        rows.push(row);
        if (!c.claimed) return assert.equal(row.result, "skipped");
        assert.equal(row.result, "pass", `${t.name}: ${row.reason}`);
      });
    }

    o.extra?.(() => {
      assert.ok(env, "set-up failed");
      return env;
    });

    test(`docs/conformance.md's ${o.docSection} table is this run's (WAYMARK_CONFORMANCE_WRITE_DOC=1 rewrites it)`, (t) => {
      if (extraFeatures)
        return t.skip("WAYMARK_CONFORMANCE_FEATURES declares more than the claims: not this table");
      assert.equal(rows.length, tests.length, "every test has a row");
      const doc = readFileSync(DOC, "utf8");
      const at = section(doc, o.docSection);
      assert.ok(at, `docs/conformance.md has no <!-- table:${o.docSection} --> section`);
      const want = `${markdownTable(rows)}\n`;
      if (process.env["WAYMARK_CONFORMANCE_WRITE_DOC"] === "1") {
        writeFileSync(DOC, doc.slice(0, at.start) + want + doc.slice(at.end));
        return;
      }
      assert.equal(
        doc.slice(at.start, at.end),
        want,
        "run with WAYMARK_CONFORMANCE_WRITE_DOC=1 to update the doc",
      );
    });
  });
}
