// TrafficPolicy rateLimit.local end to end through a real Envoy on the standalone example. Every bucket
// here refills once an hour, so no token comes back during the test: each case counts requests, never
// time. A case waits until Envoy holds the new route configuration (its admin config_dump shows the
// case's own fill interval), which starts a full bucket, and only then sends: maxTokens requests pass,
// the next is refused with 429 `local_rate_limited`. percentEnforced 0 refuses nothing, yet Envoy's
// stats count the requests it would have refused. A Gateway-level bucket is per service, and a route's
// `local: {}` turns it off there. Invalid policies get a status naming the field; Envoy never NACKs.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, type ProxyRecord } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { GUIDE_WAYPOINT, type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import type { HttpResult } from "../lib/http.ts";
import { policyAccepted } from "../lib/policies.ts";

type Target = { kind: "HTTPRoute" | "Gateway"; name: string };
const route = (name: string): Target => ({ kind: "HTTPRoute", name });
const GATEWAY: Target = { kind: "Gateway", name: GUIDE_WAYPOINT.name };

function policy(name: string, target: Target, spec: Record<string, unknown>): string {
  return `${JSON.stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [{ group: "gateway.networking.k8s.io", ...target }], ...spec },
  })}\n`;
}
/** A local bucket of `maxTokens` that refills after `fillSeconds` (an hour or more: never in a test). */
const bucket = (maxTokens: number, fillSeconds: number, extra: Record<string, unknown> = {}) => ({
  rateLimit: { local: { tokenBucket: { maxTokens, fillInterval: `${fillSeconds}s` }, ...extra } },
});

const STATS = "http_local_rate_limiter.http_local_rate_limit";

