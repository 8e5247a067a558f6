// Issue 16 end to end, standalone: TCPRoute and TLSRoute through a real Envoy, the ztunnel stand-in
// in front of it. Real servers behind them: two raw TCP echo servers (node:net) and two TLS servers
// (node:tls, each with its own certificate made by openssl here). Both kinds speak first (a
// greeting naming the instance), so a waypoint that waited for client bytes on a TCP port would hang.
//   - a TCPRoute splits connections 3:1 between the two TCP servers (generous bounds); edited, it
//     sends all to one; pointed at a Service that does not exist, it refuses every connection and
//     says so (ResolvedRefs=False, BackendNotFound);
//   - TLSRoutes route TLS passed through by its SNI: a.example.test reaches server a (its own
//     certificate and greeting), b.example.test and *.b.example.test reach b, an unknown SNI is
//     refused; an AuthorizationPolicy on the Service still applies on those SNI chains (fail closed);
//   - a TLSRoute without hostnames gets Accepted=False with a message, and nothing else breaks;
//   - Envoy never NACKs.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, GATEWAY_GROUP, objectKey, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { type Stack, startStack } from "@waymark/devstack";
import { freePort, tempDir, waitFor } from "@waymark/testing";
import { type Standin, startStandin } from "@waymark/ztunnel-standin";
import { assertNoNack } from "../lib/authz-policy.ts";
import { randomLoopback } from "../lib/guide-stack.ts";
import {
  type StreamServer,
  selfSigned,
  startTcpEcho,
  startTlsEcho,
  tcpConversation,
  tlsConversation,
} from "../lib/stream-servers.ts";

type Cond = { type: string; status: string; reason: string; message: string };

const NS = "mesh";
const WAYPOINT = { namespace: NS, name: "waypoint" };
/** An HTTP Service beside them (go-httpbin): the stack is ready when it answers through the waypoint. */
const WEB = { vip: "10.96.0.20", port: 8000 };
const ECHO = { vip: "10.96.0.30", port: 9000 };
const SECURE = { vip: "10.96.0.40", port: 443 };
const CONNECTIONS = 200;

const doc = (o: unknown) => `${JSON.stringify(o, null, 2)}\n`;
const write = (dir: string, file: string, objects: unknown[]) =>
  writeFileSync(join(dir, file), objects.map(doc).join("---\n"));

function service(name: string, vip: string, port: { name: string; port: number }, enrolled: boolean) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: NS,
      ...(enrolled ? { labels: { "istio.io/use-waypoint": "waypoint" } } : {}),
    },
    spec: { clusterIP: vip, ports: [{ ...port, protocol: "TCP" }] },
  };
}

