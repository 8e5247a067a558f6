// The binding of Istio policies to waypoint chains, the filters placed on each chain, and the
// policies' status, through translate() on small hand-written worlds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type KubeObject, objectKey, refOf } from "@waymark/api";
import { TypeUrl } from "@waymark/envoy-proto";
import fc from "fast-check";
import { encodingProblems } from "../golden-cases.ts";
import { translate } from "../index.ts";
import { isRecord } from "../input/guards.ts";
import type { TranslationOutput, TranslatorSettings } from "../types.ts";
import { parseGoBool, readTargetRefs } from "./binding.ts";
import type { AuthzProblem, BoundPolicy } from "./contract.ts";
import { buildGuarded, FAIL_CLOSED_HTTP_FILTER } from "./stage.ts";

const SETTINGS: TranslatorSettings = {
  controllerName: "waymark.dev/waymark",
  waypointClassName: "kgateway-waypoint",
  bindAddress: "127.0.0.1",
};
const GW = { group: "gateway.networking.k8s.io", kind: "Gateway", name: "waypoint" };

function gateway(namespace: string, name = "waypoint"): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { namespace, name },
    spec: {
      gatewayClassName: "kgateway-waypoint",
      listeners: [{ name: "mesh", port: 15088, protocol: "istio.io/PROXY" }],
    },
  };
}

function service(namespace: string, name: string, ip: string, port: number, portName: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace, name, labels: { "istio.io/use-waypoint": "waypoint" } },
    spec: { clusterIP: ip, ports: [{ name: portName, port }] },
  };
}

function authz(
  namespace: string,
  name: string,
  spec: unknown,
  annotations?: Record<string, string>,
): KubeObject {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "AuthorizationPolicy",
    metadata: { namespace, name, generation: 3, ...(annotations ? { annotations } : {}) },
    spec,
  } as KubeObject;
}

function authn(namespace: string, name: string, spec: unknown): KubeObject {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "RequestAuthentication",
    metadata: { namespace, name },
    spec,
  } as KubeObject;
}

/** The default world: waypoint shop/waypoint with HTTP service web and TCP service db. */
function world(...extra: KubeObject[]): KubeObject[] {
  return [
    gateway("shop"),
    service("shop", "web", "10.96.0.1", 80, "http"),
    service("shop", "db", "10.96.0.2", 5432, "tcp-db"),
    ...extra,
  ];
}

function run(objects: KubeObject[], settings: TranslatorSettings = SETTINGS): TranslationOutput {
  return translate({ objects: new Map(objects.map((o) => [objectKey(refOf(o)), o])) }, settings);
}

/** Chain name → the names of its network filters and, for HTTP chains, its HTTP filters. */
function filtersOf(out: TranslationOutput, waypoint = "shop/waypoint"): Map<string, string[]> {
  const w = out.waypoints.find((x) => `${x.waypoint.namespace}/${x.waypoint.name}` === waypoint);
  const listener = w?.resources[TypeUrl.listener][0]?.json;
  const chains = new Map<string, string[]>();
  for (const c of Array.isArray(listener?.filterChains) ? listener.filterChains : []) {
    if (!isRecord(c) || !Array.isArray(c.filters)) continue;
    const names: string[] = [];
    for (const f of c.filters) {
      if (!isRecord(f)) continue;
      const hcm =
        isRecord(f.typedConfig) && Array.isArray(f.typedConfig.httpFilters) ? f.typedConfig : undefined;
      if (hcm) for (const h of hcm.httpFilters as unknown[]) names.push(`http:${isRecord(h) ? h.name : ""}`);
      else names.push(String(f.name));
    }
    chains.set(String(c.name), names);
  }
  return chains;
}

function conditions(out: TranslationOutput, kind: string, namespace: string, name: string) {
  const s = out.statuses.find(
    (x) => x.ref.kind === kind && x.ref.namespace === namespace && x.ref.name === name,
  );
  if (!s) return undefined;
  const list = (s.status.conditions ?? []) as Array<Record<string, unknown>>;
  return Object.fromEntries(list.map((c) => [c.type, c]));
}

const HTTP_CHAIN = "fc_http_80_web_shop";
const TCP_CHAIN = "fc_tcp_5432_db_shop";
const DENY_ALL = { targetRefs: [GW], action: "DENY", rules: [{}] };

