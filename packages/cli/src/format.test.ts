import assert from "node:assert/strict";
import { test } from "node:test";
import { formatAge, isExpired, renderProxies } from "./format.ts";

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
    /^wp-1\.httpbin\s+httpbin\/wp\s+xds-0\s+delta\s+SYNCED aaaaaaaa\s+-\s+NACKED bbbbbbbb\s+STALE cccccccc\s+-$/,
  );
});

test("proxy-status: records past their TTL are EXPIRED, listed last, and explained", () => {
  const base = {
    waypoint: { namespace: "httpbin", name: "wp" },
    protocol: "delta" as const,
    connectedAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    ttlMs: 30_000,
    types: {},
  };
  const now = new Date("2026-01-01T00:01:00.000Z");
  const out = renderProxies(
    [
      { ...base, nodeId: "a-dead", replica: "xds-9", refreshedAt: "2026-01-01T00:00:15.000Z" },
      { ...base, nodeId: "b-live", replica: "xds-0", refreshedAt: "2026-01-01T00:00:55.000Z" },
    ],
    now,
  );
  const lines = out.split("\n");
  assert.match(lines[1]!, /^b-live .* 5s ago$/);
  assert.match(lines[2]!, /^a-dead .* EXPIRED 45s ago$/);
  assert.match(out, /1 record\(s\) EXPIRED/);
  assert.equal(formatAge(192_000), "3m12s");
  assert.equal(isExpired({ ...base, nodeId: "x", replica: "r" }, now), false, "no refreshedAt: cannot tell");
});
