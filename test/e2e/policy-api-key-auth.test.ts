// TrafficPolicy apiKeyAuth end to end through a real Envoy, with keys in Secrets of the namespace
// written into the watched directory while the guide stack runs: 401 without a key or with an
// unknown one, 200 with a key in the header, the query or a cookie, the client id header upstream,
// the key removed before upstream unless forwardCredential, a Secret edited (a new key works, a removed
// one stops), secretSelector, and a policy whose Secret is missing failing closed. The status never
// shows a key.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import { echoedHeaders, type HttpResult, type RequestOptions } from "../lib/http.ts";

const ROUTE = { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "httpbin2" };

function secret(name: string, entries: Record<string, string>, labels?: Record<string, string>): string {
  // data (base64), as the API server serves it.
  const data = Object.fromEntries(
    Object.entries(entries).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
  );
  return `${JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: "httpbin", ...(labels ? { labels } : {}) }, type: "Opaque", data })}\n`;
}
function policy(name: string, apiKeyAuth: unknown, target: Record<string, unknown> = ROUTE): string {
  return `${JSON.stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [target], apiKeyAuth },
  })}\n`;
}

describe("standalone: TrafficPolicy apiKeyAuth through Envoy", { timeout: 180_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  const to = (path: string, opts?: RequestOptions, svc: GuideService = "httpbin2") =>
    guide.request(svc, path, opts);
  const write = (file: string, text: string) => writeFileSync(join(guide.dir, file), text);
  const key = (k: string): RequestOptions => ({ headers: { "x-api-key": k } });
  const until = (what: string, path: string, opts: RequestOptions | undefined, status: number) =>
    waitFor(what, async () => {
      const r = await to(path, opts);
      return r.status === status ? r : undefined;
    });
  const show = (r: HttpResult) => `${r.status} ${r.body.slice(0, 200)}`;
  const accepted = async (name: string) => {
    const st = await getJson<StatusEntry>(
      statusKv,
      objectKey({ group: "gateway.kgateway.dev", kind: "TrafficPolicy", namespace: "httpbin", name }),
    );
    return (
      st?.status["ancestors"] as
        | Array<{ conditions: Array<{ type: string; reason: string; message: string }> }>
        | undefined
    )?.[0]?.conditions.find((c) => c.type === "Accepted");
  };

  before(async () => {
    guide = await startGuideStack("e2e-policy-api-key-auth");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("keys from a Secret: 401 without or with an unknown key; header, query and cookie sources", async () => {
    write("40-keys.yaml", secret("keys", { alice: "k-alice-123", bob: "k-bob-456" }));
    write(
      "50-api-key.yaml",
      policy("api-key", {
        secretRef: { name: "keys" },
        keySources: [{ header: "x-api-key" }, { query: "api_key" }, { cookie: "api_key" }],
        clientIdHeader: "x-client-id",
      }),
    );
    await until("the policy in force", "/headers", undefined, 401);
    assert.equal((await to("/headers", key("k-nobody"))).status, 401, "an unknown key");

    const viaHeader = await to("/headers", key("k-alice-123"));
    assert.equal(viaHeader.status, 200, show(viaHeader));
    assert.deepEqual(echoedHeaders(viaHeader)["X-Client-Id"], ["alice"], "the client is named upstream");
    assert.equal(echoedHeaders(viaHeader)["X-Api-Key"], undefined, "the key is removed before upstream");

    const viaQuery = await to("/anything?api_key=k-bob-456");
    assert.equal(viaQuery.status, 200, show(viaQuery));
    assert.deepEqual(echoedHeaders(viaQuery)["X-Client-Id"], ["bob"]);
    const viaCookie = await to("/headers", { headers: { cookie: "api_key=k-bob-456" } });
    assert.equal(viaCookie.status, 200, show(viaCookie));
    assert.equal((await to("/headers", undefined, "httpbin3")).status, 200, "another route needs no key");

    const a = await accepted("api-key");
    assert.equal(a?.reason, "Valid");
  });

  test("forwardCredential keeps the key for upstream", async () => {
    write(
      "50-api-key.yaml",
      policy("api-key", {
        secretRef: { name: "keys" },
        keySources: [{ header: "x-api-key" }],
        forwardCredential: true,
      }),
    );
    const r = await waitFor("the key forwarded", async () => {
      const res = await to("/headers", key("k-alice-123"));
      return echoedHeaders(res)["X-Api-Key"] ? res : undefined;
    });
    assert.deepEqual(echoedHeaders(r)["X-Api-Key"], ["k-alice-123"]);
  });

  test("editing the Secret: a new key works, a removed one stops", async () => {
    write("40-keys.yaml", secret("keys", { carol: "k-carol-789" }));
    await until("alice's key no longer works", "/headers", key("k-alice-123"), 401);
    const r = await to("/headers", key("k-carol-789"));
    assert.equal(r.status, 200, show(r));
  });

  test("secretSelector takes every Secret with the labels; default header api-key", async () => {
    write("41-team-a.yaml", secret("team-a", { a: "k-team-a" }, { "api-keys": "shop" }));
    write("42-team-b.yaml", secret("team-b", { b: "k-team-b" }, { "api-keys": "shop" }));
    write("50-api-key.yaml", policy("api-key", { secretSelector: { matchLabels: { "api-keys": "shop" } } }));
    await until("team a's key", "/headers", { headers: { "api-key": "k-team-a" } }, 200);
    assert.equal((await to("/headers", { headers: { "api-key": "k-team-b" } })).status, 200);
    assert.equal(
      (await to("/headers", { headers: { "api-key": "k-carol-789" } })).status,
      401,
      "not selected",
    );
  });

  test("a missing Secret fails closed: 500, Invalid naming the field, no key in the status", async () => {
    write("50-api-key.yaml", policy("api-key", { secretRef: { name: "missing" } }));
    const r = await until(
      "the route failing closed",
      "/headers",
      { headers: { "api-key": "k-team-a" } },
      500,
    );
    assert.match(r.body, /security policy for this route is invalid/);
    const c = await waitFor("Invalid status", async () => {
      const x = await accepted("api-key");
      return x?.reason === "Invalid" ? x : undefined;
    });
    assert.match(c.message, /apiKeyAuth\.secretRef: Secret httpbin\/missing not found/);
    const all = JSON.stringify(
      await getJson<StatusEntry>(
        statusKv,
        objectKey({
          group: "gateway.kgateway.dev",
          kind: "TrafficPolicy",
          namespace: "httpbin",
          name: "api-key",
        }),
      ),
    );
    for (const k of ["k-team-a", "k-team-b", "k-carol-789"])
      assert.ok(!all.includes(k), "no key in the status");
    rmSync(join(guide.dir, "50-api-key.yaml"));
    await until("no policy: no key needed", "/headers", undefined, 200);
  });
});
