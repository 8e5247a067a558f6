// TrafficPolicy attachment observed in traffic through a real Envoy: a Gateway-level policy on the
// waypoint, a route-level one, a rule-level one (sectionName), two route-level ones told apart by
// kgateway.dev/policy-weight, and targetSelectors. Each policy sets the response header x-level to
// its own name (a transformation), so the header says which one is in force for a request. Statuses
// are read from the status bucket as the watcher would write them: the Gateway-level policy says
// where it is overridden, the lighter policy that it is overridden.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { type GuideService, type GuideStack, startGuideStack } from "../lib/guide-stack.ts";

type Target = Record<string, unknown>;

function policy(name: string, target: { refs?: Target[]; selectors?: Target[] }, weight?: number): string {
  return `${JSON.stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: {
      name,
      namespace: "httpbin",
      ...(weight === undefined ? {} : { annotations: { "kgateway.dev/policy-weight": String(weight) } }),
    },
    spec: {
      ...(target.refs ? { targetRefs: target.refs } : {}),
      ...(target.selectors ? { targetSelectors: target.selectors } : {}),
      transformation: { response: { set: [{ name: "x-level", value: name }] } },
    },
  })}\n`;
}

const GW = "gateway.networking.k8s.io";
const route = (name: string, sectionName?: string): Target => ({
  group: GW,
  kind: "HTTPRoute",
  name,
  ...(sectionName ? { sectionName } : {}),
});

/** httpbin3's route with two named rules: /anything ("anything") and the rest ("rest"). */
function httpbin3Route(): string {
  return `${JSON.stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "httpbin3", namespace: "httpbin" },
    spec: {
      parentRefs: [{ name: "httpbin3", kind: "Service", group: "" }],
      rules: [
        {
          name: "anything",
          matches: [{ path: { type: "PathPrefix", value: "/anything" } }],
          backendRefs: [{ name: "httpbin3", port: 8000 }],
        },
        {
          name: "rest",
          matches: [{ path: { type: "PathPrefix", value: "/" } }],
          backendRefs: [{ name: "httpbin3", port: 8000 }],
        },
      ],
    },
  })}\n`;
}

