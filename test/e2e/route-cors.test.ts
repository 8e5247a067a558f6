// The HTTPRoute CORS filter (Gateway API HTTPCORSFilter) end to end through a real Envoy, on the
// standalone example: the routes are rewritten with CORS filters while the stack runs and no
// TrafficPolicy is involved (the cors filter must reach the connection manager through the route
// alone), then the route's filter and a TrafficPolicy cors meet on one route (the route's own filter
// wins where it is set). The cases follow the Gateway API's HTTPRouteCORS conformance test (a gateway
// test, not in the mesh suite): preflights from allowed origins are answered by Envoy, from other
// origins they are not, simple requests get Access-Control-Allow-Origin. go-httpbin answers every
// request with CORS headers of its own, so the test routes remove those from its responses
// (ResponseHeaderModifier): what the client sees is only what Envoy's cors filter adds.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { stringify } from "yaml";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import type { HttpResult } from "../lib/http.ts";

/** go-httpbin's own CORS headers, removed from its responses by the test routes. */
const UPSTREAM_CORS = [
  "Access-Control-Allow-Origin",
  "Access-Control-Allow-Credentials",
  "Access-Control-Allow-Methods",
  "Access-Control-Allow-Headers",
  "Access-Control-Max-Age",
  "Access-Control-Expose-Headers",
];
const stripUpstream = {
  type: "ResponseHeaderModifier",
  responseHeaderModifier: { remove: UPSTREAM_CORS },
};

function routeYaml(svc: GuideService, rules: Array<Record<string, unknown>>): string {
  return stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: svc, namespace: "httpbin" },
    spec: {
      parentRefs: [{ group: "", kind: "Service", name: svc }],
      rules: rules.map((r) => ({
        ...r,
        filters: [stripUpstream, ...((r.filters as unknown[]) ?? [])],
        backendRefs: [{ name: svc, port: 8000 }],
      })),
    },
  });
}

