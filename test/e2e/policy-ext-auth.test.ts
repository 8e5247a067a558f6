// TrafficPolicy extAuth (GatewayExtension ExtAuth) end to end through a real Envoy against real
// authorization servers: oauth2-proxy over Envoy's HTTP check (basic auth from its htpasswd file; its
// X-Auth-Request-User reaching the backend) and Istio's sample ext-authz server over gRPC (allows
// `x-ext-authz: allow`; its headers and the policy's context extensions reaching the backend). Both
// run as processes on loopback behind a Service + EndpointSlice in the watched directory. Each server
// is SIGKILLed mid-run: requests get the failure-mode answer (403; through with failOpen), and pass
// again once it is back on the same port. Policies naming a missing extension, one of another type
// and one whose Service is missing are Invalid (500, fail closed); the extension's own status says
// BackendNotFound. Envoy never NACKs.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { Agent, createServer, request, type Server } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { freePort, waitFor } from "@waymark/testing";
import { type AuthServer, OAUTH2_USER, startIstioExtAuthz, startOauth2Proxy } from "../lib/ext-authz.ts";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import { echoedHeaders, type HttpResult, type RequestOptions, sendHttp } from "../lib/http.ts";
import { localService } from "../lib/local-service.ts";

const GW = "gateway.networking.k8s.io";
const KG = "gateway.kgateway.dev";

function doc(kind: string, name: string, spec: Record<string, unknown>, apiVersion = `${KG}/v1alpha1`) {
  return `${JSON.stringify({ apiVersion, kind, metadata: { name, namespace: "httpbin" }, spec })}\n`;
}
const policy = (name: string, target: Record<string, unknown>, extAuth: unknown) =>
  doc("TrafficPolicy", name, { targetRefs: [{ group: GW, ...target }], extAuth });
const onRoute = (name: string) => ({ kind: "HTTPRoute", name });

