// Issue 13, every AuthorizationPolicy field through a real Envoy: from.source, to.operation, the
// not* forms and the `when` keys, each as an ALLOW policy (only the listed requests pass) and then
// the very same rules as a DENY policy (exactly those requests are denied). Requests go to the
// guide's waypoint behind PROXY v2 headers of the test's choosing (identity, source address, VIP), so
// the identity, ipBlocks and destination cases need no second stand-in. The stack trusts one
// X-Forwarded-For hop (remoteIpBlocks) and has a trust-domain alias.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger } from "@waymark/api";
import { connectBus, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import {
  CLIENT_IDENTITY,
  type ProxiedRequest,
  proxiedRequest,
  verdict,
  type Waypoint,
} from "../lib/authz-client.ts";
import { applyPolicies, assertNoNack, authorizationPolicy } from "../lib/authz-policy.ts";
import { type GuideStack, randomLoopback, startGuideStack } from "../lib/guide-stack.ts";

const VIP = { httpbin2: "10.96.0.12", httpbin3: "10.96.0.13" } as const;
const ALIAS = "old-td.example";

/** A request to a guide service, by default from the stand-in's identity at 127.0.0.1. */
type Req = Partial<ProxiedRequest> & { svc?: keyof typeof VIP };

interface Case {
  name: string;
  rules: unknown[];
  /** With these rules as ALLOW, exactly these pass (and as DENY, exactly these are denied). */
  match: Req[];
  noMatch: Req[];
}

const other = (sa: string, ns = "httpbin", td = "cluster.local") => `spiffe://${td}/ns/${ns}/sa/${sa}`;
const source = (s: Record<string, unknown>) => [{ from: [{ source: s }] }];
const operation = (o: Record<string, unknown>) => [{ to: [{ operation: o }] }];
const when = (key: string, values: string[], notValues?: string[]) => [
  { when: [{ key, ...(values.length ? { values } : {}), ...(notValues ? { notValues } : {}) }] },
];

const CASES: Case[] = [
  {
    name: "principals: the stand-in's identity (exact), a trust-domain alias matches too",
    rules: source({ principals: ["cluster.local/ns/httpbin/sa/client"] }),
    match: [{}, { identity: other("client", "httpbin", ALIAS) }],
    noMatch: [
      { identity: other("server") },
      { identity: null },
      { identity: other("client", "httpbin", "foreign.td") },
    ],
  },
  {
    name: "principals: * needs an identity; prefix* and *suffix",
    rules: [
      { from: [{ source: { principals: ["*"] } }], to: [{ operation: { paths: ["/get"] } }] },
      { from: [{ source: { principals: ["cluster.local/ns/team-*"] } }] },
      { from: [{ source: { principals: ["*/sa/robot"] } }] },
    ],
    match: [
      {},
      { identity: other("x") },
      { identity: other("a", "team-blue"), path: "/headers" },
      { identity: other("robot", "z"), path: "/headers" },
    ],
    noMatch: [{ identity: null }, { path: "/headers" }, { identity: other("robot2", "z"), path: "/headers" }],
  },
  {
    name: "notPrincipals",
    rules: source({ notPrincipals: ["cluster.local/ns/httpbin/sa/client"] }),
    match: [{ identity: other("server") }, { identity: null }],
    noMatch: [{}],
  },
  {
    name: "namespaces and notNamespaces",
    rules: source({ namespaces: ["httpbin", "prod-*"], notNamespaces: ["prod-secret"] }),
    match: [{}, { identity: other("a", "prod-eu") }],
    noMatch: [
      { identity: other("a", "default") },
      { identity: other("a", "prod-secret") },
      { identity: null },
    ],
  },
  {
    name: "ipBlocks: the PROXY source address, whatever X-Forwarded-For says",
    rules: source({ ipBlocks: ["10.1.0.0/16", "10.9.9.9"] }),
    match: [
      { source: "10.1.2.3" },
      { source: "10.9.9.9" },
      { source: "10.1.0.1", headers: { "x-forwarded-for": "8.8.8.8" } },
    ],
    noMatch: [{}, { source: "10.2.0.1" }, { headers: { "x-forwarded-for": "10.1.2.3" } }],
  },
  {
    name: "notIpBlocks",
    rules: source({ notIpBlocks: ["10.1.0.0/16"] }),
    match: [{}, { source: "10.2.0.1" }],
    noMatch: [{ source: "10.1.2.3" }],
  },
  {
    name: "remoteIpBlocks: X-Forwarded-For (one trusted hop), else the PROXY source",
    rules: source({ remoteIpBlocks: ["192.0.2.0/24"] }),
    match: [{ headers: { "x-forwarded-for": "192.0.2.7" } }, { source: "192.0.2.8" }],
    noMatch: [{}, { source: "192.0.2.8", headers: { "x-forwarded-for": "198.51.100.1" } }],
  },
  {
    name: "notRemoteIpBlocks",
    rules: source({ notRemoteIpBlocks: ["192.0.2.0/24"] }),
    match: [{}, { headers: { "x-forwarded-for": "198.51.100.1" } }],
    noMatch: [{ headers: { "x-forwarded-for": "192.0.2.7" } }],
  },
  {
    name: "hosts: the whole authority with its port, case-insensitive; prefix*",
    rules: operation({ hosts: ["httpbin2:8000", "httpbin3.*"] }),
    match: [{}, { host: "HttpBin2:8000" }, { svc: "httpbin3", host: "httpbin3.httpbin.svc:8000" }],
    noMatch: [{ host: "httpbin2" }, { svc: "httpbin3" }, { host: "httpbin2:8001" }],
  },
  {
    name: "notHosts",
    rules: operation({ notHosts: ["httpbin2:8000"] }),
    match: [{ svc: "httpbin3" }],
    noMatch: [{}, { host: "HTTPBIN2:8000" }],
  },
  {
    name: "ports and notPorts (the service port, from the PROXY destination)",
    rules: [
      { to: [{ operation: { ports: ["8000"], paths: ["/get"] } }] },
      { to: [{ operation: { notPorts: ["8000"] } }] },
    ],
    match: [{}, { svc: "httpbin3" }],
    noMatch: [{ path: "/headers" }],
  },
  {
    name: "methods (case-sensitive) and notMethods",
    rules: [
      { to: [{ operation: { methods: ["GET", "HEAD"] } }] },
      { to: [{ operation: { notMethods: ["DELETE", "PUT", "GET", "HEAD"], paths: ["/anything/open"] } }] },
    ],
    match: [{}, { method: "HEAD" }, { method: "POST", path: "/anything/open" }],
    noMatch: [
      { method: "POST", path: "/anything" },
      { method: "DELETE", path: "/anything/open" },
      { method: "PUT", path: "/anything" },
    ],
  },
  {
    name: "paths: exact (query ignored), prefix*, *suffix",
    rules: operation({ paths: ["/get", "/anything/pre*", "*/suf"] }),
    match: [{}, { path: "/get?x=1" }, { path: "/anything/prefix/more" }, { path: "/anything/a/suf" }],
    noMatch: [{ path: "/headers" }, { path: "/anything/pr" }, { path: "/anything/a/suf/x" }],
  },
  {
    name: "paths: {*} is one segment, {**} any rest",
    rules: operation({ paths: ["/anything/{*}/one", "/anything/deep/{**}"] }),
    match: [{ path: "/anything/x/one" }, { path: "/anything/deep/a/b/c" }],
    noMatch: [{ path: "/anything/x/y/one" }, { path: "/anything/one" }, {}],
  },
  {
    name: "notPaths",
    rules: operation({ notPaths: ["/anything/*"] }),
    match: [{}, { path: "/headers" }],
    noMatch: [{ path: "/anything/x" }],
  },
  {
    name: "when request.headers[...]: exact, prefix*, * present, notValues",
    rules: [
      ...when("request.headers[x-team]", ["blue", "green-*"], ["green-old"]),
      ...when("request.headers[x-any]", ["*"]),
    ],
    match: [
      { headers: { "x-team": "blue" } },
      { headers: { "x-team": "green-new" } },
      { headers: { "x-any": "1" } },
    ],
    noMatch: [
      {},
      { headers: { "x-team": "Blue" } },
      { headers: { "x-team": "green-old" } },
      { headers: { "x-other": "blue" } },
    ],
  },
  {
    name: "when source.ip and remote.ip",
    rules: [...when("source.ip", ["10.3.0.0/16"]), ...when("remote.ip", ["203.0.113.0/24"])],
    match: [{ source: "10.3.1.1" }, { headers: { "x-forwarded-for": "203.0.113.5" } }],
    noMatch: [{}, { headers: { "x-forwarded-for": "10.3.1.1" } }],
  },
  {
    name: "when source.namespace and source.principal",
    rules: [
      ...when("source.namespace", ["payments"]),
      ...when("source.principal", [], ["cluster.local/ns/httpbin/sa/client"]),
    ],
    match: [{ identity: other("a", "payments") }, { identity: other("a", "batch") }],
    noMatch: [{}],
  },
  {
    name: "when destination.ip and destination.port",
    rules: [
      {
        when: [
          { key: "destination.ip", values: ["10.96.0.12/32"] },
          { key: "destination.port", values: ["8000"] },
        ],
      },
    ],
    match: [{}, { path: "/headers" }],
    noMatch: [{ svc: "httpbin3" }],
  },
];

describe("standalone: every AuthorizationPolicy field through Envoy", { timeout: 600_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let proxiesKv: KV;
  let waypoint: Waypoint;

  const send = (r: Req = {}) => {
    const svc = r.svc ?? "httpbin2";
    const { svc: _svc, ...rest } = r;
    return proxiedRequest(waypoint, { vip: VIP[svc], port: 8000, host: `${svc}:8000`, ...rest });
  };
  const apply = (objects: unknown[]) =>
    applyPolicies(guide.stack.envoy, guide.dir, "60-fields.yaml", objects);
  const describeReq = (r: Req) => JSON.stringify(r);

  before(async () => {
    const bindAddress = randomLoopback();
    guide = await startGuideStack("e2e-authz-fields", {
      bindAddress,
      serviceEnv: { WAYMARK_XFF_TRUSTED_HOPS: "1", WAYMARK_TRUST_DOMAIN_ALIASES: ALIAS },
    });
    waypoint = { host: bindAddress, port: 15088 };
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("with no policy every request passes, with or without identity", async () => {
    for (const r of CASES.flatMap((c) => [...c.match, ...c.noMatch])) {
      assert.equal(verdict(await send(r)), "allow", describeReq(r));
    }
    const viaStandin = await guide.request("httpbin2", "/get", { headers: { connection: "close" } });
    assert.equal(viaStandin.status, 200);
  });

  for (const c of CASES) {
    test(`${c.name}: as ALLOW, then as DENY`, async () => {
      await apply([authorizationPolicy("fields", { action: "ALLOW", rules: c.rules })]);
      for (const r of c.match)
        assert.equal(verdict(await send(r)), "allow", `ALLOW, should pass: ${describeReq(r)}`);
      for (const r of c.noMatch) {
        const res = await send(r);
        assert.equal(res.status, 403, `ALLOW, should be denied: ${describeReq(r)}`);
        assert.equal(res.body, "RBAC: access denied");
      }
      await apply([authorizationPolicy("fields", { action: "DENY", rules: c.rules })]);
      for (const r of c.match)
        assert.equal(verdict(await send(r)), "deny", `DENY, should be denied: ${describeReq(r)}`);
      for (const r of c.noMatch)
        assert.equal(verdict(await send(r)), "allow", `DENY, should pass: ${describeReq(r)}`);
    });
  }

  test("the stand-in's own connection carries the identity principals match", async () => {
    await apply([
      authorizationPolicy("fields", { rules: source({ principals: [CLIENT_IDENTITY.slice(9)] }) }),
    ]);
    const r = await guide.request("httpbin2", "/get", { headers: { connection: "close" } });
    assert.equal(r.status, 200);
    await apply([
      authorizationPolicy("fields", { rules: source({ notPrincipals: [CLIENT_IDENTITY.slice(9)] }) }),
    ]);
    const denied = await guide.request("httpbin3", "/get", { headers: { connection: "close" } });
    assert.equal(denied.status, 403);
    assert.equal(denied.body, "RBAC: access denied");
  });

  test("Envoy never NACKed", async () => {
    await assertNoNack(proxiesKv);
    for (const [name, v] of await guide.stack.envoy.stats("update_rejected")) assert.equal(v, 0, name);
  });
});
