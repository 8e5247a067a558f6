// Pure: the status to apply for one object, given its live status and what the translator computed.
// A route's `parents` and a policy's `ancestors` are shared by every controller that handles the
// object, one entry per controllerName, and the CRDs declare them atomic: an apply replaces the whole
// list. So Waymark applies the other controllers' live entries unchanged together with its own, and
// withdraws by applying theirs alone; it compares ignoring the order of the entries.
import { canonicalJson } from "../metadata.ts";

type Status = Record<string, unknown>;
type Entry = Record<string, unknown>;

const entriesOf = (status: unknown, list: string): Entry[] => {
  const v = (status as Status | undefined)?.[list];
  return Array.isArray(v) ? (v.filter((e) => typeof e === "object" && e !== null) as Entry[]) : [];
};
const controllerOf = (e: Entry): string =>
  typeof e["controllerName"] === "string" ? e["controllerName"] : "";

/** Our controller names: the configured ones and any our computed entries carry. */
function oursOf(names: readonly string[], want: Status | undefined, list: string): Set<string> {
  const ours = new Set(names);
  for (const e of entriesOf(want, list)) ours.add(controllerOf(e));
  return ours;
}

/** Other controllers' entries of the live list, in their live order. */
export function foreignEntries(
  live: unknown,
  list: string,
  names: readonly string[],
  want?: Status,
): Entry[] {
  const ours = oursOf(names, want, list);
  return entriesOf(live, list).filter((e) => !ours.has(controllerOf(e)));
}

/** The status to apply: what we computed, with the other controllers' entries of the shared list. */
export function mergedStatus(
  live: unknown,
  want: Status,
  list: string | undefined,
  names: readonly string[],
): Status {
  if (!list) return want;
  return { ...want, [list]: [...foreignEntries(live, list, names, want), ...entriesOf(want, list)] };
}

/** The status withdrawing ours from the shared list, or undefined when the live list holds none of ours. */
export function withdrawnStatus(live: unknown, list: string, names: readonly string[]): Status | undefined {
  const all = entriesOf(live, list);
  const foreign = foreignEntries(live, list, names);
  return foreign.length === all.length ? undefined : { [list]: foreign };
}

/** Canonical text of a status, the shared list's entries in a fixed order. */
export function statusCanon(status: unknown, list: string | undefined): string {
  const s = (status ?? {}) as Status;
  if (!list || !Array.isArray(s[list])) return canonicalJson(s);
  const sorted = (s[list] as unknown[]).map((e) => canonicalJson(e)).sort();
  return canonicalJson({ ...s, [list]: sorted });
}
