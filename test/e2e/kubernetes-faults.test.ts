// Faults on a real Kubernetes API server with Waymark running: the API server restarted, the watch
// expired (410 Gone: etcd compacted past the watcher's resourceVersion, with a deletion the watcher
// never saw as an event), and the watcher SIGKILLed during a burst of 50 HTTPRoute changes. After each,
// wm-objects mirrors a fresh list from the API server exactly, and the last value of every route
// reaches a waypoint Envoy bootstrapped from the ConfigMap Waymark created (its config_dump).
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLogger } from "@waymark/api";
import { connectBus, type NatsConnection } from "@waymark/bus";
import { type EnvoyProc, tempDir, waitFor } from "@waymark/testing";
import * as guide from "../lib/kube-guide.ts";
import { waitForMirror } from "../lib/kube-mirror.ts";
import { type KubeStack, kubeSkip, startKubeStack, startWaypointEnvoy } from "../lib/kube-stack.ts";

const routeYaml = (name: string, value: string) =>
  JSON.stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: "httpbin" },
    spec: {
      parentRefs: [{ name: "httpbin2", kind: "Service", group: "" }],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: `/${name}` } }],
          backendRefs: [{ name: "httpbin2", port: 8000 }],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { add: [{ name: "X-Burst", value }] },
            },
          ],
        },
      ],
    },
  });

