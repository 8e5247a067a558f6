// Issue 16, ServiceEntry on the waypoint, standalone through a real Envoy: a local HTTP server
// stands in for an external service behind Istio ServiceEntries enrolled in the guide's waypoint
// (istio.io/use-waypoint).
//   - STATIC (an endpoint on 127.0.0.1, targetPort = the server's port) and DNS (an endpoint host
//     name, `localhost`, resolved by Envoy's STRICT_DNS cluster), reached through the ztunnel
//     stand-in at the ServiceEntries' VIPs; an HTTPRoute with the ServiceEntry as parent, and one
//     with Istio's Hostname parent, add a header the server sees.
//   - NONE (no endpoints, the server's own address as the ServiceEntry's): the waypoint sends to the
//     address the client dialled, as Istio's ambient passthrough does.
//   - kgateway#14390: a ServiceEntry written without spec.addresses, with a route on it: its future
//     VIP is not served and the route's parent says why; then its status.addresses is written (as
//     Istio's allocator does): the waypoint serves it, the route's header included.
//   - an AuthorizationPolicy DENY bound to a ServiceEntry (targetRefs kind ServiceEntry) answers 403
//     on its chains only.
//   - Envoy never NACKs.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, GATEWAY_GROUP, objectKey, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { type Stack, startStack } from "@waymark/devstack";
import { freePort, type NotYet, tempDir, waitFor } from "@waymark/testing";
import { proxiedRequest, type Waypoint } from "../lib/authz-client.ts";
import { applyPolicies, assertNoNack, authorizationPolicy, writeObjects } from "../lib/authz-policy.ts";
import { copyExample } from "../lib/example.ts";
import { GUIDE_WAYPOINT, randomLoopback } from "../lib/guide-stack.ts";
import { type HttpResult, httpRequest } from "../lib/http.ts";

const NS = "httpbin";
const NETWORKING = "networking.istio.io/v1";
const VIP = { static: "240.1.0.1", dns: "240.1.0.2", late: "240.240.0.7" } as const;
const HOST = {
  static: "static.example.test",
  dns: "dns.example.test",
  late: "late.example.test",
  passthrough: "passthrough.example.test",
} as const;

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
}

/** The external service: answers 200 with the request it saw (path and headers) as JSON. */
async function externalServer(): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const s = { path: req.url ?? "", headers: req.headers };
    seen.push(s);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

function serviceEntry(name: string, spec: Record<string, unknown>, status?: Record<string, unknown>) {
  return {
    apiVersion: NETWORKING,
    kind: "ServiceEntry",
    metadata: { name, namespace: NS, labels: { "istio.io/use-waypoint": GUIDE_WAYPOINT.name } },
    spec,
    ...(status ? { status } : {}),
  };
}

/** A route with `parent` as its parent, sending to the same ServiceEntry (backendRef of the same kind). */
function headerRoute(name: string, parent: { kind: string; name: string }, header: string, port = 80) {
  return {
    apiVersion: `${GATEWAY_GROUP}/v1`,
    kind: "HTTPRoute",
    metadata: { name, namespace: NS },
    spec: {
      parentRefs: [{ group: "networking.istio.io", ...parent }],
      rules: [
        {
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { add: [{ name: "x-via", value: header }] },
            },
          ],
          backendRefs: [{ group: "networking.istio.io", ...parent, port }],
        },
      ],
    },
  };
}

