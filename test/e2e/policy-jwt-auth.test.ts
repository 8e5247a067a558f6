// TrafficPolicy jwtAuth end to end through a real Envoy: a GatewayExtension of kind JWT with two
// providers, one with an inline JWKS and one whose JWKS Envoy fetches from a Service (an
// EndpointSlice pointing at a local JWKS server), written into the watched directory while the guide
// stack runs. Checks 401 without or with a bad token, 200 with either provider's token, the claim
// copied to a header upstream, a Gateway-level policy and a route-level `disable`, and that a policy
// naming a missing extension fails closed (500, status Invalid naming the field) instead of letting
// requests through unchecked.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { createIssuer, type JwksServer, startJwksServer, type TestIssuer, waitFor } from "@waymark/testing";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import { echoedHeaders, type HttpResult, type RequestOptions } from "../lib/http.ts";

const GW = "gateway.networking.k8s.io";

function doc(
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  apiVersion = "gateway.kgateway.dev/v1alpha1",
) {
  return `${JSON.stringify({ apiVersion, kind, metadata: { name, namespace: "httpbin" }, spec })}\n`;
}
const trafficPolicy = (name: string, target: Record<string, unknown>, jwtAuth: unknown) =>
  doc("TrafficPolicy", name, { targetRefs: [{ group: GW, ...target }], jwtAuth });
const bearer = (t: string): RequestOptions => ({ headers: { authorization: `Bearer ${t}` } });

