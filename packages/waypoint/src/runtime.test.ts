// A waypoint bootstrap raises Envoy's RE2 limit to the size the translator checks regexes against
// (RE2_MAX_PROGRAM_SIZE, which the translator imports from here), or Envoy NACKs regexes the
// translator accepted.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RE2_MAX_PROGRAM_SIZE, RE2_WARN_PROGRAM_SIZE, renderBootstrap } from "./index.ts";

test("the bootstrap's runtime layer sets the RE2 limits the translator checks against", () => {
  const bootstrap = renderBootstrap({
    waypoint: { name: "w", namespace: "ns" },
    podName: "w-0",
    xds: [{ host: "127.0.0.1", port: 18000 }],
  });
  const layers = (bootstrap["layered_runtime"] as { layers: Array<Record<string, unknown>> }).layers;
  assert.deepEqual(layers[0]?.["static_layer"], {
    "re2.max_program_size.error_level": RE2_MAX_PROGRAM_SIZE,
    "re2.max_program_size.warn_level": RE2_WARN_PROGRAM_SIZE,
  });
  assert.equal(layers.at(-1)?.["name"], "admin", "admin overrides still work");
});
