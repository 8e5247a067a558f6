// TrafficPolicy tracing end to end through a real Envoy, on the standalone example. kgateway v2.4's
// TrafficPolicy tracing holds only the per-route parts (sampling percentages, attributes as custom
// tags); the tracing provider lives on the listener in kgateway (HTTPListenerPolicy / ListenerPolicy)
// and in the translator's WAYMARK_WAYPOINT_TRACING in Waymark, which this stack leaves unset: the
// waypoint's connection managers have no tracing block and Envoy records no spans for any route
// (policy-tracing-jaeger.test.ts sets the provider and reads the spans in Jaeger). What is checked
// here is what Envoy holds without a provider: its config_dump shows
// each route entry carrying the policy's sampling and tags (and none once the policy is gone), the
// configuration is accepted (the running config is the new one, no NACK, no rejected update), and
// traffic still flows. Invalid policies (a bad field; a Gateway target, which kgateway's CRD refuses
// for tracing) have statuses naming the field and program nothing.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, type ProxyRecord } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { waitFor } from "@waymark/testing";
import { stringify } from "yaml";
import { type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import { policyAccepted } from "../lib/policies.ts";

type Obj = Record<string, unknown>;

function policyYaml(name: string, target: { kind: string; name: string }, tracing: Obj): string {
  return stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [{ group: "gateway.networking.k8s.io", ...target }], tracing },
  });
}

/** Envoy's route entries by name, from its config_dump (snake_case, as Envoy prints it). */
function routesOf(dump: string): Map<string, Obj> {
  const out = new Map<string, Obj>();
  const configs = (JSON.parse(dump) as { configs: Obj[] }).configs;
  // With ?resource=dynamic_route_configs each config is one DynamicRouteConfig.
  for (const d of configs)
    if (d.route_config)
      for (const vh of ((d.route_config as Obj).virtual_hosts as Obj[] | undefined) ?? [])
        for (const r of (vh.routes as Obj[] | undefined) ?? []) out.set(String(r.name), r);
  return out;
}