describe("standalone: TrafficPolicy jwtAuth (GatewayExtension JWT) through Envoy", {
  timeout: 180_000,
}, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let jwks: JwksServer;
  let inline: TestIssuer;
  let remote: TestIssuer;
  let stranger: TestIssuer;

  const to = (svc: GuideService, path = "/headers", opts?: RequestOptions) => guide.request(svc, path, opts);
  const write = (file: string, text: string) => writeFileSync(join(guide.dir, file), text);
  const untilStatus = (what: string, svc: GuideService, status: number, opts?: RequestOptions) =>
    waitFor(what, async () => {
      const r = await to(svc, "/headers", opts);
      return r.status === status ? r : undefined;
    });
  const show = (r: HttpResult) => `${r.status} ${r.body.slice(0, 200)}`;

  before(async () => {
    inline = await createIssuer("https://inline.issuer.test", "RS256", "inline-1");
    remote = await createIssuer("https://remote.issuer.test", "ES256", "remote-1");
    stranger = await createIssuer(inline.issuer, "RS256", inline.kid);
    jwks = await startJwksServer({ remote });
    guide = await startGuideStack("e2e-policy-jwt-auth");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    // The JWKS server as a Service of the namespace (no waypoint label: nothing routes to it).
    write(
      "40-jwks.yaml",
      [
        doc("Service", "jwks", { clusterIP: "10.96.0.40", ports: [{ name: "http", port: 8080 }] }, "v1"),
        `${JSON.stringify({
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: {
            name: "jwks-local",
            namespace: "httpbin",
            labels: { "kubernetes.io/service-name": "jwks" },
          },
          addressType: "IPv4",
          ports: [{ name: "http", port: jwks.port }],
          endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
        })}\n`,
      ].join("---\n"),
    );
    write(
      "41-extension.yaml",
      doc("GatewayExtension", "jwt", {
        type: "JWT",
        jwt: {
          providers: [
            {
              name: "inline",
              issuer: inline.issuer,
              claimsToHeaders: [{ name: "sub", header: "x-jwt-sub" }],
              jwks: { local: { inline: JSON.stringify(inline.jwks) } },
            },
            {
              name: "remote",
              issuer: remote.issuer,
              jwks: {
                remote: {
                  url: `http://jwks.httpbin.svc.cluster.local:8080/remote/jwks.json`,
                  backendRef: { name: "jwks", port: 8080 },
                },
              },
            },
          ],
        },
      }),
    );
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
    await jwks?.stop();
  });

  test("a route-level policy: 401 without a valid token, 200 with either provider's", async () => {
    assert.equal((await to("httpbin2")).status, 200, "no policy yet");
    write(
      "50-jwt.yaml",
      trafficPolicy("jwt", { kind: "HTTPRoute", name: "httpbin2" }, { extensionRef: { name: "jwt" } }),
    );
    const missing = await untilStatus("the policy in force (401 without a token)", "httpbin2", 401);
    assert.match(missing.body, /Jwt is missing/);

    const ok = await to("httpbin2", "/headers", bearer(await inline.sign({ sub: "alice" })));
    assert.equal(ok.status, 200, show(ok));
    assert.deepEqual(echoedHeaders(ok)["X-Jwt-Sub"], ["alice"], "the claim is copied to a header upstream");
    assert.equal(
      echoedHeaders(ok)["Authorization"],
      undefined,
      "the token is not forwarded (forwardToken unset)",
    );

    const viaRemote = await waitFor("the remote JWKS fetched", async () => {
      const r = await to("httpbin2", "/headers", bearer(await remote.sign()));
      return r.status === 200 ? r : undefined;
    });
    assert.equal(viaRemote.status, 200);
    assert.ok((jwks.fetches.get("/remote/jwks.json") ?? 0) > 0, "Envoy fetched the JWKS through the Service");

    const forged = await to("httpbin2", "/headers", bearer(await stranger.sign()));
    assert.equal(forged.status, 401, `a token signed by another key: ${show(forged)}`);
    const expired = await to("httpbin2", "/headers", bearer(await inline.sign({}, { expired: true })));
    assert.equal(expired.status, 401, show(expired));
    assert.equal((await to("httpbin3")).status, 200, "another route is not checked");

    const st = await getJson<StatusEntry>(
      statusKv,
      objectKey({ group: "gateway.kgateway.dev", kind: "TrafficPolicy", namespace: "httpbin", name: "jwt" }),
    );
    const accepted = (
      st?.status["ancestors"] as Array<{ conditions: Array<{ type: string; reason: string }> }> | undefined
    )?.[0]?.conditions.find((c) => c.type === "Accepted");
    assert.equal(accepted?.reason, "Valid");
  });

  test("a Gateway-level policy covers every route; a route-level disable turns it off there", async () => {
    write(
      "51-gw-jwt.yaml",
      trafficPolicy(
        "gw-jwt",
        { kind: "Gateway", name: "kgateway-waypoint" },
        { extensionRef: { name: "jwt" } },
      ),
    );
    await untilStatus("the Gateway-level policy on httpbin3", "httpbin3", 401);
    const ok = await to("httpbin3", "/headers", bearer(await inline.sign()));
    assert.equal(ok.status, 200, show(ok));
    write("52-off.yaml", trafficPolicy("off", { kind: "HTTPRoute", name: "httpbin3" }, { disable: {} }));
    await untilStatus("httpbin3 unchecked again", "httpbin3", 200);
    assert.equal((await to("httpbin2")).status, 401, "httpbin2 still needs a token");
    rmSync(join(guide.dir, "51-gw-jwt.yaml"));
    rmSync(join(guide.dir, "52-off.yaml"));
  });

  test("a policy naming a missing GatewayExtension fails closed: 500 and Invalid naming the field", async () => {
    write(
      "50-jwt.yaml",
      trafficPolicy("jwt", { kind: "HTTPRoute", name: "httpbin2" }, { extensionRef: { name: "nope" } }),
    );
    const r = await untilStatus("the route failing closed", "httpbin2", 500);
    assert.match(r.body, /security policy for this route is invalid/);
    const withToken = await to("httpbin2", "/headers", bearer(await inline.sign()));
    assert.equal(withToken.status, 500, "no token gets through an unprogrammable policy");
    const c = await waitFor("Invalid status", async () => {
      const st = await getJson<StatusEntry>(
        statusKv,
        objectKey({
          group: "gateway.kgateway.dev",
          kind: "TrafficPolicy",
          namespace: "httpbin",
          name: "jwt",
        }),
      );
      const a = (
        st?.status["ancestors"] as Array<{
          conditions: Array<{ type: string; reason: string; message: string }>;
        }>
      )?.[0]?.conditions.find((x) => x.type === "Accepted");
      return a?.reason === "Invalid" ? a : undefined;
    });
    assert.match(c.message, /jwtAuth\.extensionRef: GatewayExtension httpbin\/nope not found/);
    assert.equal((await to("httpbin3")).status, 200, "other routes keep working");
  });

  test("removing the policy: no token needed again", async () => {
    rmSync(join(guide.dir, "50-jwt.yaml"));
    await untilStatus("httpbin2 unchecked", "httpbin2", 200);
  });
});
