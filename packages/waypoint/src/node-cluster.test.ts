import assert from "node:assert/strict";
import { test } from "node:test";
import { renderBootstrap } from "./bootstrap.ts";
import { parseNodeCluster, waypointNodeCluster } from "./node-cluster.ts";

test("waypoint from node.cluster", () => {
  assert.deepEqual(parseNodeCluster("waypoint.default"), { name: "waypoint", namespace: "default" });
  assert.deepEqual(parseNodeCluster("my.gw.ns1"), { name: "my.gw", namespace: "ns1" });
  assert.equal(parseNodeCluster("nodot"), undefined);
  assert.equal(parseNodeCluster(".ns"), undefined);
  assert.equal(parseNodeCluster("gw."), undefined);
});

test("node.cluster round-trips, also for gateway names with dots", () => {
  for (const w of [
    { name: "waypoint", namespace: "default" },
    { name: "my.gw", namespace: "ns1" },
  ]) {
    assert.equal(waypointNodeCluster(w), `${w.name}.${w.namespace}`);
    assert.deepEqual(parseNodeCluster(waypointNodeCluster(w)), w);
  }
});

test("the bootstrap's node.cluster is the one the xds-server parses", () => {
  const waypoint = { name: "kgateway-waypoint", namespace: "httpbin" };
  const b = renderBootstrap({ waypoint, podName: "kgateway-waypoint-0", xds: [{ host: "::1", port: 1 }] });
  const node = b["node"] as { id: string; cluster: string };
  assert.equal(node.id, "kgateway-waypoint-0.httpbin");
  assert.deepEqual(parseNodeCluster(node.cluster), waypoint);
});
