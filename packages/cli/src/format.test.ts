import assert from "node:assert/strict";
import { test } from "node:test";
import { formatAge, renderProxies } from "./format.ts";

test("proxy-status shows SYNCED, NACKED and STALE per type", () => {
  const out = renderProxies(
    [
      {
        nodeId: "wp-1.httpbin",
        waypoint: { namespace: "httpbin", name: "wp" },
        replica: "xds-0",
        protocol: "delta",
        connectedAt: "",
        updatedAt: "",
        incarnation: "i0",
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
    ],
    new Map([["xds-0", { replica: "xds-0", incarnation: "i0", beatAt: "", ttlMs: 0 }]]),
  );
  const row = out.split("\n")[1]!;
  assert.match(
    row,
    /^wp-1\.httpbin\s+httpbin\/wp\s+xds-0\s+delta\s+SYNCED aaaaaaaa\s+-\s+NACKED bbbbbbbb\s+STALE cccccccc\s+-$/,
  );
});

test("proxy-status: records whose replica's heartbeat expired, restarted or vanished are EXPIRED, listed last", () => {
  const base = {
    waypoint: { namespace: "httpbin", name: "wp" },
    protocol: "delta" as const,
    connectedAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:30.000Z",
    types: {},
  };
  const beat = (replica: string, incarnation: string, beatAt: string) =>
    [replica, { replica, incarnation, beatAt, ttlMs: 30_000 }] as const;
  const now = new Date("2026-01-01T00:01:00.000Z");
  const out = renderProxies(
    [
      { ...base, nodeId: "a-dead", replica: "xds-9", incarnation: "i9" },
      { ...base, nodeId: "b-live", replica: "xds-0", incarnation: "i0" },
      { ...base, nodeId: "c-restarted", replica: "xds-1", incarnation: "old" },
      { ...base, nodeId: "d-vanished", replica: "xds-2", incarnation: "i2" },
    ],
    new Map([
      beat("xds-9", "i9", "2026-01-01T00:00:15.000Z"),
      beat("xds-0", "i0", "2026-01-01T00:00:55.000Z"),
      beat("xds-1", "new", "2026-01-01T00:00:58.000Z"),
    ]),
    now,
  );
  const lines = out.split("\n");
  assert.match(lines[1]!, /^b-live .* 5s ago$/);
  assert.match(lines[2]!, /^a-dead .* EXPIRED 45s ago$/);
  assert.match(lines[3]!, /^c-restarted .* EXPIRED 2s ago$/);
  assert.match(lines[4]!, /^d-vanished .* EXPIRED 30s ago$/);
  assert.match(out, /3 record\(s\) EXPIRED/);
  assert.equal(formatAge(192_000), "3m12s");
});
