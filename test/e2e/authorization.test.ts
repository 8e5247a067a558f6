// Issue 13 end to end, standalone: Istio AuthorizationPolicy files written into the guide's
// directory while it runs, enforced by a real Envoy. Each action (ALLOW, DENY over ALLOW, AUDIT,
// CUSTOM, `spec: {}`, `rules: [{}]`, dry run), each binding kind (Gateway, Service, GatewayClass from
// the root namespace; and what does not bind), the status conditions, failing closed on what cannot
// be translated (on an HTTP chain and on a TCP chain added for the test), editing and removing a
// policy, and that Envoy never NACKs. The fields one by one: authorization-fields.test.ts.
import assert from "node:assert/strict";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, type Condition, createLogger } from "@waymark/api";
import { connectBus, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { REPO_ROOT } from "@waymark/devstack";
import { type NotYet, waitFor } from "@waymark/testing";
import {
  type ProxiedRequest,
  proxiedRequest,
  tcpProbe,
  verdict,
  type Waypoint,
} from "../lib/authz-client.ts";
import {
  applyPolicies,
  assertNoNack,
  authorizationPolicy,
  GATEWAY_CLASS_REF,
  GATEWAY_REF,
  policyConditions,
  serviceRef,
  TRANSLATED,
  WAYPOINT_ACCEPTED,
  writeObjects,
} from "../lib/authz-policy.ts";
import { type GuideStack, randomLoopback, startGuideStack } from "../lib/guide-stack.ts";

const EXAMPLES = join(REPO_ROOT, "examples", "authorization");
const VIP = { httpbin2: "10.96.0.12", httpbin3: "10.96.0.13" } as const;
/** A TCP-only service the test adds (its port has no HTTP protocol), in front of httpbin2's backend. */
const TCP = { vip: "10.96.0.14", port: 9000 };
const POLICY_FILE = "60-policy.yaml";

type Svc = keyof typeof VIP;
type Req = Partial<ProxiedRequest> & { svc?: Svc };

describe("standalone: AuthorizationPolicy through Envoy", { timeout: 600_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  let waypoint: Waypoint;

  const send = (r: Req = {}) => {
    const svc = r.svc ?? "httpbin2";
    const { svc: _svc, ...rest } = r;
    return proxiedRequest(waypoint, { vip: VIP[svc], port: 8000, host: `${svc}:8000`, ...rest });
  };
  const v = async (r: Req = {}) => verdict(await send(r));
  /** Asserts the RBAC filter's exact answer, not just any 403. */
  const assertDenied = async (r: Req, why: string) => {
    const res = await send(r);
    assert.equal(res.status, 403, `${why}: ${JSON.stringify(r)} got ${res.status} ${res.body.slice(0, 100)}`);
    assert.equal(res.body, "RBAC: access denied", why);
  };
  const assertAllowed = async (r: Req, why: string) => {
    assert.equal(await v(r), "allow", `${why}: ${JSON.stringify(r)}`);
  };
  const tcp = (r: Partial<ProxiedRequest> = {}) => tcpProbe(waypoint, { vip: TCP.vip, port: TCP.port, ...r });
  const apply = (objects: unknown[], file = POLICY_FILE) =>
    applyPolicies(guide.stack.envoy, guide.dir, file, objects);
  /** Waits for a status condition of the policy that satisfies `ok`. */
  const condition = (name: string, type: string, ok: (c: Condition) => boolean, namespace = "httpbin") =>
    waitFor(`${type} of ${namespace}/${name}`, async (): Promise<Condition | NotYet> => {
      const c = (await policyConditions(statusKv, name, namespace))?.[type];
      return c && ok(c) ? c : undefined;
    });
  /** The last condition seen of that type (for an assertion message when `condition` times out). */
  const conditionNow = async (name: string, type: string, namespace = "httpbin") =>
    (await policyConditions(statusKv, name, namespace))?.[type];

  before(async () => {
    const bindAddress = randomLoopback();
    guide = await startGuideStack("e2e-authz", { bindAddress });
    waypoint = { host: bindAddress, port: 15088 };
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    const backend = guide.stack.backends[0]!.port; // httpbin2's go-httpbin
    writeObjects(guide.dir, "15-httpbin2-tcp.yaml", [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: {
          name: "httpbin2-tcp",
          namespace: "httpbin",
          labels: { "istio.io/use-waypoint": "kgateway-waypoint" },
        },
        spec: {
          clusterIP: TCP.vip,
          ports: [{ name: "tcp", port: TCP.port, targetPort: "tcp", protocol: "TCP" }],
        },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: "httpbin2-tcp-local",
          namespace: "httpbin",
          labels: { "kubernetes.io/service-name": "httpbin2-tcp" },
        },
        addressType: "IPv4",
        ports: [{ name: "tcp", port: backend, protocol: "TCP" }],
        endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
      },
    ]);
    await waitFor("the TCP chain", async () => (await tcp()).open);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("no policy: every request passes, with or without identity, HTTP and TCP", async () => {
    for (const r of [
      {},
      { svc: "httpbin3" as const },
      { identity: null },
      { method: "DELETE", path: "/anything" },
    ]) {
      await assertAllowed(r, "no policy");
    }
    const t = await tcp({ identity: null });
    assert.ok(t.open && t.firstLine === "HTTP/1.1 200 OK", JSON.stringify(t));
  });

  test("ALLOW bound to the Gateway: only matching requests pass, on every service", async () => {
    await apply([
      authorizationPolicy("allow-read", {
        action: "ALLOW",
        rules: [{ to: [{ operation: { methods: ["GET"], paths: ["/get", "/headers"] } }] }],
      }),
    ]);
    for (const svc of ["httpbin2", "httpbin3"] as const) {
      await assertAllowed({ svc }, "GET /get is allowed");
      await assertAllowed({ svc, path: "/headers" }, "GET /headers is allowed");
      await assertDenied({ svc, method: "POST", path: "/get" }, "POST matches no ALLOW rule");
      await assertDenied({ svc, path: "/anything" }, "/anything matches no ALLOW rule");
    }
    const st = await condition("allow-read", WAYPOINT_ACCEPTED, (c) => c.status === "True");
    assert.equal(st.reason, "Accepted");
    assert.equal(st.message, "bound to httpbin/kgateway-waypoint");
    const tr = await condition("allow-read", TRANSLATED, () => true);
    // methods and paths are HTTP only, and the Gateway binds the TCP chain too (see the TCP test).
    assert.equal(tr.status, "False", tr.message);
  });

  test("DENY wins over ALLOW; two ALLOW policies add up", async () => {
    await apply([
      authorizationPolicy("allow-all", { action: "ALLOW", rules: [{}] }),
      authorizationPolicy("allow-get", { rules: [{ to: [{ operation: { paths: ["/get"] } }] }] }),
      authorizationPolicy("deny-secret", {
        action: "DENY",
        rules: [
          {
            to: [{ operation: { paths: ["/anything/secret", "/get"] } }],
            when: [{ key: "request.headers[x-deny]", values: ["yes"] }],
          },
        ],
      }),
    ]);
    await assertDenied({ path: "/anything/secret", headers: { "x-deny": "yes" } }, "DENY matches, ALLOW too");
    await assertDenied({ headers: { "x-deny": "yes" } }, "DENY matches /get although two ALLOWs do");
    await assertAllowed({ path: "/anything/secret" }, "the DENY rule needs its header");
    await assertAllowed({ path: "/anything/other", headers: { "x-deny": "yes" } }, "allowed by rules: [{}]");
    await apply([
      authorizationPolicy("allow-get", { rules: [{ to: [{ operation: { paths: ["/get"] } }] }] }),
      authorizationPolicy("allow-headers", { rules: [{ to: [{ operation: { paths: ["/headers"] } }] }] }),
    ]);
    await assertAllowed({}, "the first ALLOW");
    await assertAllowed({ path: "/headers" }, "the second ALLOW");
    await assertDenied({ path: "/anything" }, "neither ALLOW");
  });

  test("AUDIT never denies, even matching everything", async () => {
    await apply([authorizationPolicy("audit-all", { action: "AUDIT", rules: [{}] })]);
    for (const r of [
      {},
      { svc: "httpbin3" as const },
      { identity: null },
      { method: "POST", path: "/anything" },
    ]) {
      await assertAllowed(r, "AUDIT");
    }
    assert.ok((await tcp()).open, "AUDIT on the TCP chain");
    const st = await condition("audit-all", WAYPOINT_ACCEPTED, (c) => c.status === "True");
    assert.equal(st.reason, "Accepted");
  });

  test("CUSTOM naming a provider the mesh config does not have: denies what it matches, and its status says so", async () => {
    await apply([
      authorizationPolicy("custom-ext", {
        action: "CUSTOM",
        provider: { name: "ext-authz" },
        rules: [{ to: [{ operation: { paths: ["/anything/custom*"] } }] }],
      }),
    ]);
    await assertDenied({ path: "/anything/custom/x" }, "CUSTOM matches");
    await assertAllowed({}, "CUSTOM does not match /get");
    await assertAllowed({ path: "/anything/other" }, "CUSTOM does not match");
    const tr = await condition("custom-ext", TRANSLATED, (c) => c.status === "False");
    assert.equal(tr.reason, "PartiallyTranslated");
    assert.match(tr.message, /provider\.name: extension provider "ext-authz" is not an ext_authz provider/);
  });

  test("spec: {} denies everything, HTTP and TCP; rules: [{}] allows everything", async () => {
    await apply([authorizationPolicy("deny-by-default", {})]);
    for (const r of [
      {},
      { svc: "httpbin3" as const },
      { identity: null },
      { method: "POST", path: "/anything" },
    ]) {
      await assertDenied(r, "spec: {}");
    }
    assert.deepEqual(await tcp(), { open: false }, "spec: {} closes the TCP connection");
    await apply([authorizationPolicy("allow-everything", { rules: [{}] })]);
    for (const r of [
      {},
      { svc: "httpbin3" as const },
      { identity: null },
      { method: "POST", path: "/anything" },
    ]) {
      await assertAllowed(r, "rules: [{}]");
    }
    assert.ok((await tcp({ identity: null })).open, "rules: [{}] on TCP");
  });

  test("dry run: never enforced, and a dry-run ALLOW does not switch on deny-by-default", async () => {
    const dryRun = { "istio.io/dry-run": "true" };
    await apply([
      authorizationPolicy("dry-deny", { action: "DENY", rules: [{}] }, { annotations: dryRun }),
      authorizationPolicy(
        "dry-allow",
        { rules: [{ to: [{ operation: { paths: ["/get"] } }] }] },
        { annotations: dryRun },
      ),
      // Not a Go boolean: not a dry run, enforced.
      authorizationPolicy(
        "not-dry",
        { action: "DENY", rules: [{ to: [{ operation: { paths: ["/anything/enforced"] } }] }] },
        { annotations: { "istio.io/dry-run": "maybe" }, targetRefs: [serviceRef("httpbin2")] },
      ),
    ]);
    await assertAllowed({}, "dry-run DENY of everything");
    await assertAllowed({ path: "/headers" }, "dry-run ALLOW of /get only");
    await assertAllowed({ identity: null, method: "POST", path: "/anything" }, "dry run");
    await assertDenied({ path: "/anything/enforced" }, "istio.io/dry-run: maybe is not a dry run");
    assert.ok((await tcp()).open, "dry run on TCP");
  });

  test("Service binding: only that service's chains; the other service is unaffected", async (t) => {
    copyFileSync(join(EXAMPLES, "61-httpbin3-read-only.yaml"), join(guide.dir, "61-httpbin3-read-only.yaml"));
    t.after(() => rmSync(join(guide.dir, "61-httpbin3-read-only.yaml"), { force: true }));
    await apply([
      authorizationPolicy(
        "httpbin2-get-only",
        { rules: [{ to: [{ operation: { paths: ["/get"] } }] }] },
        { targetRefs: [serviceRef("httpbin2")] },
      ),
    ]);
    await assertAllowed({}, "httpbin2 /get");
    await assertDenied({ path: "/headers" }, "httpbin2's ALLOW");
    await assertAllowed({ svc: "httpbin3", path: "/headers" }, "httpbin2's ALLOW is not on httpbin3");
    await assertDenied(
      { svc: "httpbin3", method: "POST", path: "/anything" },
      "the example: httpbin3 is read-only",
    );
    await assertDenied(
      { svc: "httpbin3", method: "DELETE", path: "/anything" },
      "the example: httpbin3 is read-only",
    );
    await assertAllowed({ svc: "httpbin3", method: "GET", path: "/anything" }, "httpbin3 reads");
    assert.ok((await tcp()).open, "neither Service policy is on the TCP service");
    const st = await condition("httpbin3-read-only", WAYPOINT_ACCEPTED, (c) => c.status === "True");
    assert.equal(st.reason, "Accepted");
    assert.equal(st.message, "bound to httpbin/kgateway-waypoint");
    const tr = await condition("httpbin3-read-only", TRANSLATED, () => true);
    assert.equal(tr.status, "True", tr.message);
    assert.equal(tr.reason, "Translated");
  });

  test("GatewayClass from the root namespace binds every waypoint of the class; from another, nothing", async (t) => {
    copyFileSync(join(EXAMPLES, "62-mesh-deny-internal.yaml"), join(guide.dir, "62-mesh-deny-internal.yaml"));
    t.after(() => rmSync(join(guide.dir, "62-mesh-deny-internal.yaml"), { force: true }));
    await apply([
      authorizationPolicy(
        "class-from-httpbin",
        { action: "DENY", rules: [{ to: [{ operation: { paths: ["/anything/local/*"] } }] }] },
        { targetRefs: [GATEWAY_CLASS_REF] },
      ),
    ]);
    await assertDenied({ path: "/anything/internal/x" }, "the root namespace's class policy, httpbin2");
    await assertDenied(
      { svc: "httpbin3", path: "/anything/internal/x" },
      "the root namespace's class policy, httpbin3",
    );
    await assertAllowed(
      { path: "/anything/local/x" },
      "a class policy outside the root namespace binds nothing",
    );
    const root = await condition(
      "deny-internal",
      WAYPOINT_ACCEPTED,
      (c) => c.status === "True",
      "istio-system",
    );
    assert.equal(root.reason, "Accepted");
    assert.equal(root.message, "bound to kgateway-waypoint");
    const local = await condition("class-from-httpbin", WAYPOINT_ACCEPTED, (c) => c.status === "False").catch(
      async (e: Error) =>
        assert.fail(
          `${e.message}; last: ${JSON.stringify(await conditionNow("class-from-httpbin", WAYPOINT_ACCEPTED))}`,
        ),
    );
    assert.equal(local.reason, "Invalid");
    assert.match(local.message, /root namespace `istio-system`/);
  });

  test("not for the waypoint: selector-only, no target, another namespace", async () => {
    await apply([
      authorizationPolicy(
        "selector-only",
        { action: "DENY", selector: { matchLabels: { app: "httpbin2" } }, rules: [{}] },
        { targetRefs: null },
      ),
      authorizationPolicy("no-target", { action: "DENY", rules: [{}] }, { targetRefs: null }),
      authorizationPolicy("other-ns", { action: "DENY", rules: [{}] }, { namespace: "other" }),
      authorizationPolicy(
        "other-ns-explicit",
        { action: "DENY", rules: [{}] },
        { namespace: "other", targetRefs: [{ ...GATEWAY_REF, namespace: "httpbin" }] },
      ),
      // Bound to httpbin2 alone: bound to the Gateway, its HTTP-only `paths` would be dropped on the
      // TCP chain (Istio's rule for DENY) and it would close every TCP connection.
      authorizationPolicy(
        "bound",
        { action: "DENY", rules: [{ to: [{ operation: { paths: ["/anything/bound"] } }] }] },
        { targetRefs: [{ group: "", kind: "Service", name: "httpbin2" }] },
      ),
    ]);
    await assertDenied({ path: "/anything/bound" }, "the bound policy of the same file");
    for (const r of [{}, { svc: "httpbin3" as const }, { method: "POST", path: "/anything" }]) {
      await assertAllowed(r, "no DENY-all policy binds");
    }
    assert.ok((await tcp()).open, "nor on TCP");
    await condition("bound", WAYPOINT_ACCEPTED, (c) => c.status === "True");
    assert.equal(
      await policyConditions(statusKv, "selector-only"),
      undefined,
      "selector-only: no status from Waymark",
    );
    assert.equal(
      await policyConditions(statusKv, "no-target"),
      undefined,
      "no target: no status from Waymark",
    );
  });

  test("an HTTP-only field on a TCP chain: an ALLOW rule allows nothing there, a DENY rule denies more", async () => {
    await apply([
      authorizationPolicy("allow-get", { rules: [{ to: [{ operation: { methods: ["GET"] } }] }] }),
    ]);
    await assertAllowed({}, "GET on HTTP");
    await assertDenied({ method: "POST", path: "/anything" }, "POST on HTTP");
    assert.deepEqual(
      await tcp(),
      { open: false },
      "the ALLOW rule with methods is ignored on TCP: nothing allowed",
    );
    const allowStatus = await condition("allow-get", TRANSLATED, (c) => c.status === "False");
    assert.equal(allowStatus.reason, "PartiallyTranslated");
    assert.match(allowStatus.message, /methods/);

    await apply([
      authorizationPolicy("deny-get", {
        action: "DENY",
        rules: [{ to: [{ operation: { methods: ["GET"] } }] }],
      }),
    ]);
    await assertDenied({}, "GET on HTTP");
    await assertAllowed({ method: "POST", path: "/anything" }, "POST on HTTP");
    assert.deepEqual(
      await tcp(),
      { open: false },
      "the DENY rule loses its methods on TCP: denies every connection",
    );
    const denyStatus = await condition("deny-get", TRANSLATED, (c) => c.status === "False");
    assert.equal(denyStatus.reason, "PartiallyTranslated");
    assert.match(denyStatus.message, /methods/);

    await apply([
      authorizationPolicy("tcp-port", { rules: [{ to: [{ operation: { ports: [String(TCP.port)] } }] }] }),
    ]);
    assert.ok((await tcp()).open, "ports works on TCP");
    await assertDenied({}, "port 8000 is not allowed");
    const tr = await condition("tcp-port", TRANSLATED, () => true);
    assert.equal(tr.status, "True", tr.message);
  });

  test("fail closed: an untranslatable condition makes an ALLOW rule allow nothing, a DENY rule deny more", async () => {
    await apply([
      authorizationPolicy("allow-unknown-key", {
        rules: [{ when: [{ key: "request.unknown", values: ["x"] }] }],
      }),
    ]);
    await assertDenied({}, "the only ALLOW rule has an unknown when key");
    await assertDenied(
      { headers: { "request.unknown": "x" } },
      "the only ALLOW rule has an unknown when key",
    );
    const a = await condition("allow-unknown-key", TRANSLATED, (c) => c.status === "False");
    assert.equal(a.reason, "PartiallyTranslated");
    assert.match(a.message, /request\.unknown/);
    assert.equal((await conditionNow("allow-unknown-key", WAYPOINT_ACCEPTED))?.status, "True");

    await apply([
      authorizationPolicy("allow-bad-cidr", {
        rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/33"] } }] }],
      }),
    ]);
    await assertDenied({ source: "10.0.0.1" }, "the only ALLOW rule has a bad CIDR");
    const c = await condition("allow-bad-cidr", TRANSLATED, (x) => x.status === "False");
    assert.match(c.message, /10\.0\.0\.0\/33/);

    await apply([
      authorizationPolicy("deny-unknown-key", {
        action: "DENY",
        rules: [
          {
            to: [{ operation: { paths: ["/anything/guarded"] } }],
            when: [{ key: "request.unknown", values: ["x"] }],
          },
        ],
      }),
    ]);
    await assertDenied({ path: "/anything/guarded" }, "the DENY rule without its unknown condition");
    await assertAllowed({}, "the DENY rule still needs its path");
    const d = await condition("deny-unknown-key", TRANSLATED, (x) => x.status === "False");
    assert.match(d.message, /request\.unknown/);
  });

  test("remoteIpBlocks with no trusted hop (the default): X-Forwarded-For is ignored", async () => {
    await apply([
      authorizationPolicy("remote", {
        rules: [{ from: [{ source: { remoteIpBlocks: ["192.0.2.0/24"] } }] }],
      }),
    ]);
    await assertDenied({ headers: { "x-forwarded-for": "192.0.2.7" } }, "XFF is not trusted");
    await assertAllowed({ source: "192.0.2.7" }, "the PROXY source is the remote address");
  });

  test("the example ALLOW: only the client's identity; editing changes the verdict, removing lifts it", async () => {
    const file = join(guide.dir, "60-allow-client.yaml");
    copyFileSync(join(EXAMPLES, "60-allow-client.yaml"), file);
    await apply([]); // the previous test's policy goes; the marker, written last, shows the example is live
    const viaStandin = await guide.request("httpbin2", "/get", { headers: { connection: "close" } });
    assert.equal(viaStandin.status, 200, "the stand-in's identity");
    await assertAllowed({ svc: "httpbin3" }, "the client's identity");
    await assertDenied({ identity: "spiffe://cluster.local/ns/httpbin/sa/intruder" }, "another identity");
    await assertDenied({ identity: null }, "no identity");

    writeObjects(guide.dir, "60-allow-client.yaml", [
      authorizationPolicy("allow-client", {
        rules: [{ from: [{ source: { principals: ["cluster.local/ns/httpbin/sa/intruder"] } }] }],
      }),
    ]);
    await apply([]);
    await assertDenied({}, "edited: the client is no longer allowed");
    await assertAllowed(
      { identity: "spiffe://cluster.local/ns/httpbin/sa/intruder" },
      "edited: the other identity is",
    );

    rmSync(file);
    await apply([]);
    for (const r of [{}, { identity: null }, { method: "POST", path: "/anything" }]) {
      await assertAllowed(r, "no policy left");
    }
    assert.ok((await tcp()).open, "TCP open again");
  });

  test("Envoy never NACKed", async () => {
    await assertNoNack(proxiesKv);
    for (const [name, n] of await guide.stack.envoy.stats("update_rejected")) assert.equal(n, 0, name);
  });
});
