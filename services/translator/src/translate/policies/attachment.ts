// Which TrafficPolicies apply where, in which order, and their status per ancestor (kgateway's
// model): targetRefs / targetSelectors name, in the policy's own namespace, the waypoint Gateway
// (all of its routes; in Envoy, the virtual hosts), an HTTPRoute or GRPCRoute, or one rule of it
// (sectionName).
// The more specific target wins: rule > route > Gateway. Among policies at the same level the
// higher kgateway.dev/policy-weight wins, then the older one, then namespace/name. Features merge
// field by field: each feature (spec field) comes from the first policy in that order that sets it.
import type { TrafficPolicy } from "@waymark/api";
import { GATEWAY_GROUP, KGATEWAY_GROUP } from "@waymark/api";
import { compareStrings, int, isRecord, records, str, stringMap } from "../input/guards.ts";
import { nsName } from "../input/objects.ts";
import { parseTimestamp } from "../routes/precedence.ts";
import { condition } from "../status/status.ts";
import type { TranslatorSettings } from "../types.ts";
import type { WaypointInfo } from "../waypoints/gateways.ts";

export const POLICY_WEIGHT_ANNOTATION = "kgateway.dev/policy-weight";

/**
 * Every feature field of kgateway's TrafficPolicy spec. One that no entry of policies/features.ts
 * implements is accepted and ignored: the policy is PartiallyValid, and the status names the field.
 */
export const TRAFFIC_POLICY_FIELDS = [
  "transformation",
  "headerModifiers",
  "urlRewrite",
  "autoHostRewrite",
  "compression",
  "extProc",
  "extAuth",
  "basicAuth",
  "apiKeyAuth",
  "oauth2",
  "jwtAuth",
  "rbac",
  "acl",
  "csrf",
  "cors",
  "rateLimit",
  "timeouts",
  "retry",
  "internalRedirect",
  "faultInjection",
  "buffer",
  "tracing",
  "statPrefix",
];

export type TargetKind = "Gateway" | "HTTPRoute" | "GRPCRoute";

export interface PolicyTarget {
  kind: TargetKind;
  /** For selectors: undefined, matched by labels instead. */
  name: string | undefined;
  matchLabels: Record<string, string> | undefined;
  sectionName: string | undefined;
}

export interface PolicyInfo {
  policy: TrafficPolicy;
  namespace: string;
  name: string;
  key: string;
  generation: number | undefined;
  weight: number;
  created: number;
  targets: PolicyTarget[];
  /** Problems that make the policy Invalid (Accepted=False). */
  errors: string[];
  /** Fields present but not implemented (PartiallyValid). */
  ignored: string[];
  /** Fields of fail-closed features (feature.ts) that could not be read: the policy's targets answer 500. */
  failsClosed: string[];
  /** Feature field → its compiled configuration (only when the policy is valid). */
  features: Map<string, unknown>;
}

export function readTargets(policy: TrafficPolicy, errors: string[]): PolicyTarget[] {
  const spec = isRecord(policy.spec) ? policy.spec : {};
  const targets: PolicyTarget[] = [];
  const check = (r: Record<string, unknown>, where: string): TargetKind | undefined => {
    const group = str(r.group) ?? "";
    const kind = str(r.kind) ?? "";
    if (kind === "Service") {
      errors.push(
        `${where}: a Service cannot be targeted (target its HTTPRoute, GRPCRoute or the waypoint Gateway)`,
      );
      return undefined;
    }
    if (group !== GATEWAY_GROUP || (kind !== "Gateway" && kind !== "HTTPRoute" && kind !== "GRPCRoute")) {
      errors.push(
        `${where}: ${kind || "(no kind)"}.${group || "(no group)"} is not supported; target a Gateway, HTTPRoute or GRPCRoute of ${GATEWAY_GROUP}`,
      );
      return undefined;
    }
    return kind;
  };
  records(spec.targetRefs).forEach((r, i) => {
    const kind = check(r, `targetRefs[${i}]`);
    const name = str(r.name);
    if (!name) errors.push(`targetRefs[${i}]: needs a name`);
    if (kind && name) targets.push({ kind, name, matchLabels: undefined, sectionName: str(r.sectionName) });
  });
  records(spec.targetSelectors).forEach((r, i) => {
    const kind = check(r, `targetSelectors[${i}]`);
    if (kind)
      targets.push({
        kind,
        name: undefined,
        matchLabels: stringMap(r.matchLabels),
        sectionName: str(r.sectionName),
      });
  });
  if (targets.length === 0 && errors.length === 0) errors.push("no targetRefs or targetSelectors");
  return targets;
}

