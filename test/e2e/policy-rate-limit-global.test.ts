// TrafficPolicy rateLimit.global end to end: TWO Envoy replicas of one waypoint ask the same real rate
// limit service (github.com/envoyproxy/ratelimit, backed by a real Redis) through a RateLimit
// GatewayExtension whose Service points (EndpointSlice) at the service on this machine. Each request is
// a connection of its own, which the kernel hands to either Envoy (they share the listener address
// with SO_REUSEPORT); both Envoys' own stats show they asked the service. The budget is per value of
// the x-user header (the descriptor), N requests a day: the N requests pass whichever Envoy serves
// them, with x-ratelimit-remaining counting down across both, and the next is refused with 429. Each
// case uses fresh header values, so no case depends on another's counts. The service SIGKILLed
// mid-run: with failOpen (kgateway's default) requests pass; with failOpen: false Envoy answers 500;
// restarted, it limits again (Redis kept the counts). Invalid policies and extensions get a status
// naming the field; Envoy never NACKs.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { type EnvoyProc, waitFor } from "@waymark/testing";
import { type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import type { HttpResult } from "../lib/http.ts";
import { type RateLimitServer, startRateLimitServer } from "../lib/ratelimit.ts";

const GW = "gateway.networking.k8s.io";
const DOMAIN = "waymark-e2e";
/** Requests a day per x-user value. */
const N = 16;
/** The rate limit service's own configuration (its runtime directory). */
const LIMITS = `domain: ${DOMAIN}
descriptors:
  - key: x-user
    rate_limit:
      unit: day
      requests_per_unit: ${N}
`;

function doc(
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  apiVersion = "gateway.kgateway.dev/v1alpha1",
) {
  return `${JSON.stringify({ apiVersion, kind, metadata: { name, namespace: "httpbin" }, spec })}\n`;
}
const extension = (name: string, rateLimit: Record<string, unknown>) =>
  doc("GatewayExtension", name, { type: "RateLimit", rateLimit });
const policy = (name: string, route: string, global: Record<string, unknown>) =>
  doc("TrafficPolicy", name, {
    targetRefs: [{ group: GW, kind: "HTTPRoute", name: route }],
    rateLimit: { global },
  });
const byUser = { descriptors: [{ entries: [{ type: "Header", header: "x-user" }] }] };

interface Condition {
  type: string;
  reason: string;
  message: string;
}

describe("standalone: TrafficPolicy rateLimit.global (GatewayExtension RateLimit) through two Envoys", {
  timeout: 300_000,
}, () => {
  let guide: GuideStack;
  let rls: RateLimitServer;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  let envoys: EnvoyProc[];
  let run = 0;
  /** A header value no earlier request used: a fresh budget of N. */
  const freshUser = () => `user-${process.pid}-${Date.now()}-${++run}`;
  const write = (file: string, text: string) => writeFileSync(join(guide.dir, file), text);
  const remove = (file: string) => rmSync(join(guide.dir, file), { force: true });
  const show = (r: HttpResult) => `${r.status} ${r.body.slice(0, 200)}`;
  /** One request on a connection of its own (so either Envoy may take it). */
  const asUser = (user: string | undefined, svc: "httpbin2" | "httpbin3" = "httpbin2") =>
    guide.request(svc, "/get", {
      headers: { connection: "close", ...(user === undefined ? {} : { "x-user": user }) },
    });

  /** Waits until every Envoy's config dump of `resource` contains `marker` (or, with absent, does not). */
  const inEveryEnvoy = (what: string, resource: string, marker: string, present = true) =>
    waitFor(
      what,
      async () => {
        for (const e of envoys)
          if ((await e.admin(`/config_dump?resource=${resource}`)).includes(marker) !== present) return false;
        return true;
      },
      30_000,
    );

  /** Each Envoy's rate limit filter counters (summed over clusters): ok, over_limit, error, failure_mode_allowed. */
  const counters = async () =>
    Promise.all(
      envoys.map(async (e) => {
        const m = await e.stats("ratelimit.");
        const sum = (k: string) =>
          [...m].filter(([name]) => name.endsWith(`.ratelimit.${k}`)).reduce((a, [, v]) => a + v, 0);
        return {
          ok: sum("ok"),
          overLimit: sum("over_limit"),
          error: sum("error"),
          failureModeAllowed: sum("failure_mode_allowed"),
        };
      }),
    );

  const status = async (kind: string, name: string) =>
    getJson<StatusEntry>(
      statusKv,
      objectKey({ group: "gateway.kgateway.dev", kind, namespace: "httpbin", name }),
    );
  const policyAccepted = (name: string, reason: string) =>
    waitFor(`TrafficPolicy ${name} ${reason}`, async () => {
      const s = await status("TrafficPolicy", name);
      const a = (s?.status["ancestors"] as Array<{ conditions: Condition[] }> | undefined)?.[0];
      const c = a?.conditions.find((x) => x.type === "Accepted");
      return c?.reason === reason ? c : undefined;
    });
  const extensionAccepted = (name: string, reason: string) =>
    waitFor(`GatewayExtension ${name} ${reason}`, async () => {
      const s = await status("GatewayExtension", name);
      const c = (s?.status["conditions"] as Condition[] | undefined)?.find((x) => x.type === "Accepted");
      return c?.reason === reason ? c : undefined;
    });

  before(async () => {
    guide = await startGuideStack("e2e-policy-rate-limit-global", { envoys: 2 });
    envoys = guide.stack.envoys;
    console.log(`logs: ${guide.logDir}`);
    rls = await startRateLimitServer({ logDir: guide.logDir, config: LIMITS });
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    // The rate limit service as a gRPC Service of the namespace (no waypoint label: nothing routes to it).
    write(
      "40-ratelimit.yaml",
      [
        doc(
          "Service",
          "ratelimit",
          { clusterIP: "10.96.0.40", ports: [{ name: "grpc", port: 8081, appProtocol: "grpc" }] },
          "v1",
        ),
        `${JSON.stringify({
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: {
            name: "ratelimit-local",
            namespace: "httpbin",
            labels: { "kubernetes.io/service-name": "ratelimit" },
          },
          addressType: "IPv4",
          ports: [{ name: "grpc", port: rls.grpcPort }],
          endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
        })}\n`,
      ].join("---\n"),
    );
    write(
      "41-extension.yaml",
      extension("rls", {
        domain: DOMAIN,
        grpcService: { backendRef: { name: "ratelimit", port: 8081 } },
        xRateLimitHeaders: "DraftVersion03",
        // Room for a loaded machine; the service answers in well under a millisecond here.
        timeout: "2s",
      }),
    );
    write("42-policy.yaml", policy("global", "httpbin2", { extensionRef: { name: "rls" }, ...byUser }));
    await inEveryEnvoy("the ratelimit filter in both Envoys", "dynamic_listeners", `"domain": "${DOMAIN}"`);
    await inEveryEnvoy(
      "the descriptors on httpbin2's route in both Envoys",
      "dynamic_route_configs",
      '"descriptor_key": "x-user"',
    );
  });

  after(async () => {
    await nc?.close();
    await rls?.stop();
    await guide?.stop();
  });

  test(`the limit is shared by both Envoys: ${N} requests pass, counted down across them; the next gets 429`, async () => {
    assert.equal((await policyAccepted("global", "Valid")).message, "Policy accepted");
    assert.equal((await extensionAccepted("rls", "Accepted")).message, "RateLimit extension accepted");
    const user = freshUser();
    const before = await counters();
    for (let i = 0; i < N; i++) {
      const r = await asUser(user);
      assert.equal(r.status, 200, `request ${i + 1} of ${N} is within the budget: ${show(r)}`);
      // The service's count, whichever Envoy asked: one budget for the waypoint.
      assert.equal(r.headers["x-ratelimit-remaining"], String(N - 1 - i), show(r));
      assert.match(String(r.headers["x-ratelimit-limit"]), new RegExp(`^${N}(, ${N};w=86400)?$`), show(r));
    }
    const refused = await asUser(user);
    assert.equal(refused.status, 429, show(refused));
    assert.equal(refused.headers["x-envoy-ratelimited"], "true", show(refused));
    assert.equal(refused.headers["x-ratelimit-remaining"], "0", show(refused));
    assert.equal((await asUser(user)).status, 429, "still over: the budget is a day's");

    const after = await counters();
    const ok = after.map((a, i) => a.ok - before[i]!.ok);
    const over = after.map((a, i) => a.overLimit - before[i]!.overLimit);
    assert.equal(
      ok.reduce((a, b) => a + b, 0),
      N,
      `the Envoys asked the service ${N} times within the limit (per Envoy: ${ok.join(", ")})`,
    );
    assert.equal(
      over.reduce((a, b) => a + b, 0),
      2,
      "and twice over it",
    );
    // Both replicas served some (the chance that one took all N: 2^-(N-1)), yet the (N+1)th was refused.
    assert.ok(
      ok.every((n) => n > 0),
      `both Envoys took requests within the budget: ${ok.join(", ")}`,
    );
  });

  test("different header values have separate budgets; a request without the header is not limited", async () => {
    const spent = freshUser();
    for (let i = 0; i < N; i++) assert.equal((await asUser(spent)).status, 200);
    assert.equal((await asUser(spent)).status, 429);
    const other = await asUser(freshUser());
    assert.equal(other.status, 200, show(other));
    assert.equal(other.headers["x-ratelimit-remaining"], String(N - 1), "a budget of its own");
    // No x-user: no descriptor, so Envoy does not ask and sends no x-ratelimit headers.
    const anon = await asUser(undefined);
    assert.equal(anon.status, 200, show(anon));
    assert.equal(anon.headers["x-ratelimit-remaining"], undefined, show(anon));
    // httpbin3 has no policy.
    const spentOn3 = await asUser(spent, "httpbin3");
    assert.equal(spentOn3.status, 200, show(spentOn3));
  });

  test("the service SIGKILLed: failOpen lets requests through, failOpen: false answers 500; restarted, it limits again", async () => {
    const spent = freshUser();
    for (let i = 0; i < N; i++) assert.equal((await asUser(spent)).status, 200);
    assert.equal((await asUser(spent)).status, 429);

    await rls.kill();
    const before = await counters();
    // kgateway's default (failOpen true, Envoy's failure_mode_deny false): the limit is not applied.
    for (let i = 0; i < 4; i++) {
      const r = await asUser(spent);
      assert.equal(r.status, 200, `service down, failOpen: ${show(r)}`);
    }
    const during = await counters();
    const allowed = during.reduce((a, c, i) => a + c.failureModeAllowed - before[i]!.failureModeAllowed, 0);
    assert.equal(allowed, 4, "Envoy counted each request let through because the service failed");

    // failOpen: false (Envoy's failure_mode_deny): the service down refuses every limited request.
    write(
      "41-extension.yaml",
      extension("rls", {
        domain: DOMAIN,
        grpcService: { backendRef: { name: "ratelimit", port: 8081 } },
        xRateLimitHeaders: "DraftVersion03",
        timeout: "2s",
        failOpen: false,
      }),
    );
    await inEveryEnvoy("failure_mode_deny in both Envoys", "dynamic_listeners", '"failure_mode_deny": true');
    for (let i = 0; i < 4; i++) {
      const r = await asUser(freshUser());
      assert.equal(r.status, 500, `service down, failOpen false: ${show(r)}`);
    }
    // Requests without a descriptor never ask the service: they pass.
    assert.equal((await asUser(undefined)).status, 200);

    await rls.start();
    // Envoy reconnects by itself; the spent budget is still in Redis.
    const back = await waitFor("the spent user refused again", async () => {
      const r = await asUser(spent);
      return r.status === 429 ? r : undefined;
    });
    assert.equal(back.headers["x-ratelimit-remaining"], "0", show(back));
    const fresh = await asUser(freshUser());
    assert.equal(fresh.status, 200, show(fresh));
    assert.equal(fresh.headers["x-ratelimit-remaining"], String(N - 1), show(fresh));
  });

  test("Invalid: a missing extension, one of another type, an extension without its Service", async () => {
    write("50-missing.yaml", policy("missing", "httpbin3", { extensionRef: { name: "nope" }, ...byUser }));
    const missing = await policyAccepted("missing", "Invalid");
    assert.equal(
      missing.message,
      "rateLimit.global.extensionRef: GatewayExtension httpbin/nope not found; create it or fix the name",
    );

    write(
      "51-authz.yaml",
      doc("GatewayExtension", "authz", {
        type: "ExtAuth",
        extAuth: { grpcService: { backendRef: { name: "ratelimit", port: 8081 } } },
      }),
    );
    write(
      "52-wrong-type.yaml",
      policy("wrong-type", "httpbin3", { extensionRef: { name: "authz" }, ...byUser }),
    );
    const wrong = await policyAccepted("wrong-type", "Invalid");
    assert.match(
      wrong.message,
      /^rateLimit\.global\.extensionRef: GatewayExtension httpbin\/authz is of type ExtAuth, not RateLimit/,
    );

    write(
      "53-gone.yaml",
      extension("gone", {
        domain: DOMAIN,
        grpcService: { backendRef: { name: "no-such-service", port: 8081 } },
      }),
    );
    const gone = await extensionAccepted("gone", "BackendNotFound");
    assert.match(gone.message, /^rateLimit\.grpcService\.backendRef: Service no-such-service not found/);
    write(
      "54-uses-gone.yaml",
      policy("uses-gone", "httpbin3", { extensionRef: { name: "gone" }, ...byUser }),
    );
    const usesGone = await policyAccepted("uses-gone", "Invalid");
    assert.match(usesGone.message, /GatewayExtension httpbin\/gone is not valid \(see its status\)/);

    // None of them is programmed: httpbin3 stays unlimited, and Envoy holds no limit for it.
    const user = freshUser();
    for (let i = 0; i < N + 2; i++) assert.equal((await asUser(user, "httpbin3")).status, 200);
    for (const f of [
      "50-missing.yaml",
      "51-authz.yaml",
      "52-wrong-type.yaml",
      "53-gone.yaml",
      "54-uses-gone.yaml",
    ])
      remove(f);
  });

  test("the policy removed: no ratelimit filter left; Envoy never NACKed", async () => {
    remove("42-policy.yaml");
    await inEveryEnvoy("no ratelimit filter", "dynamic_listeners", "waymark.rate_limit/", false);
    const user = freshUser();
    for (let i = 0; i < N + 2; i++) assert.equal((await asUser(user)).status, 200);

    for (const k of await listKeys(proxiesKv)) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {}))
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
    }
    for (const e of envoys) {
      const stats = await e.stats("update_rejected");
      for (const [name, v] of stats) assert.equal(v, 0, `${e.proc.name} ${name}`);
    }
  });
});
