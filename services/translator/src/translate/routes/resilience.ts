// HTTPRoute rule timeouts and retries → RouteAction fields.
//   timeouts.request        → timeout (the whole request, retries included; "0s" disables it)
//   timeouts.backendRequest → retryPolicy.perTryTimeout (each try to the backend)
//   retry {codes, attempts, backoff} → retryPolicy: retried on connection failures and resets, and on
//   the listed status codes; attempts is the number of retries; backoff the base interval.
import type { RetryPolicyJson, RouteActionJson } from "@waymark/envoy-proto";
import { arr, int, isRecord, str } from "../input/guards.ts";

const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A Gateway API duration ("1h30m", "500ms") in milliseconds; undefined when invalid. */
export function gatewayDurationMs(value: string): number | undefined {
  if (!DURATION.test(value)) return undefined;
  let ms = 0;
  for (const m of value.matchAll(/([0-9]+)(h|ms|m|s)/g)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? 0);
  return ms;
}

/** Milliseconds as a proto3 JSON Duration ("5400s", "0.500s"). */
export function msToProto(ms: number): string {
  const s = Math.floor(ms / 1000);
  const frac = ms % 1000;
  return frac ? `${s}.${String(frac).padStart(3, "0")}s` : `${s}s`;
}

/** A Gateway API duration as a proto3 JSON Duration; undefined when invalid. */
export function gatewayDurationToProto(value: string): string | undefined {
  const ms = gatewayDurationMs(value);
  return ms === undefined ? undefined : msToProto(ms);
}

export interface Resilience {
  /** RouteAction fields: timeout, retryPolicy. */
  fields: Pick<RouteActionJson, "timeout" | "retryPolicy">;
  /** Parts that are ignored, with why. */
  problems: string[];
}

function duration(v: unknown, what: string, problems: string[]): number | undefined {
  if (v === undefined) return undefined;
  const ms = gatewayDurationMs(str(v) ?? "");
  if (ms === undefined) problems.push(`${what} ${JSON.stringify(v)} is not a valid duration; it is ignored`);
  return ms;
}

export function compileResilience(rule: Record<string, unknown>): Resilience {
  const problems: string[] = [];
  const fields: Resilience["fields"] = {};
  const timeouts = isRecord(rule.timeouts) ? rule.timeouts : {};
  const request = duration(timeouts.request, "timeouts.request", problems);
  let backend = duration(timeouts.backendRequest, "timeouts.backendRequest", problems);
  if (request !== undefined) fields.timeout = msToProto(request);
  if (backend !== undefined && request !== undefined && request > 0 && (backend === 0 || backend > request)) {
    problems.push(
      `timeouts.backendRequest (${String(timeouts.backendRequest)}) must not be longer than timeouts.request (${String(timeouts.request)}); it is ignored`,
    );
    backend = undefined;
  }

  const policy: RetryPolicyJson = {};
  if (backend !== undefined && backend > 0) {
    policy.perTryTimeout = msToProto(backend);
    // Without a retry stanza a timed-out try is not retried.
    policy.numRetries = 0;
  }
  if (rule.retry !== undefined) {
    const retry = isRecord(rule.retry) ? rule.retry : {};
    const codes: number[] = [];
    for (const c of arr(retry.codes)) {
      const code = int(c);
      if (code === undefined || code < 400 || code > 599)
        problems.push(
          `retry.codes: ${JSON.stringify(c)} is not an HTTP status code from 400 to 599; it is ignored`,
        );
      else if (!codes.includes(code)) codes.push(code);
    }
    const attempts = retry.attempts === undefined ? undefined : int(retry.attempts);
    if (retry.attempts !== undefined && (attempts === undefined || attempts < 0))
      problems.push(`retry.attempts ${JSON.stringify(retry.attempts)} is not a valid count; it is ignored`);
    const backoff = duration(retry.backoff, "retry.backoff", problems);
    policy.retryOn = codes.length
      ? "connect-failure,refused-stream,reset,retriable-status-codes"
      : "connect-failure,refused-stream,reset";
    if (codes.length) policy.retriableStatusCodes = codes;
    // An invalid count is ignored (reported above): the default of 1 retry.
    policy.numRetries = attempts !== undefined && attempts >= 0 ? attempts : 1;
    if (backoff !== undefined && backoff > 0) policy.retryBackOff = { baseInterval: msToProto(backoff) };
  }
  if (Object.keys(policy).length) fields.retryPolicy = policy;
  return { fields, problems };
}
