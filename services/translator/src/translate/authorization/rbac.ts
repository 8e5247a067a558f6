// AuthorizationPolicies of one chain → Envoy RBAC filters (HTTP or network), one per action, in the
// order AUDIT, DENY, ALLOW (docs/design/authorization.md §2, §3, §6). The rules and their fields are
// translated in rbac/rules.ts (fields in rbac/fields.ts, matchers in rbac/matchers.ts); this file
// groups them into filters. A CUSTOM policy that gets here is one whose provider is not called (an
// unknown provider.name, another provider on the waypoint, a TCP chain; custom.ts builds the called
// ones): its rules go into the DENY filter, so it denies what it matches (Istio's behaviour for a
// provider it cannot use).
import type {
  FilterJson,
  HttpFilterJson,
  HttpRbacJson,
  NetworkRbacJson,
  RbacConfigJson,
} from "@waymark/envoy-proto";
import { pack } from "../ir/any.ts";
import type {
  AuthzProblem,
  BoundPolicy,
  ChainProtocol,
  HttpRbacBuilder,
  NetworkRbacBuilder,
  TrustDomains,
} from "./contract.ts";
import { type EnvoyAction, translatePolicy } from "./rbac/rules.ts";

/** Filter names: one per action, so config dumps and per-route overrides can tell them apart. */
export const HTTP_RBAC_FILTER_NAMES = {
  LOG: "envoy.filters.http.rbac.audit",
  DENY: "envoy.filters.http.rbac.deny",
  ALLOW: "envoy.filters.http.rbac.allow",
} as const satisfies Record<EnvoyAction, string>;
export const NETWORK_RBAC_FILTER_NAMES = {
  LOG: "envoy.filters.network.rbac.audit",
  DENY: "envoy.filters.network.rbac.deny",
  ALLOW: "envoy.filters.network.rbac.allow",
} as const satisfies Record<EnvoyAction, string>;

const ACTION_ORDER: readonly EnvoyAction[] = ["LOG", "DENY", "ALLOW"];

interface ActionRules {
  rules?: RbacConfigJson;
  shadowRules?: RbacConfigJson;
}

/** The enforced and dry-run RBAC configs of each action (an action with no policy: absent). */
function collect(
  policies: readonly BoundPolicy[],
  td: TrustDomains,
  protocol: ChainProtocol,
): { byAction: Map<EnvoyAction, ActionRules>; problems: AuthzProblem[] } {
  const byAction = new Map<EnvoyAction, ActionRules>();
  const problems: AuthzProblem[] = [];
  for (const p of policies) {
    const t = translatePolicy(p, td, protocol);
    problems.push(...t.problems);
    let entry = byAction.get(t.action);
    if (!entry) {
      entry = {};
      byAction.set(t.action, entry);
    }
    const key = t.shadow ? "shadowRules" : "rules";
    let config = entry[key];
    if (!config) {
      config = { action: t.action, policies: {} };
      entry[key] = config;
    }
    Object.assign(config.policies!, t.policies);
  }
  return { byAction, problems };
}

/** Istio's dry-run stat prefixes (design note §6). */
function shadowPrefix(action: EnvoyAction): string {
  return action === "ALLOW" ? "istio_dry_run_allow_" : "istio_dry_run_deny_";
}

/** Each action's filter config (AUDIT, DENY, ALLOW order), with `base` fields of the filter type. */
function configs<C extends HttpRbacJson | NetworkRbacJson>(
  byAction: Map<EnvoyAction, ActionRules>,
  base: () => C,
): Array<{ action: EnvoyAction; config: C }> {
  const out: Array<{ action: EnvoyAction; config: C }> = [];
  for (const action of ACTION_ORDER) {
    const entry = byAction.get(action);
    if (!entry) continue;
    const config = base();
    if (entry.rules) config.rules = entry.rules;
    if (entry.shadowRules) {
      config.shadowRules = entry.shadowRules;
      config.shadowRulesStatPrefix = shadowPrefix(action);
    }
    out.push({ action, config });
  }
  return out;
}

export const httpRbacFilters: HttpRbacBuilder = (policies, td) => {
  const { byAction, problems } = collect(policies, td, "http");
  const filters: HttpFilterJson[] = configs<HttpRbacJson>(byAction, () => ({})).map(({ action, config }) => ({
    name: HTTP_RBAC_FILTER_NAMES[action],
    typedConfig: pack("envoy.extensions.filters.http.rbac.v3.RBAC", config),
  }));
  return { filters, problems };
};

export const networkRbacFilters: NetworkRbacBuilder = (policies, td) => {
  const { byAction, problems } = collect(policies, td, "tcp");
  const filters: FilterJson[] = configs<NetworkRbacJson>(byAction, () => ({ statPrefix: "tcp." })).map(
    ({ action, config }) => ({
      name: NETWORK_RBAC_FILTER_NAMES[action],
      typedConfig: pack("envoy.extensions.filters.network.rbac.v3.RBAC", config),
    }),
  );
  return { filters, problems };
};
