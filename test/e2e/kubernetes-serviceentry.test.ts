// ServiceEntry on the Kubernetes path (issue 16, kgateway#14390): a real API server with Istio's
// networking.istio.io CRDs (from the istio.io/api module), Waymark running as in kubernetes.test.ts
// (the watcher with deploy/rbac.yaml's get/list/watch on serviceentries), objects applied with
// kubectl, traffic through the ztunnel stand-in and an Envoy bootstrapped from Waymark's ConfigMap.
// There is no istiod here: the test writes the ServiceEntry's status.addresses itself, through the
// status subresource, as Istio's address allocator does. The watcher must forward that status (it
// writes no ServiceEntry status of its own), and the translator must serve the address it brings.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger } from "@waymark/api";
import { connectBus, openBucket } from "@waymark/bus";
import {
  type EnvoyProc,
  freePort,
  type Proc,
  podNetworkProblem,
  startProcess,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { assertNoNack } from "../lib/authz-policy.ts";
import { httpRequest } from "../lib/http.ts";
import * as guide from "../lib/kube-guide.ts";
import {
  type KubeStack,
  kubeSkip,
  REPO_ROOT,
  startKubeStack,
  startWaypointEnvoy,
} from "../lib/kube-stack.ts";

const NS = "httpbin";
const WAYPOINT = "kgateway-waypoint";
const VIP = { api: "240.1.0.1", late: "240.240.0.7" } as const;
const HOST = { api: "api.example.test", late: "late.example.test" } as const;

interface RouteStatus {
  status?: {
    parents?: Array<{
      controllerName: string;
      conditions: Array<{ type: string; status: string; reason: string; message: string }>;
    }>;
  };
}

describe("kubernetes: ServiceEntry on the waypoint", { timeout: 240_000, skip: kubeSkip }, () => {
  let s: KubeStack;
  let server: Server;
  let serverPort = 0;
  const extra: Array<Proc | EnvoyProc> = [];
  const port = { api: 0, late: 0 };
  const kubectl = (args: string[], input?: string) =>
    s.cluster.kubectl(args, input === undefined ? {} : { input });
  const apply = (...objs: unknown[]) =>
    kubectl(["apply", "-f", "-"], objs.map((o) => JSON.stringify(o)).join("\n---\n"));
  const entry = (name: keyof typeof HOST, addresses?: string[]) => ({
    apiVersion: "networking.istio.io/v1",
    kind: "ServiceEntry",
    metadata: { name, namespace: NS, labels: { "istio.io/use-waypoint": WAYPOINT } },
    spec: {
      hosts: [HOST[name]],
      ...(addresses ? { addresses } : {}),
      location: "MESH_EXTERNAL",
      resolution: "STATIC",
      ports: [{ number: 80, name: "http", protocol: "HTTP", targetPort: serverPort }],
      endpoints: [{ address: "127.0.0.1" }],
    },
  });
  const route = (name: keyof typeof HOST) => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: `${name}-route`, namespace: NS },
    spec: {
      parentRefs: [{ group: "networking.istio.io", kind: "ServiceEntry", name }],
      rules: [
        {
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { add: [{ name: "x-via", value: name }] },
            },
          ],
          backendRefs: [{ group: "networking.istio.io", kind: "ServiceEntry", name, port: 80 }],
        },
      ],
    },
  });
  const accepted = async (name: string) => {
    const r = JSON.parse(await kubectl(["-n", NS, "get", "httproute", name, "-o", "json"])) as RouteStatus;
    return r.status?.parents
      ?.find((p) => p.controllerName === "waymark.dev/waymark")
      ?.conditions.find((c) => c.type === "Accepted");
  };
  /** Through the stand-in, on a connection of its own; the error when the waypoint closes unanswered. */
  const get = (svc: keyof typeof HOST) =>
    httpRequest(port[svc], HOST[svc], "/get", { headers: { connection: "close" } }).catch((e: unknown) =>
      e instanceof Error ? e : new Error(String(e)),
    );

  before(async () => {
    const problem = await podNetworkProblem();
    if (problem) throw new Error(problem);
    const logDir = tempDir("e2e-kube-serviceentry");
    console.log(`logs: ${logDir}`);
    server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ headers: req.headers as IncomingHttpHeaders }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    serverPort = (server.address() as AddressInfo).port;
    s = await startKubeStack({ logDir, istioCrdGroups: ["security.istio.io", "networking.istio.io"] });
    await s.sh(guide.createNamespace);
    await kubectl(["label", "ns", NS, "istio.io/dataplane-mode=ambient"]);
    await s.sh(guide.createWaypoint);
    await waitFor(
      "the waypoint Deployment",
      () => kubectl(["-n", NS, "get", "deployment", WAYPOINT, "-o", "name"]).then(() => true),
      20_000,
      100,
    );
    await s.sh(`timeout 90 ${guide.rolloutStatus.trim()}`);
    // One ServiceEntry with spec.addresses, one without (Istio would allocate its address later).
    await apply(entry("api", [VIP.api]), route("api"), entry("late"), route("late"));
    const { envoy } = await startWaypointEnvoy({ cluster: s.cluster, namespace: NS, name: WAYPOINT, logDir });
    extra.push(envoy);
    for (const svc of ["api", "late"] as const) {
      port[svc] = await freePort();
      extra.push(
        startProcess({
          name: `ztunnel-standin-${svc}`,
          command: process.execPath,
          args: [
            `${REPO_ROOT}/tools/ztunnel-standin/src/main.ts`,
            "--waypoint",
            `${s.bindAddress}:15088`,
            "--identity",
            "spiffe://cluster.local/ns/httpbin/sa/client",
            "--route",
            `127.0.0.1:${port[svc]}=${VIP[svc]}:80`,
          ],
          logDir,
        }),
      );
    }
  });

  after(async () => {
    for (const p of extra.reverse()) await p.stop().catch(() => {});
    await s?.stop();
    server?.close();
  });

  test("the API server serves ServiceEntry; one with spec.addresses is served with its route", async () => {
    const resources = await kubectl(["api-resources", "--api-group", "networking.istio.io", "-o", "name"]);
    assert.ok(resources.split("\n").includes("serviceentries.networking.istio.io"), resources);
    const r = await waitFor("api served", async () => {
      const res = await get("api");
      return res instanceof Error || res.status !== 200 ? undefined : res;
    });
    assert.equal((JSON.parse(r.body) as { headers: IncomingHttpHeaders }).headers["x-via"], "api");
    await waitFor("api-route accepted", async () => (await accepted("api-route"))?.status === "True");
  });

  test("kgateway#14390: the address Istio writes into status.addresses later is served", async () => {
    const before = await waitFor(
      "late-route's status",
      async () => (await accepted("late-route")) ?? undefined,
    );
    assert.equal(before.status, "False", JSON.stringify(before));
    assert.equal(before.reason, "UnsupportedValue");
    assert.match(before.message, /ServiceEntry httpbin\/late has no addresses/);
    assert.ok((await get("late")) instanceof Error, "the future VIP is served before it exists");

    await kubectl([
      "-n",
      NS,
      "patch",
      "serviceentry",
      "late",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { addresses: [{ host: HOST.late, value: VIP.late }] } }),
    ]);
    const r = await waitFor("the allocated VIP served", async () => {
      const res = await get("late");
      return res instanceof Error || res.status !== 200 ? undefined : res;
    });
    assert.equal((JSON.parse(r.body) as { headers: IncomingHttpHeaders }).headers["x-via"], "late");
    await waitFor("late-route accepted", async () => (await accepted("late-route"))?.status === "True");
    // Waymark writes no status of its own on the ServiceEntry: the allocated address is left alone.
    const se = JSON.parse(await kubectl(["-n", NS, "get", "serviceentry", "late", "-o", "json"])) as {
      status?: { addresses?: Array<{ value: string }> };
    };
    assert.deepEqual(
      se.status?.addresses?.map((a) => a.value),
      [VIP.late],
    );
  });

  test("Envoy never NACKed", async () => {
    const nc = await connectBus({ servers: s.nats.url, name: "e2e", log: createLogger("e2e") });
    try {
      await assertNoNack(await openBucket(nc, Bucket.proxies));
    } finally {
      await nc.close();
    }
  });
});
