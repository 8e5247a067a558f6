// TrafficPolicy acl end to end through a real Envoy on the standalone example. Two clients reach the
// ztunnel stand-in from different loopback addresses (127.0.0.1 and 127.0.0.77); the stand-in puts
// each one's address into the PROXY header and connects to the waypoint itself from 127.0.0.1. So a
// CIDR that holds 127.0.0.77 and allows only it shows which address the acl reads: the client's (the
// PROXY source, RBAC remote_ip), not the stand-in's (direct_remote_ip). Checked: an allowed and a
// denied CIDR, the most specific CIDR winning, default deny, X-Forwarded-For not trusted by default,
// a Gateway-level acl, the 403 body, an Invalid acl failing closed, and no NACK.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, type ProxyRecord } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { GUIDE_WAYPOINT, type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import { type HttpResult, sendHttp } from "../lib/http.ts";
import { policyAccepted } from "../lib/policies.ts";

type Target = { kind: "HTTPRoute" | "Gateway"; name: string };
const route = (name: string): Target => ({ kind: "HTTPRoute", name });
const GATEWAY: Target = { kind: "Gateway", name: GUIDE_WAYPOINT.name };

function policy(name: string, target: Target, acl: unknown): string {
  return `${JSON.stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [{ group: "gateway.networking.k8s.io", ...target }], acl },
  })}\n`;
}

/** The two clients: the usual loopback address, and one of its own. */
const A = "127.0.0.1";
const B = "127.0.0.77";
const DENIED = "RBAC: access denied";