const prefix = (value: string) => [{ path: { type: "PathPrefix", value } }];
const corsFilter = (cors: Record<string, unknown>) => ({ type: "CORS", cors });

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe("standalone: the HTTPRoute CORS filter through Envoy", { timeout: 300_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const write = (file: string, yaml: string) => writeFileSync(join(guide.dir, file), yaml);

  const preflight = (svc: GuideService, path: string, origin: string, method: string, headers?: string) =>
    guide.request(svc, path, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": method,
        ...(headers ? { "access-control-request-headers": headers } : {}),
      },
    });
  const simple = (svc: GuideService, path: string, origin: string, method = "GET") =>
    guide.request(svc, path, { method, headers: { origin } });
  /** Answered by Envoy's cors filter itself: no upstream time, as no upstream was asked. */
  const byEnvoy = (r: HttpResult) => r.headers["x-envoy-upstream-service-time"] === undefined;

  before(async () => {
    guide = await startGuideStack("e2e-route-cors");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("a CORS filter with no TrafficPolicy: preflights answered for allowed origins only", async () => {
    write(
      "30-httpbin2-route.yaml",
      routeYaml("httpbin2", [
        {
          name: "exact-and-wildcard",
          matches: prefix("/cors-1"),
          filters: [
            corsFilter({
              allowOrigins: ["https://www.foo.com", "https://*.bar.com"],
              allowMethods: ["GET", "OPTIONS"],
              allowHeaders: ["x-header-1", "x-header-2"],
              exposeHeaders: ["x-header-3", "x-header-4"],
              allowCredentials: true,
              maxAge: 3600,
            }),
          ],
        },
        {
          name: "any-origin",
          matches: prefix("/cors-any"),
          filters: [
            corsFilter({
              allowOrigins: ["*"],
              allowMethods: ["*"],
              allowHeaders: ["*"],
              allowCredentials: true,
            }),
          ],
        },
        { matches: prefix("/") },
      ]),
    );
    const ok = await waitFor("the preflight answered by Envoy", async () => {
      const r = await preflight(
        "httpbin2",
        "/cors-1",
        "https://www.foo.com",
        "GET",
        "x-header-1, x-header-2",
      );
      return byEnvoy(r) && r.headers["access-control-allow-origin"] === "https://www.foo.com" ? r : undefined;
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers["access-control-allow-methods"], "GET, OPTIONS");
    assert.equal(ok.headers["access-control-allow-headers"], "x-header-1, x-header-2");
    assert.equal(ok.headers["access-control-max-age"], "3600");
    assert.equal(ok.headers["access-control-allow-credentials"], "true");

    // `https://*.bar.com`: any number of labels before bar.com, not bar.com itself.
    for (const origin of ["https://www.bar.com", "https://xpto.www.bar.com"]) {
      const r = await preflight("httpbin2", "/cors-1", origin, "GET");
      assert.equal(r.headers["access-control-allow-origin"], origin, origin);
      assert.ok(byEnvoy(r), origin);
    }
    // Not an allowed origin: Envoy does not answer, the preflight goes on to httpbin, and the client
    // gets no Access-Control-Allow-* at all.
    for (const origin of ["https://foobar.com", "https://bar.com", "http://www.foo.com"]) {
      const r = await preflight("httpbin2", "/cors-1", origin, "GET");
      assert.ok(!byEnvoy(r), `${origin}: reached httpbin`);
      for (const h of UPSTREAM_CORS) assert.equal(r.headers[h.toLowerCase()], undefined, `${origin}: ${h}`);
    }

    // Simple requests: the allowed origin gets Access-Control-Allow-Origin (and the exposed headers),
    // another origin does not.
    const get = await simple("httpbin2", "/cors-1/get", "https://www.foo.com");
    assert.equal(get.status, 404); // httpbin has no /cors-1/get: the answer is still httpbin's
    assert.equal(get.headers["access-control-allow-origin"], "https://www.foo.com");
    assert.equal(get.headers["access-control-allow-credentials"], "true");
    assert.equal(get.headers["access-control-expose-headers"], "x-header-3, x-header-4");
    const other = await simple("httpbin2", "/cors-1/get", "https://foobar.com");
    assert.equal(other.headers["access-control-allow-origin"], undefined);

    // "*" with allowCredentials: the request's origin, method and headers are echoed, never "*".
    const any = await preflight(
      "httpbin2",
      "/cors-any",
      "https://other.foo.com",
      "PUT",
      "x-header-1, x-header-2",
    );
    assert.ok(byEnvoy(any));
    assert.equal(any.headers["access-control-allow-origin"], "https://other.foo.com");
    assert.equal(any.headers["access-control-allow-methods"], "PUT");
    assert.equal(any.headers["access-control-allow-headers"], "x-header-1, x-header-2");
    assert.equal(any.headers["access-control-allow-credentials"], "true");
    assert.equal(any.headers["access-control-max-age"], "5", "maxAge defaults to 5");
    const anyGet = await simple("httpbin2", "/cors-any/anything", "https://other.foo.com", "PUT");
    assert.ok(!byEnvoy(anyGet), "an actual request goes to httpbin");
    assert.equal(anyGet.headers["access-control-allow-origin"], "https://other.foo.com");

    // A rule without a CORS filter is left alone.
    const plain = await preflight("httpbin2", "/anything", "https://www.foo.com", "GET");
    assert.ok(!byEnvoy(plain));
    assert.equal(plain.headers["access-control-allow-origin"], undefined);
  });

  test("the route's own CORS filter wins over a TrafficPolicy cors on its rule; the policy has the others", async () => {
    write(
      "30-httpbin3-route.yaml",
      routeYaml("httpbin3", [
        {
          name: "own-cors",
          matches: prefix("/own"),
          filters: [corsFilter({ allowOrigins: ["https://route.example"], allowMethods: ["PUT"] })],
        },
        { matches: prefix("/") },
      ]),
    );
    write(
      "60-cors-policy.yaml",
      stringify({
        apiVersion: "gateway.kgateway.dev/v1alpha1",
        kind: "TrafficPolicy",
        metadata: { name: "cors", namespace: "httpbin" },
        spec: {
          targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "httpbin3" }],
          cors: { allowOrigins: ["https://policy.example"], allowMethods: ["POST"], maxAge: 60 },
        },
      }),
    );
    const policy = await waitFor("the policy's cors on the other rule", async () => {
      const r = await preflight("httpbin3", "/anything", "https://policy.example", "POST");
      return r.headers["access-control-allow-methods"] === "POST" ? r : undefined;
    });
    assert.ok(byEnvoy(policy));
    assert.equal(policy.headers["access-control-max-age"], "60");
    const own = await waitFor("the route's CORS on its rule", async () => {
      const r = await preflight("httpbin3", "/own", "https://route.example", "PUT");
      return r.headers["access-control-allow-methods"] === "PUT" ? r : undefined;
    });
    assert.ok(byEnvoy(own));
    assert.equal(own.headers["access-control-allow-origin"], "https://route.example");
    // On the route's rule the policy's origin is not allowed: the route's filter replaced the policy.
    const lost = await preflight("httpbin3", "/own", "https://policy.example", "POST");
    assert.ok(!byEnvoy(lost));
    assert.equal(lost.headers["access-control-allow-origin"], undefined);
    // And off the route's rule, the route's origin is not allowed.
    const off = await preflight("httpbin3", "/anything", "https://route.example", "PUT");
    assert.equal(off.headers["access-control-allow-origin"], undefined);
  });

  test("an invalid CORS filter: the route says why, its rule answers 500, the others work", async () => {
    write(
      "30-httpbin2-route.yaml",
      routeYaml("httpbin2", [
        {
          name: "invalid",
          matches: prefix("/cors-invalid"),
          filters: [corsFilter({ allowOrigins: ["www.foo.com"] })],
        },
        { matches: prefix("/") },
      ]),
    );
    const c = await waitFor("the route's Accepted=False", async () => {
      const s = await getJson<StatusEntry>(
        statusKv,
        objectKey({
          group: "gateway.networking.k8s.io",
          kind: "HTTPRoute",
          namespace: "httpbin",
          name: "httpbin2",
        }),
      );
      const p = (s?.status["parents"] as Array<{ conditions: Condition[] }> | undefined)?.[0];
      const a = p?.conditions.find((x) => x.type === "Accepted");
      return a?.status === "False" ? a : undefined;
    });
    assert.equal(c.reason, "UnsupportedValue");
    assert.match(
      c.message,
      /rules\[0\] \(invalid\): CORS: cors\.allowOrigins\[0\]: "www\.foo\.com" is not an origin/,
    );
    const r = await waitFor("the invalid rule answers 500", async () => {
      const res = await simple("httpbin2", "/cors-invalid", "https://www.foo.com");
      return res.status === 500 ? res : undefined;
    });
    assert.equal(r.headers["access-control-allow-origin"], undefined);
    assert.equal((await guide.request("httpbin2", "/get")).status, 200);
    // The earlier CORS rules are gone with the rewrite: nothing answers their preflights any more.
    const gone = await preflight("httpbin2", "/cors-1", "https://www.foo.com", "GET");
    assert.ok(!byEnvoy(gone));
  });

  test("Envoy never NACKed", async () => {
    for (const k of await listKeys(proxiesKv)) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {}))
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
    }
    const stats = await guide.stack.envoy.stats("update_rejected");
    for (const [name, v] of stats) assert.equal(v, 0, `${name}`);
  });
});
