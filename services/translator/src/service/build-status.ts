// A waypoint whose snapshot could not be built (a resource too large for NATS, an encoding error, ...)
// keeps its last good snapshot. The translation computed its Gateway's status before the build, so the
// service amends it here: Programmed=False, reason Invalid, with the cause.
import { type Condition, describeError, GATEWAY_GROUP } from "@waymark/api";
import { boundedMessage } from "../translate/status/status.ts";
import type { ObjectStatus } from "../translate/types.ts";
import type { WaypointFailure } from "./build.ts";

/** The text of a build failure, naming the resource when there is one, and what to fix. */
export function failureMessage(f: WaypointFailure): string {
  const cause = describeError(f.error);
  const kind = f.typeUrl ? `${f.typeUrl.slice(f.typeUrl.lastIndexOf(".") + 1)} ` : "";
  const where = f.resource ? `${kind}${f.resource}: ` : "";
  return `The waypoint's configuration could not be built, so it keeps serving the last configuration that was: ${where}${cause}`;
}

/**
 * The statuses with each failed waypoint's Gateway marked Programmed=False (reason Invalid). The
 * input is not modified (translations may share their status objects between builds).
 */
export function withBuildFailures(
  statuses: readonly ObjectStatus[],
  failures: readonly WaypointFailure[],
): ObjectStatus[] {
  if (failures.length === 0) return [...statuses];
  const failed = new Map(failures.map((f) => [`${f.waypoint.namespace}/${f.waypoint.name}`, f]));
  return statuses.map((s) => {
    const f =
      s.ref.group === GATEWAY_GROUP && s.ref.kind === "Gateway"
        ? failed.get(`${s.ref.namespace}/${s.ref.name}`)
        : undefined;
    if (!f) return s;
    const conditions = (s.status["conditions"] as Condition[] | undefined) ?? [];
    const programmed: Condition = {
      type: "Programmed",
      status: "False",
      reason: "Invalid",
      message: boundedMessage(failureMessage(f)),
      ...(s.generation !== undefined ? { observedGeneration: s.generation } : {}),
    };
    const next = conditions.some((c) => c.type === "Programmed")
      ? conditions.map((c) => (c.type === "Programmed" ? programmed : c))
      : [...conditions, programmed];
    return { ...s, status: { ...s.status, conditions: next } };
  });
}
