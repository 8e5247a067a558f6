// The object mirror on a real NATS server: what the bucket holds at start is the initial load (one
// onLoaded, no onChange); later changes each call onChange; a malformed entry is skipped with a warning.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { waitFor } from "@waymark/testing";
import { ObjectMirror } from "../src/service/object-mirror.ts";
import { deleteObject, type Env, putObject, quietLog, startEnv } from "./helpers.ts";

let env: Env;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.close();
});

const service = (name: string): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "mirror" },
});

test("initial load, then one onChange per change; malformed entries are skipped", async () => {
  await putObject(env.objects, service("a"));
  await putObject(env.objects, service("b"));
  const { log, records } = quietLog();
  const calls: string[] = [];
  const mirror = new ObjectMirror();
  mirror.start({
    objects: env.objects,
    log,
    onChange: () => calls.push(`change:${mirror.index.size}`),
    onLoaded: () => calls.push(`loaded:${mirror.index.size}`),
  });
  try {
    await waitFor("loaded", () => mirror.loaded, 10_000, 10);
    assert.deepEqual(calls, ["loaded:2"]);
    await putObject(env.objects, service("c"));
    await waitFor("c applied", () => calls.length === 2, 10_000, 10);
    await deleteObject(env.objects, service("a"));
    await waitFor("a deleted", () => calls.length === 3, 10_000, 10);
    assert.deepEqual(calls, ["loaded:2", "change:3", "change:2"]);
    await env.objects.put("v1.Service.mirror.bad", new TextEncoder().encode("not json"));
    await waitFor(
      "warned",
      () => records.some((r) => r["msg"] === "skipping malformed wm-objects entry"),
      10_000,
      10,
    );
    assert.equal(mirror.index.size, 2);
  } finally {
    mirror.stop();
  }
});