export function policyInfo(
  policy: TrafficPolicy,
): Omit<PolicyInfo, "features" | "errors" | "ignored" | "targets" | "failsClosed"> {
  const namespace = policy.metadata.namespace ?? "";
  const w = Number(stringMap(policy.metadata.annotations)[POLICY_WEIGHT_ANNOTATION] ?? "0");
  return {
    policy,
    namespace,
    name: policy.metadata.name,
    key: nsName(namespace, policy.metadata.name),
    generation: int(policy.metadata.generation),
    weight: Number.isFinite(w) ? w : 0,
    created: parseTimestamp(policy.metadata.creationTimestamp) ?? Number.MAX_SAFE_INTEGER,
  };
}

/** Priority order within one level: weight (higher first), age (older first), namespace/name. */
export function comparePriority(a: PolicyInfo, b: PolicyInfo): number {
  return b.weight - a.weight || a.created - b.created || compareStrings(a.key, b.key);
}

export function targetMatches(
  t: PolicyTarget,
  kind: TargetKind,
  name: string,
  labels: Record<string, string>,
): boolean {
  if (t.kind !== kind) return false;
  if (t.name !== undefined) return t.name === name;
  for (const [k, v] of Object.entries(t.matchLabels ?? {})) if (labels[k] !== v) return false;
  return true;
}

/** How a policy fared on one ancestor: where it is in force, where it is overridden and by whom. */
export interface AncestorOutcome {
  waypoint: WaypointInfo;
  inForce: Set<string>;
  overridden: Map<string, Set<string>>;
}

export function policyStatus(
  info: PolicyInfo,
  outcomes: readonly AncestorOutcome[],
  settings: TranslatorSettings,
): Record<string, unknown> {
  const g = info.generation;
  const accepted = info.errors.length
    ? condition("Accepted", false, "Invalid", info.errors.join("; "), g)
    : info.ignored.length && info.features.size === 0
      ? condition(
          "Accepted",
          false,
          "Invalid",
          `Not supported by Waymark yet: ${info.ignored.join(", ")}; the policy has no effect`,
          g,
        )
      : info.ignored.length
        ? condition(
            "Accepted",
            true,
            "PartiallyValid",
            `Policy accepted; not supported by Waymark yet, ignored: ${info.ignored.join(", ")}`,
            g,
          )
        : condition("Accepted", true, "Valid", "Policy accepted", g);
  const ancestors = outcomes.map((o) => {
    const conditions = [accepted];
    if (accepted.status === "True") {
      const overriddenOn = [...o.overridden.keys()].sort(compareStrings);
      const by = [...new Set([...o.overridden.values()].flatMap((s) => [...s]))].sort(compareStrings);
      if (overriddenOn.length === 0) {
        conditions.push(condition("Attached", true, "Attached", "Attached to all targets", g));
      } else if (o.inForce.size === 0) {
        conditions.push(
          condition(
            "Attached",
            false,
            "Overridden",
            `Overridden on ${overriddenOn.join(", ")} by TrafficPolicy ${by.join(", ")}`,
            g,
          ),
        );
      } else {
        conditions.push(
          condition(
            "Attached",
            true,
            "Merged",
            `In force on ${[...o.inForce].sort(compareStrings).join(", ")}; overridden on ${overriddenOn.join(", ")} by TrafficPolicy ${by.join(", ")}`,
            g,
          ),
        );
      }
    }
    return {
      ancestorRef: {
        group: GATEWAY_GROUP,
        kind: "Gateway",
        name: o.waypoint.ref.name,
        namespace: o.waypoint.ref.namespace,
      },
      controllerName: settings.controllerName,
      conditions,
    };
  });
  return { ancestors };
}

export { KGATEWAY_GROUP };
