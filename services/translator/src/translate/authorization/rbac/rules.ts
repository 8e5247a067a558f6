// One AuthorizationPolicy → the RBAC policies of its rules (first version: ALLOW/DENY, any/any).
import type { RbacPolicyJson } from "@waymark/envoy-proto";
import type { AuthzProblem, BoundPolicy, ChainProtocol, TrustDomains } from "../contract.ts";

export type EnvoyAction = "ALLOW" | "DENY" | "LOG";

export interface PolicyTranslation {
  action: EnvoyAction;
  policies: Record<string, RbacPolicyJson>;
  problems: AuthzProblem[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export function translatePolicy(
  p: BoundPolicy,
  _td: TrustDomains,
  _protocol: ChainProtocol,
): PolicyTranslation {
  const spec = isObject(p.spec) ? p.spec : {};
  const action: EnvoyAction =
    spec["action"] === "DENY" ? "DENY" : spec["action"] === "AUDIT" ? "LOG" : "ALLOW";
  const rules = Array.isArray(spec["rules"]) ? spec["rules"] : [];
  const policies: Record<string, RbacPolicyJson> = {};
  if (rules.length === 0) {
    policies[`ns[${p.namespace}]-policy[${p.name}]-rule[0]`] = {
      permissions: [{ notRule: { any: true } }],
      principals: [{ notId: { any: true } }],
    };
  }
  const problems: AuthzProblem[] = [];
  rules.forEach((r, i) => {
    if (r === null) return;
    // First version: fields are not translated yet. Fail closed: an ALLOW rule with fields allows
    // nothing, a DENY rule with fields denies everything.
    if (action === "ALLOW" && isObject(r) && Object.keys(r).length > 0) {
      problems.push({
        policy: `${p.namespace}/${p.name}`,
        rule: i,
        field: `rules[${i}]`,
        cause: "not translated yet",
        effect: "rule-ignored",
      });
      return;
    }
    policies[`ns[${p.namespace}]-policy[${p.name}]-rule[${i}]`] = {
      permissions: [{ any: true }],
      principals: [{ any: true }],
    };
  });
  return { action, policies, problems };
}
