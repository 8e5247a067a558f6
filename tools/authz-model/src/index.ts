// @waymark/authz-model: a pure reference model of Istio's AuthorizationPolicy semantics on a
// waypoint, the oracle of the differential test of issue 13. No I/O, no clock.

export * as arbitraries from "./arbitraries.ts";
export {
  boundTo,
  DEFAULT_ROOT_NAMESPACE,
  targetRefs,
  WAYPOINT_GATEWAY_CLASS,
  type WaypointTarget,
} from "./binding.ts";
export {
  type CompiledPolicy,
  compile,
  evaluate,
  matchingRule,
  type Problem,
  type Protocol,
  problems,
} from "./evaluate.ts";
export { DEFAULT_TRUST_DOMAIN, expandPrincipal, header, jwtPayload } from "./keys.ts";
export { cidrContains, parseCidr, templateRegex, validPath } from "./match.ts";
export * from "./types.ts";
export { validate } from "./validate.ts";
