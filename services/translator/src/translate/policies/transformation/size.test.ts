// Issue 19, defect 2: the template runtime goes to Envoy once per Lua filter, not once per route.
// N HTTPRoutes, each with its own route-level transformation, are translated; the
// RouteConfiguration holds the runtime zero times and grows per route by about the program only,
// and every HTTP chain's Lua filter holds it once.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { objectKey, refOf } from "@waymark/api";
import { TypeUrl } from "@waymark/envoy-proto";
import { FUZZ_SETTINGS } from "../../fuzz/harness.ts";
import { translate } from "../../index.ts";
import { TRANSFORMATION_RUNTIME } from "./chunk.ts";

/** A marker line of the runtime (its first code line). */
const RUNTIME_MARK = "local W = {}";

function world(routes: number): Map<string, KubeObject> {
  const objects: KubeObject[] = [
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "wp", namespace: "a" },
      spec: {
        gatewayClassName: "kgateway-waypoint",
        listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s1", namespace: "a", labels: { "istio.io/use-waypoint": "wp" } },
      spec: { clusterIP: "10.0.0.1", ports: [{ name: "http", port: 8000 }] },
    },
  ];
  for (let i = 0; i < routes; i++) {
    objects.push(
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: `r${i}`, namespace: "a" },
        spec: {
          parentRefs: [{ group: "", kind: "Service", name: "s1", port: 8000 }],
          rules: [
            {
              matches: [{ path: { type: "PathPrefix", value: `/r${i}` } }],
              backendRefs: [{ name: "s1", port: 8000 }],
            },
          ],
        },
      },
      {
        apiVersion: "gateway.kgateway.dev/v1alpha1",
        kind: "TrafficPolicy",
        metadata: { name: `p${i}`, namespace: "a" },
        spec: {
          targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: `r${i}` }],
          transformation: { request: { set: [{ name: "x-route", value: `r${i}-{{ header("x-in") }}` }] } },
        },
      },
    );
  }
  return new Map(objects.map((o) => [objectKey(refOf(o)), o]));
}

function count(s: string, part: string): number {
  return s.split(part).length - 1;
}

function translated(routes: number): { rds: string; lds: string } {
  const out = translate({ objects: world(routes) }, FUZZ_SETTINGS);
  const w = out.waypoints[0];
  assert.ok(w, "no waypoint");
  const json = (url: TypeUrl) => JSON.stringify(w.resources[url]?.map((r) => r.json) ?? []);
  return { rds: json(TypeUrl.route), lds: json(TypeUrl.listener) };
}

test("N transformed routes: RDS carries the runtime zero times, LDS once per HTTP chain", () => {
  const few = translated(2);
  const many = translated(22);
  for (let i = 0; i < 22; i++) assert.ok(many.rds.includes(`r${i}-`), `route r${i} is not transformed`);
  assert.equal(count(many.rds, RUNTIME_MARK), 0, "the runtime is in the route configuration");
  const chains = count(many.lds, 'filters.http.lua.v3.Lua"');
  assert.ok(chains > 0, "no Lua filter in the listeners");
  assert.equal(count(many.lds, RUNTIME_MARK), chains, "the runtime is not once per Lua filter");
  // The same listeners however many routes: the runtime does not grow with them.
  assert.equal(many.lds, few.lds);
  // Per route, RDS grows by the route and its program: well under the runtime's size.
  const perRoute = (many.rds.length - few.rds.length) / 20;
  assert.ok(perRoute < TRANSFORMATION_RUNTIME.length / 5, `${Math.round(perRoute)} bytes per route`);
});
