// Reading TrafficPolicy rbac (kgateway's shape): `action` (Allow, the default, or Deny) and
// `policy.matchExpressions`, 1 to 256 CEL expressions over Envoy's request attributes. As in kgateway,
// the expressions are ORed: the request matches when any of them is true. Allow lets a matching
// request through and refuses (403) every other; Deny refuses a matching request and lets the others
// through. An expression that errors when evaluated (a header that is not there, compared) does not
// match — under Deny that request passes, as in Envoy and kgateway.
import type {
  HttpRbacPerRouteJson,
  RbacActionJson,
  XdsMatcherJson,
  XdsMatcherOnMatchJson,
  XdsMatcherPredicateJson,
} from "@waymark/envoy-proto";
import { pack } from "../../ir/any.ts";
import { type FeatureRead, FieldErrors } from "../feature.ts";
import { object, unknownKeys } from "../read.ts";
import { compileCel } from "./cel.ts";

export type RbacAction = "Allow" | "Deny";

export interface RbacValue {
  action: RbacAction;
  /** What a route entry where the policy is in force gets: the whole RBAC config, matcher form. */
  perRoute: HttpRbacPerRouteJson;
}

const MAX_EXPRESSIONS = 256;
const MAX_LENGTH = 16384;

export function readRbac(value: unknown): FeatureRead<RbacValue> {
  const errors = new FieldErrors();
  const v = object(value, "rbac", errors);
  if (!v) return { ok: false, errors: errors.list };
  unknownKeys(v, ["action", "policy"], "rbac", errors);
  const action = v.action ?? "Allow";
  if (action !== "Allow" && action !== "Deny") errors.at("rbac.action", "must be Allow or Deny");
  const exprs: unknown[] = [];
  if (v.policy === undefined) errors.at("rbac.policy", "required");
  else {
    const policy = object(v.policy, "rbac.policy", errors);
    if (policy) {
      unknownKeys(policy, ["matchExpressions"], "rbac.policy", errors);
      const list = policy.matchExpressions;
      if (list === undefined) errors.at("rbac.policy.matchExpressions", "required");
      else if (!Array.isArray(list))
        errors.at("rbac.policy.matchExpressions", "must be a list of CEL expressions");
      else if (list.length < 1 || list.length > MAX_EXPRESSIONS)
        errors.at("rbac.policy.matchExpressions", `must have 1 to ${MAX_EXPRESSIONS} expressions`);
      else exprs.push(...list);
    }
  }
  const predicates: XdsMatcherPredicateJson[] = [];
  exprs.forEach((source, i) => {
    const path = `rbac.policy.matchExpressions[${i}]`;
    if (typeof source !== "string" || source.length < 1 || source.length > MAX_LENGTH) {
      errors.at(path, `must be a CEL expression of 1 to ${MAX_LENGTH} characters`);
      return;
    }
    const compiled = compileCel(source);
    if (!compiled.ok) errors.at(path, compiled.message);
    else predicates.push(celPredicate(compiled.expr));
  });
  if (errors.length) return { ok: false, errors: errors.list };
  const rbacAction = action as RbacAction;
  const matcher: XdsMatcherJson = {
    matcherList: {
      matchers: [
        {
          predicate: predicates.length === 1 ? predicates[0]! : { orMatcher: { predicate: predicates } },
          onMatch: rbacOutcome(rbacAction === "Allow" ? "ALLOW" : "DENY"),
        },
      ],
    },
    onNoMatch: rbacOutcome(rbacAction === "Allow" ? "DENY" : "ALLOW"),
  };
  return { ok: true, value: { action: rbacAction, perRoute: { rbac: { matcher } } } };
}

/** One CEL expression as a matcher predicate over Envoy's HTTP attributes. */
function celPredicate(expr: Record<string, unknown>): XdsMatcherPredicateJson {
  return {
    singlePredicate: {
      input: {
        name: "envoy.matching.inputs.cel_data_input",
        typedConfig: pack("xds.type.matcher.v3.HttpAttributesCelMatchInput", {}),
      },
      customMatch: {
        name: "envoy.matching.matchers.cel_matcher",
        typedConfig: pack("xds.type.matcher.v3.CelMatcher", { exprMatch: { celExprParsed: { expr } } }),
      },
    },
  };
}

function rbacOutcome(action: "ALLOW" | "DENY"): XdsMatcherOnMatchJson {
  const name = action === "ALLOW" ? "allow" : "deny";
  return {
    action: {
      name: `waymark.rbac.${name}`,
      typedConfig: pack("envoy.config.rbac.v3.Action", { name, action } satisfies RbacActionJson),
    },
  };
}