/** httpbin2's route, with labels (targetSelectors select on them). */
function httpbin2Route(labels: Record<string, string>): string {
  return `${JSON.stringify({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "httpbin2", namespace: "httpbin", labels },
    spec: {
      parentRefs: [{ name: "httpbin2", kind: "Service", group: "" }],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: "/" } }],
          backendRefs: [{ name: "httpbin2", port: 8000 }],
        },
      ],
    },
  })}\n`;
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe("standalone: TrafficPolicy attachment and precedence in traffic", { timeout: 180_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;

  before(async () => {
    guide = await startGuideStack("e2e-policy-attachment");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    writeFileSync(join(guide.dir, "30-httpbin3-route.yaml"), httpbin3Route());
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  const write = (file: string, text: string) => writeFileSync(join(guide.dir, file), text);
  const level = async (svc: GuideService, path: string) => {
    const r = await guide.request(svc, path);
    assert.equal(r.status, 200, `${svc}${path}`);
    return r.headers["x-level"];
  };
  /** Waits until every (service, path) answers with its expected x-level (undefined: none). */
  const expectLevels = (what: string, want: Array<[GuideService, string, string | undefined]>) =>
    waitFor(what, async () => {
      for (const [svc, path, expected] of want) if ((await level(svc, path)) !== expected) return undefined;
      return true;
    });
  const attached = (name: string) =>
    waitFor(`status of ${name}`, async () => {
      const s = await getJson<StatusEntry>(
        statusKv,
        objectKey({ group: "gateway.kgateway.dev", kind: "TrafficPolicy", namespace: "httpbin", name }),
      );
      const a = (s?.status["ancestors"] as Array<{ conditions: Condition[] }> | undefined)?.[0];
      return a?.conditions.find((c) => c.type === "Attached");
    });

  test("a Gateway-level policy is in force on every route of the waypoint", async () => {
    write(
      "60-gw.yaml",
      policy("gateway", { refs: [{ group: GW, kind: "Gateway", name: "kgateway-waypoint" }] }),
    );
    await expectLevels("the Gateway-level policy", [
      ["httpbin2", "/headers", "gateway"],
      ["httpbin3", "/headers", "gateway"],
      ["httpbin3", "/anything", "gateway"],
    ]);
    const c = await attached("gateway");
    assert.equal(c.reason, "Attached");
  });

  test("route-level beats Gateway-level; the Gateway-level status names the route it lost", async () => {
    write("61-route.yaml", policy("route", { refs: [route("httpbin3")] }));
    await expectLevels("the route-level policy on httpbin3 only", [
      ["httpbin3", "/headers", "route"],
      ["httpbin3", "/anything", "route"],
      ["httpbin2", "/headers", "gateway"],
    ]);
    const c = await waitFor("the Gateway-level policy says Merged", async () => {
      const x = await attached("gateway");
      return x.reason === "Merged" ? x : undefined;
    });
    assert.equal(c.status, "True");
    assert.match(c.message, /overridden on HTTPRoute httpbin\/httpbin3 by TrafficPolicy httpbin\/route/);
  });

  test("rule-level (sectionName) beats route-level on its rule only", async () => {
    write("62-rule.yaml", policy("rule", { refs: [route("httpbin3", "anything")] }));
    await expectLevels("the rule-level policy on /anything", [
      ["httpbin3", "/anything", "rule"],
      ["httpbin3", "/headers", "route"],
      ["httpbin2", "/headers", "gateway"],
    ]);
    const c = await waitFor("the route-level policy overridden on the rule", async () => {
      const x = await attached("route");
      return x.reason === "Merged" ? x : undefined;
    });
    assert.match(
      c.message,
      /overridden on HTTPRoute httpbin\/httpbin3 rule anything by TrafficPolicy httpbin\/rule/,
    );
  });

  test("at one level the heavier kgateway.dev/policy-weight wins, whatever the names", async () => {
    // "a-light" sorts first by name; its weight is lower, so "z-heavy" wins.
    write("63-light.yaml", policy("a-light", { refs: [route("httpbin2")] }, 1));
    write("64-heavy.yaml", policy("z-heavy", { refs: [route("httpbin2")] }, 10));
    await expectLevels("the heavier policy on httpbin2", [["httpbin2", "/headers", "z-heavy"]]);
    const c = await waitFor("the lighter policy says Overridden", async () => {
      const x = await attached("a-light");
      return x.reason === "Overridden" ? x : undefined;
    });
    assert.equal(c.status, "False");
    assert.match(c.message, /by TrafficPolicy httpbin\/z-heavy/);
    // The weights swapped: the other one wins.
    write("63-light.yaml", policy("a-light", { refs: [route("httpbin2")] }, 100));
    await expectLevels("the now heavier a-light", [["httpbin2", "/headers", "a-light"]]);
    rmSync(join(guide.dir, "63-light.yaml"));
    rmSync(join(guide.dir, "64-heavy.yaml"));
    await expectLevels("back to the Gateway-level policy", [["httpbin2", "/headers", "gateway"]]);
  });

  test("targetSelectors follow the route's labels", async () => {
    write(
      "65-selected.yaml",
      policy("selected", { selectors: [{ group: GW, kind: "HTTPRoute", matchLabels: { tier: "gold" } }] }),
    );
    write("30-httpbin2-route.yaml", httpbin2Route({ tier: "gold" }));
    await expectLevels("the selector policy on the labelled route", [
      ["httpbin2", "/headers", "selected"],
      ["httpbin3", "/headers", "route"],
    ]);
    write("30-httpbin2-route.yaml", httpbin2Route({ tier: "silver" }));
    await expectLevels("the label changed: the Gateway-level policy again", [
      ["httpbin2", "/headers", "gateway"],
    ]);
  });

  test("removing the Gateway-level policy leaves routes without one untouched", async () => {
    rmSync(join(guide.dir, "60-gw.yaml"));
    await expectLevels("no Gateway-level policy", [
      ["httpbin2", "/headers", undefined],
      ["httpbin3", "/headers", "route"],
      ["httpbin3", "/anything", "rule"],
    ]);
  });
});
