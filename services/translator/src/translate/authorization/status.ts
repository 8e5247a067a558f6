// The status of an Istio policy bound to Waymark's waypoints (design note §8): `WaypointAccepted`
// exactly as istiod writes it for waypoint-bound policies, so tools written for Istio read it
// unchanged, and `waymark.dev/Translated`, which names every part that could not be expressed.
import type { Condition } from "@waymark/api";
import { condition } from "../status/status.ts";
import { type IstioPolicy, type TargetResult, targetLabel } from "./binding.ts";
import type { AuthzProblem } from "./contract.ts";

export const WAYPOINT_ACCEPTED = "WaypointAccepted";
export const TRANSLATED = "waymark.dev/Translated";

const EFFECTS: Record<AuthzProblem["effect"], string> = {
  "rule-ignored": "rule ignored, it allows nothing",
  "condition-ignored": "condition ignored, the rule matches more",
  denies: "fails closed: denies what it matches",
  "policy-ignored": "not programmed, its tokens fail",
};

/** One problem as the status lists it: where, why, and what was done instead. */
export function describeProblem(p: AuthzProblem): string {
  const where = p.rule < 0 ? "policy" : `rule ${p.rule}`;
  return `${where}: ${p.field}: ${p.cause} (${EFFECTS[p.effect] ?? p.effect})`;
}

/** istiod's combination of the targetRefs' results into one condition. */
export function waypointAccepted(p: IstioPolicy): Condition {
  const g = p.generation;
  if (p.malformed) return condition(WAYPOINT_ACCEPTED, false, "Invalid", p.malformed, g);
  const results = p.results;
  if (results.length === 1) {
    const r = results[0]!;
    return condition(WAYPOINT_ACCEPTED, r.bound, r.reason, r.message, g);
  }
  const bound = results.filter((r) => r.bound);
  const unbound = results.filter((r) => !r.bound);
  if (unbound.length === 0)
    return condition(WAYPOINT_ACCEPTED, true, "Accepted", unique(bound.map((r) => r.message)).join(", "), g);
  const message = `Invalid targetRefs: ${unique(unbound.map((r) => label(r, p.namespace))).join(", ")}`;
  return condition(
    WAYPOINT_ACCEPTED,
    bound.length > 0,
    bound.length ? "PartiallyInvalid" : "Invalid",
    message,
    g,
  );
}

function label(r: TargetResult, namespace: string): string {
  return r.ref.invalid ? `(${r.ref.invalid})` : targetLabel(r.ref, namespace);
}

const unique = (xs: string[]) => [...new Set(xs)];

/**
 * @param problems what the builders could not express, once each
 * @param chains how many chains the policy was placed on
 */
export function policyStatus(
  p: IstioPolicy,
  problems: readonly AuthzProblem[],
  chains: number,
): Record<string, unknown> {
  const g = p.generation;
  const translated = problems.length
    ? condition(TRANSLATED, false, "PartiallyTranslated", problems.map(describeProblem).join("; "), g)
    : condition(
        TRANSLATED,
        true,
        "Translated",
        chains
          ? `translated onto ${chains} filter chain(s)`
          : "bound to no filter chain; nothing to translate",
        g,
      );
  return { conditions: [waypointAccepted(p), translated] };
}
