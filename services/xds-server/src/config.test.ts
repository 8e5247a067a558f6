import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "@waymark/api";
import { loadConfig } from "./config.ts";

test("defaults", () => {
  const c = loadConfig({});
  assert.equal(c.natsUrl, "nats://127.0.0.1:4222");
  assert.equal(c.address, "0.0.0.0:18000");
  assert.match(c.replica, /-\d+$/);
  assert.ok(Object.isFrozen(c));
});

test("explicit values and bad values", () => {
  const c = loadConfig({
    WAYMARK_NATS_URL: "nats://nats:4222",
    WAYMARK_XDS_ADDRESS: "[::]:0",
    WAYMARK_REPLICA: "xds-0",
    WAYMARK_XDS_MAX_CONNECTION_AGE_MS: "0",
  });
  assert.deepEqual(
    { ...c },
    {
      natsUrl: "nats://nats:4222",
      address: "[::]:0",
      replica: "xds-0",
      maxConnectionAgeMs: 0,
      keepaliveMs: 30_000,
      proxyRecordTtlMs: 30_000,
      auth: "none",
      tokenAudience: "waymark",
      tokenIssuer: undefined,
      tokenSkewSeconds: 30,
      maxSendBytes: 128 * 1024 * 1024,
    },
  );
  assert.equal(loadConfig({ WAYMARK_PROXY_RECORD_TTL_MS: "0" }).proxyRecordTtlMs, 0);
  assert.equal(loadConfig({ WAYMARK_XDS_KEEPALIVE_MS: "0" }).keepaliveMs, 0);
  assert.throws(() => loadConfig({ WAYMARK_XDS_KEEPALIVE_MS: "999" }), /KEEPALIVE/);
  assert.throws(() => loadConfig({ WAYMARK_PROXY_RECORD_TTL_MS: "500" }), /PROXY_RECORD_TTL/);
  assert.throws(() => loadConfig({ WAYMARK_PROXY_RECORD_TTL_MS: "1m" }), /PROXY_RECORD_TTL/);
  assert.throws(() => loadConfig({ WAYMARK_XDS_ADDRESS: "18000" }), ConfigError);
  assert.throws(() => loadConfig({ WAYMARK_XDS_ADDRESS: "x:99999" }), ConfigError);
  assert.throws(() => loadConfig({ WAYMARK_NATS_URL: "http://x" }), ConfigError);
  assert.throws(() => loadConfig({ WAYMARK_REPLICA: "a b" }), ConfigError);
  assert.throws(() => loadConfig({ WAYMARK_XDS_MAX_CONNECTION_AGE_MS: "soon" }), /MAX_CONNECTION_AGE/);
});

test("proxy authentication settings", () => {
  const c = loadConfig({
    WAYMARK_XDS_AUTH: "kubernetes",
    WAYMARK_XDS_TOKEN_AUDIENCE: "xds",
    WAYMARK_XDS_TOKEN_ISSUER: "https://kubernetes.default.svc",
    WAYMARK_XDS_TOKEN_SKEW_S: "5",
  });
  assert.equal(c.auth, "kubernetes");
  assert.equal(c.tokenAudience, "xds");
  assert.equal(c.tokenIssuer, "https://kubernetes.default.svc");
  assert.equal(c.tokenSkewSeconds, 5);
  assert.throws(() => loadConfig({ WAYMARK_XDS_AUTH: "jwt" }), /WAYMARK_XDS_AUTH/);
  assert.throws(() => loadConfig({ WAYMARK_XDS_TOKEN_SKEW_S: "-1" }), /SKEW/);
  assert.throws(() => loadConfig({ WAYMARK_XDS_TOKEN_AUDIENCE: "a b" }), /AUDIENCE/);
});

test("send limit", () => {
  assert.equal(loadConfig({ WAYMARK_XDS_MAX_SEND_BYTES: "65536" }).maxSendBytes, 65536);
  assert.equal(loadConfig({ WAYMARK_XDS_MAX_SEND_BYTES: "2147483647" }).maxSendBytes, 2 ** 31 - 1);
  for (const bad of ["1024", "2147483648", "1MiB", "-5", "1e6"]) {
    assert.throws(() => loadConfig({ WAYMARK_XDS_MAX_SEND_BYTES: bad }), /WAYMARK_XDS_MAX_SEND_BYTES/);
  }
});
