// Reading TrafficPolicy rateLimit.local (kgateway's shape): a token bucket Envoy keeps in the
// waypoint itself: maxTokens requests at once, tokensPerFill more every fillInterval (default 1), of
// which percentEnabled percent of requests are checked and percentEnforced percent of those are
// refused when the bucket is empty (both 100 when not given, as kgateway). `local: {}` turns a
// Gateway-level limit off where it is in force. rateLimit.global is a feature of its own
// (policies/rate-limit-global/).
import type { LocalRateLimitJson } from "@waymark/envoy-proto";
import { type FeatureRead, FieldErrors } from "../feature.ts";
import { durationJson, object, percentJson, readDuration, readInt, unknownKeys } from "../read.ts";

/** kgateway's stat prefix and runtime keys, so stats and runtime overrides read the same. */
export const STAT_PREFIX = "http_local_rate_limiter";
const ENABLED_KEY = "local_rate_limit_enabled";
const ENFORCED_KEY = "local_rate_limit_enforced";
const DISABLED_KEY = "local_rate_limit_disabled";

export type LocalRateLimit =
  /** `local: {}`: no limit where in force (overrides a Gateway-level one). */
  { kind: "disable" } | { kind: "limit"; config: LocalRateLimitJson };

const INT32 = 2 ** 31 - 1;

/** The per-route config that keeps the filter from limiting (Envoy wants a bucket there even so). */
export function disabledConfig(): LocalRateLimitJson {
  return {
    statPrefix: STAT_PREFIX,
    tokenBucket: { maxTokens: 1, fillInterval: "1s" },
    filterEnabled: { defaultValue: percentJson(0), runtimeKey: DISABLED_KEY },
  };
}

export function readRateLimit(value: unknown): FeatureRead<LocalRateLimit> {
  const errors = new FieldErrors();
  const local = object(value, "rateLimit.local", errors);
  if (!local) return { ok: false, errors: errors.list };
  unknownKeys(local, ["tokenBucket", "percentEnabled", "percentEnforced"], "rateLimit.local", errors);
  if (Object.keys(local).length === 0) return { ok: true, value: { kind: "disable" } };

  const enabled = readInt(local.percentEnabled, "rateLimit.local.percentEnabled", errors, 0, 100) ?? 100;
  const enforced = readInt(local.percentEnforced, "rateLimit.local.percentEnforced", errors, 0, 100) ?? 100;
  if (local.tokenBucket === undefined) {
    errors.at("rateLimit.local.tokenBucket", "required (or give local: {} to turn rate limiting off)");
    return { ok: false, errors: errors.list };
  }
  const tb = object(local.tokenBucket, "rateLimit.local.tokenBucket", errors);
  let maxTokens: number | undefined;
  let tokensPerFill: number | undefined;
  let fillMs: number | undefined;
  if (tb) {
    unknownKeys(tb, ["maxTokens", "tokensPerFill", "fillInterval"], "rateLimit.local.tokenBucket", errors);
    if (tb.maxTokens === undefined) errors.at("rateLimit.local.tokenBucket.maxTokens", "required");
    maxTokens = readInt(tb.maxTokens, "rateLimit.local.tokenBucket.maxTokens", errors, 1, INT32);
    tokensPerFill = readInt(tb.tokensPerFill, "rateLimit.local.tokenBucket.tokensPerFill", errors, 1, INT32);
    if (tb.fillInterval === undefined) errors.at("rateLimit.local.tokenBucket.fillInterval", "required");
    else {
      fillMs = readDuration(tb.fillInterval, "rateLimit.local.tokenBucket.fillInterval", errors);
      // Envoy refuses a faster refill (and the CRD says so too).
      if (fillMs !== undefined && fillMs < 50) {
        errors.at("rateLimit.local.tokenBucket.fillInterval", "must be 50ms or more");
        fillMs = undefined;
      }
    }
  }
  if (errors.length || maxTokens === undefined || fillMs === undefined)
    return { ok: false, errors: errors.list };
  const config: LocalRateLimitJson = {
    statPrefix: STAT_PREFIX,
    tokenBucket: {
      maxTokens,
      // The CRD's default is 1, as Envoy's.
      ...(tokensPerFill !== undefined && tokensPerFill !== 1 ? { tokensPerFill } : {}),
      fillInterval: durationJson(fillMs),
    },
    filterEnabled: { defaultValue: percentJson(enabled), runtimeKey: ENABLED_KEY },
    filterEnforced: { defaultValue: percentJson(enforced), runtimeKey: ENFORCED_KEY },
    // Tell clients the bucket's state (x-ratelimit-limit, -remaining, -reset on every response of a
    // limited route, a 429 included). kgateway sends none; a client that backs off needs them, and
    // they say nothing a client could not count itself.
    enableXRatelimitHeaders: "DRAFT_VERSION_03",
  };
  return { ok: true, value: { kind: "limit", config } };
}