describe("kubernetes faults: API server restart, watch expiry, watcher killed", {
  timeout: 240_000,
  skip: kubeSkip,
}, () => {
  let s: KubeStack;
  let nc: NatsConnection;
  let envoy: EnvoyProc;
  let logDir: string;
  /** What the cluster holds: route name → the header value it adds. */
  const routes = new Map<string, string>();
  const apply = async (name: string, value: string) => {
    await s.cluster.kubectl(["apply", "-f", "-"], { input: routeYaml(name, value) });
    routes.set(name, value);
  };
  const remove = async (name: string) => {
    await s.cluster.kubectl(["-n", "httpbin", "delete", "httproute", name]);
    routes.delete(name);
  };
  /** Waits until Envoy's routes carry exactly the values of the routes the cluster holds. */
  const envoyHasRoutes = async () => {
    const want = [...routes.values()].sort();
    let have: string[] = [];
    await waitFor(
      "Envoy holds every route's last value",
      async () => {
        const dump = await envoy.admin("/config_dump?resource=dynamic_route_configs");
        have = [...new Set(dump.match(/burst-\d+-v\d+/g) ?? [])].sort();
        return JSON.stringify(have) === JSON.stringify(want);
      },
      20_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: want ${want.join(",")}; Envoy has ${have.join(",")}`);
    });
  };
  const watcherLog = () => s.procs.watcher.log();

  before(async () => {
    logDir = tempDir("e2e-kube-faults");
    console.log(`logs: ${logDir}`);
    s = await startKubeStack({ logDir });
    nc = await connectBus({ servers: s.nats.url, name: "e2e-kube-faults", log: createLogger("e2e") });
    await s.cluster.kubectl(["create", "namespace", "kgateway-system"]);
    for (const step of [
      guide.createNamespace,
      guide.deployHttpbin2,
      guide.labelNamespaces,
      guide.createWaypoint,
      guide.labelServices.split("\n")[0] ?? "",
    ])
      await s.sh(step);
    await waitFor(
      "the waypoint ConfigMap",
      () => s.cluster.kubectl(["-n", "httpbin", "get", "configmap", "kgateway-waypoint"]).then(() => true),
      20_000,
      100,
    );
    ({ envoy } = await startWaypointEnvoy({
      cluster: s.cluster,
      namespace: "httpbin",
      name: "kgateway-waypoint",
      logDir,
    }));
    await apply("burst-0", "burst-0-v1");
    await apply("burst-1", "burst-1-v1");
    await envoyHasRoutes();
    await waitForMirror(s.cluster, nc);
  });

  after(async () => {
    await envoy?.stop().catch(() => {});
    await nc?.close();
    await s?.stop();
  });

  test("API server restart: the watcher stays up, resumes, and loses nothing", async () => {
    const watcher = s.procs.watcher;
    await s.cluster.restartApiserver(2000);
    await apply("burst-0", "burst-0-v2");
    await remove("burst-1");
    await apply("burst-2", "burst-2-v1");
    await waitForMirror(s.cluster, nc);
    await envoyHasRoutes();
    assert.equal(watcher.child.exitCode, null, "the watcher did not exit");
    assert.equal(s.procs.watcher, watcher);
    // Status writing resumed too: the route created after the restart gets its parent status.
    await waitFor(
      "burst-2 Accepted",
      async () => {
        const r = JSON.parse(
          await s.cluster.kubectl(["-n", "httpbin", "get", "httproute", "burst-2", "-o", "json"]),
        ) as { status?: { parents?: Array<{ conditions: Array<{ type: string; status: string }> }> } };
        return r.status?.parents?.[0]?.conditions.some((c) => c.type === "Accepted" && c.status === "True");
      },
      20_000,
      200,
    );
  });

  test("watch expiry (410 Gone): the watcher relists and drops what was deleted unseen", async () => {
    await apply("burst-3", "burst-3-v1");
    await waitForMirror(s.cluster, nc);
    const before410 = (watcherLog().match(/watch expired \(410\)/g) ?? []).length;
    const etcd = async (path: string, body: unknown) => {
      const r = await fetch(`${s.cluster.etcdUrl}${path}`, { method: "POST", body: JSON.stringify(body) });
      const text = await r.text();
      assert.ok(r.ok, `etcd ${path}: ${r.status} ${text}`);
      return JSON.parse(text) as { header: { revision: string }; deleted?: string };
    };
    // While the API server is down, burst-3 is deleted in etcd (an event no watch delivers) and etcd
    // is compacted past every resourceVersion the watcher holds: its watches resume with 410.
    await s.cluster.restartApiserver(0, async () => {
      const key = Buffer.from("/registry/gateway.networking.k8s.io/httproutes/httpbin/burst-3").toString(
        "base64",
      );
      const del = await etcd("/v3/kv/deleterange", { key });
      assert.equal(del.deleted, "1");
      await etcd("/v3/kv/compaction", { revision: del.header.revision, physical: true });
    });
    routes.delete("burst-3");
    await waitFor(
      "the watcher's HTTPRoute watch expired (410) and relisted",
      () => {
        const log = watcherLog();
        return (
          (log.match(/watch expired \(410\)/g) ?? []).length > before410 &&
          /"msg":"watch expired \(410\); relisting"[^\n]*"kind":"HTTPRoute"/.test(log) &&
          /"msg":"relisted"[^\n]*"kind":"HTTPRoute"/.test(log)
        );
      },
      20_000,
      200,
    );
    await waitForMirror(s.cluster, nc);
    await envoyHasRoutes();
    await apply("burst-0", "burst-0-v3");
    await waitForMirror(s.cluster, nc);
    await envoyHasRoutes();
  });

  test("watcher SIGKILLed during a burst of 50 route changes: nothing lost after recovery", async () => {
    // 50 changes: create burst-10..29, update every one of them, delete burst-10..19.
    const script: string[] = [];
    const final = new Map<string, string | undefined>();
    for (let i = 10; i < 30; i++) {
      script.push(`kubectl apply -f - <<'EOF'\n${routeYaml(`burst-${i}`, `burst-${i}-v1`)}\nEOF`);
      final.set(`burst-${i}`, `burst-${i}-v1`);
    }
    for (let i = 10; i < 30; i++) {
      script.push(`kubectl apply -f - <<'EOF'\n${routeYaml(`burst-${i}`, `burst-${i}-v2`)}\nEOF`);
      final.set(`burst-${i}`, `burst-${i}-v2`);
    }
    for (let i = 10; i < 20; i++) {
      script.push(`kubectl -n httpbin delete httproute burst-${i}`);
      final.set(`burst-${i}`, undefined);
    }
    assert.equal(script.length, 50);
    // The burst stops at two gates, so that the watcher dies in the middle of it and changes happen
    // while no watcher runs, whatever the machine's speed: the script marks each gate when it gets
    // there and waits for the test to open it.
    const gates = tempDir("burst-gates");
    const gate = (name: string) =>
      `touch ${gates}/${name}.reached; while [ ! -e ${gates}/${name}.open ]; do sleep 0.05; done`;
    const reached = (name: string) =>
      waitFor(`the burst at gate ${name}`, () => existsSync(join(gates, `${name}.reached`)), 60_000, 50);
    const open = (name: string) => writeFileSync(join(gates, `${name}.open`), "");
    const burst = s.sh(
      [
        ...script.slice(0, 20),
        gate("kill"),
        ...script.slice(20, 40),
        gate("restart"),
        ...script.slice(40),
      ].join("\n"),
    );
    try {
      const old = s.procs.watcher;
      await reached("kill"); // 20 routes created
      old.child.kill("SIGKILL");
      await old.exited;
      open("kill");
      await reached("restart"); // 20 updates made with no watcher running
      s.procs.watcher = s.startWatcher();
    } finally {
      open("kill");
      open("restart");
    }
    await burst; // the 10 deletions, while the new watcher starts
    for (const [name, value] of final) {
      if (value === undefined) routes.delete(name);
      else routes.set(name, value);
    }
    await waitForMirror(s.cluster, nc, 30_000);
    await envoyHasRoutes();
    // The new watcher took the Lease over and writes status again.
    await waitFor(
      "every burst route Accepted",
      async () => {
        const list = JSON.parse(
          await s.cluster.kubectl(["-n", "httpbin", "get", "httproute", "-o", "json"]),
        ) as {
          items: Array<{
            metadata: { name: string };
            status?: { parents?: Array<{ conditions: Array<{ type: string; status: string }> }> };
          }>;
        };
        return list.items.every((r) =>
          r.status?.parents?.[0]?.conditions.some((c) => c.type === "Accepted" && c.status === "True"),
        );
      },
      30_000,
      300,
    );
  });
});
