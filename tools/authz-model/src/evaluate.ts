// The decision of a set of AuthorizationPolicies bound to one waypoint chain for one request.
// Sources: https://istio.io/latest/docs/concepts/security/#authorization-policies ("Allow, deny and
// custom actions", "Implicit enablement", "Dry run"), the reference page
// https://istio.io/latest/docs/reference/config/security/authorization-policy/, and istio/istio
// pilot/pkg/security/authz/builder/builder.go + model/model.go, which produce Envoy's config.
import { type Attribute, operationAttribute, sourceAttribute, sourceFields, whenAttribute } from "./keys.ts";
import type {
  Action,
  AuthorizationPolicy,
  Condition,
  EvaluateOptions,
  Operation,
  Request,
  Rule,
  Source,
  Verdict,
} from "./types.ts";

export type Protocol = Request["protocol"];

/** Why a field of a rule could not be expressed on a chain, and what that did to the rule. */
export interface Problem {
  policy: string;
  /** Index of the rule, -1 for the policy as a whole. */
  rule: number;
  /** The source/operation field (`paths`, `notPaths`, …) or `when` key. */
  field: string;
  cause: "http-only" | "unknown-key" | "untranslatable" | "invalid-value";
  /** ALLOW: the rule matches nothing. DENY, AUDIT, CUSTOM: the condition is left out (matches more). */
  effect: "rule-matches-nothing" | "condition-dropped";
}

/** One field of one `from`/`to` entry or one `when` condition: OR of `values`, NOR of `notValues`. */
interface Check {
  attr: Attribute;
  values?: string[];
  notValues?: string[];
}

interface CompiledRule {
  /** null: the rule matches nothing (an ALLOW rule with a field the chain cannot express). */
  from: Check[][] | null;
  to: Check[][];
  when: Check[];
}

export interface CompiledPolicy {
  name: string;
  action: Action;
  provider?: string;
  dryRun: boolean;
  rules: CompiledRule[];
  problems: Problem[];
}

export const policyName = (p: AuthorizationPolicy) => `${p.metadata.namespace}/${p.metadata.name}`;

/**
 * `istio.io/dry-run: "true"` puts an ALLOW or DENY policy in the RBAC filter's shadow rules: it is
 * evaluated and logged, never enforced (builder.go isDryRun, strconv.ParseBool; istio.io "Dry run").
 * The model honours it for ALLOW and DENY only: for CUSTOM istiod still triggers ext_authz (the
 * comment in builder.go buildHTTP), and AUDIT never decides anyway.
 */
function isDryRun(p: AuthorizationPolicy) {
  const v = p.metadata.annotations?.["istio.io/dry-run"];
  return v !== undefined && ["1", "t", "T", "true", "TRUE", "True"].includes(v);
}

/**
 * Compiles a policy for one kind of chain. A field the chain cannot express follows Istio's rule for
 * HTTP-only fields on TCP (model.go `rule.checkError`): in an ALLOW policy the whole rule is dropped
 * (it allows nothing), in DENY, AUDIT and CUSTOM only that condition is (the rule matches more).
 * The same rule covers, so that nothing fails open: a `when` key istiod does not know (model.New
 * rejects it and istiod would skip even a DENY rule; admission rejects it first), a field in
 * `options.untranslatable`, `experimental.envoy.filters.*` (Envoy metadata the model cannot see), and
 * a value istiod's admission would reject (bad CIDR, port, path template…). For those invalid values
 * the model drops the whole values or notValues list, not just the bad value as the builder does: a
 * narrower DENY would be a fail-open, and such a policy never passes admission anyway.
 */
