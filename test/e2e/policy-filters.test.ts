// The TrafficPolicy filter features end to end through a real Envoy: headerModifiers, buffer, cors,
// faultInjection, compression and csrf on the standalone example, each written as a TrafficPolicy
// file while the stack runs and checked in the traffic a user sees (what go-httpbin echoes, what the
// client receives), plus an invalid policy's status. Envoy must never NACK.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { Bucket, createLogger, objectKey, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import type { HttpResult, RequestOptions } from "../lib/http.ts";

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

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

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

  /** The Accepted condition of a policy once it has the wanted reason. */
  const accepted = (name: string, reason: string) =>
    waitFor(`TrafficPolicy ${name} ${reason}`, async () => {
      const s = await getJson<StatusEntry>(
        statusKv,
        objectKey({ group: "gateway.kgateway.dev", kind: "TrafficPolicy", namespace: "httpbin", name }),
      );
      const a = (s?.status["ancestors"] as Array<{ conditions: Condition[] }> | undefined)?.[0];
      const c = a?.conditions.find((x) => x.type === "Accepted");
      return c?.reason === reason ? c : undefined;
    });

  /** A request read as bytes (the body as sent, e.g. still compressed). */
  const raw = (svc: GuideService, path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>(
      (resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: guide.standinPort(svc),
            path,
            headers: { host: `${svc}:8000`, "user-agent": "curl/8.7.1", accept: "*/*", ...headers },
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
        req.end();
      },
    );

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
