// Stage 2: which waypoints are ours and which services each one serves.
import type { ObjectIndex } from "../input/objects.ts";
import type { TranslatorSettings } from "../types.ts";
import { type Enrolment, enrol } from "./enrolment.ts";
import { ourWaypoints, type WaypointInfo } from "./gateways.ts";

/** The waypoints of one translation; it is also the context routes/parents.ts resolves parentRefs in. */
export interface Waypoints {
  index: ObjectIndex;
  /** Sorted by namespace, then name. */
  list: readonly WaypointInfo[];
  /** Waypoint key → waypoint. */
  waypoints: ReadonlyMap<string, WaypointInfo>;
  enrolment: Enrolment;
}

export function findWaypoints(index: ObjectIndex, settings: TranslatorSettings): Waypoints {
  const list = ourWaypoints(index, settings);
  return { index, list, waypoints: new Map(list.map((w) => [w.key, w])), enrolment: enrol(index, list) };
}
