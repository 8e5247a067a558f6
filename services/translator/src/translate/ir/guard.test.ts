import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServiceInfo } from "../input/objects.ts";
import { GUARD_FILTERS_NAME, GUARD_NAME, guardWaypoint } from "./guard.ts";
import type { ChainIR, PerFilterConfig, RouteConfigIR, WaypointIR } from "./types.ts";

const service = { name: "web", namespace: "shop" } as ServiceInfo;
const chain = (name: string, filters: Array<[ChainIR["httpFilters"][number]["slot"], string]>): ChainIR => ({
  name,
  kind: "http",
  vips: ["10.96.0.1"],
  port: 80,
  cluster: "c",
  service,
  httpFilters: filters.map(([slot, n]) => ({ slot, filter: { name: n } })),
  networkFilters: [],
});
const rc = (name: string, virtualHostConfig?: PerFilterConfig): RouteConfigIR => ({
  name,
  service,
  port: 80,
  cluster: "c",
  hasRoutes: false,
  gatewayRoutes: [],
  serviceRoutes: [],
  targets: [],
  ...(virtualHostConfig ? { virtualHostConfig } : {}),
});

test("the guard lists a chain's security filters only, and requires them on its own route table", () => {
  const shared: PerFilterConfig = { "waymark.cors": { "@type": "x" } };
  const ir = {
    listener: {
      bindAddress: "::",
      port: 15008,
      chains: [
        chain("a", [
          ["cors", "waymark.cors"],
          ["extAuth", "waymark.ext_authz/shop/x"],
          ["authorization", "envoy.filters.http.rbac.deny"],
        ]),
        chain("b", [["cors", "waymark.cors"]]),
      ],
    },
    routeConfigs: [rc("a", shared), rc("b", shared)],
  } as unknown as WaypointIR;
  guardWaypoint(ir);
  const [a, b] = ir.listener!.chains;
  assert.deepEqual(
    a!.httpFilters.slice(-2).map((f) => f.filter.name),
    [GUARD_FILTERS_NAME, GUARD_NAME],
  );
  const listed = (a!.httpFilters.at(-2)!.filter.typedConfig as { metadata: Array<{ value: object }> })
    .metadata[0]!.value;
  assert.deepEqual(Object.keys(listed), ["envoy.filters.http.rbac.deny", "waymark.ext_authz/shop/x"]);
  const required = JSON.stringify(ir.routeConfigs[0]!.virtualHostConfig?.[GUARD_NAME]);
  assert.match(required, /waymark\.ext_authz\/shop\/x/);
  assert.match(required, /envoy\.filters\.http\.rbac\.deny/);
  assert.doesNotMatch(required, /waymark\.cors/);
  // Chain b has no security filter: its guard passes everything, and its route table asks nothing.
  assert.equal(b!.httpFilters.length, 3);
  assert.equal(ir.routeConfigs[1]!.virtualHostConfig?.[GUARD_NAME], undefined);
  assert.equal(shared[GUARD_NAME], undefined, "the shared virtual host config is not changed");
});
