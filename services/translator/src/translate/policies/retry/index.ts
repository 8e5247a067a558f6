// TrafficPolicy `retry` (kgateway's shape) → the route action's retry_policy:
//   retryOn             → retry_on, the conditions joined by commas (each once, sorted); when
//                         statusCodes is given, "retriable-status-codes" is added
//   attempts            → num_retries (default 1; 0 disables retries)
//   perTryTimeout       → per_try_timeout (at least 1ms; shorter than timeouts.request if both set)
//   statusCodes         → retriable_status_codes (400-599)
//   backoffBaseInterval → retry_back_off.base_interval (at least 1ms; Envoy's default 25ms otherwise,
//                         its max interval 10 times the base)
// At least one of retryOn and statusCodes is required. As kgateway does, a retry policy the HTTPRoute
// rule already has (its retry or timeouts.backendRequest) wins on that entry; a Gateway-level retry
// fills the entries that have none. Entries that do not forward are left alone.
import type { RetryPolicyJson, RouteJson } from "@waymark/envoy-proto";
import { gatewayDurationMs, msToProto } from "../../routes/resilience.ts";
import { type FeatureContext, type FeatureRead, FieldErrors, type PolicyFeature } from "../feature.ts";
import { readDurationMs, readObject, unknownKeys } from "../route-fields.ts";

/** kgateway's RetryOnCondition enum: Envoy's HTTP and gRPC retry conditions. */
export const RETRY_ON_CONDITIONS = [
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
] as const;

const KNOWN = ["retryOn", "attempts", "perTryTimeout", "statusCodes", "backoffBaseInterval"];
/** Fields of newer kgateway versions, accepted and not programmed (the policy is PartiallyValid). */
const NOT_PROGRAMMED = ["retryHostPredicates", "rateLimitedBackOff"];

export interface RetryValue {
  policy: RetryPolicyJson;
  /** Paths accepted but not programmed. */
  ignored: string[];
}

export function readRetry(value: unknown, ctx?: Pick<FeatureContext, "spec">): FeatureRead<RetryValue> {
  const errors = new FieldErrors();
  const o = readObject(value, "retry", errors);
  if (!o) return { ok: false, errors: errors.list };
  unknownKeys(o, [...KNOWN, ...NOT_PROGRAMMED], "retry", errors);
  const ignored = NOT_PROGRAMMED.filter((k) => o[k] !== undefined).map((k) => `retry.${k}`);

  const conditions = new Set<string>();
  if (o.retryOn !== undefined) {
    if (!Array.isArray(o.retryOn) || o.retryOn.length === 0)
      errors.at("retry.retryOn", "must be a non-empty list of retry conditions");
    else
      o.retryOn.forEach((c, i) => {
        if (typeof c === "string" && (RETRY_ON_CONDITIONS as readonly string[]).includes(c))
          conditions.add(c);
        else
          errors.at(
            `retry.retryOn[${i}]`,
            `${JSON.stringify(c)} is not a retry condition (use one of ${RETRY_ON_CONDITIONS.join(", ")})`,
          );
      });
  }

  const codes: number[] = [];
  if (o.statusCodes !== undefined) {
    if (!Array.isArray(o.statusCodes) || o.statusCodes.length === 0)
      errors.at("retry.statusCodes", "must be a non-empty list of HTTP status codes (400-599)");
    else
      o.statusCodes.forEach((c, i) => {
        if (typeof c === "number" && Number.isInteger(c) && c >= 400 && c <= 599) codes.push(c);
        else
          errors.at(
            `retry.statusCodes[${i}]`,
            `${JSON.stringify(c)} is not an HTTP status code from 400 to 599`,
          );
      });
  }
  if (o.retryOn === undefined && o.statusCodes === undefined)
    errors.at("retry", "set retryOn or statusCodes (or both): without them nothing is retried");

  let attempts = 1;
  if (o.attempts !== undefined) {
    if (typeof o.attempts === "number" && Number.isInteger(o.attempts) && o.attempts >= 0)
      attempts = o.attempts;
    else errors.at("retry.attempts", `${JSON.stringify(o.attempts)} is not a whole number of 0 or more`);
  }

  const perTry =
    o.perTryTimeout === undefined
      ? undefined
      : readDurationMs(o.perTryTimeout, "retry.perTryTimeout", errors, 1);
  const backoff =
    o.backoffBaseInterval === undefined
      ? undefined
      : readDurationMs(o.backoffBaseInterval, "retry.backoffBaseInterval", errors, 1);

  // kgateway's rule across fields: each try must be shorter than the whole request.
  const timeouts = ctx?.spec.timeouts;
  const request =
    typeof timeouts === "object" && timeouts !== null
      ? (timeouts as Record<string, unknown>).request
      : undefined;
  const requestMs = typeof request === "string" ? gatewayDurationMs(request) : undefined;
  if (perTry !== undefined && requestMs !== undefined && perTry >= requestMs)
    errors.at(
      "retry.perTryTimeout",
      `${JSON.stringify(o.perTryTimeout)} must be less than timeouts.request (${JSON.stringify(request)})`,
    );

  if (errors.length) return { ok: false, errors: errors.list };
  if (codes.length) conditions.add("retriable-status-codes");
  const policy: RetryPolicyJson = {
    retryOn: [...conditions].sort().join(","),
    numRetries: attempts,
  };
  if (codes.length) policy.retriableStatusCodes = codes;
  if (perTry !== undefined) policy.perTryTimeout = msToProto(perTry);
  if (backoff !== undefined) policy.retryBackOff = { baseInterval: msToProto(backoff) };
  return { ok: true, value: { policy, ignored } };
}

export const retryFeature: PolicyFeature<RetryValue> = {
  field: "retry",
  read: readRetry,
  equal: (a, b) =>
    JSON.stringify(a.policy) === JSON.stringify(b.policy) && a.ignored.join() === b.ignored.join(),
  editRoute(value, route: RouteJson) {
    const action = route.route;
    if (!action || action.retryPolicy !== undefined) return;
    action.retryPolicy = structuredClone(value.policy);
  },
  ignored: (value) => value.ignored,
};
