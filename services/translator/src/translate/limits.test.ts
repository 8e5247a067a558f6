// The translator's limits: routes per waypoint and template caps, as settings with defaults, each
// refusing with a status that names the limit, its value and the variable that changes it.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { loadCase } from "./golden-cases.ts";
import { TranslationMemo, translate } from "./index.ts";
import { DEFAULT_MAX_ROUTES_PER_WAYPOINT } from "./limits.ts";
import type { TranslationOutput, TranslatorSettings } from "./types.ts";

const base = loadCase("limits");

function conditionOf(out: TranslationOutput, kind: string, name: string, type = "Accepted") {
  const s = out.statuses.find((x) => x.ref.kind === kind && x.ref.name === name);
  assert.ok(s, `no status for ${kind} ${name}`);
  const st = s.status as {
    conditions?: Array<Record<string, unknown>>;
    parents?: Array<{ conditions: Array<Record<string, unknown>> }>;
    ancestors?: Array<{ conditions: Array<Record<string, unknown>> }>;
  };
  const conditions = st.conditions ?? st.parents?.[0]?.conditions ?? st.ancestors?.[0]?.conditions ?? [];
  return conditions.find((c) => c.type === type);
}

/** Path prefixes programmed for the waypoint. */
function programmed(out: TranslationOutput): string[] {
  return [...JSON.stringify(out.waypoints).matchAll(/"pathSeparatedPrefix":"([^"]+)"/g)].map(
    (m) => m[1] ?? "",
  );
}

function route(name: string, created: string | undefined, prefix: string): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: "l", ...(created ? { creationTimestamp: created } : {}) },
    spec: {
      parentRefs: [{ group: "", kind: "Service", name: "web" }],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: prefix } }],
          backendRefs: [{ name: "web", port: 80 }],
        },
      ],
    },
  } as KubeObject;
}

test("routes per waypoint: the default programs them all; a limit leaves out the newest", () => {
  const defaults: TranslatorSettings = { ...base.settings };
  delete defaults.maxRoutesPerWaypoint;
  delete defaults.templateLimits;
  assert.equal(DEFAULT_MAX_ROUTES_PER_WAYPOINT, 5000);
  const all = translate(base.input, defaults);
  assert.equal(conditionOf(all, "HTTPRoute", "newest")?.status, "True");
  assert.deepEqual(programmed(all).sort(), ["/middle", "/newest"]);

  const limited = translate(base.input, { ...defaults, maxRoutesPerWaypoint: 2 });
  const c = conditionOf(limited, "HTTPRoute", "newest");
  assert.equal(c?.status, "False");
  assert.equal(c?.reason, "UnsupportedValue");
  assert.equal(
    c?.message,
    "Not programmed: waypoint l/waypoint has more HTTPRoutes than its limit of 2, and this route is among the newest (by creationTimestamp, then namespace and name). Remove routes, or raise the limit with the translator's WAYMARK_MAX_ROUTES_PER_WAYPOINT",
  );
  assert.equal(conditionOf(limited, "HTTPRoute", "middle")?.status, "True");
  assert.deepEqual(programmed(limited), ["/middle"]);
});

test("routes per waypoint: ties go by name, routes without a timestamp count as newest, and an older route is never displaced", () => {
  const objects = new Map(base.input.objects);
  for (const k of [...objects.keys()]) if (k.includes(".HTTPRoute.")) objects.delete(k);
  const add = (r: KubeObject) => objects.set(`gateway_networking_k8s_io.HTTPRoute.l.${r.metadata.name}`, r);
  add(route("b", "2026-01-01T00:00:00Z", "/b"));
  add(route("a", "2026-01-01T00:00:00Z", "/a"));
  add(route("undated", undefined, "/undated"));
  const settings: TranslatorSettings = { ...base.settings, maxRoutesPerWaypoint: 1 };
  const memo = new TranslationMemo();
  let out = translate({ objects }, settings, memo);
  assert.deepEqual(programmed(out), ["/a"]);
  assert.equal(conditionOf(out, "HTTPRoute", "b")?.status, "False");
  assert.equal(conditionOf(out, "HTTPRoute", "undated")?.status, "False");
  // A newer route arrives: "a" stays, the newcomer is refused.
  add(route("0-first-by-name", "2026-06-01T00:00:00Z", "/new"));
  out = translate({ objects }, settings, memo);
  assert.deepEqual(programmed(out), ["/a"]);
  assert.equal(conditionOf(out, "HTTPRoute", "0-first-by-name")?.status, "False");
  assert.deepEqual(out, translate({ objects }, settings));
  // "a" goes: the next oldest takes its place (and the memo agrees with a fresh translation).
  objects.delete("gateway_networking_k8s_io.HTTPRoute.l.a");
  out = translate({ objects }, settings, memo);
  assert.deepEqual(programmed(out), ["/b"]);
  assert.equal(conditionOf(out, "HTTPRoute", "b")?.status, "True");
  assert.deepEqual(out, translate({ objects }, settings));
});

