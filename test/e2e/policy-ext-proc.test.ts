// TrafficPolicy extProc (GatewayExtension ExtProc) end to end through a real Envoy and a real gRPC
// processing server (test/lib/ext-proc-server.ts, its own process, a Service + EndpointSlice of the
// namespace pointing at it): a header the server adds reaches the backend (go-httpbin echoes it),
// response headers and — when the processing mode buffers it — the response body are changed by the
// server; a policy's processingMode overrides the extension's (request headers only; response body
// buffered); the server killed mid-run gives 500 with failOpen: false and lets traffic through with
// kgateway's default (failOpen true), and traffic is processed again once it is back; Invalid
// policies (missing extension, wrong type, missing backend: the extension's own status is
// BackendNotFound) fail closed; Envoy never NACKs.
//
// The server is ours: no registry has a usable ext_proc server binary (solo-io/ext-proc-examples'
// basic-sink, the one kgateway's e2e tests run as an image, is a Go module with a replace directive
// and no tagged version, which `go install` refuses; kgateway's own copy sits inside its main module).
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { type ExtProcServer, startExtProcServer } from "../lib/ext-proc-server.ts";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import { echoedHeaders, type HttpResult } from "../lib/http.ts";

const GW = "gateway.networking.k8s.io";
const ROUTE = { group: GW, kind: "HTTPRoute", name: "httpbin2" };

function doc(
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  apiVersion = "gateway.kgateway.dev/v1alpha1",
) {
  return `${JSON.stringify({ apiVersion, kind, metadata: { name, namespace: "httpbin" }, spec })}\n`;
}
const policy = (name: string, extProc: unknown, target: Record<string, unknown> = ROUTE) =>
  doc("TrafficPolicy", name, { targetRefs: [target], extProc });
const extension = (name: string, extProc: Record<string, unknown>) =>
  doc("GatewayExtension", name, { type: "ExtProc", extProc });
const SERVICE = { backendRef: { name: "ext-proc", port: 9000 } };

interface Condition {
  type: string;
  reason: string;
  message: string;
}

