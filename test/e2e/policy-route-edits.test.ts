// The TrafficPolicy features that edit route entries (timeouts, retry, urlRewrite, autoHostRewrite,
// internalRedirect, statPrefix), end to end through a real Envoy: the standalone example with policy
// files written into its watched directory while it runs, each checked the way a user checks it (the
// status code and time of a slow request, a retried request reaching the healthy endpoint, the path
// the backend saw, a followed redirect, the route's stats), plus an Invalid policy's status, and that
// Envoy never NACKed.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import type { Stack } from "@waymark/devstack";
import { freePort, waitFor } from "@waymark/testing";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import type { HttpResult, RequestOptions } from "../lib/http.ts";

type Target = { kind: "HTTPRoute" | "Gateway"; name: string; sectionName?: string };
const route = (name: string): Target => ({ kind: "HTTPRoute", name });
const GATEWAY: Target = { kind: "Gateway", name: "kgateway-waypoint" };

function policyYaml(name: string, targets: Target[], spec: Record<string, unknown>): string {
  return `${JSON.stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: {
      targetRefs: targets.map((t) => ({ group: "gateway.networking.k8s.io", ...t })),
      ...spec,
    },
  })}\n`;
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

/** go-httpbin's echo of the request (/anything, /headers). */
const echo = (r: HttpResult) => JSON.parse(r.body) as { url?: string; headers: Record<string, string[]> };

describe("standalone: TrafficPolicy route edits through Envoy", { timeout: 300_000 }, () => {
  let guide: GuideStack;
  let stack: Stack;
  let dir: string;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const to = (svc: GuideService, path: string, opts?: RequestOptions) => guide.request(svc, path, opts);
  const write = (file: string, yaml: string) => writeFileSync(join(dir, file), yaml);
  const remove = (file: string) => rmSync(join(dir, file), { force: true });

  /** The TrafficPolicy's conditions on the waypoint, once its status has `generation`'s spec in it. */
  const conditions = (name: string, want: (c: Record<string, Condition>) => boolean) =>
    waitFor(`status of TrafficPolicy ${name}`, async () => {
      const st = await getJson<StatusEntry>(
        statusKv,
        objectKey({ group: "gateway.kgateway.dev", kind: "TrafficPolicy", namespace: "httpbin", name }),
      );
      const ancestors = (st?.status["ancestors"] ?? []) as Array<{ conditions: Condition[] }>;
      if (ancestors.length !== 1) return undefined;
      const c = Object.fromEntries(ancestors[0]!.conditions.map((x) => [x.type, x]));
      return want(c) ? c : undefined;
    });

  /** Time one request. */
  const timed = async (svc: GuideService, path: string) => {
    const start = performance.now();
    const r = await to(svc, path);
    return { r, ms: performance.now() - start };
  };

  const stat = async (name: string) =>
    (await stack.envoy.stats(`^${name.replaceAll(".", "\\.")}$`)).get(name) ?? 0;

  before(async () => {
    guide = await startGuideStack("e2e-route-edits");
    ({ stack, dir } = guide);
    nc = await connectBus({ servers: stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await stack?.stop();
  });

  test("timeouts: request 1s turns a 3s request into a 504; a Gateway-level one fills other routes", async () => {
    write("60-timeouts.yaml", policyYaml("timeouts", [route("httpbin2")], { timeouts: { request: "1s" } }));
    const { r, ms } = await waitFor(
      "the 1s request timeout on httpbin2",
      async () => {
        const t = await timed("httpbin2", "/delay/3");
        return t.r.status === 504 ? t : undefined;
      },
      30_000,
    );
    assert.equal(r.status, 504);
    assert.match(r.body, /upstream request timeout/);
    assert.ok(ms >= 900 && ms < 2900, `the 504 came after ${Math.round(ms)} ms, not about 1 s`);
    const quick = await to("httpbin2", "/delay/0");
    assert.equal(quick.status, 200, "a faster request is untouched");
    const { r: other, ms: otherMs } = await timed("httpbin3", "/delay/2");
    assert.equal(other.status, 200, "httpbin3 has no policy: its request may take 2s");
    assert.ok(otherMs >= 1900, `${otherMs}`);
    const c = await conditions("timeouts", (x) => x["Accepted"]?.reason === "Valid");
    assert.equal(c["Attached"]?.reason, "Attached");

    // Gateway-level: a default for every route without its own (httpbin3); httpbin2's route-level wins.
    write(
      "61-gateway-timeouts.yaml",
      policyYaml("gateway-timeouts", [GATEWAY], { timeouts: { request: "2s" } }),
    );
    const gw = await waitFor(
      "the Gateway-level 2s timeout on httpbin3",
      async () => {
        const t = await timed("httpbin3", "/delay/3");
        return t.r.status === 504 ? t : undefined;
      },
      30_000,
    );
    assert.ok(gw.ms >= 1900 && gw.ms < 2950, `the Gateway-level 504 came after ${Math.round(gw.ms)} ms`);
    const routeLevel = await timed("httpbin2", "/delay/3");
    assert.equal(routeLevel.r.status, 504);
    assert.ok(routeLevel.ms < 1900, `httpbin2 keeps its own 1s (${Math.round(routeLevel.ms)} ms)`);

    // streamIdle: the stream's idle timeout; a backend silent for 3s is cut after 1s.
    write(
      "60-timeouts.yaml",
      policyYaml("timeouts", [route("httpbin2")], { timeouts: { streamIdle: "1s" } }),
    );
    remove("61-gateway-timeouts.yaml");
    const idle = await waitFor(
      "the 1s stream idle timeout on httpbin2",
      async () => {
        const t = await timed("httpbin2", "/delay/3");
        return /stream timeout/.test(t.r.body) ? t : undefined;
      },
      30_000,
    );
    assert.equal(idle.r.status, 504, "Envoy answers a stream idle before its response with 504");
    assert.ok(idle.ms >= 900 && idle.ms < 2900, `${Math.round(idle.ms)} ms`);
    remove("60-timeouts.yaml");
    await waitFor(
      "httpbin2 without timeouts",
      async () => (await to("httpbin2", "/delay/2")).status === 200,
      30_000,
    );
  });

  test("retry: with a closed second endpoint, connect-failure retries reach the healthy one", async () => {
    // httpbin3 gets a second endpoint on a port nothing listens on: round robin sends every other
    // request there, and without a retry policy those fail.
    const closed = await freePort();
    write(
      "12-httpbin3-closed.yaml",
      `${JSON.stringify({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: "httpbin3-closed",
          namespace: "httpbin",
          labels: { "kubernetes.io/service-name": "httpbin3" },
        },
        addressType: "IPv4",
        ports: [{ name: "http", port: closed, protocol: "TCP" }],
        endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
      })}\n`,
    );
    await waitFor("the closed endpoint in Envoy", async () =>
      (await stack.envoy.admin("/clusters")).includes(`kube_httpbin_httpbin3_8000::127.0.0.1:${closed}::`),
    );
    const batch = async (n: number) => {
      const codes: number[] = [];
      for (let i = 0; i < n; i++) codes.push((await to("httpbin3", "/get")).status);
      return codes;
    };
    const before = await batch(10);
    assert.ok(
      before.filter((c) => c === 503).length >= 3,
      `without retries about half fail: ${before.join(",")}`,
    );

    const retries = "cluster.kube_httpbin_httpbin3_8000.upstream_rq_retry";
    write(
      "62-retry.yaml",
      policyYaml("retry", [route("httpbin3")], { retry: { retryOn: ["connect-failure"], attempts: 2 } }),
    );
    await waitFor("every request succeeding", async () => (await batch(6)).every((c) => c === 200), 30_000);
    const retried = await stat(retries);
    const after = await batch(20);
    assert.deepEqual(after, Array(20).fill(200), "every request reaches the healthy endpoint");
    const more = (await stat(retries)) - retried;
    assert.ok(more >= 5 && more <= 20, `about half of 20 requests were retried, Envoy counted ${more}`);

    // statusCodes: a 503 from the backend is retried `attempts` times, and the last answer returned.
    write(
      "63-retry-codes.yaml",
      policyYaml("retry-codes", [route("httpbin2")], { retry: { statusCodes: [503], attempts: 2 } }),
    );
    const codeRetries = "cluster.kube_httpbin_httpbin2_8000.upstream_rq_retry";
    await waitFor("the status-code retry on httpbin2", async () => {
      const n = await stat(codeRetries);
      await to("httpbin2", "/status/503");
      return (await stat(codeRetries)) > n;
    });
    const n0 = await stat(codeRetries);
    const r = await to("httpbin2", "/status/503");
    assert.equal(r.status, 503);
    assert.equal((await stat(codeRetries)) - n0, 2, "two retries of one request");
    const n1 = await stat(codeRetries);
    assert.equal((await to("httpbin2", "/status/500")).status, 500);
    assert.equal(await stat(codeRetries), n1, "500 is not in statusCodes");
    await conditions("retry-codes", (x) => x["Accepted"]?.reason === "Valid");

    remove("12-httpbin3-closed.yaml");
    remove("62-retry.yaml");
    remove("63-retry-codes.yaml");
    await waitFor(
      "the closed endpoint gone",
      async () => !(await stack.envoy.admin("/clusters")).includes(`127.0.0.1:${closed}::`),
    );
  });

  test("urlRewrite: pathRegex rewrites the path the backend sees, with capture groups", async () => {
    assert.equal((await to("httpbin2", "/api/v2/things")).status, 404, "go-httpbin has no /api");
    write(
      "64-url-rewrite.yaml",
      policyYaml("url-rewrite", [route("httpbin2")], {
        urlRewrite: { pathRegex: { pattern: "^/api/(v[0-9]+)/(.*)$", substitution: "/anything/\\2/\\1" } },
      }),
    );
    const r = await waitFor("the rewritten path", async () => {
      const res = await to("httpbin2", "/api/v2/things?x=1");
      return res.status === 200 ? res : undefined;
    });
    assert.equal(new URL(echo(r).url ?? "", "http://x").pathname, "/anything/things/v2");
    assert.deepEqual(echo(r).headers["App"], ["httpbin2"], "the route's own filters still apply");
    assert.equal((await to("httpbin2", "/get")).status, 200, "paths the pattern does not match are kept");
    assert.equal((await to("httpbin3", "/api/v2/things")).status, 404, "only httpbin2's route rewrites");
    remove("64-url-rewrite.yaml");
    await waitFor("no rewrite", async () => (await to("httpbin2", "/api/v2/things")).status === 404);
  });

  test("autoHostRewrite: programmed on the route; the Host stays where endpoints carry no hostname", async () => {
    write("65-auto-host.yaml", policyYaml("auto-host", [route("httpbin2")], { autoHostRewrite: true }));
    await waitFor("auto_host_rewrite in Envoy's routes", async () => {
      const dump = await stack.envoy.admin("/config_dump?resource=dynamic_route_configs");
      return /"auto_host_rewrite": true/.test(dump);
    });
    // The EndpointSlice's endpoints have no hostname, so Envoy has none to put in Host.
    const r = await to("httpbin2", "/headers");
    assert.equal(r.status, 200);
    assert.deepEqual(echo(r).headers["Host"], ["httpbin2:8000"]);
    await conditions("auto-host", (x) => x["Accepted"]?.reason === "Valid");
    remove("65-auto-host.yaml");
  });

  test("internalRedirect: Envoy follows the backend's 302 itself; other codes reach the client", async () => {
    const target = encodeURIComponent("http://httpbin3:8000/anything/redirected");
    const redirect = `/redirect-to?url=${target}&status_code=302`;
    const plain = await to("httpbin3", redirect);
    assert.equal(plain.status, 302, "no policy: the client gets the redirect");
    write(
      "66-internal-redirect.yaml",
      policyYaml("internal-redirect", [route("httpbin3")], {
        internalRedirect: { redirectResponseCodes: [302] },
      }),
    );
    const r = await waitFor("the followed redirect", async () => {
      const res = await to("httpbin3", redirect);
      return res.status === 200 ? res : undefined;
    });
    assert.equal(new URL(echo(r).url ?? "", "http://x").pathname, "/anything/redirected");
    assert.match(echo(r).headers["X-Envoy-Original-Url"]?.[0] ?? "", /\/redirect-to\?url=/);
    const other = await to("httpbin3", `/redirect-to?url=${target}&status_code=303`);
    assert.equal(other.status, 303, "303 is not in redirectResponseCodes");
    remove("66-internal-redirect.yaml");
    await waitFor(
      "redirects reach the client again",
      async () => (await to("httpbin3", redirect)).status === 302,
    );
  });

  test("statPrefix: per-route stats under the rendered prefix", async () => {
    write(
      "67-stat-prefix.yaml",
      policyYaml("stat-prefix", [route("httpbin2")], {
        statPrefix: "{{route_namespace}}.{{ route_name }}.{{rule_name}}",
      }),
    );
    // The rule is unnamed: "httpbin.httpbin2." loses its empty last segment.
    const name = (vh: string) => `vhost.${vh}.route.httpbin.httpbin2.upstream_rq_completed`;
    const found = await waitFor("the route's stats", async () => {
      await to("httpbin2", "/get");
      const stats = await stack.envoy.stats("route\\.httpbin\\.httpbin2\\.upstream_rq_completed$");
      return [...stats.entries()].find(([k, v]) => k.startsWith("vhost.") && v > 0);
    });
    const vh = found[0].slice("vhost.".length, found[0].indexOf(".route."));
    const before = await stat(name(vh));
    for (let i = 0; i < 3; i++) assert.equal((await to("httpbin2", "/get")).status, 200);
    assert.equal((await stat(name(vh))) - before, 3);
    await conditions("stat-prefix", (x) => x["Accepted"]?.reason === "Valid");
    remove("67-stat-prefix.yaml");
  });

  test("an invalid policy: Accepted False naming each field; the routes keep working; no NACK", async () => {
    write(
      "68-invalid.yaml",
      policyYaml("invalid", [GATEWAY], {
        statPrefix: "gateway",
        timeouts: { request: "1.5s" },
        retry: { retryOn: ["sometimes"] },
      }),
    );
    const c = await conditions("invalid", (x) => x["Accepted"]?.status === "False");
    assert.equal(c["Accepted"]?.reason, "Invalid");
    for (const path of ["statPrefix", "timeouts.request", "retry.retryOn[0]"])
      assert.match(c["Accepted"]?.message ?? "", new RegExp(`${path.replace(/[[\].]/g, "\\$&")}: `));
    const r = await timed("httpbin3", "/delay/2");
    assert.equal(r.r.status, 200, "nothing of the invalid policy is programmed");
    remove("68-invalid.yaml");

    for (const k of await listKeys(proxiesKv)) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {}))
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
    }
    const stats = await stack.envoy.stats("update_rejected");
    for (const [name, v] of stats) assert.equal(v, 0, `${name}`);
  });
});
