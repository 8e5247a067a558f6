// One AuthorizationPolicy → the RBAC policies of its rules, for one kind of chain
// (docs/design/authorization.md §3, §6, §7). The spec is raw: everything is read defensively, and
// whatever cannot be expressed fails closed, never open:
//   ALLOW               the rule is dropped (it allows nothing); the policy still makes the filter exist
//   DENY, AUDIT, CUSTOM the condition is dropped (the rule matches more)
import type { RbacPermissionJson, RbacPolicyJson, RbacPrincipalJson } from "@waymark/envoy-proto";
import { RE2_MAX_PROGRAM_SIZE } from "../../limits.ts";
import { re2ProgramSizeBound } from "../../routes/matches.ts";
import type { AuthzProblem, BoundPolicy, ChainProtocol, TrustDomains } from "../contract.ts";
import {
  type FieldSpec,
  OPERATION_FIELDS,
  operationField,
  SOURCE_FIELDS,
  sourceField,
  whenKey,
} from "./fields.ts";

export type EnvoyAction = "ALLOW" | "DENY" | "LOG";

export interface PolicyTranslation {
  action: EnvoyAction;
  /** Whether the policy goes to the filter's shadow rules (dry run of an ALLOW or DENY policy). */
  shadow: boolean;
  policies: Record<string, RbacPolicyJson>;
  problems: AuthzProblem[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const notName = (f: string) => `not${f[0]!.toUpperCase()}${f.slice(1)}`;

/** The Envoy policy entry of one rule, `ns[<ns>]-policy[<name>]-rule[<i>]`. */
export const ruleName = (p: BoundPolicy, i: number) => `ns[${p.namespace}]-policy[${p.name}]-rule[${i}]`;

const MATCH_NEVER: RbacPolicyJson = {
  permissions: [{ notRule: { any: true } }],
  principals: [{ notId: { any: true } }],
};
const MATCH_ALL: RbacPolicyJson = { permissions: [{ any: true }], principals: [{ any: true }] };

/** Reads the action; an unknown one is read as DENY, the reading that lets nothing through. */
function readAction(spec: Record<string, unknown>): {
  action: "ALLOW" | "DENY" | "AUDIT" | "CUSTOM";
  known: boolean;
} {
  const a = spec["action"];
  if (a === undefined || a === null || a === "ALLOW") return { action: "ALLOW", known: true };
  if (a === "DENY" || a === "AUDIT" || a === "CUSTOM") return { action: a, known: true };
  return { action: "DENY", known: false };
}

/** The CUSTOM policy's provider.name, if it is a string. */
export function customProviderName(spec: unknown): string | undefined {
  const provider = isObject(spec) ? spec["provider"] : undefined;
  const name = isObject(provider) ? provider["name"] : undefined;
  return typeof name === "string" && name !== "" ? name : undefined;
}

/** Why a CUSTOM policy's provider is unknown (`known`: the names the mesh config has). */
export function customProviderCause(
  spec: unknown,
  known: readonly string[] | undefined,
  source = "WAYMARK_MESH_CONFIG",
): string {
  const name = customProviderName(spec);
  const list = known?.length ? known.map((n) => JSON.stringify(n)).join(", ") : "none";
  if (name === undefined) return `no provider named; the mesh config's extensionProviders: ${list}`;
  return `extension provider ${JSON.stringify(name)} is not an ext_authz provider of the mesh config (${source} extensionProviders: ${list})`;
}

export function translatePolicy(
  p: BoundPolicy,
  td: TrustDomains,
  protocol: ChainProtocol,
): PolicyTranslation {
  const id = `${p.namespace}/${p.name}`;
  const problems: AuthzProblem[] = [];
  const policies: Record<string, RbacPolicyJson> = {};

  if (!isObject(p.spec)) {
    // Without a spec there is no action to read: it is read as an ALLOW that allows nothing, so the
    // ALLOW filter exists and denies what no other policy allows.
    problems.push({ policy: id, rule: -1, field: "spec", cause: "not an object", effect: "rule-ignored" });
    return { action: "ALLOW", shadow: false, policies, problems };
  }
  const spec = p.spec;
  const { action, known } = readAction(spec);
  const allow = action === "ALLOW";
  const envoyAction: EnvoyAction = action === "ALLOW" ? "ALLOW" : action === "AUDIT" ? "LOG" : "DENY";
  // Dry run applies to ALLOW and DENY: AUDIT never decides. A CUSTOM policy that gets here is one
  // whose provider is not called (customFallback says why): it denies what it matches, in dry run too
  // (Istio calls a dry-run CUSTOM policy's provider all the same).
  const shadow = p.dryRun && (action === "ALLOW" || action === "DENY");
  const effect: AuthzProblem["effect"] = allow ? "rule-ignored" : "condition-ignored";
  if (!known) {
    problems.push({
      policy: id,
      rule: -1,
      field: "action",
      cause: `unknown action ${JSON.stringify(spec["action"])}, read as DENY`,
      effect: "condition-ignored",
    });
  }
  if (action === "CUSTOM" && !p.customCalled) {
    problems.push({
      policy: id,
      rule: -1,
      field: "provider.name",
      cause: p.customFallback ?? customProviderCause(spec, undefined),
      effect: "denies",
    });
  }

  const rawRules = spec["rules"];
  if (rawRules !== undefined && rawRules !== null && !Array.isArray(rawRules)) {
    problems.push({ policy: id, rule: -1, field: "rules", cause: "not a list", effect });
    // ALLOW: nothing allowed. DENY, AUDIT, CUSTOM: the rules' conditions are all gone, so it matches all.
    if (!allow) policies[ruleName(p, 0)] = structuredClone(MATCH_ALL);
    return { action: envoyAction, shadow, policies, problems };
  }
  const rules: unknown[] = rawRules ?? [];
  if (rules.length === 0) {
    // No rules: an entry that never matches, so that an ALLOW policy still denies everything else.
    policies[ruleName(p, 0)] = structuredClone(MATCH_NEVER);
    return { action: envoyAction, shadow, policies, problems };
  }
  rules.forEach((rule, i) => {
    // A null rule matches nothing, whatever the action (istiod skips it).
    if (rule === null || rule === undefined) return;
    const r = new RuleTranslator(p, i, allow, protocol, td, problems);
    const built = r.translate(rule);
    if (built) policies[ruleName(p, i)] = built;
  });
  return { action: envoyAction, shadow, policies, problems };
}

class RuleTranslator {
  private dead = false;
  private readonly id: string;
  private readonly policy: BoundPolicy;
  private readonly index: number;
  private readonly allow: boolean;
  private readonly protocol: ChainProtocol;
  private readonly td: TrustDomains;
  private readonly problems: AuthzProblem[];

  constructor(
    policy: BoundPolicy,
    index: number,
    allow: boolean,
    protocol: ChainProtocol,
    td: TrustDomains,
    problems: AuthzProblem[],
  ) {
    this.policy = policy;
    this.index = index;
    this.allow = allow;
    this.protocol = protocol;
    this.td = td;
    this.problems = problems;
    this.id = `${policy.namespace}/${policy.name}`;
  }

  /** Records what could not be expressed; in ALLOW the rule is then dropped. */
  private fail(field: string, cause: string): void {
    this.problems.push({
      policy: this.id,
      rule: this.index,
      field,
      cause,
      effect: this.allow ? "rule-ignored" : "condition-ignored",
    });
    if (this.allow) this.dead = true;
  }

  translate(rule: unknown): RbacPolicyJson | undefined {
    const at = `rules[${this.index}]`;
    if (!isObject(rule)) {
      this.fail(at, "not an object");
      return this.dead ? undefined : structuredClone(MATCH_ALL);
    }
    const principalSets = this.entries(rule["from"], `${at}.from`, "source", (s, f) => this.source(s, f));
    const permissionSets = this.entries(rule["to"], `${at}.to`, "operation", (o, f) => this.operation(o, f));
    const when = this.when(rule["when"], `${at}.when`);
    if (this.dead) return undefined;
    // `when` conditions go onto every principal (source side) or permission (destination side);
    // the two sides are ANDed, so this is the same as ANDing each condition once.
    const principals = principalSets.map((ids): RbacPrincipalJson => {
      const all = [...ids, ...when.principals];
      return all.length === 0 ? { any: true } : { andIds: { ids: all } };
    });
    const permissions = permissionSets.map((rules): RbacPermissionJson => {
      const all = [...rules, ...when.permissions];
      return all.length === 0 ? { any: true } : { andRules: { rules: all } };
    });
    return { permissions, principals };
  }

  /**
   * The `from` or `to` list: one set of matchers per entry; no entries (absent or empty) is one
   * empty set, which matches anything.
   */
  private entries<M>(
    raw: unknown,
    at: string,
    inner: "source" | "operation",
    read: (o: Record<string, unknown>, at: string) => M[],
  ): M[][] {
    if (raw === undefined || raw === null) return [[]];
    if (!Array.isArray(raw)) {
      this.fail(at, "not a list");
      return [[]];
    }
    if (raw.length === 0) return [[]];
    return raw.map((entry, j) => {
      const here = `${at}[${j}]`;
      if (!isObject(entry)) {
        this.fail(here, "not an object");
        return [];
      }
      const o = entry[inner];
      if (o === undefined || o === null) return [];
      if (!isObject(o)) {
        this.fail(`${here}.${inner}`, "not an object");
        return [];
      }
      return read(o, `${here}.${inner}`);
    });
  }

  private source(s: Record<string, unknown>, at: string): RbacPrincipalJson[] {
    const out: RbacPrincipalJson[] = [];
    for (const f of SOURCE_FIELDS) {
      const spec = sourceField(f, this.policy.namespace, this.td);
      out.push(...this.field(spec, s[f], s[notName(f)], `${at}.${f}`, `${at}.${notName(f)}`).principals);
    }
    return out;
  }

  private operation(o: Record<string, unknown>, at: string): RbacPermissionJson[] {
    const out: RbacPermissionJson[] = [];
    for (const f of OPERATION_FIELDS) {
      const spec = operationField(f);
      out.push(...this.field(spec, o[f], o[notName(f)], `${at}.${f}`, `${at}.${notName(f)}`).permissions);
    }
    return out;
  }

  private when(
    raw: unknown,
    at: string,
  ): { principals: RbacPrincipalJson[]; permissions: RbacPermissionJson[] } {
    const out = { principals: [] as RbacPrincipalJson[], permissions: [] as RbacPermissionJson[] };
    if (raw === undefined || raw === null) return out;
    if (!Array.isArray(raw)) {
      this.fail(at, "not a list");
      return out;
    }
    raw.forEach((c, j) => {
      const here = `${at}[${j}]`;
      if (!isObject(c) || typeof c["key"] !== "string" || c["key"] === "") {
        this.fail(here, "not a condition with a key");
        return;
      }
      const key = c["key"];
      const named = `${here} (${key})`;
      const k = whenKey(key, this.policy.namespace, this.td);
      if (k.kind === "unknown") {
        this.fail(named, "unknown key");
        return;
      }
      if (k.kind === "untranslatable") {
        this.fail(named, k.cause);
        return;
      }
      if (isEmptyList(c["values"]) && isEmptyList(c["notValues"])) return;
      if (k.kind === "malformed") {
        this.fail(named, k.cause);
        return;
      }
      const m = this.field(
        k.spec,
        c["values"],
        c["notValues"],
        `${here}.values (${key})`,
        `${here}.notValues (${key})`,
        named,
      );
      out.principals.push(...m.principals);
      out.permissions.push(...m.permissions);
    });
    return out;
  }

  /**
   * One field: OR of its values, NOR of its notValues, both ANDed when both are set. A list that
   * holds anything unusable is dropped whole (a narrower DENY would fail open).
   */
  private field(
    spec: FieldSpec,
    values: unknown,
    notValues: unknown,
    valuesAt: string,
    notValuesAt: string,
    wholeAt?: string,
  ): { principals: RbacPrincipalJson[]; permissions: RbacPermissionJson[] } {
    const out = { principals: [] as RbacPrincipalJson[], permissions: [] as RbacPermissionJson[] };
    if (isEmptyList(values) && isEmptyList(notValues)) return out;
    if (spec.httpOnly && this.protocol === "tcp") {
      if (wholeAt !== undefined) this.fail(wholeAt, "HTTP only, the chain is TCP");
      else {
        if (!isEmptyList(values)) this.fail(valuesAt, "HTTP only, the chain is TCP");
        if (!isEmptyList(notValues)) this.fail(notValuesAt, "HTTP only, the chain is TCP");
      }
      return out;
    }
    for (const [raw, at, negate] of [
      [values, valuesAt, false],
      [notValues, notValuesAt, true],
    ] as const) {
      if (isEmptyList(raw)) continue;
      const list = this.strings(raw, at, spec);
      if (!list) continue;
      if (spec.side === "principal") {
        const or: RbacPrincipalJson = { orIds: { ids: list.flatMap((v) => spec.build(v)) } };
        out.principals.push(negate ? { notId: or } : or);
      } else {
        const or: RbacPermissionJson = { orRules: { rules: list.flatMap((v) => spec.build(v)) } };
        out.permissions.push(negate ? { notRule: or } : or);
      }
    }
    return out;
  }

  /** A list of valid values, or undefined (with the problem recorded). */
  private strings(raw: unknown, at: string, spec: FieldSpec): string[] | undefined {
    if (!Array.isArray(raw)) {
      this.fail(at, "not a list");
      return undefined;
    }
    for (const v of raw) {
      if (typeof v !== "string") {
        this.fail(at, `not a string: ${JSON.stringify(v)}`);
        return undefined;
      }
      const bad = spec.invalid(v) ?? oversizedRegex(spec.build(v));
      if (bad !== undefined) {
        this.fail(at, bad);
        return undefined;
      }
    }
    return raw as string[];
  }
}

/** Absent, null and `[]` all mean "not set". */
const isEmptyList = (v: unknown) => v === undefined || v === null || (Array.isArray(v) && v.length === 0);

/**
 * A regex Envoy would refuse for its RE2 program size (the waypoint's runtime limit): such a value
 * would make Envoy NACK the whole listener, so it is treated as an invalid value instead.
 */
function oversizedRegex(matchers: readonly unknown[]): string | undefined {
  const walk = (v: unknown): string | undefined => {
    if (Array.isArray(v)) {
      for (const x of v) {
        const r = walk(x);
        if (r) return r;
      }
      return undefined;
    }
    if (typeof v !== "object" || v === null) return undefined;
    for (const [k, x] of Object.entries(v)) {
      if (k === "safeRegex" && typeof x === "object" && x !== null) {
        const re = (x as { regex?: unknown }).regex;
        if (typeof re === "string" && re2ProgramSizeBound(re) > RE2_MAX_PROGRAM_SIZE) {
          return `too long: its regex exceeds Envoy's RE2 program size limit (${RE2_MAX_PROGRAM_SIZE})`;
        }
      }
      const r = walk(x);
      if (r) return r;
    }
    return undefined;
  };
  return walk(matchers);
}