test("a policy on the waypoint Gateway is on every chain: HTTP RBAC before the router, network RBAC after the identity", () => {
  const out = run(
    world(authz("shop", "deny", DENY_ALL), authz("shop", "allow", { targetRefs: [GW], rules: [{}] })),
  );
  const chains = filtersOf(out);
  assert.deepEqual(chains.get(HTTP_CHAIN), [
    "proxy_protocol_authority",
    "http:waymark.guard.filters",
    "http:waymark.guard",
    "http:envoy.filters.http.rbac.deny",
    "http:envoy.filters.http.rbac.allow",
    "http:envoy.filters.http.router",
  ]);
  assert.deepEqual(chains.get(TCP_CHAIN), [
    "proxy_protocol_authority",
    "envoy.filters.network.rbac.deny",
    "envoy.filters.network.rbac.allow",
    "envoy.filters.network.tcp_proxy",
  ]);
  const c = conditions(out, "AuthorizationPolicy", "shop", "deny");
  assert.deepEqual(c?.WaypointAccepted, {
    type: "WaypointAccepted",
    status: "True",
    reason: "Accepted",
    message: "bound to shop/waypoint",
    observedGeneration: 3,
  });
  assert.equal(c?.["waymark.dev/Translated"]?.status, "True");
});

test("a policy on a Service is on that service's chains only", () => {
  const out = run(
    world(authz("shop", "deny", { ...DENY_ALL, targetRefs: [{ kind: "Service", name: "db" }] })),
  );
  const chains = filtersOf(out);
  assert.ok(chains.get(TCP_CHAIN)?.includes("envoy.filters.network.rbac.deny"));
  assert.ok(!chains.get(HTTP_CHAIN)?.some((f) => f.includes("rbac")));
  assert.equal(
    conditions(out, "AuthorizationPolicy", "shop", "deny")?.WaypointAccepted?.message,
    "bound to shop/waypoint",
  );
});

test("GatewayClass: from the root namespace every waypoint of the class; from elsewhere nothing, Invalid", () => {
  const cls = { group: "gateway.networking.k8s.io", kind: "GatewayClass", name: "kgateway-waypoint" };
  const objects = [
    ...world(),
    gateway("other"),
    service("other", "api", "10.96.1.1", 80, "http"),
    authz("istio-system", "mesh-deny", { ...DENY_ALL, targetRefs: [cls] }),
    authz("shop", "not-root", { ...DENY_ALL, targetRefs: [cls] }),
  ];
  const out = run(objects);
  for (const [w, chain] of [
    ["shop/waypoint", HTTP_CHAIN],
    ["other/waypoint", "fc_http_80_api_other"],
  ] as const)
    assert.ok(filtersOf(out, w).get(chain)?.includes("http:envoy.filters.http.rbac.deny"), `${w} ${chain}`);
  assert.equal(
    conditions(out, "AuthorizationPolicy", "istio-system", "mesh-deny")?.WaypointAccepted?.message,
    "bound to kgateway-waypoint",
  );
  assert.deepEqual(conditions(out, "AuthorizationPolicy", "shop", "not-root")?.WaypointAccepted, {
    type: "WaypointAccepted",
    status: "False",
    reason: "Invalid",
    message:
      "AuthorizationPolicy must be in the root namespace `istio-system` when referencing a GatewayClass",
    observedGeneration: 3,
  });
  // Another root namespace (a setting): the same policy binds nothing.
  const moved = run(objects, { ...SETTINGS, rootNamespace: "mesh-root" });
  assert.ok(
    !filtersOf(moved)
      .get(HTTP_CHAIN)
      ?.some((f) => f.includes("rbac")),
  );
  assert.equal(
    conditions(moved, "AuthorizationPolicy", "istio-system", "mesh-deny")?.WaypointAccepted?.reason,
    "Invalid",
  );
});

test("a waypoint never takes another namespace's policy, even one naming it", () => {
  const out = run(world(authz("other", "deny", { ...DENY_ALL, targetRefs: [{ ...GW, namespace: "shop" }] })));
  assert.ok(![...filtersOf(out).values()].flat().some((f) => f.includes("rbac")));
  assert.equal(
    conditions(out, "AuthorizationPolicy", "other", "deny")?.WaypointAccepted?.reason,
    "TargetNotFound",
  );
});

