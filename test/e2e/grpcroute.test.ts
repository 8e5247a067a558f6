// GRPCRoute end to end through a real Envoy waypoint: real gRPC calls (@grpc/grpc-js) reach the
// waypoint as ztunnel delivers them (the stand-in) and are served by the Gateway API conformance echo
// server in its gRPC mode, whose answer names the pod, the method and the metadata it received.
// Checked: an Exact method match and a RegularExpression one route to different backends, a header
// match wins over the same method without it, a rule's RequestHeaderModifier and a TrafficPolicy on
// the GRPCRoute (headerModifiers) reach the backend, weighted backends split (both serve, roughly
// 70/30, weight 0 gets nothing), a GRPCRoute on a port that is not HTTP/2 is refused with a status
// saying what to set, an HTTPRoute on the GRPCRoute's Service port is Conflicted, and Envoy never NACKs.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { type Stack, startStack } from "@waymark/devstack";
import { tempDir, waitFor } from "@waymark/testing";
import { type Standin, startStandin } from "@waymark/ztunnel-standin";
import { assertNoNack } from "../lib/authz-policy.ts";
import {
  type EchoAnswer,
  GRPC_ECHO_SERVICE,
  GrpcEchoClient,
  type GrpcEchoPod,
  startGrpcEcho,
} from "../lib/grpc-echo.ts";
import { randomLoopback } from "../lib/guide-stack.ts";

const NS = "grpc";
const WAYPOINT = { namespace: NS, name: "waypoint" };
const VIPS = { echo: "10.96.50.1", split: "10.96.50.2", plain: "10.96.50.3" } as const;
const PODS = ["v1", "v2", "v3"] as const;
type Pod = (typeof PODS)[number];

const doc = (o: Record<string, unknown>) => `${JSON.stringify(o)}\n`;
const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: NS, ...extra });
const enrolled = { labels: { "istio.io/use-waypoint": "waypoint" } };
const grpcPort = { name: "grpc", port: 7070, appProtocol: "grpc" };

/** The watched directory's objects: the waypoint, the Services, the pods' EndpointSlices. */
function cluster(pods: Record<Pod, GrpcEchoPod>): string {
  const out = [
    doc({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: meta("waypoint"),
      spec: {
        gatewayClassName: "kgateway-waypoint",
        listeners: [{ name: "mesh", port: 15088, protocol: "istio.io/PROXY" }],
      },
    }),
    doc({
      apiVersion: "v1",
      kind: "Service",
      metadata: meta("echo", enrolled),
      spec: { clusterIP: VIPS.echo, ports: [grpcPort] },
    }),
    doc({
      apiVersion: "v1",
      kind: "Service",
      metadata: meta("split", enrolled),
      spec: { clusterIP: VIPS.split, ports: [grpcPort] },
    }),
    doc({
      apiVersion: "v1",
      kind: "Service",
      metadata: meta("plain", enrolled),
      spec: { clusterIP: VIPS.plain, ports: [{ name: "http", port: 8080 }] },
    }),
  ];
  // echo and split are served by v1 (their own endpoints); echo-v1..v3 by one pod each.
  const slice = (service: string, pod: GrpcEchoPod) =>
    doc({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: meta(`${service}-local`, { labels: { "kubernetes.io/service-name": service } }),
      addressType: "IPv4",
      ports: [{ name: "grpc", port: pod.port }],
      endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
    });
  out.push(slice("echo", pods.v1), slice("split", pods.v1));
  PODS.forEach((p, i) => {
    out.push(
      doc({
        apiVersion: "v1",
        kind: "Service",
        metadata: meta(`echo-${p}`),
        spec: { clusterIP: `10.96.50.${11 + i}`, ports: [grpcPort] },
      }),
      slice(`echo-${p}`, pods[p]),
    );
  });
  return out.join("---\n");
}

const backend = (pod: Pod, weight?: number) => ({
  name: `echo-${pod}`,
  port: 7070,
  ...(weight === undefined ? {} : { weight }),
});

function grpcRoute(name: string, parent: Record<string, unknown>, rules: unknown[]): string {
  return doc({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GRPCRoute",
    metadata: meta(name),
    spec: { parentRefs: [parent], rules },
  });
}
const serviceParent = (name: string, port = 7070) => ({ group: "", kind: "Service", name, port });

