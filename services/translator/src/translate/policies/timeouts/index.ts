// TrafficPolicy `timeouts` (kgateway's shape): request → the route action's timeout (the whole
// request, retries included), streamIdle → its idle_timeout (the stream's idle timeout, which Envoy
// answers with 504 when it fires before the response starts). "0s" disables either. Semantics as
// kgateway programs them:
//   - on a route entry, the HTTPRoute rule's own timeouts.request wins over the policy's request
//     (the built-in field is more specific); streamIdle has no HTTPRoute counterpart and is set;
//   - a Gateway-level value is a default: it fills only what the entry does not already have.
// Entries that do not forward (redirects, direct responses) have no route action and are left alone.
import type { RouteJson } from "@waymark/envoy-proto";
import { msToProto } from "../../routes/resilience.ts";
import { type FeatureContext, type FeatureRead, FieldErrors, type PolicyFeature } from "../feature.ts";
import { readDurationMs, readObject, unknownKeys } from "../route-fields.ts";

export interface TimeoutsValue {
  /** proto3 JSON durations ("1s", "0.500s"). */
  request: string | undefined;
  streamIdle: string | undefined;
}

export function readTimeouts(value: unknown, _ctx?: FeatureContext): FeatureRead<TimeoutsValue> {
  const errors = new FieldErrors();
  const o = readObject(value, "timeouts", errors);
  const out: TimeoutsValue = { request: undefined, streamIdle: undefined };
  if (o) {
    unknownKeys(o, ["request", "streamIdle"], "timeouts", errors);
    for (const k of ["request", "streamIdle"] as const) {
      if (o[k] === undefined) continue;
      const ms = readDurationMs(o[k], `timeouts.${k}`, errors);
      if (ms !== undefined) out[k] = msToProto(ms);
    }
  }
  return errors.length ? { ok: false, errors: errors.list } : { ok: true, value: out };
}

export const timeoutsFeature: PolicyFeature<TimeoutsValue> = {
  field: "timeouts",
  read: readTimeouts,
  equal: (a, b) => a.request === b.request && a.streamIdle === b.streamIdle,
  editRoute(value, route: RouteJson, site) {
    const action = route.route;
    if (!action) return;
    const gatewayLevel = site === undefined;
    if (value.request !== undefined && action.timeout === undefined) action.timeout = value.request;
    if (value.streamIdle !== undefined && (!gatewayLevel || action.idleTimeout === undefined))
      action.idleTimeout = value.streamIdle;
  },
};