test("selector policies and policies without targets are ztunnel's: no filters, no status", () => {
  const out = run(
    world(
      authz("shop", "selector", { selector: { matchLabels: { app: "web" } }, action: "DENY", rules: [{}] }),
      authz("shop", "bare", { action: "DENY", rules: [{}] }),
      authz("shop", "empty", undefined),
    ),
  );
  assert.ok(![...filtersOf(out).values()].flat().some((f) => f.includes("rbac")));
  assert.equal(out.statuses.filter((s) => s.ref.kind === "AuthorizationPolicy").length, 0);
});

test("several targetRefs: istiod's combined condition, unbound targets listed", () => {
  const out = run(
    world(
      authz("shop", "mixed", {
        ...DENY_ALL,
        targetRefs: [
          GW,
          { kind: "Service", name: "missing" },
          { group: "networking.istio.io", kind: "ServiceEntry", name: "ext" },
        ],
      }),
      authz("shop", "none", {
        ...DENY_ALL,
        targetRefs: [
          { kind: "Service", name: "missing" },
          { ...GW, name: "nope" },
        ],
      }),
      authz("shop", "all", { ...DENY_ALL, targetRefs: [GW, { kind: "Service", name: "web" }] }),
    ),
  );
  assert.deepEqual(conditions(out, "AuthorizationPolicy", "shop", "mixed")?.WaypointAccepted, {
    type: "WaypointAccepted",
    status: "True",
    reason: "PartiallyInvalid",
    message: "Invalid targetRefs: Service.core:shop/missing, ServiceEntry.networking.istio.io:shop/ext",
    observedGeneration: 3,
  });
  const none = conditions(out, "AuthorizationPolicy", "shop", "none")?.WaypointAccepted;
  assert.equal(none?.status, "False");
  assert.equal(none?.reason, "Invalid");
  const all = conditions(out, "AuthorizationPolicy", "shop", "all")?.WaypointAccepted;
  assert.equal(all?.reason, "Accepted");
  assert.equal(all?.message, "bound to shop/waypoint");
  // Bound twice (Gateway and Service), placed once per chain.
  assert.equal(
    filtersOf(out)
      .get(HTTP_CHAIN)
      ?.filter((f) => f.endsWith("rbac.deny")).length,
    1,
  );
});

test("a single Service target: not found, not on a waypoint", () => {
  const lone = { ...service("shop", "lone", "10.96.0.9", 80, "http") };
  lone.metadata.labels = {};
  const out = run(
    world(
      lone,
      authz("shop", "missing", { ...DENY_ALL, targetRefs: [{ kind: "Service", name: "gone" }] }),
      authz("shop", "lone", { ...DENY_ALL, targetRefs: [{ group: "core", kind: "Service", name: "lone" }] }),
    ),
  );
  const missing = conditions(out, "AuthorizationPolicy", "shop", "missing")?.WaypointAccepted;
  assert.equal(missing?.reason, "TargetNotFound");
  assert.equal(missing?.message, "Service shop/gone was not found");
  const l = conditions(out, "AuthorizationPolicy", "shop", "lone")?.WaypointAccepted;
  assert.equal(l?.reason, "AncestorNotBound");
  assert.equal(l?.message, "Service shop/lone is not bound to a waypoint");
});

test("malformed policies get a clear condition, never throw, and leave the others alone", () => {
  const out = run(
    world(
      authz("shop", "spec-string", "deny everything"),
      authz("shop", "refs-object", { targetRefs: { kind: "Gateway" }, action: "DENY" }),
      authz("shop", "ref-number", { targetRefs: [7, GW], action: "DENY", rules: [{}] }),
      authz("shop", "good", { targetRefs: [GW], action: "ALLOW", rules: [{}] }),
    ),
  );
  const spec = conditions(out, "AuthorizationPolicy", "shop", "spec-string")?.WaypointAccepted;
  assert.equal(spec?.status, "False");
  assert.match(String(spec?.message), /spec is not an object/);
  const refs = conditions(out, "AuthorizationPolicy", "shop", "refs-object")?.WaypointAccepted;
  assert.equal(refs?.status, "False");
  assert.match(String(refs?.message), /targetRefs is not a list/);
  const num = conditions(out, "AuthorizationPolicy", "shop", "ref-number")?.WaypointAccepted;
  assert.equal(num?.reason, "PartiallyInvalid");
  // The readable targetRef of ref-number still binds its DENY; good's ALLOW is there too.
  assert.deepEqual(
    filtersOf(out)
      .get(HTTP_CHAIN)
      ?.filter((f) => f.includes("rbac")),
    ["http:envoy.filters.http.rbac.deny", "http:envoy.filters.http.rbac.allow"],
  );
  assert.equal(conditions(out, "AuthorizationPolicy", "shop", "good")?.WaypointAccepted?.status, "True");
});

