// TrafficPolicy rbac end to end through a real Envoy, on the standalone example: CEL expressions over
// the request attributes Envoy exposes (request.headers, request.path, request.method, source.address),
// written as TrafficPolicy files while the stack runs. Allow lets a matching request through and
// refuses every other one with 403 "RBAC: access denied"; Deny refuses a matching request; several
// expressions are ORed (as kgateway); a Gateway-level policy is in force where no route-level one is.
// An expression that does not parse, or that Envoy cannot evaluate, makes the policy Invalid (naming
// the expression and the parser's message) and its route answers 500 (fails closed). Envoy never NACKs.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, type ProxyRecord } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import type { HttpResult, RequestOptions } from "../lib/http.ts";
import { policyAccepted } from "../lib/policies.ts";

type Target = { kind: "HTTPRoute" | "Gateway"; name: string };
const route = (name: string): Target => ({ kind: "HTTPRoute", name });

function policy(name: string, target: Target, rbac: unknown): string {
  return `${JSON.stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [{ group: "gateway.networking.k8s.io", ...target }], rbac },
  })}\n`;
}

describe("standalone: TrafficPolicy rbac (CEL) through Envoy", { timeout: 240_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const to = (path: string, opts?: RequestOptions, svc: GuideService = "httpbin2") =>
    guide.request(svc, path, opts);
  const write = (file: string, text: string) => writeFileSync(join(guide.dir, file), text);
  const remove = (file: string) => rmSync(join(guide.dir, file), { force: true });
  const user = (name: string): RequestOptions => ({ headers: { "x-user": name } });
  const show = (r: HttpResult) => `${r.status} ${r.body.slice(0, 200)}`;
  /** Waits until a request gets `status` (the config it needs has reached Envoy). */
  const until = (
    what: string,
    path: string,
    opts: RequestOptions | undefined,
    status: number,
    svc?: GuideService,
  ) =>
    waitFor(what, async () => {
      const r = await to(path, opts, svc);
      return r.status === status ? r : undefined;
    });
  const denied = (r: HttpResult) => {
    assert.equal(r.status, 403, show(r));
    assert.equal(r.body, "RBAC: access denied");
  };
  const accepted = (name: string, reason: string) => policyAccepted(statusKv, name, reason);

  before(async () => {
    guide = await startGuideStack("e2e-policy-rbac");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("Allow with two expressions (ORed): alice or /anything/public pass, everyone else gets 403", async () => {
    write(
      "50-rbac.yaml",
      policy("rbac-users", route("httpbin2"), {
        action: "Allow",
        policy: {
          matchExpressions: [
            'request.headers["x-user"] == "alice"',
            'request.path.startsWith("/anything/public")',
          ],
        },
      }),
    );
    denied(await until("the Allow policy in force", "/get", undefined, 403));
    denied(await to("/get", user("bob")));
    const alice = await to("/get", user("alice"));
    assert.equal(alice.status, 200, show(alice));
    const open = await to("/anything/public/page");
    assert.equal(open.status, 200, `the second expression alone lets it through: ${show(open)}`);
    denied(await to("/anything/private", user("bob")));
    const other = await to("/get", undefined, "httpbin3");
    assert.equal(other.status, 200, `another route has no policy: ${show(other)}`);
    assert.equal((await accepted("rbac-users", "Valid")).status, "True");
  });

  test("Deny: a matching request (method, header) gets 403, any other passes", async () => {
    write(
      "50-rbac.yaml",
      policy("rbac-users", route("httpbin2"), {
        action: "Deny",
        policy: {
          matchExpressions: ['request.method == "DELETE" || request.headers["x-user"] == "mallory"'],
        },
      }),
    );
    // Under the Allow before it, a request without x-user was refused: now it passes.
    await until("the Deny policy in force", "/get", undefined, 200);
    denied(await to("/anything", { method: "DELETE" }));
    denied(await to("/get", user("mallory")));
    for (const [path, opts] of [
      ["/get", undefined],
      ["/get", user("bob")],
      ["/anything", { method: "POST", body: "x" }],
    ] as const) {
      const r = await to(path, opts);
      assert.equal(r.status, 200, `${path} ${JSON.stringify(opts)}: ${show(r)}`);
    }
  });

  test("source.address is the client's address from the PROXY header (ip:port)", async () => {
    // The stand-in connects from 127.0.0.1 and says so in its PROXY header.
    write(
      "50-rbac.yaml",
      policy("rbac-users", route("httpbin2"), {
        action: "Deny",
        policy: { matchExpressions: ['source.address.startsWith("127.0.0.1:")'] },
      }),
    );
    denied(await until("Deny for the client's address", "/get", undefined, 403));
    write(
      "50-rbac.yaml",
      policy("rbac-users", route("httpbin2"), {
        action: "Allow",
        policy: { matchExpressions: ['source.address.startsWith("127.0.0.1:") && source.port > 0'] },
      }),
    );
    const r = await until("Allow for the client's address", "/get", undefined, 200);
    assert.equal(r.status, 200);
  });

  test("a Gateway-level policy is in force on routes with no route-level rbac", async () => {
    write(
      "51-rbac-gateway.yaml",
      policy(
        "rbac-gateway",
        { kind: "Gateway", name: "kgateway-waypoint" },
        {
          action: "Deny",
          policy: { matchExpressions: ['request.headers["x-block"] == "yes"'] },
        },
      ),
    );
    denied(await until("the Gateway-level Deny", "/get", { headers: { "x-block": "yes" } }, 403, "httpbin3"));
    const passes = await to("/get", undefined, "httpbin3");
    assert.equal(passes.status, 200, show(passes));
    // httpbin2's route-level policy (Allow for the client's address) wins over the Gateway's.
    const r = await to("/get", { headers: { "x-block": "yes" } });
    assert.equal(r.status, 200, show(r));
    remove("51-rbac-gateway.yaml");
    await until(
      "the Gateway-level policy removed",
      "/get",
      { headers: { "x-block": "yes" } },
      200,
      "httpbin3",
    );
  });

  test("a bad expression: Invalid naming it with the parser's message, and the route fails closed (500)", async () => {
    write(
      "50-rbac.yaml",
      policy("rbac-users", route("httpbin2"), {
        action: "Deny",
        policy: {
          matchExpressions: ['request.headers["x-user"] == "mallory"', 'request.headers["x-user"] =='],
        },
      }),
    );
    const r = await until("the route failing closed", "/get", user("alice"), 500);
    assert.match(r.body, /security policy for this route is invalid/);
    const c = await accepted("rbac-users", "Invalid");
    assert.equal(c.status, "False");
    assert.match(
      c.message,
      /rbac\.policy\.matchExpressions\[1\]: does not parse: at 1:27: found = but expecting end of input/,
    );
    assert.doesNotMatch(c.message, /matchExpressions\[0\]/, "the good expression is not blamed");
    const other = await to("/get", undefined, "httpbin3");
    assert.equal(other.status, 200, `other routes keep working: ${show(other)}`);
    remove("50-rbac.yaml");
    await until("no policy: the route answers again", "/get", undefined, 200);
  });

  test("an expression that parses but calls what Envoy lacks is Invalid too, never sent (Envoy would NACK it)", async () => {
    write(
      "50-rbac.yaml",
      policy("rbac-users", route("httpbin2"), {
        action: "Deny",
        policy: { matchExpressions: ['request.headers["x-user"].lowerAscii() == "eve"'] },
      }),
    );
    await until("the route failing closed", "/get", user("alice"), 500);
    const c = await accepted("rbac-users", "Invalid");
    assert.match(
      c.message,
      /rbac\.policy\.matchExpressions\[0\]: function lowerAscii is not available in Envoy's CEL/,
    );
    remove("50-rbac.yaml");
    await until("no policy: the route answers again", "/get", undefined, 200);
  });

  test("an expression nested as deep as the translator sends reaches Envoy; one deeper is Invalid", async () => {
    // request.path.size() + 1 + ... > 0 is always true: _>_, then the _+_ chain, size(), .path, request.
    const nested = (depth: number) => `request.path.size()${" + 1".repeat(depth - 4)} > 0`;
    write(
      "50-rbac.yaml",
      policy("rbac-users", route("httpbin2"), { action: "Deny", policy: { matchExpressions: [nested(32)] } }),
    );
    denied(await until("the deep expression in force", "/get", undefined, 403));
    write(
      "50-rbac.yaml",
      policy("rbac-users", route("httpbin2"), { action: "Deny", policy: { matchExpressions: [nested(33)] } }),
    );
    const c = await accepted("rbac-users", "Invalid");
    assert.match(c.message, /rbac\.policy\.matchExpressions\[0\]: nested more than 32 levels deep/);
    await until("the route failing closed", "/get", undefined, 500);
    remove("50-rbac.yaml");
    await until("no policy", "/get", undefined, 200);
  });

  test("Envoy never NACKed", async () => {
    for (const k of await listKeys(proxiesKv)) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {}))
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
    }
    const stats = await guide.stack.envoy.stats("update_rejected");
    assert.ok(stats.size > 0, "Envoy's update_rejected counters are there");
    for (const [name, v] of stats) assert.equal(v, 0, `${name}`);
  });
});