test("template limits: the exact TrafficPolicy status, with the default and with a setting", () => {
  const defaults: TranslatorSettings = { ...base.settings };
  delete defaults.templateLimits;
  assert.equal(
    conditionOf(translate(base.input, defaults), "TrafficPolicy", "long-template")?.status,
    "True",
  );
  const c = conditionOf(translate(base.input, base.settings), "TrafficPolicy", "long-template");
  assert.deepEqual(
    { status: c?.status, reason: c?.reason, message: c?.message },
    {
      status: "False",
      reason: "Invalid",
      message:
        "transformation.response.set[0] (x-long): line 1, column 1: template is longer than 48 characters (it has 54) (limit set by the translator's WAYMARK_TEMPLATE_MAX_LENGTH)",
    },
  );
  // The default block depth (16), exceeded by a deeply nested template.
  const objects = new Map(base.input.objects);
  const key = [...objects.keys()].find((k) => k.endsWith(".TrafficPolicy.l.long-template"));
  assert.ok(key);
  const policy = structuredClone(objects.get(key)) as KubeObject & { spec: Record<string, unknown> };
  const deep = `${"{% if true %}".repeat(17)}x${"{% endif %}".repeat(17)}`;
  policy.spec.transformation = { response: { set: [{ name: "x-deep", value: deep }] } };
  objects.set(key, policy);
  const d = conditionOf(translate({ objects }, defaults), "TrafficPolicy", "long-template");
  assert.equal(d?.status, "False");
  assert.equal(
    d?.message,
    "transformation.response.set[0] (x-deep): line 1, column 209: blocks nested more than 16 levels deep (limit set by the translator's WAYMARK_TEMPLATE_MAX_BLOCK_DEPTH)",
  );
  const raised = conditionOf(
    translate({ objects }, { ...defaults, templateLimits: { maxBlockDepth: 17 } }),
    "TrafficPolicy",
    "long-template",
  );
  assert.equal(raised?.status, "True");
});

test("routes per waypoint: a route back under the limit gets its parentRef port again (with a memo as without)", () => {
  const objects = new Map(base.input.objects);
  for (const k of [...objects.keys()]) if (k.includes(".HTTPRoute.")) objects.delete(k);
  const serviceKey = [...objects.keys()].find((k) => k.endsWith(".Service.l.web"));
  assert.ok(serviceKey);
  const web = structuredClone(objects.get(serviceKey)) as KubeObject & { spec: Record<string, unknown> };
  web.spec["ports"] = [
    { name: "http", port: 80 },
    { name: "http-alt", port: 81 },
  ];
  objects.set(serviceKey, web);
  const add = (name: string, created: string) => {
    const r = route(name, created, `/${name}`) as KubeObject & {
      spec: { parentRefs: Array<Record<string, unknown>> };
    };
    r.spec.parentRefs[0]!["port"] = 80;
    objects.set(`gateway_networking_k8s_io.HTTPRoute.l.${name}`, r);
  };
  add("a", "2026-01-01T00:00:00Z");
  add("b", "2026-02-01T00:00:00Z");
  const settings: TranslatorSettings = { ...base.settings, maxRoutesPerWaypoint: 1 };
  const memo = new TranslationMemo();
  translate({ objects }, settings, memo);
  objects.delete("gateway_networking_k8s_io.HTTPRoute.l.a");
  const out = translate({ objects }, settings, memo);
  assert.equal(conditionOf(out, "HTTPRoute", "b")?.status, "True");
  // "b" selects port 80 only: it is programmed there, and port 81 keeps its default route.
  assert.deepEqual(programmed(out), ["/b"]);
  assert.deepEqual(out, translate({ objects }, settings));
});
