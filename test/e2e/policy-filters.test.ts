// The TrafficPolicy filter features end to end through a real Envoy: headerModifiers, buffer, cors,
// faultInjection, compression and csrf on the standalone example, each written as a TrafficPolicy
// file while the stack runs and checked in the traffic a user sees (what go-httpbin echoes, what the
// client receives), plus an invalid policy's status. Envoy must never NACK.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { Bucket, createLogger, type ProxyRecord } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import type { HttpResult, RequestOptions } from "../lib/http.ts";
import { policyAccepted } from "../lib/policies.ts";

type Target = { kind: "HTTPRoute" | "Gateway"; name: string };
const route = (name: string): Target => ({ kind: "HTTPRoute", name });

function policyYaml(name: string, target: Target, spec: Record<string, unknown>): string {
  return `${JSON.stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [{ group: "gateway.networking.k8s.io", ...target }], ...spec },
  })}\n`;
}

const echoed = (r: HttpResult) => (JSON.parse(r.body) as { headers: Record<string, string[]> }).headers;

describe("standalone: TrafficPolicy filter features through Envoy", { timeout: 300_000 }, () => {
  let guide: GuideStack;
  let dir: string;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const files: string[] = [];
  const to = (svc: GuideService, path: string, opts?: RequestOptions) => guide.request(svc, path, opts);
  const write = (file: string, yaml: string) => {
    if (!files.includes(file)) files.push(file);
    writeFileSync(join(dir, file), yaml);
  };
  const remove = (file: string) => {
    rmSync(join(dir, file), { force: true });
    files.splice(files.indexOf(file), 1);
  };

  const accepted = (name: string, reason: string) => policyAccepted(statusKv, name, reason);

  /** A request read as bytes (the body as sent, e.g. still compressed), with a body of bytes. */
  const rawPost = (
    svc: GuideService,
    path: string,
    body: Buffer | undefined,
    headers: Record<string, string>,
  ) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>(
      (resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: guide.standinPort(svc),
            path,
            method: body ? "POST" : "GET",
            headers: {
              host: `${svc}:8000`,
              "user-agent": "curl/8.7.1",
              accept: "*/*",
              ...(body ? { "content-length": String(body.length) } : {}),
              ...headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
            );
            res.on("error", reject);
          },
        );
        req.setTimeout(10_000, () => req.destroy(new Error("request timed out")));
        req.on("error", reject);
        req.end(body);
      },
    );
  const raw = (svc: GuideService, path: string, headers: Record<string, string>) =>
    rawPost(svc, path, undefined, headers);

  before(async () => {
    guide = await startGuideStack("e2e-policy-filters");
    dir = guide.dir;
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("headerModifiers: request headers httpbin sees, response headers the client sees", async () => {
    write(
      "60-headers.yaml",
      policyYaml("headers", route("httpbin2"), {
        headerModifiers: {
          request: {
            set: [{ name: "X-Set", value: "from-policy 50%" }],
            add: [{ name: "X-Added", value: "one" }],
            remove: ["X-Drop"],
          },
          response: {
            set: [{ name: "X-Policy", value: "set" }],
            add: [{ name: "X-Policy-Added", value: "added" }],
            remove: ["X-Upstream-Drop"],
          },
        },
      }),
    );
    const r = await waitFor("headerModifiers in force", async () => {
      const res = await to("httpbin2", "/response-headers?X-Upstream-Drop=1&X-Upstream-Keep=1", {
        headers: { "x-added": "zero", "x-drop": "1" },
      });
      return res.headers["x-policy"] ? res : undefined;
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-policy"], "set");
    assert.equal(r.headers["x-policy-added"], "added");
    assert.equal(r.headers["x-upstream-drop"], undefined);
    assert.equal(r.headers["x-upstream-keep"], "1");

    const h = echoed(
      await to("httpbin2", "/headers", {
        headers: { "x-set": "original", "x-added": "zero", "x-drop": "1" },
      }),
    );
    assert.deepEqual(h["X-Set"], ["from-policy 50%"], "set replaces; % is taken literally");
    // The HTTPRoute's own RequestHeaderModifier runs in the router, after the policy's filter.
    assert.deepEqual(h["User-Agent"], ["custom"]);
    assert.deepEqual(h["X-Added"], ["zero", "one"], "add appends");
    assert.equal(h["X-Drop"], undefined, "remove");
    assert.deepEqual(h["App"], ["httpbin2"], "the route's own filter still applies");

    // httpbin3 has no policy.
    const other = await to("httpbin3", "/headers", { headers: { "x-drop": "1" } });
    assert.equal(other.headers["x-policy"], undefined);
    assert.deepEqual(echoed(other)["X-Drop"], ["1"]);

    // A Gateway-level policy reaches httpbin3; on httpbin2 the route-level one wins the field.
    write(
      "61-gateway-headers.yaml",
      policyYaml(
        "gateway-headers",
        { kind: "Gateway", name: "kgateway-waypoint" },
        { headerModifiers: { response: { set: [{ name: "X-Gateway", value: "gw" }] } } },
      ),
    );
    await waitFor("Gateway-level headerModifiers on httpbin3", async () =>
      (await to("httpbin3", "/get")).headers["x-gateway"] === "gw" ? true : undefined,
    );
    const two = await to("httpbin2", "/get");
    assert.equal(two.headers["x-policy"], "set");
    assert.equal(
      two.headers["x-gateway"],
      undefined,
      "the route-level policy replaces the Gateway-level one",
    );
    remove("61-gateway-headers.yaml");

    write(
      "62-headers-invalid.yaml",
      policyYaml("headers-invalid", route("httpbin3"), {
        headerModifiers: { request: { set: [{ name: "bad name", value: "x" }] } },
      }),
    );
    const c = await accepted("headers-invalid", "Invalid");
    assert.match(
      c.message,
      /headerModifiers\.request\.set\[0\]\.name: "bad name" is not a valid header name/,
    );
    assert.equal((await to("httpbin3", "/get")).status, 200, "the route keeps working");
    remove("62-headers-invalid.yaml");
    remove("60-headers.yaml");
    await waitFor("headerModifiers gone", async () =>
      (await to("httpbin2", "/get")).headers["x-policy"] === undefined ? true : undefined,
    );
  });

  test("buffer: a body over maxRequestSize is answered 413, a smaller one goes through", async () => {
    const body = (n: number) => ({
      method: "POST",
      body: "x".repeat(n),
      headers: { "content-type": "text/plain" },
    });
    assert.equal((await to("httpbin2", "/anything", body(4096))).status, 200, "no policy yet");
    write("63-buffer.yaml", policyYaml("buffer", route("httpbin2"), { buffer: { maxRequestSize: "1Ki" } }));
    const big = await waitFor("buffer in force", async () => {
      const r = await to("httpbin2", "/anything", body(4096));
      return r.status === 413 ? r : undefined;
    });
    assert.match(big.body, /Payload Too Large/i);
    const small = await to("httpbin2", "/anything", body(1000));
    assert.equal(small.status, 200);
    assert.equal((JSON.parse(small.body) as { data: string }).data, "x".repeat(1000));
    assert.equal((await to("httpbin3", "/anything", body(4096))).status, 200, "httpbin3 has no policy");

    write(
      "64-buffer-invalid.yaml",
      policyYaml("buffer-invalid", route("httpbin3"), { buffer: { maxRequestSize: "5Gi" } }),
    );
    const c = await accepted("buffer-invalid", "Invalid");
    assert.match(c.message, /buffer\.maxRequestSize: must be greater than 0 and less than 4Gi/);
    remove("64-buffer-invalid.yaml");
    remove("63-buffer.yaml");
    await waitFor("buffer gone", async () =>
      (await to("httpbin2", "/anything", body(4096))).status === 200 ? true : undefined,
    );
  });

  test("cors: a preflight from an allowed origin is answered by Envoy, other origins are not", async () => {
    write(
      "65-cors.yaml",
      policyYaml("cors", route("httpbin2"), {
        cors: {
          allowOrigins: ["https://app.example.com", "https://*.example.org"],
          allowMethods: ["GET", "POST"],
          allowHeaders: ["X-Custom"],
          exposeHeaders: ["X-Exposed"],
          maxAge: 600,
        },
      }),
    );
    const preflight = (origin: string) =>
      to("httpbin2", "/anything", {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "x-custom",
        },
      });
    const ok = await waitFor("the preflight answered by Envoy", async () => {
      const r = await preflight("https://app.example.com");
      return r.headers["access-control-allow-methods"] === "GET, POST" ? r : undefined;
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers["access-control-allow-origin"], "https://app.example.com");
    assert.equal(ok.headers["access-control-allow-headers"], "X-Custom");
    assert.equal(ok.headers["access-control-max-age"], "600");
    assert.equal(ok.headers["x-envoy-upstream-service-time"], undefined, "answered without httpbin");
    const wild = await preflight("https://deep.sub.example.org");
    assert.equal(wild.headers["access-control-allow-origin"], "https://deep.sub.example.org");
    assert.equal(wild.headers["access-control-allow-methods"], "GET, POST");

    // Not an allowed origin: Envoy does not answer; the preflight reaches httpbin (which has CORS
    // headers of its own, but not the policy's).
    for (const origin of ["https://evil.example", "https://example.org"]) {
      const no = await preflight(origin);
      assert.notEqual(no.headers["access-control-allow-methods"], "GET, POST", origin);
      assert.notEqual(no.headers["access-control-max-age"], "600", origin);
    }
    // An actual request from an allowed origin gets the exposed headers.
    const get = await to("httpbin2", "/get", { headers: { origin: "https://app.example.com" } });
    assert.equal(get.status, 200);
    assert.equal(get.headers["access-control-expose-headers"], "X-Exposed");
    assert.equal(get.headers["access-control-allow-origin"], "https://app.example.com");

    write(
      "66-cors-invalid.yaml",
      policyYaml("cors-invalid", route("httpbin3"), { cors: { allowOrigins: ["example.com"] } }),
    );
    const c = await accepted("cors-invalid", "Invalid");
    assert.match(c.message, /cors\.allowOrigins\[0\]: "example\.com" is not an origin/);
    remove("66-cors-invalid.yaml");
    remove("65-cors.yaml");
    await waitFor("cors gone", async () =>
      (await preflight("https://app.example.com")).headers["access-control-max-age"] !== "600"
        ? true
        : undefined,
    );
  });

  test("faultInjection: an abort's status is what the client gets; a delay delays", async () => {
    write(
      "67-fault.yaml",
      policyYaml("fault", route("httpbin2"), { faultInjection: { abort: { httpStatus: 418 } } }),
    );
    const r = await waitFor("abort in force", async () => {
      const res = await to("httpbin2", "/get");
      return res.status === 418 ? res : undefined;
    });
    assert.match(r.body, /fault filter abort/);
    assert.equal((await to("httpbin3", "/get")).status, 200, "httpbin3 has no policy");

    write(
      "67-fault.yaml",
      policyYaml("fault", route("httpbin2"), { faultInjection: { delay: { fixedDelay: "1500ms" } } }),
    );
    await waitFor("delay in force", async () =>
      (await to("httpbin2", "/get")).status === 200 ? true : undefined,
    );
    const started = performance.now();
    const delayed = await to("httpbin2", "/get");
    const took = performance.now() - started;
    assert.equal(delayed.status, 200);
    assert.ok(took >= 1400, `a 1.5s delay, took ${Math.round(took)}ms`);
    const quickStart = performance.now();
    await to("httpbin3", "/get");
    assert.ok(performance.now() - quickStart < 1400, "httpbin3 is not delayed");

    write(
      "67-fault.yaml",
      policyYaml("fault", route("httpbin2"), { faultInjection: { abort: { grpcStatus: 14 } } }),
    );
    const g = await waitFor("gRPC abort in force", async () => {
      const res = await to("httpbin2", "/get", { headers: { "content-type": "application/grpc" } });
      return res.headers["grpc-status"] !== undefined ? res : undefined;
    });
    assert.equal(g.headers["grpc-status"], "14");

    write(
      "68-fault-invalid.yaml",
      policyYaml("fault-invalid", route("httpbin3"), {
        faultInjection: { delay: { fixedDelay: "2h" }, abort: { httpStatus: 700 } },
      }),
    );
    const c = await accepted("fault-invalid", "Invalid");
    assert.match(c.message, /faultInjection\.delay\.fixedDelay: must be at least 1ms and at most 1h/);
    assert.match(c.message, /faultInjection\.abort\.httpStatus: must be a whole number from 200 to 599/);
    remove("68-fault-invalid.yaml");
    remove("67-fault.yaml");
    await waitFor("fault gone", async () =>
      (await to("httpbin2", "/get")).status === 200 ? true : undefined,
    );
  });

  test("compression: Accept-Encoding gzip gives a gzip body that decodes; gzip request bodies are decompressed", async () => {
    write(
      "69-compression.yaml",
      policyYaml("compression", route("httpbin2"), {
        compression: { responseCompression: { libraries: ["Gzip", "Brotli"] }, requestDecompression: {} },
      }),
    );
    const r = await waitFor("compression in force", async () => {
      const res = await raw("httpbin2", "/html", { "accept-encoding": "gzip" });
      return res.headers["content-encoding"] === "gzip" ? res : undefined;
    });
    assert.equal(r.status, 200);
    assert.match(gunzipSync(r.body).toString("utf8"), /Herman Melville/);
    const br = await raw("httpbin2", "/html", { "accept-encoding": "br" });
    assert.equal(br.headers["content-encoding"], "br");
    const plain = await raw("httpbin2", "/html", {});
    assert.equal(plain.headers["content-encoding"], undefined, "no Accept-Encoding, no compression");
    assert.match(plain.body.toString("utf8"), /Herman Melville/);
    const other = await raw("httpbin3", "/html", { "accept-encoding": "gzip" });
    assert.equal(other.headers["content-encoding"], undefined, "httpbin3 has no policy");

    const zipped = gzipSync(Buffer.from("hello, decompressed"));
    const echo = await rawPost("httpbin2", "/anything", zipped, {
      "content-encoding": "gzip",
      "content-type": "text/plain",
    });
    assert.equal(echo.status, 200);
    assert.equal((JSON.parse(echo.body.toString("utf8")) as { data: string }).data, "hello, decompressed");

    write(
      "70-compression-invalid.yaml",
      policyYaml("compression-invalid", route("httpbin3"), {
        compression: { responseCompression: { libraries: ["Lz4"] } },
      }),
    );
    const c = await accepted("compression-invalid", "Invalid");
    assert.match(
      c.message,
      /compression\.responseCompression\.libraries\[0\]: "Lz4" is not one of Gzip, Brotli, Zstd/,
    );
    remove("70-compression-invalid.yaml");
    remove("69-compression.yaml");
    await waitFor("compression gone", async () =>
      (await raw("httpbin2", "/html", { "accept-encoding": "gzip" })).headers["content-encoding"] ===
      undefined
        ? true
        : undefined,
    );
  });

  test("csrf: a POST from a foreign origin is refused, its own and additional origins pass", async () => {
    const post = (origin: string) =>
      to("httpbin2", "/anything", {
        method: "POST",
        body: "x",
        headers: { origin, "content-type": "text/plain" },
      });
    assert.equal((await post("https://evil.example")).status, 200, "no policy yet");
    write(
      "71-csrf.yaml",
      policyYaml("csrf", route("httpbin2"), {
        csrf: { percentageEnabled: 100, additionalOrigins: [{ suffix: ".trusted.example" }] },
      }),
    );
    const r = await waitFor("csrf in force", async () => {
      const res = await post("https://evil.example");
      return res.status === 403 ? res : undefined;
    });
    assert.match(r.body, /Invalid origin/);
    assert.equal((await post("http://httpbin2:8000")).status, 200, "the request's own origin");
    assert.equal((await post("https://app.trusted.example")).status, 200, "an additional origin");
    const get = await to("httpbin2", "/get", { headers: { origin: "https://evil.example" } });
    assert.equal(get.status, 200, "a GET is not checked");

    write("71-csrf.yaml", policyYaml("csrf", route("httpbin2"), { csrf: { percentageShadowed: 100 } }));
    await waitFor("csrf shadowed only", async () =>
      (await post("https://evil.example")).status === 200 ? true : undefined,
    );

    write(
      "72-csrf-invalid.yaml",
      policyYaml("csrf-invalid", route("httpbin3"), {
        csrf: { percentageEnabled: 50, percentageShadowed: 50 },
      }),
    );
    const c = await accepted("csrf-invalid", "Invalid");
    assert.match(c.message, /csrf: set at most one of percentageEnabled and percentageShadowed/);
    remove("72-csrf-invalid.yaml");
    remove("71-csrf.yaml");
  });

  test("Envoy never NACKed", async () => {
    for (const f of [...files]) remove(f);
    for (const k of await listKeys(proxiesKv)) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {})) {
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
      }
    }
    const stats = await guide.stack.envoy.stats("update_rejected");
    for (const [name, v] of stats) assert.equal(v, 0, `${name}`);
  });
});