/** echo: Exact Echo → v1; Echo with x-canary: yes → v3; RegularExpression Echo.+ → v2 (x-route set). */
const ROUTES = grpcRoute("echo-routes", serviceParent("echo"), [
  {
    name: "exact",
    matches: [{ method: { service: GRPC_ECHO_SERVICE, method: "Echo" } }],
    backendRefs: [backend("v1")],
  },
  {
    name: "canary",
    matches: [
      {
        method: { service: GRPC_ECHO_SERVICE, method: "Echo" },
        headers: [{ name: "x-canary", value: "yes" }],
      },
    ],
    backendRefs: [backend("v3")],
  },
  {
    name: "regex",
    matches: [{ method: { type: "RegularExpression", service: ".*\\.GrpcEcho", method: "Echo.+" } }],
    filters: [
      {
        type: "RequestHeaderModifier",
        requestHeaderModifier: { set: [{ name: "x-route", value: "regex" }] },
      },
    ],
    backendRefs: [backend("v2")],
  },
]);
const SPLIT = grpcRoute("split", serviceParent("split"), [
  // As the conformance suite's MeshGRPCRouteWeight: 70/30, and a backend of weight 0 that gets nothing.
  { backendRefs: [backend("v1", 70), backend("v2", 30), backend("v3", 0)] },
]);
const POLICY = doc({
  apiVersion: "gateway.kgateway.dev/v1alpha1",
  kind: "TrafficPolicy",
  metadata: meta("grpc-headers"),
  spec: {
    targetRefs: [{ group: "gateway.networking.k8s.io", kind: "GRPCRoute", name: "echo-routes" }],
    headerModifiers: { request: { set: [{ name: "x-policy", value: "on-grpcroute" }] } },
  },
});
const WRONG_PORT = grpcRoute("wrong-port", serviceParent("plain", 8080), [{ backendRefs: [backend("v1")] }]);

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe("GRPCRoute through a real Envoy waypoint", { timeout: 240_000 }, () => {
  let stack: Stack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  let dir: string;
  let ztunnel: Standin | undefined;
  const pods = {} as Record<Pod, GrpcEchoPod>;
  const standin: Record<keyof typeof VIPS, number> = { echo: 0, split: 0, plain: 0 };
  const clients: GrpcEchoClient[] = [];
  const client = (svc: keyof typeof VIPS, port = 7070) => {
    const c = new GrpcEchoClient(standin[svc], `${svc}.${NS}:${port}`);
    clients.push(c);
    return c;
  };
  const answered = async (p: Promise<Awaited<ReturnType<GrpcEchoClient["call"]>>>): Promise<EchoAnswer> => {
    const r = await p;
    assert.ok(r.ok, r.ok ? "" : `gRPC status ${r.code}: ${r.details}`);
    return r;
  };
  const routeAccepted = async (name: string) => {
    const s = await getJson<StatusEntry>(
      statusKv,
      objectKey({ group: "gateway.networking.k8s.io", kind: "GRPCRoute", namespace: NS, name }),
    );
    const parent = (s?.status["parents"] as Array<{ conditions: Condition[] }> | undefined)?.[0];
    return parent?.conditions.find((c) => c.type === "Accepted");
  };

  before(async () => {
    const logDir = tempDir("e2e-grpcroute");
    dir = tempDir("e2e-grpcroute-src");
    for (const p of PODS) pods[p] = await startGrpcEcho(p, logDir, NS);
    writeFileSync(join(dir, "00-cluster.yaml"), cluster(pods));
    writeFileSync(join(dir, "10-routes.yaml"), [ROUTES, SPLIT, POLICY].join("---\n"));
    const bindAddress = randomLoopback();
    // The devstack's own stand-in probes its routes with HTTP/1.1 GET /status/200, which a gRPC
    // Service with GRPCRoutes answers 404: the gRPC clients get a stand-in of their own.
    stack = await startStack({
      sourceDir: dir,
      logDir,
      waypoint: WAYPOINT,
      waypointPort: 15088,
      bindAddress,
      backends: [],
      standin: { identity: `spiffe://cluster.local/ns/${NS}/sa/client`, routes: [] },
    });
    const services = Object.keys(standin) as Array<keyof typeof VIPS>;
    ztunnel = await startStandin({
      waypoint: { host: bindAddress, port: 15088 },
      identity: `spiffe://cluster.local/ns/${NS}/sa/client`,
      routes: services.map((svc) => ({
        listen: { host: "127.0.0.1", port: 0 },
        destination: { address: VIPS[svc], port: svc === "plain" ? 8080 : 7070 },
      })),
    });
    services.forEach((svc, i) => {
      standin[svc] = ztunnel?.ports[i] ?? 0;
    });
    nc = await connectBus({ servers: stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${logDir}`);
  });

  after(async () => {
    for (const c of clients) c.close();
    await nc?.close();
    await ztunnel?.stop();
    await stack?.stop();
    await Promise.all(Object.values(pods).map((p) => p.proc.stop()));
  });

  test("an Exact method match and a RegularExpression one route to different backends", async () => {
    const echo = client("echo");
    const exact = await waitFor("Echo routed to v1", async () => {
      const r = await echo.call("Echo");
      return r.ok && r.pod === "v1" ? r : undefined;
    });
    assert.equal(exact.method, `/${GRPC_ECHO_SERVICE}/Echo`);
    const regex = await answered(echo.call("EchoTwo"));
    assert.equal(regex.pod, "v2", "EchoTwo matches the regular expression rule");
    assert.equal(regex.method, `/${GRPC_ECHO_SERVICE}/EchoTwo`);
    assert.equal(regex.headers["x-route"], "regex", "the rule's RequestHeaderModifier reached the backend");
    assert.equal(exact.headers["x-route"], undefined, "only on the regex rule");
    // EchoThree matches the regex too; v2 does not implement it and says so.
    const three = await echo.call("EchoThree");
    assert.equal(three.ok, false);
    if (!three.ok) assert.equal(three.code, 12 /* UNIMPLEMENTED */, three.details);
  });

  test("a header match wins over the same method without it", async () => {
    const echo = client("echo");
    const canary = await answered(echo.call("Echo", { "x-canary": "yes" }));
    assert.equal(canary.pod, "v3");
    const other = await answered(echo.call("Echo", { "x-canary": "no" }));
    assert.equal(other.pod, "v1", "another value of the header takes the rule without it");
  });

  test("a method of another service matches no rule (no implicit fallback)", async () => {
    const r = await client("echo").call("Echo", {}, "other.pkg.Service");
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.code, 12 /* UNIMPLEMENTED: Envoy's 404 */, r.details);
  });

  test("a TrafficPolicy on the GRPCRoute (headerModifiers) reaches the backend", async () => {
    const echo = client("echo");
    const r = await waitFor("the policy's header upstream", async () => {
      const a = await echo.call("Echo");
      return a.ok && a.headers["x-policy"] === "on-grpcroute" ? a : undefined;
    });
    assert.equal(r.pod, "v1");
    const two = await answered(echo.call("EchoTwo"));
    assert.equal(two.headers["x-policy"], "on-grpcroute", "on every rule of the route");
  });

  test("weighted backends split: both serve, roughly 70/30", async () => {
    const split = client("split");
    await waitFor("the split route", async () => {
      const r = await split.call("Echo");
      return r.ok && (r.pod === "v1" || r.pod === "v2") ? r : undefined;
    });
    const counts: Record<string, number> = {};
    const N = 400;
    for (let i = 0; i < N; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => answered(split.call("Echo"))));
      for (const a of batch) counts[a.pod] = (counts[a.pod] ?? 0) + 1;
    }
    const v1 = counts.v1 ?? 0;
    const v2 = counts.v2 ?? 0;
    assert.equal(v1 + v2, N, `only v1 and v2 serve (v3 has weight 0): ${JSON.stringify(counts)}`);
    // 70% of 400 is 280 (σ ≈ 9): generous bounds.
    assert.ok(v1 >= 220 && v1 <= 340, `v1 served ${v1} of ${N} (expected about 280)`);
    assert.ok(v2 >= 60 && v2 <= 180, `v2 served ${v2} of ${N} (expected about 120)`);
  });

  test("a GRPCRoute on a port that is not HTTP/2 is refused, saying what to set", async () => {
    writeFileSync(join(dir, "20-wrong-port.yaml"), WRONG_PORT);
    const c = await waitFor("wrong-port refused", async () => {
      const a = await routeAccepted("wrong-port");
      return a?.status === "False" ? a : undefined;
    });
    assert.equal(c.reason, "NotAllowedByListeners");
    assert.match(c.message, /Service grpc\/plain port 8080 \(name http\) is not an HTTP\/2 port/);
    assert.match(c.message, /appProtocol to grpc/);
    assert.equal((await routeAccepted("echo-routes"))?.status, "True", "the other routes are unaffected");
    const echo = await answered(client("echo").call("Echo"));
    assert.equal(echo.pod, "v1", "and still served");
  });

  test("an HTTPRoute on the GRPCRoute's Service port is not accepted (GRPCRoute wins there)", async () => {
    writeFileSync(
      join(dir, "30-http-on-grpc-port.yaml"),
      doc({
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: meta("http-on-grpc-port"),
        spec: { parentRefs: [serviceParent("echo")], rules: [{ backendRefs: [backend("v3")] }] },
      }),
    );
    const c = await waitFor("the HTTPRoute's status", async () => {
      const s = await getJson<StatusEntry>(
        statusKv,
        objectKey({
          group: "gateway.networking.k8s.io",
          kind: "HTTPRoute",
          namespace: NS,
          name: "http-on-grpc-port",
        }),
      );
      const parent = (s?.status["parents"] as Array<{ conditions: Condition[] }> | undefined)?.[0];
      return parent?.conditions.find((x) => x.type === "Accepted");
    });
    assert.equal(c.status, "False");
    assert.equal(c.reason, "Conflicted");
    assert.match(c.message, /GRPCRoute grpc\/echo-routes applies to Service grpc\/echo port 7070/);
    const echo = await answered(client("echo").call("Echo"));
    assert.equal(echo.pod, "v1", "the GRPCRoute still routes (the HTTPRoute would send everything to v3)");
  });

  test("Envoy never NACKed", async () => {
    await assertNoNack(proxiesKv);
    const stats = await stack.envoy.stats("update_rejected");
    for (const [name, v] of stats) assert.equal(v, 0, name);
  });
});
