// AuthorizationPolicy `action: CUSTOM` end to end, standalone, through a real Envoy and Istio's sample
// ext-authz server (gRPC check API; allows requests with `x-ext-authz: allow`, adds
// x-ext-authz-check-result, denies others with 403), named in the mesh config the translator reads
// (WAYMARK_MESH_CONFIG, as the istio ConfigMap's `mesh` key). The server runs on loopback behind a
// Service + EndpointSlice in the watched directory. A CUSTOM policy on the waypoint Gateway with a
// rule on /headers: only the requests it matches are sent to the server (Envoy's ext_authz counters do
// not move for /get); a DENY policy still refuses what the provider allows; a CUSTOM policy naming a
// provider the mesh config does not have denies what it matches and its status names provider.name.
// The same server's HTTP check API as an envoyExtAuthzHttp provider: the request header it names
// (includeRequestHeadersInCheck) reaches it, its header reaches the backend (headersToUpstreamOnAllow)
// and the client on deny (headersToDownstreamOnDeny). The mesh config from Istio's ConfigMap
// istio-system/istio (key mesh) in the watched directory wins over the setting, and a provider added
// to it while running is called by the CUSTOM policy that named it; a ConfigMap that does not parse
// makes the policy fail closed with a status naming it. Envoy never NACKs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Bucket, type Condition, createLogger } from "@waymark/api";
import { connectBus, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { type NotYet, waitFor } from "@waymark/testing";
import { type ProxiedRequest, proxiedRequest, type Waypoint } from "../lib/authz-client.ts";
import {
  applyPolicies,
  assertNoNack,
  authorizationPolicy,
  policyConditions,
  TRANSLATED,
  writeObjects,
} from "../lib/authz-policy.ts";
import { type AuthServer, startIstioExtAuthz } from "../lib/ext-authz.ts";
import { type GuideStack, randomLoopback, startGuideStack } from "../lib/guide-stack.ts";
import { echoedHeaders } from "../lib/http.ts";

const VIP = "10.96.0.12"; // httpbin2
const POLICY_FILE = "60-policy.yaml";
const MESH_CONFIG = `
extensionProviders:
- name: ext-authz-grpc
  envoyExtAuthzGrpc:
    service: ext-authz.httpbin.svc.cluster.local
    port: 9000
    timeout: 2s
- name: ext-authz-http
  envoyExtAuthzHttp:
    service: httpbin/ext-authz
    port: 8000
    timeout: 2s
    includeRequestHeadersInCheck: [x-ext-authz]
    headersToUpstreamOnAllow: [x-ext-authz-check-result]
    headersToDownstreamOnDeny: [x-ext-authz-check-result]
`;
const ALLOW = { "x-ext-authz": "allow" };

describe("standalone: AuthorizationPolicy CUSTOM (ext_authz provider of the mesh config) through Envoy", {
  timeout: 300_000,
}, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  let waypoint: Waypoint;
  let server: AuthServer;

  const send = (r: Partial<ProxiedRequest> = {}) =>
    proxiedRequest(waypoint, { vip: VIP, port: 8000, host: "httpbin2:8000", ...r });
  const apply = (objects: unknown[]) => applyPolicies(guide.stack.envoy, guide.dir, POLICY_FILE, objects);
  /** The checks the server logged so far, as `<decision> <path>` (it logs every Check call). */
  const checked = () =>
    [
      ...server
        .proc()
        .log()
        .matchAll(/\[(gRPCv3|HTTP)\]\[(allowed|denied)\]: (?:[A-Z]+ )?[^\s/]+(\/[^\s,]*),/g),
    ].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
  const checks = async () => checked().length;
  const condition = (name: string, type: string, ok: (c: Condition) => boolean) =>
    waitFor(`${type} of ${name}`, async (): Promise<Condition | NotYet> => {
      const c = (await policyConditions(statusKv, name))?.[type];
      return c && ok(c) ? c : undefined;
    });
  const custom = (name: string, provider: string | undefined, paths: string[]) =>
    authorizationPolicy(name, {
      action: "CUSTOM",
      ...(provider === undefined ? {} : { provider: { name: provider } }),
      rules: [{ to: [{ operation: { paths } }] }],
    });

  before(async () => {
    const bindAddress = randomLoopback();
    guide = await startGuideStack("e2e-authz-custom", {
      bindAddress,
      serviceEnv: { WAYMARK_MESH_CONFIG: MESH_CONFIG },
    });
    waypoint = { host: bindAddress, port: 15088 };
    server = await startIstioExtAuthz({ logDir: guide.logDir });
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    // The gRPC port is named plainly: the provider's cluster gets HTTP/2 of its own accord.
    writeObjects(guide.dir, "40-ext-authz.yaml", [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "ext-authz", namespace: "httpbin" },
        spec: {
          clusterIP: "10.96.0.42",
          ports: [
            { name: "check", port: 9000 },
            { name: "http", port: 8000 },
          ],
        },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: "ext-authz-local",
          namespace: "httpbin",
          labels: { "kubernetes.io/service-name": "ext-authz" },
        },
        addressType: "IPv4",
        ports: [
          { name: "check", port: server.port },
          { name: "http", port: server.httpPort! },
        ],
        endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
      },
    ]);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await server?.stop();
    await guide?.stop();
  });

  test("the provider decides the requests the CUSTOM rules match, and only those", async () => {
    await apply([custom("custom-headers", "ext-authz-grpc", ["/headers"])]);
    const c = await condition("custom-headers", TRANSLATED, (x) => x.reason === "Translated");
    assert.equal(c.status, "True", c.message);
    // The provider's Service may take a moment to get its endpoint: until then the check fails (403).
    const ok = await waitFor("an allowed /headers", async () => {
      const r = await send({ path: "/headers", headers: ALLOW });
      return r.status === 200 ? r : undefined;
    });
    assert.deepEqual(echoedHeaders(ok)["X-Ext-Authz-Check-Result"], ["allowed"], "the server's header");
    // The server logs a check after answering it: wait for this one's line before counting.
    await waitFor("the allowed check logged", async () => checked().at(-1) === "gRPCv3 allowed /headers");

    const before = await checks();
    const denied = await send({ path: "/headers" });
    assert.equal(denied.status, 403, denied.body);
    assert.notEqual(denied.body, "RBAC: access denied", "the server's answer, not RBAC's");
    assert.match(denied.body, /x-ext-authz/, "the sample server says what it looked for");
    await waitFor("the denied check counted", async () => (await checks()) === before + 1);

    // /get is not matched by the CUSTOM rule: the server is not asked, with or without the header.
    const counted = await checks();
    for (const headers of [{}, ALLOW]) {
      const r = await send({ path: "/get", headers });
      assert.equal(r.status, 200, r.body);
      assert.equal(echoedHeaders(r)["X-Ext-Authz-Check-Result"], undefined, "no check happened");
    }
    // A request that is checked afterwards shows that the log is live; /get added nothing.
    await send({ path: "/headers", headers: ALLOW });
    await waitFor("the next check counted", async () => (await checks()) === counted + 1);
    assert.deepEqual(checked().slice(-3), [
      "gRPCv3 allowed /headers",
      "gRPCv3 denied /headers",
      "gRPCv3 allowed /headers",
    ]);
    assert.ok(!checked().some((c) => c.endsWith(" /get")), "/get never reached the server");
  });

  test("the HTTP provider: the headers it names go to it and its header to the backend", async () => {
    await apply([custom("custom-http", "ext-authz-http", ["/headers"])]);
    const c = await condition("custom-http", TRANSLATED, (x) => x.reason === "Translated");
    assert.equal(c.status, "True", c.message);
    const ok = await waitFor("an allowed /headers over HTTP", async () => {
      const r = await send({ path: "/headers", headers: ALLOW });
      return r.status === 200 ? r : undefined;
    });
    assert.deepEqual(echoedHeaders(ok)["X-Ext-Authz-Check-Result"], ["allowed"], "the server's header");
    const denied = await send({ path: "/headers" });
    assert.equal(denied.status, 403, denied.body);
    assert.match(denied.body, /x-ext-authz/, "the server's answer");
    assert.equal(denied.headers["x-ext-authz-check-result"], "denied", "headersToDownstreamOnDeny");
    // The server logs a check after answering it: wait for the denial's line before counting.
    await waitFor("the denied check logged", async () => checked().at(-1) === "HTTP denied /headers");
    const counted = await checks();
    assert.equal((await send({ path: "/get" })).status, 200);
    await send({ path: "/headers", headers: ALLOW });
    await waitFor("the next check counted", async () => (await checks()) === counted + 1);
    assert.deepEqual(checked().slice(-3), [
      "HTTP allowed /headers",
      "HTTP denied /headers",
      "HTTP allowed /headers",
    ]);
  });

  test("a DENY policy still refuses what the provider allows", async () => {
    await apply([
      custom("custom-headers", "ext-authz-grpc", ["/headers"]),
      authorizationPolicy("deny-blocked", {
        action: "DENY",
        rules: [{ when: [{ key: "request.headers[x-block]", values: ["yes"] }] }],
      }),
    ]);
    const r = await send({ path: "/headers", headers: { ...ALLOW, "x-block": "yes" } });
    assert.equal(r.status, 403);
    assert.equal(r.body, "RBAC: access denied");
    const ok = await send({ path: "/headers", headers: ALLOW });
    assert.equal(ok.status, 200, ok.body);
  });

  test("an unknown provider: the requests the rules match are denied, the status names provider.name", async () => {
    await apply([custom("custom-unknown", "no-such-provider", ["/headers"])]);
    const c = await condition("custom-unknown", TRANSLATED, (x) => x.reason === "PartiallyTranslated");
    assert.equal(c.status, "False");
    assert.match(c.message, /provider\.name: extension provider "no-such-provider" is not/);
    assert.match(c.message, /"ext-authz-grpc"/, "the providers the mesh config has");
    const before = await checks();
    for (const headers of [{}, ALLOW]) {
      const r = await send({ path: "/headers", headers });
      assert.equal(r.status, 403);
      assert.equal(r.body, "RBAC: access denied");
    }
    const other = await send({ path: "/get" });
    assert.equal(other.status, 200, other.body);
    assert.equal(await checks(), before, "no ext_authz filter: nothing was checked");
  });

  test("the mesh config from Istio's ConfigMap in the directory: a provider added while running is called", async () => {
    // The ConfigMap istio-system/istio (key mesh), as istiod reads it; written into the policy file,
    // so each apply waits until Envoy runs the translation that has it (and the next test's apply,
    // without it, brings back the WAYMARK_MESH_CONFIG setting).
    const meshConfigMap = (mesh: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "istio",
        namespace: "istio-system",
        annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
      },
      data: { mesh, meshNetworks: "networks: {}" },
    });
    const grpcProvider = (name: string) =>
      `- name: ${name}\n  envoyExtAuthzGrpc:\n    service: ext-authz.httpbin.svc.cluster.local\n    port: 9000\n    timeout: 2s\n`;
    const policy = custom("custom-configmap", "ext-authz-cm", ["/headers"]);

    // The ConfigMap without the provider: it wins over the setting (whose providers are not listed).
    await apply([policy, meshConfigMap(`extensionProviders:\n${grpcProvider("ext-authz-grpc")}`)]);
    const unknown = await condition("custom-configmap", TRANSLATED, (x) =>
      x.message.includes("ConfigMap istio-system/istio (key mesh)"),
    );
    assert.equal(unknown.reason, "PartiallyTranslated", unknown.message);
    assert.match(
      unknown.message,
      /"ext-authz-cm" is not an ext_authz provider .*extensionProviders: "ext-authz-grpc"\)/,
    );
    const before = await checks();
    const refused = await send({ path: "/headers", headers: ALLOW });
    assert.equal(refused.status, 403);
    assert.equal(refused.body, "RBAC: access denied", "fails closed, without asking the server");

    // The provider added to the ConfigMap: the same policy now calls it.
    await apply([
      policy,
      meshConfigMap(`extensionProviders:\n${grpcProvider("ext-authz-grpc")}${grpcProvider("ext-authz-cm")}`),
    ]);
    const called = await condition("custom-configmap", TRANSLATED, (x) => x.reason === "Translated");
    assert.equal(called.status, "True", called.message);
    const ok = await waitFor("an allowed /headers through the ConfigMap's provider", async () => {
      const r = await send({ path: "/headers", headers: ALLOW });
      return r.status === 200 ? r : undefined;
    });
    assert.deepEqual(echoedHeaders(ok)["X-Ext-Authz-Check-Result"], ["allowed"], "the server's header");
    const denied = await send({ path: "/headers" });
    assert.equal(denied.status, 403);
    assert.notEqual(denied.body, "RBAC: access denied", "the server's answer, not RBAC's");
    // The server was asked once the ConfigMap named the provider (the refused request was not).
    await waitFor("the checks counted", async () => (await checks()) >= before + 2);

    // A ConfigMap that does not parse: the status names it and the path; the policy fails closed.
    await apply([
      policy,
      meshConfigMap("extensionProviders:\n- name: ext-authz-cm\n  envoyExtAuthzGrpc: {port: 9000}\n"),
    ]);
    const broken = await condition("custom-configmap", TRANSLATED, (x) =>
      x.message.includes("mesh config ConfigMap"),
    );
    assert.equal(broken.reason, "PartiallyTranslated");
    assert.match(
      broken.message,
      /mesh config ConfigMap istio-system\/istio \(key mesh\): extensionProviders\[0\]\.envoyExtAuthzGrpc\.service: is required/,
    );
    const closed = await send({ path: "/headers", headers: ALLOW });
    assert.equal(closed.status, 403);
    assert.equal(closed.body, "RBAC: access denied");
    assert.equal((await send({ path: "/get" })).status, 200, "nothing else is blocked");
  });

  test("Envoy accepted every update", async () => {
    await assertNoNack(proxiesKv);
    const stats = await guide.stack.envoy.stats("update_rejected");
    for (const [name, v] of stats) assert.equal(v, 0, name);
  });
});
