// TrafficPolicy faultInjection: a fixed delay, an abort (an HTTP status, or a gRPC status), a response
// rate limit, each on a percentage of requests (100 when not given), and maxActiveFaults. As in
// kgateway, Envoy's fault filter sits, disabled, in the connection manager; a route entry or virtual
// host enables it with its HTTPFault. `disable: {}` gives an empty HTTPFault: no fault, and a
// Gateway-level one no longer applies to that route.
import type { HTTPFaultJson } from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig } from "../../ir/types.ts";
import { FieldErrors, type PolicyFeature } from "../feature.ts";
import {
  durationJson,
  object,
  percentJson,
  readDisable,
  readDuration,
  readInt,
  unknownKeys,
} from "../read.ts";

export const FAULT_FILTER = "envoy.filters.http.fault";

export interface FaultValue {
  fault: HTTPFaultJson;
}

const HOUR_MS = 3_600_000;
const UINT32_MAX = 2 ** 32 - 1;

function percentage(v: Record<string, unknown>, path: string, errors: FieldErrors) {
  return percentJson(readInt(v.percentage, `${path}.percentage`, errors, 0, 100) ?? 100);
}

export function readFault(
  value: unknown,
): { ok: true; value: FaultValue } | { ok: false; errors: FieldErrors["list"] } {
  const errors = new FieldErrors();
  const path = "faultInjection";
  const v = object(value, path, errors);
  const fault: HTTPFaultJson = {};
  if (v) {
    unknownKeys(v, ["delay", "abort", "responseRateLimit", "maxActiveFaults", "disable"], path, errors);
    const disable = readDisable(v.disable, `${path}.disable`, errors);
    if (!disable && v.delay === undefined && v.abort === undefined && v.responseRateLimit === undefined)
      errors.at(path, "set at least one of delay, abort, responseRateLimit and disable");
    if (disable && Object.keys(v).length > 1)
      errors.at(`${path}.disable`, "cannot be combined with other faultInjection fields");
    if (!disable) {
      if (v.delay !== undefined) {
        const d = object(v.delay, `${path}.delay`, errors);
        if (d) {
          unknownKeys(d, ["fixedDelay", "percentage"], `${path}.delay`, errors);
          const ms = readDuration(d.fixedDelay, `${path}.delay.fixedDelay`, errors);
          if (ms !== undefined && (ms < 1 || ms > HOUR_MS))
            errors.at(`${path}.delay.fixedDelay`, "must be at least 1ms and at most 1h");
          const pct = percentage(d, `${path}.delay`, errors);
          if (ms !== undefined) fault.delay = { fixedDelay: durationJson(ms), percentage: pct };
        }
      }
      if (v.abort !== undefined) {
        const a = object(v.abort, `${path}.abort`, errors);
        if (a) {
          unknownKeys(a, ["httpStatus", "grpcStatus", "percentage"], `${path}.abort`, errors);
          const pct = percentage(a, `${path}.abort`, errors);
          if ((a.httpStatus === undefined) === (a.grpcStatus === undefined))
            errors.at(`${path}.abort`, "set exactly one of httpStatus and grpcStatus");
          else if (a.httpStatus !== undefined) {
            const s = readInt(a.httpStatus, `${path}.abort.httpStatus`, errors, 200, 599);
            if (s !== undefined) fault.abort = { httpStatus: s, percentage: pct };
          } else {
            const s = readInt(a.grpcStatus, `${path}.abort.grpcStatus`, errors, 0, 16);
            if (s !== undefined) fault.abort = { grpcStatus: s, percentage: pct };
          }
        }
      }
      if (v.responseRateLimit !== undefined) {
        const r = object(v.responseRateLimit, `${path}.responseRateLimit`, errors);
        if (r) {
          unknownKeys(r, ["kbitsPerSecond", "percentage"], `${path}.responseRateLimit`, errors);
          const kbps = readInt(
            r.kbitsPerSecond,
            `${path}.responseRateLimit.kbitsPerSecond`,
            errors,
            1,
            Number.MAX_SAFE_INTEGER,
          );
          if (r.kbitsPerSecond === undefined)
            errors.at(`${path}.responseRateLimit.kbitsPerSecond`, "is required");
          const pct = percentage(r, `${path}.responseRateLimit`, errors);
          if (kbps !== undefined)
            fault.responseRateLimit = { fixedLimit: { limitKbps: String(kbps) }, percentage: pct };
        }
      }
      const max = readInt(v.maxActiveFaults, `${path}.maxActiveFaults`, errors, 0, UINT32_MAX);
      if (max !== undefined) fault.maxActiveFaults = max;
    }
  }
  if (errors.length) return { ok: false, errors: errors.list };
  return { ok: true, value: { fault } };
}

export const faultInjectionFeature: PolicyFeature<FaultValue> = {
  field: "faultInjection",
  read: readFault,
  equal: (a, b) => JSON.stringify(a.fault) === JSON.stringify(b.fault),
  httpFilters: [
    {
      slot: "faultInjection",
      filter: {
        name: FAULT_FILTER,
        disabled: true,
        typedConfig: pack("envoy.extensions.filters.http.fault.v3.HTTPFault", {} satisfies HTTPFaultJson),
      },
    },
  ],
  perRoute: ({ fault }): PerFilterConfig => ({
    [FAULT_FILTER]: pack("envoy.extensions.filters.http.fault.v3.HTTPFault", fault),
  }),
};
