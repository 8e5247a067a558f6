import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "@waymark/api";
import { loadConfig } from "./config.ts";

test("defaults and a dir source", () => {
  const c = loadConfig({ WAYMARK_SOURCE: "dir:/etc/objects" });
  assert.deepEqual(c, {
    natsUrl: "nats://127.0.0.1:4222",
    source: { type: "dir", path: "/etc/objects" },
    maxObjectBytes: 1048576,
    istioNamespace: "istio-system",
  });
  assert.ok(Object.isFrozen(c));
  assert.equal(
    loadConfig({ WAYMARK_SOURCE: "dir:/x", WAYMARK_ROOT_NAMESPACE: "istio" }).istioNamespace,
    "istio",
  );
  assert.throws(
    () => loadConfig({ WAYMARK_SOURCE: "dir:/x", WAYMARK_ROOT_NAMESPACE: "Istio_System" }),
    /WAYMARK_ROOT_NAMESPACE="Istio_System": expected a namespace name/,
  );
  assert.equal(
    (loadConfig({ WAYMARK_SOURCE: "dir:rel", WAYMARK_NATS_URL: "nats://n:1" }).source as { path: string })
      .path,
    `${process.cwd()}/rel`,
  );
});

test("missing, reserved and malformed values are ConfigErrors", () => {
  assert.throws(
    () => loadConfig({}),
    (e) => e instanceof ConfigError && /WAYMARK_SOURCE is required/.test(e.message),
  );
  assert.throws(() => loadConfig({ WAYMARK_SOURCE: "kube:" }), ConfigError);
  assert.throws(() => loadConfig({ WAYMARK_SOURCE: "kube", WAYMARK_LEASE_NAME: "Bad_Name" }), ConfigError);
  assert.throws(() => loadConfig({ WAYMARK_SOURCE: "dir:" }), ConfigError);
  assert.throws(() => loadConfig({ WAYMARK_SOURCE: "/tmp/x" }), ConfigError);
  assert.throws(() => loadConfig({ WAYMARK_SOURCE: "dir:/x", WAYMARK_NATS_URL: "http://x" }), ConfigError);
  for (const bad of ["0", "1k", "-5", "4095", "67108865"])
    assert.throws(() => loadConfig({ WAYMARK_SOURCE: "dir:/x", WAYMARK_MAX_OBJECT_BYTES: bad }), ConfigError);
  assert.equal(
    loadConfig({ WAYMARK_SOURCE: "dir:/x", WAYMARK_MAX_OBJECT_BYTES: "65536" }).maxObjectBytes,
    65536,
  );
});