describe("standalone: TrafficPolicy extProc (GatewayExtension ExtProc) through Envoy", {
  timeout: 240_000,
}, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let server: ExtProcServer;
  const files = new Set<string>();

  const to = (path = "/headers", svc: GuideService = "httpbin2") => guide.request(svc, path);
  const write = (file: string, text: string) => {
    files.add(file);
    writeFileSync(join(guide.dir, file), text);
  };
  const remove = (file: string) => {
    files.delete(file);
    rmSync(join(guide.dir, file), { force: true });
  };
  const show = (r: HttpResult) => `${r.status} ${r.body.slice(0, 200)}`;
  const processed = (r: HttpResult) => r.status === 200 && echoedHeaders(r)["X-Ext-Proc"]?.[0] === "waymark";
  const until = (what: string, ok: (r: HttpResult) => boolean, path = "/headers") =>
    waitFor(what, async () => {
      const r = await to(path);
      return ok(r) ? r : undefined;
    });
  const conditionOf = async (kind: string, name: string): Promise<Condition | undefined> => {
    const st = await getJson<StatusEntry>(
      statusKv,
      objectKey({ group: "gateway.kgateway.dev", kind, namespace: "httpbin", name }),
    );
    if (!st) return undefined;
    const conditions =
      kind === "GatewayExtension"
        ? (st.status["conditions"] as Condition[] | undefined)
        : (st.status["ancestors"] as Array<{ conditions: Condition[] }> | undefined)?.[0]?.conditions;
    return conditions?.find((c) => c.type === "Accepted");
  };
  const untilReason = (kind: string, name: string, reason: string) =>
    waitFor(`${kind} ${name} ${reason}`, async () => {
      const c = await conditionOf(kind, name);
      return c?.reason === reason ? c : undefined;
    });

  before(async () => {
    guide = await startGuideStack("e2e-policy-ext-proc");
    server = await startExtProcServer({ logDir: guide.logDir });
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    // The server as a Service of the namespace (no waypoint label: nothing routes to it; no
    // appProtocol either: the extension's cluster speaks HTTP/2 all the same).
    write(
      "40-ext-proc-service.yaml",
      [
        doc("Service", "ext-proc", { clusterIP: "10.96.0.41", ports: [{ name: "proc", port: 9000 }] }, "v1"),
        `${JSON.stringify({
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: {
            name: "ext-proc-local",
            namespace: "httpbin",
            labels: { "kubernetes.io/service-name": "ext-proc" },
          },
          addressType: "IPv4",
          ports: [{ name: "proc", port: server.port }],
          endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
        })}\n`,
      ].join("---\n"),
    );
    write("41-closed.yaml", extension("closed", { grpcService: SERVICE, failOpen: false }));
    write("42-open.yaml", extension("open", { grpcService: SERVICE }));
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await server?.stop();
    await guide?.stop();
  });

  test("request headers added by the server reach the backend; response headers changed; body left alone", async () => {
    write("50-ext-proc.yaml", policy("ext-proc", { extensionRef: { name: "closed" } }));
    const r = await until("the server's header at the backend", processed);
    assert.deepEqual(echoedHeaders(r)["X-Ext-Proc-Phases"], ["requestHeaders"]);
    assert.equal(r.headers["x-ext-proc-response"], "seen", "the response headers went through the server");
    assert.notEqual(r.body, r.body.toUpperCase(), "the body is not sent without a body mode");
    const other = await to("/headers", "httpbin3");
    assert.equal(other.status, 200, show(other));
    assert.equal(echoedHeaders(other)["X-Ext-Proc"], undefined, "another route is not processed");
    assert.equal((await conditionOf("GatewayExtension", "closed"))?.reason, "Accepted");
    assert.equal((await conditionOf("TrafficPolicy", "ext-proc"))?.reason, "Valid");
  });

  test("processingMode on the policy: request headers only, then the response body buffered", async () => {
    write(
      "50-ext-proc.yaml",
      policy("ext-proc", {
        extensionRef: { name: "closed" },
        processingMode: { requestHeaderMode: "SEND", responseHeaderMode: "SKIP" },
      }),
    );
    const headersOnly = await until(
      "response headers no longer sent",
      (r) => processed(r) && r.headers["x-ext-proc-response"] === undefined,
    );
    assert.notEqual(headersOnly.body, headersOnly.body.toUpperCase());

    write(
      "50-ext-proc.yaml",
      policy("ext-proc", {
        extensionRef: { name: "closed" },
        processingMode: { responseHeaderMode: "SEND", responseBodyMode: "BUFFERED" },
      }),
    );
    const buffered = await until(
      "the body replaced by the server",
      (r) => r.status === 200 && r.body.includes("WAYMARK"),
    );
    assert.equal(buffered.body, buffered.body.toUpperCase(), "the server upper-cased the whole body");
    const echoed = JSON.parse(buffered.body) as { HEADERS: Record<string, string[]> };
    assert.deepEqual(
      echoed.HEADERS["X-EXT-PROC"],
      ["WAYMARK"],
      "the request header still reached the backend",
    );
    assert.equal(buffered.headers["x-ext-proc-response"], "seen");
    assert.equal(
      Number(buffered.headers["content-length"] ?? Buffer.byteLength(buffered.body)),
      Buffer.byteLength(buffered.body),
      "the length matches the new body",
    );
  });

  test("failOpen false: the server killed gives 500; back, traffic is processed again", async () => {
    write("50-ext-proc.yaml", policy("ext-proc", { extensionRef: { name: "closed" } }));
    await until("headers-only processing again", (r) => processed(r) && !r.body.includes("WAYMARK"));
    await server.kill();
    const down = await until("500 while the server is down", (r) => r.status === 500);
    assert.equal(down.status, 500, show(down));
    assert.equal((await to("/headers", "httpbin3")).status, 200, "unprocessed routes are not affected");
    await server.restart();
    const back = await until("processed again after the restart", processed);
    assert.deepEqual(echoedHeaders(back)["X-Ext-Proc"], ["waymark"]);
  });

  test("kgateway's default failOpen (true): the server killed lets requests through unprocessed", async () => {
    write("50-ext-proc.yaml", policy("ext-proc", { extensionRef: { name: "open" } }));
    await until("processed by the open extension", processed);
    await server.kill();
    const through = await until(
      "unprocessed 200 while the server is down",
      (r) => r.status === 200 && !processed(r),
    );
    assert.equal(echoedHeaders(through)["X-Ext-Proc"], undefined);
    await server.restart();
    await until("processed again after the restart", processed);
  });

  test("Gateway-level extProc everywhere; a route-level disable wins on its route", async () => {
    write("50-ext-proc.yaml", policy("ext-proc", { disable: {} }));
    write(
      "51-gw.yaml",
      policy(
        "gw",
        { extensionRef: { name: "open" } },
        { group: GW, kind: "Gateway", name: "kgateway-waypoint" },
      ),
    );
    await waitFor("httpbin3 processed by the Gateway-level policy", async () => {
      const r = await to("/headers", "httpbin3");
      return processed(r) ? r : undefined;
    });
    const off = await until("httpbin2 not processed (disable)", (r) => r.status === 200 && !processed(r));
    assert.equal(echoedHeaders(off)["X-Ext-Proc"], undefined);
    remove("51-gw.yaml");
    await waitFor("httpbin3 no longer processed", async () => {
      const r = await to("/headers", "httpbin3");
      return r.status === 200 && !processed(r) ? r : undefined;
    });
  });

  test("Invalid: a missing extension, an extension of another type, a missing backend fail closed", async () => {
    write("50-ext-proc.yaml", policy("ext-proc", { extensionRef: { name: "nope" } }));
    const r = await until("the route failing closed", (x) => x.status === 500);
    assert.match(r.body, /security policy for this route is invalid/);
    const missing = await untilReason("TrafficPolicy", "ext-proc", "Invalid");
    assert.match(missing.message, /extProc\.extensionRef: GatewayExtension httpbin\/nope not found/);

    write(
      "43-jwt.yaml",
      doc("GatewayExtension", "jwt", {
        type: "JWT",
        jwt: {
          providers: [{ name: "p", issuer: "https://i.test", jwks: { local: { inline: '{"keys":[]}' } } }],
        },
      }),
    );
    write("50-ext-proc.yaml", policy("ext-proc", { extensionRef: { name: "jwt" } }));
    const wrong = await waitFor("wrong type named", async () => {
      const c = await conditionOf("TrafficPolicy", "ext-proc");
      return c?.message.includes("of type JWT") ? c : undefined;
    });
    assert.match(
      wrong.message,
      /extProc\.extensionRef: GatewayExtension httpbin\/jwt is of type JWT, not ExtProc/,
    );

    write(
      "44-no-backend.yaml",
      extension("no-backend", { grpcService: { backendRef: { name: "nowhere", port: 9000 } } }),
    );
    write("50-ext-proc.yaml", policy("ext-proc", { extensionRef: { name: "no-backend" } }));
    const ext = await untilReason("GatewayExtension", "no-backend", "BackendNotFound");
    assert.match(ext.message, /extProc\.grpcService\.backendRef: Service nowhere not found/);
    const pol = await waitFor("the policy names the broken extension", async () => {
      const c = await conditionOf("TrafficPolicy", "ext-proc");
      return c?.message.includes("no-backend") ? c : undefined;
    });
    assert.equal(pol.reason, "Invalid");
    assert.equal((await to()).status, 500, "still failing closed");
    assert.equal((await to("/headers", "httpbin3")).status, 200, "other routes keep working");

    remove("50-ext-proc.yaml");
    await until("no policy: served unprocessed", (x) => x.status === 200 && !processed(x));
  });

  test("Envoy never NACKed", async () => {
    const proxiesKv = await openBucket(nc, Bucket.proxies);
    for (const k of await listKeys(proxiesKv)) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {}))
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
    }
    const stats = await guide.stack.envoy.stats("update_rejected");
    for (const [name, v] of stats) assert.equal(v, 0, `${name}`);
    for (const f of [...files]) remove(f);
  });
});