describe("standalone: ServiceEntry through Envoy", { timeout: 600_000 }, () => {
  let stack: Stack;
  let dir: string;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  let waypoint: Waypoint;
  let external: Awaited<ReturnType<typeof externalServer>>;
  const standin = { static: 0, dns: 0 };

  const lateEntry = (status?: Record<string, unknown>) =>
    serviceEntry(
      "late",
      {
        hosts: [HOST.late],
        resolution: "STATIC",
        ports: [{ number: 80, name: "http", protocol: "HTTP", targetPort: external.port }],
        endpoints: [{ address: "127.0.0.1" }],
      },
      status,
    );
  /**
   * Through the stand-in, on a connection of its own (a kept-alive one opened before a policy came
   * would be answered by the guard's 403, ir/guard.ts).
   */
  const viaStandin = (svc: "static" | "dns", path: string) =>
    httpRequest(standin[svc], HOST[svc], path, { headers: { connection: "close" } });
  /** As ztunnel sends it (PROXY v2 to the waypoint); the failure when the waypoint closes unanswered. */
  const viaProxy = (vip: string, host: string, path: string, port = 80): Promise<HttpResult | Error> =>
    proxiedRequest(waypoint, { vip, port, host, path }).catch((e: unknown) =>
      e instanceof Error ? e : new Error(String(e)),
    );
  const seenBy = (r: HttpResult) => JSON.parse(r.body) as Seen;
  const parentCondition = async (route: string) => {
    const e = await getJson<StatusEntry>(
      statusKv,
      objectKey({ group: GATEWAY_GROUP, kind: "HTTPRoute", namespace: NS, name: route }),
    );
    const parents = (e?.status["parents"] ?? []) as Array<{
      conditions: Array<{ type: string; status: string; reason: string; message: string }>;
    }>;
    return parents[0]?.conditions.find((c) => c.type === "Accepted");
  };

  before(async () => {
    external = await externalServer();
    const backend = { httpbin2: await freePort(), httpbin3: await freePort() };
    dir = copyExample(backend);
    standin.static = await freePort();
    standin.dns = await freePort();
    const port = { number: 80, name: "http", protocol: "HTTP", targetPort: external.port };
    writeObjects(dir, "40-serviceentries.yaml", [
      serviceEntry("static", {
        hosts: [HOST.static],
        addresses: [VIP.static],
        location: "MESH_EXTERNAL",
        resolution: "STATIC",
        ports: [port],
        endpoints: [{ address: "127.0.0.1" }],
      }),
      serviceEntry("dns", {
        hosts: [HOST.dns],
        addresses: [VIP.dns],
        location: "MESH_EXTERNAL",
        resolution: "DNS",
        ports: [port],
        endpoints: [{ address: "localhost" }],
      }),
      headerRoute("static-route", { kind: "ServiceEntry", name: "static" }, "serviceentry"),
      headerRoute("dns-route", { kind: "Hostname", name: HOST.dns }, "hostname"),
      // NONE: no endpoints at all; the waypoint sends to the address the client dialled.
      serviceEntry("passthrough", {
        hosts: [HOST.passthrough],
        addresses: ["127.0.0.1"],
        location: "MESH_EXTERNAL",
        resolution: "NONE",
        ports: [{ number: external.port, name: "http", protocol: "HTTP" }],
      }),
      headerRoute(
        "passthrough-route",
        { kind: "ServiceEntry", name: "passthrough" },
        "passthrough",
        external.port,
      ),
    ]);
    writeObjects(dir, "41-late.yaml", [
      lateEntry(),
      headerRoute("late-route", { kind: "ServiceEntry", name: "late" }, "late"),
    ]);
    const bindAddress = randomLoopback();
    const logDir = tempDir("e2e-serviceentry");
    console.log(`logs: ${logDir}`);
    waypoint = { host: bindAddress, port: 15088 };
    stack = await startStack({
      sourceDir: dir,
      logDir,
      waypoint: GUIDE_WAYPOINT,
      waypointPort: 15088,
      bindAddress,
      backends: [
        { name: "httpbin2", port: backend.httpbin2 },
        { name: "httpbin3", port: backend.httpbin3 },
      ],
      // The stand-in delivers to the ServiceEntries' VIPs; the stack is ready once both answer.
      standin: {
        identity: "spiffe://cluster.local/ns/httpbin/sa/client",
        routes: [
          { listenPort: standin.static, vip: VIP.static, port: 80 },
          { listenPort: standin.dns, vip: VIP.dns, port: 80 },
        ],
      },
    });
    nc = await connectBus({ servers: stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
  });

  after(async () => {
    await nc?.close();
    await stack?.stop();
    external?.server.close();
  });

  test("STATIC: the stand-in reaches the external server at the ServiceEntry's VIP, with the route's header", async () => {
    const r = await viaStandin("static", "/get");
    assert.equal(r.status, 200, r.body);
    const seen = seenBy(r);
    assert.equal(seen.path, "/get");
    assert.equal(seen.headers["x-via"], "serviceentry", JSON.stringify(seen.headers));
    assert.equal(seen.headers.host, HOST.static);
    const c = await parentCondition("static-route");
    assert.equal(c?.status, "True", JSON.stringify(c));
  });

  test("DNS: Envoy resolves the endpoint's host name; a Hostname parent attaches the route", async () => {
    const r = await viaStandin("dns", "/anything");
    assert.equal(r.status, 200, r.body);
    assert.equal(seenBy(r).headers["x-via"], "hostname");
    const c = await parentCondition("dns-route");
    assert.equal(c?.status, "True", JSON.stringify(c));
  });

  test("NONE: sent to the address the client dialled (an ORIGINAL_DST cluster), the route's header added", async () => {
    const r = await viaProxy("127.0.0.1", HOST.passthrough, "/passthrough", external.port);
    assert.ok(!(r instanceof Error), String(r));
    assert.equal(r.status, 200, r.body);
    assert.equal(seenBy(r).path, "/passthrough");
    assert.equal(seenBy(r).headers["x-via"], "passthrough");
  });

  test("kgateway#14390: addresses Istio allocates later (status.addresses) are picked up", async () => {
    // Before: no address, no chain: the waypoint closes a connection to the future VIP unanswered,
    // and the route's parent says why.
    const c = await waitFor(
      "late-route's parent status",
      async () => (await parentCondition("late-route")) ?? undefined,
    );
    assert.equal(c.status, "False");
    assert.equal(c.reason, "UnsupportedValue");
    assert.match(c.message, /ServiceEntry httpbin\/late has no addresses/);
    const before = await viaProxy(VIP.late, HOST.late, "/get");
    assert.ok(before instanceof Error, `served before its address exists: ${JSON.stringify(before)}`);

    // Istio's allocator writes the address into the status.
    writeObjects(dir, "41-late.yaml", [
      lateEntry({ addresses: [{ host: HOST.late, value: VIP.late }] }),
      headerRoute("late-route", { kind: "ServiceEntry", name: "late" }, "late"),
    ]);
    const r = await waitFor("the allocated VIP served", async (): Promise<HttpResult | NotYet> => {
      const res = await viaProxy(VIP.late, HOST.late, "/get");
      return res instanceof Error ? undefined : res;
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(seenBy(r).headers["x-via"], "late");
    await waitFor(
      "late-route accepted",
      async () => (await parentCondition("late-route"))?.status === "True",
    );
  });

  test("AuthorizationPolicy DENY bound to a ServiceEntry: 403 on its chains only", async () => {
    await applyPolicies(stack.envoy, dir, "60-policy.yaml", [
      authorizationPolicy(
        "deny-admin",
        { action: "DENY", rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] },
        { targetRefs: [{ group: "networking.istio.io", kind: "ServiceEntry", name: "static" }] },
      ),
    ]);
    const denied = await viaStandin("static", "/admin");
    assert.equal(denied.status, 403, denied.body);
    assert.equal(denied.body, "RBAC: access denied");
    assert.equal((await viaStandin("static", "/get")).status, 200);
    // Not bound to the other ServiceEntry.
    assert.equal((await viaStandin("dns", "/admin")).status, 200);
  });

  test("Envoy never NACKed", async () => {
    await assertNoNack(proxiesKv);
  });
});