describe("standalone: TrafficPolicy acl through Envoy", { timeout: 240_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const write = (file: string, text: string) => writeFileSync(join(guide.dir, file), text);
  const remove = (file: string) => rmSync(join(guide.dir, file), { force: true });
  const show = (r: HttpResult) => `${r.status} ${r.body.slice(0, 200)}`;

  /** A request from client address `from` through the stand-in. */
  const from = (from: string, svc: GuideService, headers: Record<string, string> = {}) =>
    sendHttp(
      {
        path: "/get",
        createConnection: () =>
          connect({ host: "127.0.0.1", port: guide.standinPort(svc), localAddress: from }),
      },
      `${svc}:8000`,
      { headers },
    );
  /** Waits until `from` gets `status` from `svc`. */
  const until = (what: string, client: string, svc: GuideService, status: number) =>
    waitFor(what, async () => {
      const r = await from(client, svc);
      return r.status === status ? r : undefined;
    });

  const accepted = (name: string, reason: string) => policyAccepted(statusKv, name, reason);

  before(async () => {
    guide = await startGuideStack("e2e-policy-acl");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
    // Both clients get through before any acl.
    for (const c of [A, B]) assert.equal((await from(c, "httpbin2")).status, 200, `client ${c}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("default deny, a CIDR holding one client allows it: the client's address, not the stand-in's", async () => {
    write(
      "50-acl.yaml",
      policy("acl", route("httpbin2"), {
        defaultAction: "deny",
        rules: [{ name: "b", cidrs: [`${B}/32`], action: "allow" }],
      }),
    );
    const denied = await until("client A denied", A, "httpbin2", 403);
    assert.equal(denied.body, DENIED);
    const ok = await from(B, "httpbin2");
    assert.equal(ok.status, 200, `client B is in ${B}/32: ${show(ok)}`);
    // X-Forwarded-For is not trusted (no trusted hops): A cannot claim B's address.
    assert.equal((await from(A, "httpbin2", { "x-forwarded-for": B })).status, 403, "XFF ignored");
    assert.equal((await from(A, "httpbin3")).status, 200, "httpbin3 has no acl");
    assert.equal((await accepted("acl", "Valid")).message, "Policy accepted");
  });

  test("default allow, a CIDR holding both clients denies them, a narrower allow punches a hole for B", async () => {
    // On httpbin3, which has no acl yet: both clients get through until the acl is in force.
    write(
      "51-acl3.yaml",
      policy("acl3", route("httpbin3"), {
        defaultAction: "allow",
        // The order does not matter: the most specific CIDR wins.
        rules: [
          { name: "hole", cidrs: [B], action: "allow" },
          { name: "loopback", cidrs: ["127.0.0.0/8", "::1"], action: "deny" },
        ],
      }),
    );
    const r = await until("client A denied by the /8", A, "httpbin3", 403);
    assert.equal(r.body, DENIED);
    const hole = await from(B, "httpbin3");
    assert.equal(hole.status, 200, `client B allowed by the hole: ${show(hole)}`);
    write(
      "51-acl3.yaml",
      policy("acl3", route("httpbin3"), {
        defaultAction: "allow",
        rules: [{ cidrs: ["10.0.0.0/8"], action: "deny" }],
      }),
    );
    await until("client A outside the denied CIDR", A, "httpbin3", 200);
    assert.equal((await from(B, "httpbin3")).status, 200);
    remove("51-acl3.yaml");
  });

  test("Gateway-level default deny with no rules: every service, every client, 403", async () => {
    remove("50-acl.yaml");
    await until("httpbin2's acl of the first case gone", A, "httpbin2", 200);
    write("55-gateway-acl.yaml", policy("gateway-acl", GATEWAY, { defaultAction: "deny" }));
    // httpbin3 denied: the Gateway's acl in force, and httpbin3's own acl of the last case gone.
    await until("httpbin3 denied", B, "httpbin3", 403);
    for (const svc of ["httpbin2", "httpbin3"] as const)
      for (const c of [A, B]) {
        const r = await from(c, svc);
        assert.equal(r.status, 403, `${c} → ${svc}: ${show(r)}`);
        assert.equal(r.body, DENIED);
      }
    // A route-level acl overrides the Gateway's on its route.
    write(
      "50-acl.yaml",
      policy("acl", route("httpbin2"), { defaultAction: "deny", rules: [{ cidrs: [A], action: "allow" }] }),
    );
    await until("httpbin2 allows A", A, "httpbin2", 200);
    assert.equal((await from(B, "httpbin2")).status, 403);
    assert.equal((await from(A, "httpbin3")).status, 403, "httpbin3 keeps the Gateway's acl");
    remove("55-gateway-acl.yaml");
    remove("50-acl.yaml");
    await until("no acl left", B, "httpbin3", 200);
  });

  test("an invalid acl fails closed: 500 and Invalid naming the field; denyResponse is PartiallyValid", async () => {
    write(
      "52-bad-acl.yaml",
      policy("bad-acl", route("httpbin3"), {
        defaultAction: "allow",
        rules: [{ cidrs: ["127.0.0.1/8"], action: "deny" }],
      }),
    );
    const r = await until("httpbin3 failing closed", B, "httpbin3", 500);
    assert.match(r.body, /security policy for this route is invalid/);
    const c = await accepted("bad-acl", "Invalid");
    assert.match(
      c.message,
      /acl\.rules\[0\]\.cidrs\[0\] \(127\.0\.0\.1\/8\): host bits set; did you mean 127\.0\.0\.0\/8\?/,
    );

    write(
      "52-bad-acl.yaml",
      policy("bad-acl", route("httpbin3"), {
        defaultAction: "deny",
        rules: [{ cidrs: [B], action: "allow" }],
        denyResponse: { statusCode: 451 },
      }),
    );
    const p = await accepted("bad-acl", "PartiallyValid");
    assert.match(p.message, /ignored: acl\.denyResponse/);
    const d = await until("A denied (Envoy's 403, not 451)", A, "httpbin3", 403);
    assert.equal(d.body, DENIED);
    assert.equal((await from(B, "httpbin3")).status, 200);
    remove("52-bad-acl.yaml");
    await until("no acl left", A, "httpbin3", 200);
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
