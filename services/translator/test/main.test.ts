// The translator process as deployed: src/main.ts against a real NATS server, configured from the
// environment, stopping cleanly on SIGTERM; a bad setting stops it at start-up.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { manifestKey, type WaypointManifest } from "@waymark/api";
import { getJson } from "@waymark/bus";
import { startProcess, tempDir, waitFor } from "@waymark/testing";
import { type Env, putObject, startEnv } from "./helpers.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
let env: Env;

before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.close();
});

test("main.ts publishes from wm-objects and exits 0 on SIGTERM", async () => {
  const gw = {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GatewayClass",
    metadata: { name: "kgateway-waypoint", generation: 1 },
    spec: { controllerName: "waymark.dev/waymark" },
  };
  await putObject(env.objects, gw);
  await putObject(env.objects, {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "waypoint", namespace: "main", generation: 1 },
    spec: {
      gatewayClassName: "kgateway-waypoint",
      listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
    },
  });
  const proc = startProcess({
    name: "translator",
    command: process.execPath,
    args: [MAIN],
    env: { WAYMARK_NATS_URL: env.nats.url, WAYMARK_BIND_ADDRESS: "127.0.0.1", WAYMARK_LOG_LEVEL: "info" },
    logDir: tempDir("translator-main"),
  });
  try {
    const m = await waitFor("manifest from the translator process", () =>
      getJson<WaypointManifest>(env.xds, manifestKey({ namespace: "main", name: "waypoint" })),
    );
    assert.deepEqual(m.waypoint, { namespace: "main", name: "waypoint" });
  } finally {
    await proc.stop(5000);
  }
  assert.equal(await proc.exited, 0, proc.log());
  assert.match(proc.log(), /"msg":"translator stopped"/);
});

test("a bad setting stops start-up with a clear message", async () => {
  const proc = startProcess({
    name: "translator-bad",
    command: process.execPath,
    args: [MAIN],
    env: { WAYMARK_NATS_URL: env.nats.url, WAYMARK_DEBOUNCE_QUIET_MS: "soon" },
    logDir: tempDir("translator-main"),
  });
  assert.equal(await proc.exited, 2);
  assert.match(proc.log(), /WAYMARK_DEBOUNCE_QUIET_MS/);
});
