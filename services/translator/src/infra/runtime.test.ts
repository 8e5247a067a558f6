// The translator's regex limit (translate/limits.ts) and the runtime layer a waypoint bootstrap
// carries (@waymark/waypoint) must be the same numbers, or Envoy NACKs regexes the translator accepted.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as waypoint from "@waymark/waypoint";
import * as limits from "../translate/limits.ts";

test("the translator's RE2 limits are the ones the waypoint bootstrap sets", () => {
  assert.equal(limits.RE2_MAX_PROGRAM_SIZE, waypoint.RE2_MAX_PROGRAM_SIZE);
  assert.equal(limits.RE2_WARN_PROGRAM_SIZE, waypoint.RE2_WARN_PROGRAM_SIZE);
  assert.deepEqual(limits.waypointRuntime(), waypoint.waypointRuntime());
  const bootstrap = waypoint.renderBootstrap({
    waypoint: { name: "w", namespace: "ns" },
    podName: "w-0",
    xds: [{ host: "127.0.0.1", port: 18000 }],
  });
  assert.deepEqual(bootstrap["layered_runtime"], limits.waypointRuntime());
});