describe("standalone: TrafficPolicy rateLimit.local through Envoy", { timeout: 240_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const to = (svc: GuideService, path = "/get") => guide.request(svc, path);
  const write = (file: string, text: string) => writeFileSync(join(guide.dir, file), text);
  const remove = (file: string) => rmSync(join(guide.dir, file), { force: true });
  const show = (r: HttpResult) => `${r.status} ${r.body.slice(0, 200)}`;

  /** The route configurations Envoy holds, as JSON text. */
  const routeDump = () => guide.stack.envoy.admin("/config_dump?resource=dynamic_route_configs");
  /** Waits until Envoy's route configuration shows `marker` exactly `times` times. */
  const inEnvoy = (what: string, marker: string, times: number) =>
    waitFor(what, async () => ((await routeDump()).split(marker).length - 1 === times ? true : undefined));
  const fill = (seconds: number) => `"fill_interval": "${seconds}s"`;

  /** Sums Envoy's local rate limit counters (every per-route config counts under the same names). */
  const counters = async () => {
    const m = await guide.stack.envoy.stats(STATS);
    const get = (k: string) => m.get(`${STATS}.${k}`) ?? 0;
    return { ok: get("ok"), rateLimited: get("rate_limited"), enforced: get("enforced") };
  };

  const accepted = (name: string, reason: string) => policyAccepted(statusKv, name, reason);

  /** `n` requests in a row, their statuses. */
  const statuses = async (svc: GuideService, n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await to(svc)).status);
    return out;
  };

  before(async () => {
    guide = await startGuideStack("e2e-policy-local-rate-limit");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("route-level: maxTokens requests pass, the next gets 429 local_rate_limited; another route is not limited", async () => {
    write("50-rate.yaml", policy("rate", route("httpbin2"), bucket(3, 3601)));
    await inEnvoy("the bucket in Envoy", fill(3601), 1);
    const before = await counters();
    for (let i = 0; i < 3; i++) {
      const r = await to("httpbin2");
      assert.equal(r.status, 200, `request ${i + 1} of 3 is within the bucket: ${show(r)}`);
      // The bucket's state, as a client that backs off reads it.
      assert.equal(r.headers["x-ratelimit-limit"], "3", show(r));
      assert.equal(r.headers["x-ratelimit-remaining"], String(2 - i), show(r));
    }
    const refused = await to("httpbin2");
    assert.equal(refused.status, 429, show(refused));
    assert.equal(refused.body, "local_rate_limited");
    assert.equal(refused.headers["x-ratelimit-limit"], "3", show(refused));
    assert.equal(refused.headers["x-ratelimit-remaining"], "0", show(refused));
    const reset = Number(refused.headers["x-ratelimit-reset"]);
    assert.ok(Number.isInteger(reset) && reset > 0 && reset <= 3601, `x-ratelimit-reset: ${show(refused)}`);
    assert.equal((await to("httpbin2")).status, 429, "still empty: nothing refills within an hour");
    assert.deepEqual(await statuses("httpbin3", 6), [200, 200, 200, 200, 200, 200], "httpbin3 has no limit");

    const after = await counters();
    assert.equal(after.ok - before.ok, 3, "Envoy counted 3 allowed");
    assert.equal(after.rateLimited - before.rateLimited, 2, "and 2 over the limit");
    assert.equal(after.enforced - before.enforced, 2, "both enforced");
    assert.equal((await accepted("rate", "Valid")).message, "Policy accepted");
  });

  test("percentEnforced 0: never 429, yet Envoy's stats count the requests over the limit", async () => {
    write("50-rate.yaml", policy("rate", route("httpbin2"), bucket(1, 3602, { percentEnforced: 0 })));
    await inEnvoy("the shadow bucket in Envoy", fill(3602), 1);
    const before = await counters();
    assert.deepEqual(await statuses("httpbin2", 5), [200, 200, 200, 200, 200]);
    const after = await counters();
    assert.equal(after.ok - before.ok, 1, "one within the bucket");
    assert.equal(after.rateLimited - before.rateLimited, 4, "four over it, counted");
    assert.equal(after.enforced - before.enforced, 0, "none refused");
  });

  test("Gateway-level: a bucket per service; a route's local: {} turns it off there", async () => {
    write("50-rate.yaml", policy("rate", route("httpbin2"), { rateLimit: { local: {} } }));
    write("51-gateway-rate.yaml", policy("gateway-rate", GATEWAY, bucket(2, 3603)));
    // The Gateway's bucket sits on both services' virtual hosts.
    await inEnvoy("the Gateway's bucket on both services", fill(3603), 2);
    await inEnvoy("httpbin2's limit off", fill(3602), 0);
    assert.deepEqual(await statuses("httpbin3", 3), [200, 200, 429], "httpbin3: the Gateway's 2 tokens");
    assert.deepEqual(await statuses("httpbin2", 5), [200, 200, 200, 200, 200], "httpbin2: local: {}");

    // Without the route's override, httpbin2 gets a bucket of its own (httpbin3 spent its tokens).
    remove("50-rate.yaml");
    await inEnvoy("httpbin2 under the Gateway's bucket", "local_rate_limit_disabled", 0);
    assert.deepEqual(await statuses("httpbin2", 3), [200, 200, 429], "httpbin2: its own 2 tokens");
    const c = await accepted("gateway-rate", "Valid");
    assert.equal(c.message, "Policy accepted");
  });

  test("invalid policies: Invalid naming the field; a rateLimit.global beside local that cannot be programmed makes the policy Invalid", async () => {
    write(
      "52-bad.yaml",
      policy("bad-rate", route("httpbin3"), bucket(1, 1, { percentEnforced: 101 })).replace('"1s"', '"10ms"'),
    );
    const bad = await accepted("bad-rate", "Invalid");
    assert.match(bad.message, /rateLimit\.local\.percentEnforced: must be a whole number from 0 to 100/);
    assert.match(bad.message, /rateLimit\.local\.tokenBucket\.fillInterval: must be 50ms or more/);

    // rateLimit.global is a feature of its own (policy-rate-limit-global.test.ts): here its extension is missing.
    const global = { extensionRef: { name: "rls" }, descriptors: [{ entries: [{ type: "RemoteAddress" }] }] };
    write("53-global.yaml", policy("global-rate", route("httpbin3"), { rateLimit: { global } }));
    const g = await accepted("global-rate", "Invalid");
    assert.equal(
      g.message,
      "rateLimit.global.extensionRef: GatewayExtension httpbin/rls not found; create it or fix the name",
    );

    write(
      "53-global.yaml",
      policy("global-rate", route("httpbin3"), {
        rateLimit: {
          global: { ...global, extensionRef: { name: "rls-2" } },
          local: { tokenBucket: { maxTokens: 50, fillInterval: "3604s" } },
        },
      }),
    );
    const p = await waitFor("global-rate Invalid beside local", async () => {
      const c = await accepted("global-rate", "Invalid");
      return c.message.includes("httpbin/rls-2") ? c : undefined;
    });
    assert.equal(
      p.message,
      "rateLimit.global.extensionRef: GatewayExtension httpbin/rls-2 not found; create it or fix the name",
    );
    // The invalid policy changed nothing: its local bucket is not programmed, and httpbin3 stays under
    // the Gateway's bucket, which the Gateway-level case spent.
    await inEnvoy("the invalid policy's local part not programmed", fill(3604), 0);
    assert.equal((await to("httpbin3")).status, 429);
    for (const f of ["51-gateway-rate.yaml", "52-bad.yaml", "53-global.yaml"]) remove(f);
    await inEnvoy("no bucket left", "http_local_rate_limiter", 0);
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
