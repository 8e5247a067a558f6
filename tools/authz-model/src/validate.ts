// What istiod's validating webhook rejects (istio/istio pkg/config/validation/validation.go
// `ValidateAuthorizationPolicy`, with the value checks of pkg/config/security/security.go). The model
// evaluates rejected policies anyway (an object the watcher reads from a directory skips admission),
// failing closed as `compile` describes; this tells the caller which ones a cluster would refuse.
import { operationAttribute, sourceAttribute, sourceFields, whenAttribute } from "./keys.ts";
import type { AuthorizationPolicy, Operation, Source } from "./types.ts";

// `when` keys istiod knows but refuses, each with its reason (security.go ValidateAttribute).
const REFUSED: Record<string, string> = {
  "destination.namespace": "replaced by metadata.namespace",
  "destination.name": "only supported in v1alpha1",
  "destination.user": "only supported in v1alpha1",
};

export function validate(policy: AuthorizationPolicy): string[] {
  const spec = policy.spec;
  const errors: string[] = [];
  const action = spec.action ?? "ALLOW";
  const ns = policy.metadata.namespace;
  const refs = (spec.targetRef ? 1 : 0) + (spec.targetRefs?.length ?? 0);
  if (spec.selector && refs > 0) errors.push("only one of selector or targetRefs can be set");
  if (spec.targetRef && spec.targetRefs?.length)
    errors.push("only one of targetRef or targetRefs can be set");
  if (action === "CUSTOM") {
    if (!spec.rules) errors.push("CUSTOM action without rules is meaningless");
    else if (!spec.provider?.name) errors.push("provider.name must not be empty");
  } else if (spec.provider) errors.push(`provider must not be with non CUSTOM action, found ${action}`);
  // A DENY policy without rules would never trigger (`rules: []` decodes the same).
  if (action === "DENY" && !spec.rules?.length) errors.push("DENY action without rules is meaningless");

  (spec.rules ?? []).forEach((rule, i) => {
    if (!rule) {
      errors.push(`rule ${i} must not be null`);
      return;
    }
    if (rule.from && rule.from.length === 0) errors.push(`rule ${i}: from must not be empty`);
    if (rule.to && rule.to.length === 0) errors.push(`rule ${i}: to must not be empty`);
    for (const f of rule.from ?? []) {
      const s = f?.source;
      if (!s) {
        errors.push(`rule ${i}: from.source must not be nil`);
        continue;
      }
      const keys = Object.keys(sourceFields) as (keyof Source)[];
      if (!keys.some((k) => s[k]?.length)) errors.push(`rule ${i}: from.source must not be empty`);
      if (
        (s.principals?.length ||
          s.notPrincipals?.length ||
          s.namespaces?.length ||
          s.notNamespaces?.length) &&
        (s.serviceAccounts?.length || s.notServiceAccounts?.length)
      ) {
        errors.push(`rule ${i}: cannot set serviceAccounts with namespaces or principals`);
      }
      for (const k of keys) {
        const values = s[k];
        if (!values) continue;
        if ((k === "serviceAccounts" || k === "notServiceAccounts") && values.length > 16) {
          errors.push(`rule ${i}: ${k} may not have more than 16 values`);
        }
        const attr = sourceAttribute(sourceFields[k], ns, {});
        for (const v of values)
          if (typeof v !== "string" || !attr.valid(v))
            errors.push(`rule ${i}: invalid ${k} value ${JSON.stringify(v)}`);
      }
      if (action === "CUSTOM") {
        for (const k of keys) {
          if (k.toLowerCase().includes("ipblocks")) continue;
          if (s[k]?.length) errors.push(`rule ${i}: ${k} is currently not supported with CUSTOM action`);
        }
      }
    }
    for (const t of rule.to ?? []) {
      const o = t?.operation;
      if (!o) {
        errors.push(`rule ${i}: to.operation must not be nil`);
        continue;
      }
      const fields = ["hosts", "ports", "methods", "paths"] as const;
      if (
        !fields.some(
          (f) => o[f]?.length || o[`not${f[0]!.toUpperCase()}${f.slice(1)}` as keyof Operation]?.length,
        )
      ) {
        errors.push(`rule ${i}: to.operation must not be empty`);
      }
      for (const f of fields) {
        const attr = operationAttribute(f);
        for (const k of [f, `not${f[0]!.toUpperCase()}${f.slice(1)}`] as (keyof Operation)[]) {
          for (const v of o[k] ?? [])
            if (typeof v !== "string" || !attr.valid(v))
              errors.push(`rule ${i}: invalid ${k} value ${JSON.stringify(v)}`);
        }
      }
    }
    for (const c of rule.when ?? []) {
      if (!c?.key) {
        errors.push(`rule ${i}: when key must not be empty`);
        continue;
      }
      if (!c.values?.length && !c.notValues?.length) {
        errors.push(`rule ${i}: at least one of values or notValues must be set for key ${c.key}`);
        continue;
      }
      if (
        action === "CUSTOM" &&
        (/^source\.(namespace|serviceAccount|trustDomain|principal)$/.test(c.key) ||
          c.key.startsWith("request.auth."))
      ) {
        errors.push(`rule ${i}: ${c.key} is currently not supported with CUSTOM action`);
      }
      if (REFUSED[c.key] || c.key.startsWith("destination.labels")) {
        errors.push(
          `rule ${i}: attribute ${c.key} is ${REFUSED[c.key] ?? "replaced by the workload selector"}`,
        );
        continue;
      }
      if (c.key.startsWith("experimental.envoy.filters.")) continue;
      const attr = whenAttribute(c.key, ns, {});
      if (attr === undefined) errors.push(`rule ${i}: unknown attribute ${c.key}`);
      else if (attr === "malformed") errors.push(`rule ${i}: bad key ${c.key}: should have format a[b]`);
      else {
        for (const v of [...(c.values ?? []), ...(c.notValues ?? [])]) {
          if (typeof v !== "string" || !attr.valid(v))
            errors.push(`rule ${i}: invalid value ${JSON.stringify(v)} for key ${c.key}`);
        }
      }
    }
  });
  return errors;
}