export function compile(policy: AuthorizationPolicy, protocol: Protocol, opts: EvaluateOptions = {}) {
  const spec = policy.spec;
  const name = policyName(policy);
  // An action outside the enum never reaches istiod (the CRD schema rejects it); if one reaches the
  // model it is treated as DENY, the reading that cannot let anything through.
  const known = ["ALLOW", "DENY", "AUDIT", "CUSTOM"].includes(spec.action ?? "ALLOW");
  const action: Action = known ? (spec.action ?? "ALLOW") : "DENY";
  const allow = action === "ALLOW";
  const ns = policy.metadata.namespace;
  const untranslatable = new Set(opts.untranslatable ?? []);
  const problems: Problem[] = [];
  const rules: CompiledRule[] = [];
  if (!known)
    problems.push({
      policy: name,
      rule: -1,
      field: "action",
      cause: "invalid-value",
      effect: "condition-dropped",
    });

  (spec.rules ?? []).forEach((rule: Rule | null | undefined, index) => {
    let dead = false;
    const problem = (field: string, cause: Problem["cause"]) => {
      problems.push({
        policy: name,
        rule: index,
        field,
        cause,
        effect: allow ? "rule-matches-nothing" : "condition-dropped",
      });
      if (allow) dead = true;
    };
    // One values/notValues pair of a field; undefined when it imposes nothing.
    const check = (
      field: string,
      attr: Attribute | "malformed" | undefined,
      values: string[] | undefined,
      notValues: string[] | undefined,
      valuesField = field,
      notValuesField = field,
    ): Check | undefined => {
      // istiod rejects an unknown key even without values (model.New); a malformed header or claim
      // key only fails when a value is generated from it.
      if (attr === undefined) {
        problem(field, "unknown-key");
        return undefined;
      }
      if (!values?.length && !notValues?.length) return undefined;
      if (attr === "malformed") {
        problem(field, "invalid-value");
        return undefined;
      }
      const blocked =
        (attr.httpOnly && protocol === "tcp" && "http-only") ||
        ((untranslatable.has(field) || untranslatable.has(valuesField)) && "untranslatable");
      if (blocked) {
        if (values?.length) problem(valuesField, blocked);
        if (notValues?.length) problem(notValuesField, blocked);
        return undefined;
      }
      // A non-string value (`ports: [8000]` in hand-written YAML; the CRD schema rejects it) is invalid.
      const valid = (v: unknown) => typeof v === "string" && attr.valid(v);
      const out: Check = { attr };
      if (values?.length) {
        if (values.every(valid)) out.values = values;
        else problem(valuesField, "invalid-value");
      }
      if (notValues?.length) {
        if (untranslatable.has(notValuesField)) problem(notValuesField, "untranslatable");
        else if (notValues.every(valid)) out.notValues = notValues;
        else problem(notValuesField, "invalid-value");
      }
      return out.values || out.notValues ? out : undefined;
    };
    const present = <T>(xs: (T | undefined)[]) => xs.filter((x): x is T => x !== undefined);

    // A null rule: istiod skips it ("skipped nil rule"), so it matches nothing whatever the action.
    if (!rule) {
      rules.push({ from: null, to: [], when: [] });
      return;
    }
    // `when` conditions are added to every `from` (principal side) or `to` (permission side) entry
    // (model.go New); both sides are ANDed, so the model ANDs them once.
    const when = present(
      (rule.when ?? []).map((c: Condition | null) => {
        if (!c || typeof c.key !== "string") {
          problem("when", "invalid-value");
          return undefined;
        }
        if (c.key.startsWith("experimental.envoy.filters.")) {
          problem(c.key, "untranslatable");
          return undefined;
        }
        return check(c.key, whenAttribute(c.key, ns, opts), c.values, c.notValues);
      }),
    );
    // Each `from` entry is one principal of the Envoy policy and each `to` entry one permission; an
    // Envoy policy matches when one permission and one principal do (model.go Generate). An entry with
    // no source/operation, like no entries at all, is `any: true`.
    // A null entry (only from hand-written YAML) is read as `{}`: in DENY that matches more, and in
    // ALLOW the rule already matches nothing.
    const nullEntry = (field: string) => {
      problem(field, "invalid-value");
      return {};
    };
    const from = (rule.from ?? []).map((entry) => {
      const s: Source = entry ? (entry.source ?? {}) : nullEntry("from");
      return present(
        (
          [
            "principals",
            "requestPrincipals",
            "namespaces",
            "serviceAccounts",
            "trustDomains",
            "ipBlocks",
            "remoteIpBlocks",
          ] as const
        ).map((f) => {
          const not = `not${f[0]!.toUpperCase()}${f.slice(1)}` as keyof Source;
          return check(f, sourceAttribute(sourceFields[f], ns, opts), s[f], s[not], f, not);
        }),
      );
    });
    const to = (rule.to ?? []).map((entry) => {
      const o: Operation = entry ? (entry.operation ?? {}) : nullEntry("to");
      return present(
        (["hosts", "ports", "methods", "paths"] as const).map((f) => {
          const not = `not${f[0]!.toUpperCase()}${f.slice(1)}` as keyof Operation;
          return check(f, operationAttribute(f), o[f], o[not], f, not);
        }),
      );
    });
    rules.push({ from: dead ? null : from, to, when });
  });

  const compiled: CompiledPolicy = {
    name,
    action,
    dryRun: action !== "CUSTOM" && action !== "AUDIT" && isDryRun(policy),
    rules,
    problems,
  };
  if (spec.provider?.name !== undefined) compiled.provider = spec.provider.name;
  return compiled;
}

