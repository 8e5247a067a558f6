// The Gateway API mesh (GAMMA) conformance tests of sigs.k8s.io/gateway-api/conformance v1.6.1,
// replayed through Waymark in standalone mode and a real Envoy waypoint: the suite's manifests and
// expectations are read from the module at test time, its echo server (echo-basic, built from the
// same module) plays the pods, and requests reach the waypoint as ztunnel delivers them. Prints a
// table (test, result, reason) and fails if a required test does not pass.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, type ProxyRecord } from "@waymark/api";
import { connectBus, getJson, listKeys, openBucket } from "@waymark/bus";
import { type Stack, startStack } from "@waymark/devstack";
import { freePort, type Proc, requireEnv, startProcess, tempDir, waitFor } from "@waymark/testing";
import { type Standin, startStandin } from "@waymark/ztunnel-standin";
import { stringify } from "yaml";
import { buildCluster, type ClusterModel, parseYaml, WAYPOINT, WAYPOINT_PORT } from "./lib/cluster.ts";
import { type Env, type Row, runTest, table } from "./lib/runner.ts";
import { conformanceDir, loadMeshTests, type SuiteTest } from "./lib/suite.ts";

const HINT = 'run `eval "$(scripts/bootstrap-conformance.sh)"` first (node scripts/test.ts conformance does)';
const MESH_NS = "gateway-conformance-mesh";
const CONSUMER_NS = "gateway-conformance-mesh-consumer";

/** Must pass (issue 5); the other tests of the suite are reported too. */
const REQUIRED = [
  "MeshBasic",
  "MeshConsumerRoute",
  "MeshFrontend",
  "MeshFrontendHostname",
  "MeshPorts",
  "MeshTrafficSplit",
  "MeshHTTPRoute303Redirect",
  "MeshHTTPRoute307Redirect",
  "MeshHTTPRoute308Redirect",
  "MeshHTTPRouteMatching",
  "MeshHTTPRouteNamedRule",
  "MeshHTTPRouteQueryParamMatching",
  "MeshHTTPRouteRedirectHostAndStatus",
  "MeshHTTPRouteRedirectPath",
  "MeshHTTPRouteRedirectPort",
  "MeshHTTPRouteSchemeRedirect",
  "MeshHTTPRouteRequestHeaderModifier",
  "MeshHTTPRouteBackendRequestHeaderModifier",
  "MeshHTTPRouteRewritePath",
  "MeshHTTPRouteSimpleSameNamespace",
  "MeshHTTPRouteWeight",
];

const identity = (ns: string) => `spiffe://cluster.local/ns/${ns}/sa/default`;

const dir = conformanceDir();
const tests: SuiteTest[] = loadMeshTests(dir);
const rows: Row[] = [];

describe("Gateway API mesh conformance v1.6.1 through Waymark and Envoy", { timeout: 300_000 }, () => {
  let stack: Stack | undefined;
  let consumer: Standin | undefined;
  const pods: Proc[] = [];
  let env: Env;

  before(async () => {
    const echoBasic = requireEnv("WAYMARK_ECHO_BASIC", HINT);
    const logDir = tempDir("conformance");
    const sourceDir = tempDir("conformance-src");
    const manifests = parseYaml(readFileSync(join(dir, "mesh", "manifests.yaml"), "utf8"));
    const deployments = manifests.filter((m) => m.kind === "Deployment").length;
    const ports = await Promise.all(Array.from({ length: deployments }, () => freePort()));
    const cluster: ClusterModel = buildCluster(manifests, ports);
    for (const pod of cluster.pods) {
      pods.push(
        startProcess({
          name: `echo-${pod.namespace}-${pod.name}`,
          command: echoBasic,
          env: {
            HTTP_PORT: String(pod.httpPort),
            H2C_PORT: String(await freePort()),
            POD_NAME: pod.name,
            NAMESPACE: pod.namespace,
          },
          logDir,
        }),
      );
    }
    for (const pod of cluster.pods)
      await waitFor(
        `echo pod ${pod.name}`,
        async () => (await fetch(`http://127.0.0.1:${pod.httpPort}/health`)).ok,
      );
    writeFileSync(join(sourceDir, "00-cluster.yaml"), cluster.objects.map((o) => stringify(o)).join("---\n"));

    // The mesh namespace's client goes through the devstack's stand-in; the consumer namespace's
    // through a second one with its own identity.
    const httpPorts = (s: ClusterModel["services"][number]) =>
      s.ports.filter((p) => p.appProtocol === "http").map((p) => ({ vip: s.vip, port: p.port }));
    const targets = cluster.services.flatMap(httpPorts);
    const meshRoutes = await Promise.all(
      targets.map(async (t) => ({ listenPort: await freePort(), vip: t.vip, port: t.port })),
    );
    const bindAddress = `127.0.${10 + Math.floor(Math.random() * 200)}.${2 + Math.floor(Math.random() * 200)}`;
    stack = await startStack({
      sourceDir,
      logDir,
      waypoint: WAYPOINT,
      waypointPort: WAYPOINT_PORT,
      bindAddress,
      backends: [],
      standin: { identity: identity(MESH_NS), routes: meshRoutes },
    });
    consumer = await startStandin({
      waypoint: { host: bindAddress, port: WAYPOINT_PORT },
      identity: identity(CONSUMER_NS),
      routes: targets.map((t) => ({
        listen: { host: "127.0.0.1", port: 0 },
        destination: { address: t.vip, port: t.port },
      })),
    });
    const consumerPorts = consumer.ports;
    env = {
      conformanceDir: dir,
      sourceDir,
      cluster,
      envoy: stack.envoy,
      standins: new Map([
        [MESH_NS, new Map(meshRoutes.map((r) => [`${r.vip}:${r.port}`, r.listenPort]))],
        [CONSUMER_NS, new Map(targets.map((t, i) => [`${t.vip}:${t.port}`, consumerPorts[i] ?? 0]))],
      ]),
    };
    console.log(`logs: ${logDir}`);
  });

  after(async () => {
    console.log(`\n${table(rows)}\n`);
    await consumer?.stop();
    await stack?.stop();
    await Promise.all(pods.map((p) => p.stop()));
  });

  test("the suite's sources were read", () => {
    assert.ok(tests.length >= 22, `found ${tests.length} mesh tests`);
    for (const name of REQUIRED)
      assert.ok(
        tests.some((t) => t.name === name),
        `${name} is in the suite`,
      );
  });

  for (const t of tests) {
    test(t.name, async () => {
      const row = await runTest(t, env);
      rows.push(row);
      if (row.result === "not supported") return;
      if (REQUIRED.includes(t.name)) assert.equal(row.result, "pass", `${t.name}: ${row.reason}`);
    });
  }

  test("Envoy never NACKed: every configuration of the run was accepted (wm-proxies)", async () => {
    assert.ok(stack);
    const nc = await connectBus({
      servers: stack.nats.url,
      name: "conformance",
      log: createLogger("conformance"),
    });
    try {
      const kv = await openBucket(nc, Bucket.proxies);
      const keys = await listKeys(kv);
      assert.ok(keys.length > 0, "no proxy record");
      for (const k of keys) {
        const r = await getJson<ProxyRecord>(kv, k);
        for (const [type, st] of Object.entries(r?.types ?? {}))
          assert.equal(st.nackedVersion, undefined, `${k} NACKed ${type}: ${st.nackMessage}`);
        assert.ok(
          Object.values(r?.types ?? {}).some((st) => st.ackedVersion),
          `${k} ACKed nothing`,
        );
      }
    } finally {
      await nc.close();
    }
  });
});
