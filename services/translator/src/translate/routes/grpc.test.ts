import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { loadCase } from "../golden-cases.ts";
import { TranslationMemo, translate } from "../index.ts";
import { compileGrpcMatch } from "./grpc.ts";
import { compareMatchRank, type MatchRank } from "./precedence.ts";

const SVC = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

/** The Envoy match of a GRPCRouteMatch, or the problem. */
function match(m: unknown) {
  const r = compileGrpcMatch(m);
  return r.ok ? r.value.match : r.message;
}

test("no method match: every call", () => {
  assert.deepEqual(match(undefined), { prefix: "/" });
  assert.deepEqual(match({}), { prefix: "/" });
});

test("Exact (the default): the path /<service>/<method>, a service prefix, or any service", () => {
  assert.deepEqual(match({ method: { service: SVC, method: "Echo" } }), { path: `/${SVC}/Echo` });
  assert.deepEqual(match({ method: { type: "Exact", service: "pkg.Svc" } }), { prefix: "/pkg.Svc/" });
  assert.deepEqual(match({ method: { method: "Echo" } }), { safeRegex: { regex: "/[^/]+/Echo" } });
});

test("RegularExpression: each given part in a group, an absent one is any segment", () => {
  assert.deepEqual(match({ method: { type: "RegularExpression", service: "a|b", method: "Echo.*" } }), {
    safeRegex: { regex: "/(?:a|b)/(?:Echo.*)" },
  });
  assert.deepEqual(match({ method: { type: "RegularExpression", method: "Echo(Two)?" } }), {
    safeRegex: { regex: "/[^/]+/(?:Echo(Two)?)" },
  });
  assert.deepEqual(match({ method: { type: "RegularExpression", service: ".*Echo" } }), {
    safeRegex: { regex: "/(?:.*Echo)/[^/]+" },
  });
});

test("header matches are HTTPRoute's, after the path", () => {
  assert.deepEqual(
    match({
      method: { service: "s.S", method: "M" },
      headers: [
        { name: "x-a", value: "1" },
        { name: "X-A", value: "ignored: only the first of a name counts" },
        { name: "x-b", type: "RegularExpression", value: "v[0-9]+" },
      ],
    }),
    {
      path: "/s.S/M",
      headers: [
        { name: "x-a", stringMatch: { exact: "1" } },
        { name: "x-b", stringMatch: { safeRegex: { regex: "v[0-9]+" } } },
      ],
    },
  );
  const r = compileGrpcMatch({ headers: [{ name: "x-a", value: "1" }] });
  assert.ok(r.ok);
  assert.equal(r.value.headerCount, 1);
});

test("bad matches are refused with what is wrong", () => {
  assert.match(String(match({ method: { type: "Exact" } })), /set service, method or both/);
  assert.match(String(match({ method: { service: "a/b", method: "M" } })), /not a valid gRPC service name/);
  assert.match(String(match({ method: { service: "s.S", method: "M-1" } })), /not a valid gRPC method name/);
  assert.match(
    String(match({ method: { type: "RegularExpression", service: "(?!x).*" } })),
    /method\.service: .*lookaround/,
  );
  assert.match(String(match({ method: { type: "Prefix", service: "s.S" } })), /"Prefix" is not supported/);
  assert.match(String(match({ headers: [{ name: "bad name", value: "x" }] })), /not a valid header name/);
});

test("precedence: longer service, then longer method, then more headers, then the older route", () => {
  const rank = (service: number, method: number, headerCount: number, created = 0): MatchRank => ({
    pathType: "Exact",
    pathLength: 0,
    hasMethod: false,
    headerCount,
    queryCount: 0,
    grpc: { service, method },
    created,
    namespace: "ns",
    name: "r",
    ruleIndex: 0,
    matchIndex: 0,
  });
  const sorted = [
    rank(0, 4, 0),
    rank(7, 0, 2),
    rank(7, 4, 0),
    rank(12, 0, 0),
    rank(7, 4, 1),
    rank(7, 4, 1, -1),
  ]
    .sort(compareMatchRank)
    .map((r) => `${r.grpc?.service}/${r.grpc?.method}/${r.headerCount}/${r.created}`);
  assert.deepEqual(sorted, ["12/0/0/0", "7/4/1/-1", "7/4/1/0", "7/4/0/0", "7/0/2/0", "0/4/0/0"]);
});

test("with a memo, changes next to GRPCRoutes give the same output as a fresh translation", () => {
  const c = loadCase("grpcroute");
  const memo = new TranslationMemo();
  const objects = new Map(c.input.objects);
  const step = (what: string) => {
    const fresh = translate({ objects: new Map(objects) }, c.settings);
    const withMemo = translate({ objects: new Map(objects) }, c.settings, memo);
    assert.deepEqual(withMemo, fresh, what);
    return fresh;
  };
  step("first");
  step("unchanged");
  const key = [...objects.keys()].find((k) => k.endsWith("HTTPRoute.w.echo-http-on-grpc-port"));
  assert.ok(key);
  const route = structuredClone(objects.get(key)!) as KubeObject & {
    spec: { parentRefs: Array<{ port?: number }> };
  };
  // The conflicted HTTPRoute moves to the HTTP/1 port: no longer conflicted, now programmed there.
  route.spec.parentRefs[0]!.port = 8080;
  objects.set(key, route);
  const out = step("the conflicted HTTPRoute moved to port 8080");
  const status = out.statuses.find(
    (s) => s.ref.kind === "HTTPRoute" && s.ref.name === "echo-http-on-grpc-port",
  );
  const parents = status?.status.parents as Array<{ conditions: Array<{ type: string; status: string }> }>;
  assert.equal(parents[0]?.conditions.find((x) => x.type === "Accepted")?.status, "True");
  // A new HTTPRoute on the GRPCRoutes' port: the GRPCRoutes' work is the memo's, the HTTPRoute's new.
  const added = structuredClone(route);
  added.metadata = { name: "late-http", namespace: "w" };
  added.spec.parentRefs[0]!.port = 7070;
  objects.set(key.replace("echo-http-on-grpc-port", "late-http"), added);
  const late = step("a new HTTPRoute on port 7070");
  const lateStatus = late.statuses.find((s) => s.ref.name === "late-http");
  const lateParents = lateStatus?.status.parents as Array<{
    conditions: Array<{ type: string; reason: string }>;
  }>;
  assert.equal(lateParents[0]?.conditions.find((x) => x.type === "Accepted")?.reason, "Conflicted");
  const grpcKey = [...objects.keys()].find((k) => k.endsWith("GRPCRoute.w.echo-routes"));
  assert.ok(grpcKey);
  objects.delete(grpcKey);
  step("the GRPCRoute removed");
});