function checkMatches(c: Check, req: Request) {
  if (c.values && !c.values.some((v) => c.attr.test(v, req))) return false;
  if (c.notValues?.some((v) => c.attr.test(v, req))) return false;
  return true;
}

const entriesMatch = (entries: Check[][], req: Request) =>
  entries.length === 0 || entries.some((checks) => checks.every((c) => checkMatches(c, req)));

/** The index of the first rule of the policy that matches, or -1. `rules: []` matches nothing. */
export function matchingRule(p: CompiledPolicy, req: Request): number {
  return p.rules.findIndex(
    (r) =>
      r.from !== null &&
      r.when.every((c) => checkMatches(c, req)) &&
      entriesMatch(r.from, req) &&
      entriesMatch(r.to, req),
  );
}

/**
 * The verdict for `request` of the policies bound to its chain (binding is the caller's: see
 * `boundTo`). Istio's order (istio.io concepts/security "Authorization policy precedence"):
 * CUSTOM first, then DENY, then ALLOW; with no ALLOW policy every request that passed is allowed,
 * with any ALLOW policy a request must match one. AUDIT only records (builder.go: RBAC action LOG).
 */
export function evaluate(
  policies: readonly AuthorizationPolicy[],
  request: Request,
  options: EvaluateOptions = {},
): Verdict {
  const compiled = policies.map((p) => compile(p, request.protocol, options));
  const audited = compiled.some((p) => p.action === "AUDIT" && matchingRule(p, request) >= 0);
  const first = (action: Action) => {
    for (const p of compiled) {
      if (p.action !== action || p.dryRun) continue;
      const rule = matchingRule(p, request);
      if (rule >= 0) return { policy: p, rule };
    }
    return undefined;
  };
  // CUSTOM: a matching rule sends the request to the provider, whose verdict is injected; a provider
  // istiod cannot find (here: no verdict) denies what its policies match (builder.go
  // getBadCustomDenyRules). Each provider is asked once; any deny denies.
  for (const p of compiled) {
    if (p.action !== "CUSTOM") continue;
    const rule = matchingRule(p, request);
    if (rule < 0) continue;
    const verdict = (p.provider !== undefined && options.customVerdicts?.[p.provider]) || "deny";
    if (verdict === "deny") return { decision: "deny", reason: "custom", policy: p.name, rule, audited };
  }
  const deny = first("DENY");
  if (deny) return { decision: "deny", reason: "deny", policy: deny.policy.name, rule: deny.rule, audited };
  // An ALLOW policy without rules (`spec: {}`) still counts: it makes the RBAC ALLOW filter exist
  // with a policy that never matches (builder.go rbacPolicyMatchNever), so it denies everything else.
  if (!compiled.some((p) => p.action === "ALLOW" && !p.dryRun)) {
    return { decision: "allow", reason: "no-allow-policy", audited };
  }
  const allow = first("ALLOW");
  if (allow)
    return { decision: "allow", reason: "allow", policy: allow.policy.name, rule: allow.rule, audited };
  return { decision: "deny", reason: "no-allow-match", audited };
}

/** Every field the chain cannot express, per policy: what the translator must name in status. */
export function problems(
  policies: readonly AuthorizationPolicy[],
  protocol: Protocol,
  options: EvaluateOptions = {},
): Problem[] {
  return policies.flatMap((p) => compile(p, protocol, options).problems);
}
