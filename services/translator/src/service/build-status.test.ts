import assert from "node:assert/strict";
import { test } from "node:test";
import { ERROR_CODES } from "@waymark/api";
import { TypeUrl } from "@waymark/envoy-proto";
import type { ObjectStatus } from "../translate/types.ts";
import { SnapshotError } from "./build.ts";
import { withBuildFailures } from "./build-status.ts";

const gw = (name: string): ObjectStatus => ({
  ref: { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "ns", name },
  generation: 3,
  status: {
    conditions: [
      { type: "Accepted", status: "True", reason: "Accepted", message: "Gateway accepted" },
      {
        type: "Programmed",
        status: "True",
        reason: "Programmed",
        message: "Waypoint configuration programmed",
      },
    ],
    listeners: [],
  },
});

test("the failed waypoint's Programmed becomes False/Invalid in place; nothing else changes", () => {
  const statuses = [gw("a"), gw("b")];
  const copy = structuredClone(statuses);
  const out = withBuildFailures(statuses, [
    {
      waypoint: { namespace: "ns", name: "a" },
      key: "manifest.ns.a",
      typeUrl: TypeUrl.route,
      resource: "r1",
      error: new SnapshotError("resource r1 encodes to 2000000 bytes, more than a NATS message holds"),
    },
  ]);
  assert.deepEqual(statuses, copy, "input untouched");
  assert.equal(out[1], statuses[1]);
  const conds = out[0]!.status["conditions"] as Array<Record<string, unknown>>;
  assert.deepEqual(
    conds.map((c) => [c["type"], c["status"], c["reason"]]),
    [
      ["Accepted", "True", "Accepted"],
      ["Programmed", "False", "Invalid"],
    ],
  );
  assert.equal(conds[1]!["observedGeneration"], 3);
  assert.match(String(conds[1]!["message"]), /RouteConfiguration r1: resource r1 encodes to 2000000 bytes/);
  assert.ok(
    String(conds[1]!["message"]).endsWith(`holds. ${ERROR_CODES["invalid-snapshot"].fix}`),
    "says what to fix",
  );
  assert.deepEqual(out[0]!.status["listeners"], []);
  assert.deepEqual(withBuildFailures(statuses, []), statuses);
});
