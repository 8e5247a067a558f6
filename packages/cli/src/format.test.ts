import assert from "node:assert/strict";
import { test } from "node:test";
import { renderProxies } from "./format.ts";

test("proxy-status shows SYNCED, NACKED and STALE per type", () => {
  const out = renderProxies([
    {
      nodeId: "wp-1.httpbin",
      waypoint: { namespace: "httpbin", name: "wp" },
      replica: "xds-0",
      protocol: "delta",
      connectedAt: "",
      updatedAt: "",
      types: {
        "type.googleapis.com/envoy.config.cluster.v3.Cluster": {
          sentVersion: "aaaaaaaaaa",
          ackedVersion: "aaaaaaaaaa",
        },
        "type.googleapis.com/envoy.config.listener.v3.Listener": {
          sentVersion: "bbbbbbbbbb",
          nackedVersion: "bbbbbbbbbb",
        },
        "type.googleapis.com/envoy.config.route.v3.RouteConfiguration": {
          sentVersion: "cccccccccc",
          ackedVersion: "dddd",
        },
      },
    },
  ]);
  const row = out.split("\n")[1]!;
  assert.match(
    row,
    /^wp-1\.httpbin\s+httpbin\/wp\s+xds-0\s+delta\s+SYNCED aaaaaaaa\s+-\s+NACKED bbbbbbbb\s+STALE cccccccc$/,
  );
});