const basic = (user: string, password: string): RequestOptions => ({
  headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` },
});
const ALLOW: RequestOptions = { headers: { "x-ext-authz": "allow" } };

describe("standalone: TrafficPolicy extAuth (GatewayExtension ExtAuth) through Envoy", {
  timeout: 240_000,
}, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  let oauth2: AuthServer;
  let istio: AuthServer;
  // An HTTP authorization server that fails every other call (503, then 200, then 503...).
  let flaky: Server;
  let flakyCalls = 0;

  // A connection of its own for every request: a kept-alive connection goes on using the filter chain
  // it was opened on while Envoy drains it after a listener update (the first extAuth policy adds the
  // filters); the test of a kept connection below says when that cannot happen.
  const to = (svc: GuideService, opts?: RequestOptions) =>
    sendHttp(
      { path: "/headers", createConnection: () => connect(guide.standinPort(svc), "127.0.0.1") },
      `${svc}:8000`,
      opts,
    );
  const write = (file: string, text: string) => writeFileSync(join(guide.dir, file), text);
  const until = (what: string, svc: GuideService, status: number, opts?: RequestOptions) =>
    waitFor(
      what,
      async () => {
        const r = await to(svc, opts);
        return r.status === status ? r : undefined;
      },
      30_000,
    );
  const show = (r: HttpResult) => `${r.status} ${r.body.slice(0, 300)}`;
  const conditions = async (kind: string, name: string) => {
    const st = await getJson<StatusEntry>(
      statusKv,
      objectKey({ group: KG, kind, namespace: "httpbin", name }),
    );
    if (kind === "GatewayExtension")
      return (st?.status["conditions"] as Array<{ type: string; reason: string; message: string }>) ?? [];
    return (
      (
        st?.status["ancestors"] as
          | Array<{ conditions: Array<{ type: string; reason: string; message: string }> }>
          | undefined
      )?.[0]?.conditions ?? []
    );
  };
  const untilAccepted = (kind: string, name: string, reason: string) =>
    waitFor(`${kind} ${name} ${reason}`, async () => {
      const c = (await conditions(kind, name)).find((x) => x.type === "Accepted");
      return c?.reason === reason ? c : undefined;
    });

  before(async () => {
    guide = await startGuideStack("e2e-policy-ext-auth");
    oauth2 = await startOauth2Proxy({ logDir: guide.logDir });
    istio = await startIstioExtAuthz({ logDir: guide.logDir });
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    flaky = createServer((_req, res) => {
      flakyCalls++;
      res.writeHead(flakyCalls % 2 === 1 ? 503 : 200).end();
    });
    const flakyPort = await freePort();
    await new Promise<void>((ok) => flaky.listen(flakyPort, "127.0.0.1", ok));
    write(
      "40-authz-services.yaml",
      [
        localService("flaky-authz", "10.96.0.43", { name: "http", port: 8080, local: flakyPort }),
        localService("oauth2-proxy", "10.96.0.41", { name: "http", port: 4180, local: oauth2.port }),
        // The gRPC port is named plainly: the extension's cluster gets HTTP/2 of its own accord.
        localService("ext-authz", "10.96.0.42", { name: "check", port: 9000, local: istio.port }),
      ].join("---\n"),
    );
    const grpc = (failOpen: boolean) => ({
      type: "ExtAuth",
      extAuth: {
        grpcService: { backendRef: { name: "ext-authz", port: 9000 }, requestTimeout: "2s" },
        ...(failOpen ? { failOpen: true } : {}),
      },
    });
    write(
      "41-extensions.yaml",
      [
        doc("GatewayExtension", "oauth2", {
          type: "ExtAuth",
          extAuth: {
            httpService: {
              backendRef: { name: "oauth2-proxy", port: 4180 },
              requestTimeout: "2s",
              authorizationResponse: { headersToBackend: ["x-auth-request-user"] },
            },
          },
        }),
        doc("GatewayExtension", "istio", grpc(false)),
        doc("GatewayExtension", "istio-open", grpc(true)),
        doc("GatewayExtension", "ghost", {
          type: "ExtAuth",
          extAuth: { grpcService: { backendRef: { name: "nowhere", port: 9000 } } },
        }),
        doc("GatewayExtension", "jwt", {
          type: "JWT",
          jwt: {
            providers: [{ name: "p", issuer: "https://x.test", jwks: { local: { inline: '{"keys":[]}' } } }],
          },
        }),
      ].join("---\n"),
    );
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
    await oauth2?.stop();
    await istio?.stop();
    flaky?.close();
  });

  test("HTTP ext_authz (oauth2-proxy): 401 without or with wrong credentials, 200 with the user upstream", async () => {
    assert.equal((await to("httpbin2")).status, 200, "no policy yet");
    write("50-http.yaml", policy("http", onRoute("httpbin2"), { extensionRef: { name: "oauth2" } }));
    const denied = await until("oauth2-proxy's 401 reaching the client", "httpbin2", 401);
    assert.equal(denied.status, 401, show(denied));
    const wrong = await to("httpbin2", basic(OAUTH2_USER.name, "guess"));
    assert.equal(wrong.status, 401, `a wrong password: ${show(wrong)}`);
    const ok = await to("httpbin2", basic(OAUTH2_USER.name, OAUTH2_USER.password));
    assert.equal(ok.status, 200, show(ok));
    assert.deepEqual(
      echoedHeaders(ok)["X-Auth-Request-User"],
      [OAUTH2_USER.name],
      "the header oauth2-proxy set reaches the backend (headersToBackend)",
    );
    assert.equal((await to("httpbin3")).status, 200, "another route is not checked");
    const c = await untilAccepted("TrafficPolicy", "http", "Valid");
    assert.match(c.message, /accepted/);
    assert.match(
      (await untilAccepted("GatewayExtension", "oauth2", "Accepted")).message,
      /ExtAuth extension accepted/,
    );
  });

  test("gRPC ext_authz (Istio's ext-authz): 403 and its body without the header, 200 with it, its headers and the context extensions upstream", async () => {
    write(
      "51-grpc.yaml",
      policy("grpc", onRoute("httpbin3"), {
        extensionRef: { name: "istio" },
        contextExtensions: { app: "guide-httpbin3" },
      }),
    );
    const denied = await until("the server's 403", "httpbin3", 403);
    assert.match(denied.body, /denied by ext_authz/, show(denied));
    const ok = await to("httpbin3", ALLOW);
    assert.equal(ok.status, 200, show(ok));
    const h = echoedHeaders(ok);
    assert.deepEqual(h["X-Ext-Authz-Check-Result"], ["allowed"], "the server's header reaches the backend");
    assert.match(
      (h["X-Ext-Authz-Check-Received"] ?? []).join(),
      /guide-httpbin3/,
      "the policy's context extension reached the server",
    );
  });

  test("the gRPC server SIGKILLed: 403 (statusOnError), through with failOpen; back on its port: checked again", async () => {
    await istio.kill();
    const down = await until("the failure mode with the server down", "httpbin3", 403, ALLOW);
    assert.doesNotMatch(down.body, /denied by ext_authz/, "Envoy's own answer, not the server's");
    write("51-grpc.yaml", policy("grpc", onRoute("httpbin3"), { extensionRef: { name: "istio-open" } }));
    const open = await until("failOpen lets requests through", "httpbin3", 200);
    assert.equal(echoedHeaders(open)["X-Ext-Authz-Check-Result"], undefined, "no check happened");
    await istio.start();
    const back = await waitFor("the server checking again (failOpen)", async () => {
      const r = await to("httpbin3", ALLOW);
      return r.status === 200 && echoedHeaders(r)["X-Ext-Authz-Check-Result"] ? r : undefined;
    });
    assert.deepEqual(echoedHeaders(back)["X-Ext-Authz-Check-Result"], ["allowed"]);
    write("51-grpc.yaml", policy("grpc", onRoute("httpbin3"), { extensionRef: { name: "istio" } }));
    await until("fail-closed extension, server up: denied without the header", "httpbin3", 403);
    assert.equal((await to("httpbin3", ALLOW)).status, 200);
  });

  test("the HTTP server SIGKILLed: 403; restarted on the same port: traffic recovers", async () => {
    const alice = basic(OAUTH2_USER.name, OAUTH2_USER.password);
    await oauth2.kill();
    const down = await until("403 with oauth2-proxy down", "httpbin2", 403, alice);
    assert.equal(down.status, 403);
    await oauth2.start();
    const ok = await until("oauth2-proxy back", "httpbin2", 200, alice);
    assert.deepEqual(echoedHeaders(ok)["X-Auth-Request-User"], [OAUTH2_USER.name]);
  });

  test("a Gateway-level policy covers every route; a route-level disable turns it off there", async () => {
    rmSync(join(guide.dir, "50-http.yaml"));
    write(
      "52-gw.yaml",
      policy("gw", { kind: "Gateway", name: "kgateway-waypoint" }, { extensionRef: { name: "istio" } }),
    );
    await until("the Gateway-level check on httpbin2", "httpbin2", 403);
    // httpbin3's own policy names the same server: one check, not two.
    assert.equal((await to("httpbin3", ALLOW)).status, 200);
    write("53-off.yaml", policy("off", onRoute("httpbin2"), { disable: {} }));
    await until("httpbin2 unchecked", "httpbin2", 200);
    assert.equal((await to("httpbin3")).status, 403, "httpbin3 still checked");
    // A route-level policy with another extension replaces the Gateway-level one there.
    write("53-off.yaml", policy("off", onRoute("httpbin2"), { extensionRef: { name: "oauth2" } }));
    await until("oauth2-proxy instead of the Gateway's server", "httpbin2", 401, ALLOW);
    const ok = await to("httpbin2", basic(OAUTH2_USER.name, OAUTH2_USER.password));
    assert.equal(ok.status, 200, `the Gateway-level gRPC check is not added on top: ${show(ok)}`);
    rmSync(join(guide.dir, "52-gw.yaml"));
    rmSync(join(guide.dir, "53-off.yaml"));
    await until("httpbin2 unchecked", "httpbin2", 200);
  });

  test("Invalid references fail closed (500) and say why; the extension without a Service is BackendNotFound", async () => {
    const ext = await untilAccepted("GatewayExtension", "ghost", "BackendNotFound");
    assert.match(ext.message, /extAuth\.grpcService\.backendRef: Service nowhere not found/);
    const cases: Array<[string, RegExp]> = [
      ["nope", /extAuth\.extensionRef: GatewayExtension httpbin\/nope not found/],
      ["jwt", /extAuth\.extensionRef: GatewayExtension httpbin\/jwt is of type JWT, not ExtAuth/],
      [
        "ghost",
        /extAuth\.extensionRef: GatewayExtension httpbin\/ghost is not valid .*Service nowhere not found/,
      ],
    ];
    for (const [name, message] of cases) {
      write("54-bad.yaml", policy("bad", onRoute("httpbin2"), { extensionRef: { name } }));
      const c = await waitFor(`Invalid naming ${name}`, async () => {
        const a = (await conditions("TrafficPolicy", "bad")).find((x) => x.type === "Accepted");
        return a?.reason === "Invalid" && message.test(a.message) ? a : undefined;
      });
      assert.match(c.message, /fail closed/);
      const r = await until(`500 with extension ${name}`, "httpbin2", 500);
      assert.match(r.body, /security policy for this route is invalid/);
    }
    rmSync(join(guide.dir, "54-bad.yaml"));
    await until("httpbin2 back", "httpbin2", 200);
  });

  // Requests on one kept-alive connection (while Envoy keeps it open): `reused` says whether a
  // request went on the connection of the one before.
  const keptAlive = (svc: GuideService) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const kept = (headers: Record<string, string>) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = request(
          {
            agent,
            host: "127.0.0.1",
            port: guide.standinPort(svc),
            path: "/headers",
            headers: { host: `${svc}:8000`, ...headers },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
          },
        );
        req.setTimeout(5000, () => req.destroy(new Error("request timed out")));
        req.on("error", reject);
        req.end();
      });
    return { kept, agent };
  };

  test("a connection kept open while its route moves to another extension is checked by the new one", async () => {
    // Every usable extension of the namespace has its filter in the listener while any extAuth is in
    // force, so moving httpbin2 from Istio's server to oauth2-proxy changes the route table only: a
    // connection opened before the move gets the new table and the filter it turns on. (Were the new
    // extension's filter added to the listener instead, that connection would keep its old filters
    // while Envoy drained it, and skip the check.)
    write("55-move.yaml", policy("move", onRoute("httpbin2"), { extensionRef: { name: "istio" } }));
    await until("Istio's server on httpbin2", "httpbin2", 403);
    const { kept, agent } = keptAlive("httpbin2");
    try {
      const before = await kept({ "x-ext-authz": "allow" });
      assert.deepEqual(
        before,
        { status: 200, reused: false },
        "Istio's server allows it, on a new connection",
      );
      write("55-move.yaml", policy("move", onRoute("httpbin2"), { extensionRef: { name: "oauth2" } }));
      await until("oauth2-proxy on httpbin2 (new connections)", "httpbin2", 401, ALLOW);
      const after = await kept({ "x-ext-authz": "allow" });
      assert.deepEqual(
        after,
        { status: 401, reused: true },
        "the kept connection is checked by oauth2-proxy",
      );
    } finally {
      agent.destroy();
      rmSync(join(guide.dir, "55-move.yaml"));
    }
    await until("httpbin2 unchecked", "httpbin2", 200);
  });

  test("a connection kept open while a new extension is created and used in one change is refused, never let through", async () => {
    // The new extension's filter joins the listener in this change: a connection opened before it
    // keeps its old filters while Envoy drains it, but gets the new route table. The guard refuses
    // its request (403, even with what the server would allow), and the waypoint, draining at once,
    // closes it after that answer; the client's next connection is checked by the new extension.
    const { kept, agent } = keptAlive("httpbin2");
    try {
      const before = await kept({});
      assert.deepEqual(before, { status: 200, reused: false }, "no check on httpbin2 yet");
      write(
        "56-new.yaml",
        [
          doc("GatewayExtension", "istio-new", {
            type: "ExtAuth",
            extAuth: { grpcService: { backendRef: { name: "ext-authz", port: 9000 } } },
          }),
          policy("new", onRoute("httpbin2"), { extensionRef: { name: "istio-new" } }),
        ].join("---\n"),
      );
      await untilAccepted("TrafficPolicy", "new", "Valid");
      await until("Istio's server on httpbin2 (new connections)", "httpbin2", 403);
      assert.equal((await to("httpbin2", ALLOW)).status, 200, "a new connection is checked and allowed");
      const refused = await kept({ "x-ext-authz": "allow" });
      assert.deepEqual(
        refused,
        { status: 403, reused: true },
        "the kept connection lacks the new filter: refused, not let through",
      );
      const next = await kept({ "x-ext-authz": "allow" });
      assert.deepEqual(
        next,
        { status: 200, reused: false },
        "closed after the refusal; the next one is checked",
      );
      const denied = await guide.stack.envoy.stats("waymark_guard.denied");
      assert.ok(
        [...denied.values()].some((v) => v > 0),
        `the guard counted the refusal: ${JSON.stringify([...denied])}`,
      );
    } finally {
      agent.destroy();
      rmSync(join(guide.dir, "56-new.yaml"));
    }
    await until("httpbin2 unchecked", "httpbin2", 200);
  });

  test("an HTTP server's failed call is retried when the extension asks (httpService.retry)", async () => {
    const flakyExtension = (name: string, retry?: unknown) =>
      doc("GatewayExtension", name, {
        type: "ExtAuth",
        extAuth: {
          httpService: { backendRef: { name: "flaky-authz", port: 8080 }, ...(retry ? { retry } : {}) },
        },
      });
    write(
      "57-retry.yaml",
      [
        flakyExtension("flaky-retry", { attempts: 1, backoff: { baseInterval: "10ms" } }),
        flakyExtension("flaky-once"),
        policy("retried", onRoute("httpbin2"), { extensionRef: { name: "flaky-retry" } }),
      ].join("---\n"),
    );
    await untilAccepted("TrafficPolicy", "retried", "Valid");
    await waitFor("the flaky server consulted", async () => {
      const before = flakyCalls;
      await to("httpbin2");
      return flakyCalls > before;
    });
    // Every check meets one 503 and is retried into the 200 after it.
    for (let i = 0; i < 3; i++) {
      const before = flakyCalls;
      const r = await to("httpbin2");
      assert.equal(r.status, 200, `retried past the 503: ${show(r)}`);
      assert.equal(flakyCalls - before, before % 2 === 0 ? 2 : 1, "one retry when the first call failed");
    }
    // The same server without retry: one of two checks meets the 503, a failed call: statusOnError.
    write(
      "57-retry.yaml",
      [
        flakyExtension("flaky-retry", { attempts: 1, backoff: { baseInterval: "10ms" } }),
        flakyExtension("flaky-once"),
        policy("retried", onRoute("httpbin2"), { extensionRef: { name: "flaky-once" } }),
      ].join("---\n"),
    );
    await until("the 503 without retry: 403", "httpbin2", 403);
    const two = [(await to("httpbin2")).status, (await to("httpbin2")).status].sort();
    assert.deepEqual(two, [200, 403]);
    rmSync(join(guide.dir, "57-retry.yaml"));
    await until("httpbin2 unchecked", "httpbin2", 200);
  });

  test("Envoy never NACKed", async () => {
    for (const k of await listKeys(proxiesKv)) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {}))
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
    }
    const stats = await guide.stack.envoy.stats("update_rejected");
    for (const [name, v] of stats) assert.equal(v, 0, name);
  });
});