describe("standalone: TrafficPolicy tracing through Envoy", { timeout: 300_000 }, () => {
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const write = (file: string, yaml: string) => writeFileSync(join(guide.dir, file), yaml);
  const remove = (file: string) => rmSync(join(guide.dir, file), { force: true });
  const routes = async () =>
    routesOf(await guide.stack.envoy.admin("/config_dump?resource=dynamic_route_configs"));
  const HTTPBIN2 = "httpbin/httpbin2/rule0/match0";
  const HTTPBIN3 = "httpbin/httpbin3/rule0/match0";

  const accepted = (name: string, reason: string) => policyAccepted(statusKv, name, reason);

  before(async () => {
    guide = await startGuideStack("e2e-policy-tracing");
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
  });

  test("route-level sampling and attributes on Envoy's routes, each route its own policy's", async () => {
    const before = await routes();
    assert.ok(before.has(HTTPBIN2) && before.has(HTTPBIN3), [...before.keys()].join());
    assert.equal(before.get(HTTPBIN2)?.tracing, undefined, "no tracing before the policy");
    write(
      "60-tracing.yaml",
      policyYaml(
        "tracing",
        { kind: "HTTPRoute", name: "httpbin2" },
        {
          clientSampling: 100,
          randomSampling: 50,
          overallSampling: 80,
          attributes: [
            { name: "team", literal: { value: "payments" } },
            { name: "tenant", requestHeader: { name: "x-tenant", defaultValue: "none" } },
            { name: "node", environment: { name: "HOSTNAME", defaultValue: "unknown" } },
            {
              name: "owner",
              metadata: { kind: "Route", metadataKey: { key: "waymark", path: [{ key: "owner" }] } },
            },
          ],
        },
      ),
    );
    write(
      "61-tracing-httpbin3.yaml",
      policyYaml("tracing-httpbin3", { kind: "HTTPRoute", name: "httpbin3" }, { randomSampling: 10 }),
    );
    const r = await waitFor("both policies' tracing in Envoy's routes", async () => {
      const all = await routes();
      return all.get(HTTPBIN2)?.tracing && all.get(HTTPBIN3)?.tracing ? all : undefined;
    });
    // Envoy leaves out the default denominator (HUNDRED) when it prints a FractionalPercent.
    assert.deepEqual(r.get(HTTPBIN2)?.tracing, {
      client_sampling: { numerator: 100 },
      random_sampling: { numerator: 50 },
      overall_sampling: { numerator: 80 },
      custom_tags: [
        { tag: "team", literal: { value: "payments" } },
        { tag: "tenant", request_header: { name: "x-tenant", default_value: "none" } },
        { tag: "node", environment: { name: "HOSTNAME", default_value: "unknown" } },
        {
          tag: "owner",
          metadata: { kind: { route: {} }, metadata_key: { key: "waymark", path: [{ key: "owner" }] } },
        },
      ],
    });
    // httpbin3's policy is on httpbin3's route only.
    assert.deepEqual(r.get(HTTPBIN3)?.tracing, { random_sampling: { numerator: 10 } });
    await accepted("tracing", "Valid");
    await accepted("tracing-httpbin3", "Valid");

    // Accepted by Envoy: the route configuration the xds-server last sent is ACKed (and config_dump
    // above is Envoy's running configuration, which holds only what it accepted).
    const rec = await waitFor("the RDS push ACKed", async () => {
      for (const k of await listKeys(proxiesKv)) {
        const p = await getJson<ProxyRecord>(proxiesKv, k);
        const rds = Object.entries(p?.types ?? {}).find(([t]) => t.endsWith("RouteConfiguration"))?.[1];
        if (rds?.ackedVersion && rds.ackedVersion === rds.sentVersion && !rds.nackedVersion) return rds;
      }
      return undefined;
    });
    assert.equal(rec.nackedVersion, undefined);
    const rejected = await guide.stack.envoy.stats("rds");
    for (const [name, v] of rejected) if (name.endsWith("update_rejected")) assert.equal(v, 0, name);

    // What cannot be seen: the connection managers have no tracing block (no provider), so Envoy
    // makes no sampling decision and records no span; requests flow as before.
    const listeners = await guide.stack.envoy.admin("/config_dump?resource=dynamic_listeners");
    assert.match(listeners, /envoy\.filters\.network\.http_connection_manager/);
    assert.doesNotMatch(listeners, /"tracing"/, "no tracing provider on the waypoint");
    const ok = await guide.request("httpbin2", "/get", {
      headers: { "x-client-trace-id": "abc", "x-tenant": "t1" },
    });
    assert.equal(ok.status, 200);
  });

  test("an invalid policy names its fields and programs nothing; removing the policies clears the routes", async () => {
    write(
      "62-tracing-invalid.yaml",
      policyYaml(
        "tracing-invalid",
        { kind: "HTTPRoute", name: "httpbin3" },
        {
          clientSampling: 150,
          attributes: [{ name: "both", literal: { value: "x" }, requestHeader: { name: "y" } }],
        },
      ),
    );
    const c = await accepted("tracing-invalid", "Invalid");
    assert.match(c.message, /tracing\.clientSampling: must be a whole number from 0 to 100/);
    assert.match(
      c.message,
      /tracing\.attributes\[0\]: set exactly one of literal, environment, requestHeader, metadata/,
    );
    // A Gateway target: Invalid, as kgateway's CRD has it.
    write(
      "63-tracing-gateway.yaml",
      policyYaml("tracing-gateway", { kind: "Gateway", name: "kgateway-waypoint" }, { overallSampling: 1 }),
    );
    const g = await accepted("tracing-gateway", "Invalid");
    assert.match(g.message, /tracing: can only be used when every target is HTTPRoute or GRPCRoute/);
    // httpbin3 keeps its own policy's tracing: the invalid ones put nothing there.
    assert.deepEqual((await routes()).get(HTTPBIN3)?.tracing, { random_sampling: { numerator: 10 } });

    remove("63-tracing-gateway.yaml");
    remove("62-tracing-invalid.yaml");
    remove("61-tracing-httpbin3.yaml");
    remove("60-tracing.yaml");
    await waitFor("no tracing left on Envoy's routes", async () => {
      const all = await routes();
      return all.size > 0 && [...all.values()].every((r) => r.tracing === undefined) ? true : undefined;
    });
    assert.equal((await guide.request("httpbin3", "/get")).status, 200);
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