test("an ALLOW policy whose rules cannot be read still makes its ALLOW filter exist (deny)", () => {
  const out = run(
    world(authz("shop", "broken", { targetRefs: [GW], action: "ALLOW", rules: "all of them" })),
  );
  assert.ok(filtersOf(out).get(HTTP_CHAIN)?.includes("http:envoy.filters.http.rbac.allow"));
  assert.ok(filtersOf(out).get(TCP_CHAIN)?.includes("envoy.filters.network.rbac.allow"));
});

test("a problem on several chains is listed once", () => {
  const out = run(
    world(
      service("shop", "db2", "10.96.0.3", 5433, "tcp-db"),
      authz("shop", "methods", {
        targetRefs: [GW],
        action: "ALLOW",
        rules: [{ to: [{ operation: { methods: ["GET"] } }] }],
      }),
    ),
  );
  const t = conditions(out, "AuthorizationPolicy", "shop", "methods")?.["waymark.dev/Translated"];
  assert.equal(t?.status, "False");
  assert.equal(t?.reason, "PartiallyTranslated");
  const message = String(t?.message);
  assert.match(message, /methods/);
  assert.equal(message.split("methods").length - 1, 1, message);
});

test("RequestAuthentication: jwt_authn on HTTP chains only, before RBAC; one JWKS cluster per authority", () => {
  const rule = { issuer: "https://issuer.example", jwksUri: "http://jwks.example:8080/keys" };
  const out = run(
    world(
      service("shop", "web2", "10.96.0.4", 8080, "http"),
      authn("shop", "jwt", { targetRefs: [GW], jwtRules: [rule] }),
      authn("shop", "jwt-web", {
        targetRefs: [{ kind: "Service", name: "web" }],
        jwtRules: [{ ...rule, issuer: "https://other.example" }],
      }),
      authz("shop", "deny", DENY_ALL),
    ),
  );
  const chains = filtersOf(out);
  assert.deepEqual(chains.get(HTTP_CHAIN)?.slice(3, 5), [
    "http:envoy.filters.http.jwt_authn",
    "http:envoy.filters.http.rbac.deny",
  ]);
  assert.ok(!chains.get(TCP_CHAIN)?.some((f) => f.includes("jwt")));
  const clusters = out.waypoints[0]!.resources[TypeUrl.cluster].map((c) => c.name);
  assert.equal(clusters.filter((n) => n.startsWith("jwks|")).length, 1, clusters.join(", "));
  assert.equal(conditions(out, "RequestAuthentication", "shop", "jwt")?.WaypointAccepted?.status, "True");
});

test("targetRef and targetRefs are read as one list", () => {
  const refs = readTargetRefs({ targetRef: { kind: "Service", name: "a" }, targetRefs: [GW] });
  assert.deepEqual(
    refs?.map((r) => r.name),
    ["a", "waypoint"],
  );
  assert.equal(readTargetRefs({ selector: {} }), undefined);
});

test("istio.io/dry-run is read as Go's ParseBool", () => {
  for (const v of ["1", "t", "T", "TRUE", "true", "True"]) assert.equal(parseGoBool(v), true, v);
  for (const v of [undefined, "", "yes", "on", "tRue", "0", "false"])
    assert.equal(parseGoBool(v), false, String(v));
});

