import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "@waymark/api";
import { NATS_REPLICAS_ENV, natsReplicasFromEnv, splitCredentials } from "./index.ts";

test("WAYMARK_NATS_REPLICAS: 1 by default, 1, 3 or 5 when set", () => {
  assert.equal(natsReplicasFromEnv({}), 1);
  assert.equal(natsReplicasFromEnv({ [NATS_REPLICAS_ENV]: " " }), 1);
  for (const n of [1, 3, 5]) assert.equal(natsReplicasFromEnv({ [NATS_REPLICAS_ENV]: ` ${n} ` }), n);
});

test("WAYMARK_NATS_REPLICAS: any other value is a ConfigError that names the variable and the values it takes", () => {
  for (const bad of ["0", "2", "4", "6", "03", "3.0", "three", "-1", "1e0"]) {
    assert.throws(
      () => natsReplicasFromEnv({ [NATS_REPLICAS_ENV]: bad }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.code === "invalid-config" &&
        e.message.includes(`WAYMARK_NATS_REPLICAS=${JSON.stringify(bad)}`) &&
        e.message.includes("expected 1, 3 or 5"),
      bad,
    );
  }
});

test("WAYMARK_NATS_URL may list a cluster's servers, each with the same credentials", () => {
  assert.deepEqual(
    splitCredentials(
      "nats://watcher:s%40c@nats-0.n:4222,nats://watcher:s%40c@nats-1.n:4222, nats://nats-2.n:4222",
    ),
    {
      servers: ["nats://nats-0.n:4222", "nats://nats-1.n:4222", "nats://nats-2.n:4222"],
      user: "watcher",
      pass: "s@c",
    },
  );
  assert.deepEqual(splitCredentials(["nats://a:1", "nats://b:2,nats://c:3"]).servers, [
    "nats://a:1",
    "nats://b:2",
    "nats://c:3",
  ]);
});
