// The Gateway API mesh (GAMMA) conformance tests of sigs.k8s.io/gateway-api/conformance v1.6.1,
// replayed through Waymark in standalone mode and a real Envoy waypoint: the suite's manifests and
// expectations are read from the module at test time, its echo server (echo-basic, built from the
// same module) plays the pods (HTTP and gRPC), and requests reach the waypoint as ztunnel delivers
// them. Every test Waymark claims (lib/claims.ts) must pass every check of the suite
// (lib/compare.ts); the others are reported as skipped with their reason. Prints the table and keeps
// docs/conformance.md's "standalone" table true (WAYMARK_CONFORMANCE_WRITE_DOC=1 rewrites it).
// The same suite through the API server: mesh-kubernetes.test.ts.
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Bucket, createLogger, type KubeObject, type ProxyRecord } from "@waymark/api";
import { connectBus, getJson, listKeys, openBucket } from "@waymark/bus";
import { type Stack, startStack } from "@waymark/devstack";
import { freePort, type Proc, tempDir } from "@waymark/testing";
import { stringify } from "yaml";
import { declaredFeatures } from "./lib/claims.ts";
import { buildCluster, parseYaml, WAYPOINT, WAYPOINT_PORT } from "./lib/cluster.ts";
import { clientPorts, identity, MESH_NS, meshSuite, startClients, startEchoPods } from "./lib/harness.ts";
import { runTest } from "./lib/runner.ts";
import { conformanceDir, loadMeshTests } from "./lib/suite.ts";

let stack: Stack | undefined;

meshSuite({
  title: "Gateway API mesh conformance v1.6.1 through Waymark and Envoy",
  docSection: "standalone",
  timeoutMs: 300_000,
  async setup() {
    const dir = conformanceDir();
    const logDir = tempDir("conformance");
    const sourceDir = tempDir("conformance-src");
    console.log(`logs: ${logDir}`);
    const manifests = parseYaml(readFileSync(join(dir, "mesh", "manifests.yaml"), "utf8"));
    const deployments = manifests.filter((m) => m.kind === "Deployment").length;
    const free = async () => ({ http: await freePort(), grpc: await freePort() });
    const cluster = buildCluster(manifests, await Promise.all(Array.from({ length: deployments }, free)));
    const h2c = await Promise.all(cluster.pods.map(() => freePort()));
    const pods: Proc[] = await startEchoPods(cluster.pods, logDir, h2c);
    writeFileSync(join(sourceDir, "00-cluster.yaml"), cluster.objects.map((o) => stringify(o)).join("---\n"));

    const bindAddress = `127.0.${10 + Math.floor(Math.random() * 200)}.${2 + Math.floor(Math.random() * 200)}`;
    // The devstack's own stand-in is not used: the mesh clients below are.
    const targets = cluster.services.flatMap(clientPorts);
    stack = await startStack({
      sourceDir,
      logDir,
      waypoint: WAYPOINT,
      waypointPort: WAYPOINT_PORT,
      bindAddress,
      backends: [],
      standin: {
        identity: identity(MESH_NS),
        routes: [{ listenPort: await freePort(), vip: targets[0]?.vip ?? "", port: targets[0]?.port ?? 80 }],
      },
    });
    const clients = await startClients(cluster, { host: bindAddress, port: WAYPOINT_PORT });
    const file = (name: string) => join(sourceDir, `zz-test-${name}.yaml`);
    return {
      env: {
        conformanceDir: dir,
        cluster,
        envoy: stack.envoy,
        standins: clients.standins,
        declared: declaredFeatures(),
        manifests: {
          async apply(name, docs) {
            writeFileSync(file(name), docs.map((d) => stringify(d)).join("---\n"));
          },
          async remove(name) {
            rmSync(file(name), { force: true });
          },
        },
      },
      async stop() {
        await clients.stop();
        await stack?.stop();
        await Promise.all(pods.map((p) => p.stop()));
      },
    };
  },
  extra(env) {
    test("broken on purpose: MeshHTTPRouteRewritePath with its prefix rewrite changed fails on the path", async () => {
      const t = loadMeshTests().find((x) => x.name === "MeshHTTPRouteRewritePath");
      assert.ok(t);
      // /prefix/one → /one becomes /prefix/one → /wrong: the status, backend and headers stay right.
      const mutate = (docs: KubeObject[]) =>
        JSON.parse(
          JSON.stringify(docs).replace('"replacePrefixMatch":"/one"', '"replacePrefixMatch":"/wrong"'),
        ) as KubeObject[];
      const row = await runTest(t, env(), { claimed: true }, { mutate, maxTimeMs: 3000 });
      assert.equal(row.result, "fail");
      assert.match(
        row.reason,
        /0 request to 'echo\/prefix\/one\/two': expected path to be \/one\/two, got \/wrong\/two/,
      );
    });

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
  },
});