test("a builder that throws on one policy fails closed for its chain and keeps the others", () => {
  const policies: BoundPolicy[] = ["a", "bad", "c"].map((name) => ({
    namespace: "ns",
    name,
    spec: {},
    dryRun: false,
  }));
  const r = buildGuarded(
    policies,
    (ps) => {
      if (ps.some((p) => p.name === "bad")) throw new Error("bug");
      return { filters: ps.map((p) => ({ name: p.name })), problems: [] as AuthzProblem[] };
    },
    "http",
  );
  assert.deepEqual(
    r.filters.map((f) => f.name),
    ["a", "c", FAIL_CLOSED_HTTP_FILTER],
  );
  assert.deepEqual(
    r.problems.map((p) => [p.policy, p.effect]),
    [["ns/bad", "denies"]],
  );
});

// Raw policies as a directory may hold them: well-formed parts mixed with junk in every place.
const junk = fc.constantFrom<unknown>(null, 7, "", "x", [], {}, [null], { a: 1 }, true);
const values = fc.oneof(
  fc.array(fc.constantFrom("GET", "/a*", "*", "10.0.0.0/8", "shop", "{*}", "a/b"), { maxLength: 3 }),
  junk,
);
const operation = fc.oneof(
  fc.record(
    { methods: values, paths: values, hosts: values, ports: values, notPaths: values },
    { requiredKeys: [] },
  ),
  junk,
);
const source = fc.oneof(
  fc.record(
    { principals: values, namespaces: values, ipBlocks: values, requestPrincipals: values },
    { requiredKeys: [] },
  ),
  junk,
);
const when = fc.oneof(
  fc.record({
    key: fc.constantFrom("request.headers[x]", "source.ip", "destination.port", "nope", 7),
    values,
  }),
  junk,
);
const ruleArb = fc.oneof(
  fc.record(
    {
      to: fc.oneof(fc.array(fc.oneof(fc.record({ operation }), junk), { maxLength: 2 }), junk),
      from: fc.oneof(fc.array(fc.oneof(fc.record({ source }), junk), { maxLength: 2 }), junk),
      when: fc.oneof(fc.array(when, { maxLength: 2 }), junk),
    },
    { requiredKeys: [] },
  ),
  junk,
);
const policyArb = fc.record({
  action: fc.oneof(fc.constantFrom("ALLOW", "DENY", "AUDIT", "CUSTOM", undefined), junk),
  rules: fc.oneof(fc.array(ruleArb, { maxLength: 3 }), junk, fc.constant(undefined)),
  target: fc.constantFrom("gateway", "web", "db", "missing", "junk"),
  dryRun: fc.constantFrom(undefined, "true", "false", "yes"),
});

test("random raw policies: never a throw, always strict xDS, and a bound ALLOW always leaves an ALLOW filter", () => {
  fc.assert(
    fc.property(fc.array(policyArb, { maxLength: 5 }), (drawn) => {
      const objects = world(
        ...drawn.map((d, i) => {
          const ref =
            d.target === "gateway"
              ? GW
              : d.target === "junk"
                ? 42
                : { kind: "Service", name: d.target === "missing" ? "gone" : d.target };
          const spec: Record<string, unknown> = { targetRefs: [ref] };
          if (d.action !== undefined) spec.action = d.action;
          if (d.rules !== undefined) spec.rules = d.rules;
          return authz("shop", `p${i}`, spec, d.dryRun ? { "istio.io/dry-run": d.dryRun } : undefined);
        }),
      );
      const out = run(objects);
      assert.deepEqual(encodingProblems(out), []);
      const chains = filtersOf(out);
      drawn.forEach((d, i) => {
        // An enforced ALLOW (the default action): each chain it binds must have an ALLOW filter.
        const allow = d.action === undefined || d.action === "ALLOW";
        if (!allow || d.dryRun === "true") return;
        const bound =
          d.target === "gateway"
            ? [HTTP_CHAIN, TCP_CHAIN]
            : d.target === "web"
              ? [HTTP_CHAIN]
              : d.target === "db"
                ? [TCP_CHAIN]
                : [];
        for (const chain of bound)
          assert.ok(
            chains.get(chain)?.some((f) => f.endsWith("rbac.allow") || f.endsWith("rbac.fail_closed")),
            `p${i} on ${chain}: ${chains.get(chain)?.join(", ")}`,
          );
      });
      for (const s of out.statuses.filter((x) => x.ref.kind === "AuthorizationPolicy"))
        assert.ok(conditions(out, "AuthorizationPolicy", "shop", s.ref.name)?.WaypointAccepted, s.ref.name);
    }),
    { numRuns: 200 },
  );
});
