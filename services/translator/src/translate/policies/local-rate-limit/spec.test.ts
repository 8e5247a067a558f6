import assert from "node:assert/strict";
import { test } from "node:test";
import { localRateLimitFeature } from "./index.ts";
import { readRateLimit } from "./spec.ts";

/** Reads rateLimit.local of `rateLimit`, as the policy reader hands it over. */
const read = (rateLimit: { local?: unknown; [k: string]: unknown }) => readRateLimit(rateLimit.local);
const errors = (r: ReturnType<typeof readRateLimit>) =>
  r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);

test("a token bucket with kgateway's defaults: enabled and enforced for every request, one token per fill", () => {
  const r = read({ local: { tokenBucket: { maxTokens: 3, fillInterval: "1m30s" } } });
  assert.ok(r.ok && r.value.kind === "limit");
  if (!r.ok || r.value.kind !== "limit") return;
  assert.deepEqual(r.value.config, {
    statPrefix: "http_local_rate_limiter",
    tokenBucket: { maxTokens: 3, fillInterval: "90s" },
    filterEnabled: {
      defaultValue: { numerator: 100, denominator: "HUNDRED" },
      runtimeKey: "local_rate_limit_enabled",
    },
    filterEnforced: {
      defaultValue: { numerator: 100, denominator: "HUNDRED" },
      runtimeKey: "local_rate_limit_enforced",
    },
    enableXRatelimitHeaders: "DRAFT_VERSION_03",
  });
});

test("percentEnabled and percentEnforced are the runtime fractions' defaults; tokensPerFill carried", () => {
  const r = read({
    local: {
      tokenBucket: { maxTokens: 3, tokensPerFill: 2, fillInterval: "500ms" },
      percentEnabled: 0,
      percentEnforced: 25,
    },
  });
  assert.ok(r.ok && r.value.kind === "limit");
  if (!r.ok || r.value.kind !== "limit") return;
  assert.deepEqual(r.value.config.tokenBucket, { maxTokens: 3, tokensPerFill: 2, fillInterval: "0.500s" });
  assert.equal(r.value.config.filterEnabled?.defaultValue?.numerator, 0);
  assert.equal(r.value.config.filterEnforced?.defaultValue?.numerator, 25);
});

test("local: {} disables; its per-route config turns the filter off", () => {
  const r = read({ local: {} });
  assert.deepEqual(r, { ok: true, value: { kind: "disable" } });
  if (!r.ok) return;
  const cfg = localRateLimitFeature.perRoute!(r.value)["envoy.filters.http.local_ratelimit"] as Record<
    string,
    unknown
  >;
  assert.deepEqual(cfg.filterEnabled, {
    defaultValue: { numerator: 0, denominator: "HUNDRED" },
    runtimeKey: "local_rate_limit_disabled",
  });
});

test("errors name the field", () => {
  assert.deepEqual(errors(read({ local: { tokenBucket: { maxTokens: 0, fillInterval: "10ms" } } })), [
    "rateLimit.local.tokenBucket.maxTokens: must be a whole number from 1 to 2147483647",
    "rateLimit.local.tokenBucket.fillInterval: must be 50ms or more",
  ]);
  assert.match(
    errors(read({ local: { percentEnabled: 50 } }))[0] ?? "",
    /^rateLimit\.local\.tokenBucket: required/,
  );
  assert.match(errors(read({ local: { tokenBucket: { maxTokens: 1 } } }))[0] ?? "", /fillInterval: required/);
  assert.match(
    errors(
      read({ local: { tokenBucket: { maxTokens: 1, fillInterval: "1s" }, shareAcrossGateway: true } }),
    )[0] ?? "",
    /^rateLimit\.local\.shareAcrossGateway: unknown field/,
  );
  assert.match(
    errors(read({ local: { tokenBucket: { maxTokens: 1, fillInterval: "soon" } } }))[0] ?? "",
    /not a duration/,
  );
});