/** A Service whose one endpoint is a server on this machine. */
function backend(name: string, vip: string, portName: string, port: number, local: number) {
  return [
    service(name, vip, { name: portName, port }, false),
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${name}-local`, namespace: NS, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: portName, port: local, protocol: "TCP" }],
      endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
    },
  ];
}

function route(kind: "TCPRoute" | "TLSRoute", name: string, spec: Record<string, unknown>, version = "v1") {
  return { apiVersion: `${GATEWAY_GROUP}/${version}`, kind, metadata: { name, namespace: NS }, spec };
}

const parent = (name: string, port: number) => [{ group: "", kind: "Service", name, port }];

/** The TCPRoute splitting echo's connections between echo-a and echo-b. */
const echoSplit = (a: number, b: number) =>
  route("TCPRoute", "echo-split", {
    parentRefs: parent("echo", ECHO.port),
    rules: [
      {
        backendRefs: [
          { name: "echo-a", port: ECHO.port, weight: a },
          { name: "echo-b", port: ECHO.port, weight: b },
        ],
      },
    ],
  });

describe("standalone: TCPRoute and TLSRoute through Envoy", { timeout: 600_000 }, () => {
  let stack: Stack;
  let standin: Standin;
  let dir: string;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const servers: StreamServer[] = [];
  let echoPort = 0;
  let securePort = 0;

  const status = async (kind: string, name: string) =>
    (await getJson<StatusEntry>(statusKv, objectKey({ group: GATEWAY_GROUP, kind, namespace: NS, name })))
      ?.status;

  before(async () => {
    const [echoA, echoB] = await Promise.all([startTcpEcho("echo-a"), startTcpEcho("echo-b")]);
    const [tlsA, tlsB] = await Promise.all([
      startTlsEcho("tls-a", selfSigned("a.example.test")),
      startTlsEcho("tls-b", selfSigned("b.example.test")),
    ]);
    servers.push(echoA!, echoB!, tlsA!, tlsB!);
    dir = tempDir("tcptls-src");
    write(dir, "00-waypoint.yaml", [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
      {
        apiVersion: `${GATEWAY_GROUP}/v1`,
        kind: "Gateway",
        metadata: WAYPOINT,
        spec: {
          gatewayClassName: "kgateway-waypoint",
          listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
        },
      },
    ]);
    write(dir, "10-services.yaml", [
      service("web", WEB.vip, { name: "http", port: WEB.port }, true),
      service("echo", ECHO.vip, { name: "tcp-echo", port: ECHO.port }, true),
      service("secure", SECURE.vip, { name: "tls", port: SECURE.port }, true),
      ...backend("echo-a", "10.96.0.31", "tcp-echo", ECHO.port, echoA!.port),
      ...backend("echo-b", "10.96.0.32", "tcp-echo", ECHO.port, echoB!.port),
      ...backend("tls-a", "10.96.0.41", "tls", SECURE.port, tlsA!.port),
      ...backend("tls-b", "10.96.0.42", "tls", SECURE.port, tlsB!.port),
    ]);
    write(dir, "20-tcproute.yaml", [echoSplit(3, 1)]);
    write(dir, "21-tlsroutes.yaml", [
      route("TLSRoute", "sni-a", {
        parentRefs: parent("secure", SECURE.port),
        hostnames: ["a.example.test"],
        rules: [{ backendRefs: [{ name: "tls-a", port: SECURE.port }] }],
      }),
      route("TLSRoute", "sni-b", {
        parentRefs: parent("secure", SECURE.port),
        hostnames: ["b.example.test", "*.b.example.test"],
        rules: [{ backendRefs: [{ name: "tls-b", port: SECURE.port }] }],
      }),
      // The experimental channel's v1alpha2 allows a TLSRoute without hostnames; the waypoint cannot.
      route(
        "TLSRoute",
        "no-hostnames",
        {
          parentRefs: parent("secure", SECURE.port),
          rules: [{ backendRefs: [{ name: "tls-b", port: 443 }] }],
        },
        "v1alpha2",
      ),
    ]);
    const httpbin = await freePort();
    const bindAddress = randomLoopback();
    write(dir, "11-web-endpoints.yaml", [backend("web", WEB.vip, "http", WEB.port, httpbin)[1]]);
    stack = await startStack({
      sourceDir: dir,
      logDir: tempDir("e2e-tcptls"),
      waypoint: WAYPOINT,
      waypointPort: 15088,
      bindAddress,
      backends: [{ name: "web", port: httpbin }],
      standin: {
        identity: `spiffe://cluster.local/ns/${NS}/sa/client`,
        routes: [{ listenPort: await freePort(), ...WEB }],
      },
    });
    // The same stand-in, in this process, for the TCP and TLS ports (the stack's own one checks
    // readiness with an HTTP request on every route).
    standin = await startStandin({
      waypoint: { host: bindAddress, port: 15088 },
      identity: `spiffe://cluster.local/ns/${NS}/sa/client`,
      routes: [
        { listen: { host: "127.0.0.1", port: 0 }, destination: { address: ECHO.vip, port: ECHO.port } },
        { listen: { host: "127.0.0.1", port: 0 }, destination: { address: SECURE.vip, port: SECURE.port } },
      ],
      log: createLogger("e2e-standin"),
    });
    [echoPort = 0, securePort = 0] = standin.ports;
    nc = await connectBus({ servers: stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    await waitFor(
      "the TCPRoute through the waypoint",
      async () => {
        const a = await tcpConversation(echoPort);
        return "greeting" in a && a.greeting.startsWith("hello echo-");
      },
      60_000,
    );
  });

  after(async () => {
    await nc?.close();
    await standin?.stop();
    await stack?.stop();
    for (const s of servers) await s.stop();
  });

  test("TCPRoute: connections split 3:1 between the two backends, each conversation whole", async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < CONNECTIONS; i++) {
      const a = await tcpConversation(echoPort);
      assert.ok("greeting" in a, `connection ${i}: ${JSON.stringify(a)}`);
      const name = a.greeting.replace("hello ", "");
      assert.equal(a.echo, `${name}: ping`, "the echo comes from the server that greeted");
      counts[name] = (counts[name] ?? 0) + 1;
    }
    assert.deepEqual(Object.keys(counts).sort(), ["echo-a", "echo-b"], JSON.stringify(counts));
    const share = (counts["echo-a"] ?? 0) / CONNECTIONS;
    // 3:1 is 0.75; over 200 connections the standard deviation is about 0.03.
    assert.ok(share > 0.6 && share < 0.9, `echo-a's share ${share} (${JSON.stringify(counts)})`);
  });

  test("TCPRoute edited (echo-a weight 0): every connection goes to echo-b", async () => {
    write(dir, "20-tcproute.yaml", [echoSplit(0, 1)]);
    await waitFor("only echo-b", async () => {
      for (let i = 0; i < 20; i++) {
        const a = await tcpConversation(echoPort);
        if (!("greeting" in a) || a.greeting !== "hello echo-b") return false;
      }
      return true;
    });
  });

  test("TCPRoute to a Service that does not exist: ResolvedRefs=False BackendNotFound, connections refused", async () => {
    write(dir, "20-tcproute.yaml", [
      route("TCPRoute", "echo-split", {
        parentRefs: parent("echo", ECHO.port),
        rules: [{ backendRefs: [{ name: "echo-gone", port: ECHO.port }] }],
      }),
    ]);
    await waitFor("every connection refused", async () => {
      for (let i = 0; i < 10; i++) if (!("closed" in (await tcpConversation(echoPort)))) return false;
      return true;
    });
    const st = await waitFor("echo-split's BackendNotFound", async () => {
      const c = ((await status("TCPRoute", "echo-split"))?.["parents"] as Array<{ conditions: Cond[] }>)?.[0]
        ?.conditions;
      const r = c?.find((x) => x.type === "ResolvedRefs");
      return r?.reason === "BackendNotFound" && r;
    });
    assert.equal(st.status, "False");
    assert.match(st.message, /Service echo-gone not found; its share of connections is refused/);
    write(dir, "20-tcproute.yaml", [echoSplit(0, 1)]);
    await waitFor("echo-b again", async () => {
      const a = await tcpConversation(echoPort);
      return "greeting" in a && a.greeting === "hello echo-b";
    });
  });

  test("TLSRoute: SNI a reaches server a, b and *.b reach b, TLS passed through", async () => {
    await waitFor("the SNI chains", async () => {
      const a = await tlsConversation(securePort, "a.example.test");
      return "subject" in a;
    });
    const a = await tlsConversation(securePort, "a.example.test");
    assert.deepEqual(a, { subject: "a.example.test", greeting: "hello tls-a", echo: "tls-a: ping" });
    const b = await tlsConversation(securePort, "b.example.test");
    assert.deepEqual(b, { subject: "b.example.test", greeting: "hello tls-b", echo: "tls-b: ping" });
    const wild = await tlsConversation(securePort, "x.b.example.test");
    assert.deepEqual(wild, { subject: "b.example.test", greeting: "hello tls-b", echo: "tls-b: ping" });
  });

  test("TLSRoute: an SNI no route lists is refused", async () => {
    for (const sni of ["c.example.test", "b.example.test.evil", "example.test"]) {
      const r = await tlsConversation(securePort, sni);
      assert.ok("closed" in r, `${sni}: ${JSON.stringify(r)}`);
    }
  });

  test("the TLSRoute without hostnames: Accepted=False with what to fix; the others Accepted", async () => {
    const s = await waitFor("no-hostnames' status", () => status("TLSRoute", "no-hostnames"));
    const parents = s["parents"] as Array<{ conditions: Array<Record<string, string>> }>;
    const accepted = parents[0]?.conditions.find((c) => c["type"] === "Accepted");
    assert.equal(accepted?.["status"], "False");
    assert.equal(accepted?.["reason"], "UnsupportedValue");
    assert.match(accepted?.["message"] ?? "", /spec\.hostnames is empty/);
    for (const [kind, name] of [
      ["TCPRoute", "echo-split"],
      ["TLSRoute", "sni-a"],
      ["TLSRoute", "sni-b"],
    ] as const) {
      const st = await status(kind, name);
      const conds = ((st?.["parents"] ?? []) as Array<{ conditions: Array<Record<string, string>> }>)[0]
        ?.conditions;
      assert.deepEqual(
        conds?.map((c) => [c["type"], c["status"]]),
        [
          ["Accepted", "True"],
          ["ResolvedRefs", "True"],
        ],
        `${kind} ${name}`,
      );
    }
    const gw = await getJson<StatusEntry>(
      statusKv,
      objectKey({ group: GATEWAY_GROUP, kind: "Gateway", namespace: NS, name: WAYPOINT.name }),
    );
    const listeners = gw?.status["listeners"] as Array<{ attachedRoutes: number; supportedKinds: unknown[] }>;
    // echo-split, sni-a, sni-b and no-hostnames (attached, though not accepted: as for an HTTPRoute).
    assert.equal(listeners[0]?.attachedRoutes, 4);
  });

  test("an AuthorizationPolicy on the Service applies on its SNI chains (and its removal too)", async () => {
    const file = join(dir, "30-deny.yaml");
    write(dir, "30-deny.yaml", [
      {
        apiVersion: "security.istio.io/v1",
        kind: "AuthorizationPolicy",
        metadata: { name: "deny-secure", namespace: NS },
        spec: { targetRefs: [{ group: "", kind: "Service", name: "secure" }], action: "DENY", rules: [{}] },
      },
    ]);
    await waitFor(
      "the DENY on the SNI chains",
      async () => "closed" in (await tlsConversation(securePort, "a.example.test")),
    );
    assert.ok("closed" in (await tlsConversation(securePort, "b.example.test")), "b is denied too");
    const tcp = await tcpConversation(echoPort);
    assert.ok("greeting" in tcp, `the echo Service is not bound: ${JSON.stringify(tcp)}`);
    rmSync(file);
    await waitFor(
      "the SNI chains open again",
      async () => "subject" in (await tlsConversation(securePort, "a.example.test")),
    );
  });

  test("Envoy never NACKed", async () => {
    await assertNoNack(proxiesKv);
  });
});
