// Pure: the status to apply for one object, given its live status and what the translator computed.
// A route's `parents` and a policy's `ancestors` are shared by every controller that handles the
// object, one entry per controllerName, and the CRDs declare them atomic: an apply replaces the whole
// list. So Waymark applies the other controllers' live entries unchanged together with its own, and
// withdraws by applying theirs alone; it compares ignoring the order of the entries. Istio's
// `status.conditions` is the same kind of list (atomic in its CRDs, shared with istiod), with the
// entries attributed by condition type instead of controllerName.
import { canonicalJson } from "../metadata.ts";

type Status = Record<string, unknown>;
type Entry = Record<string, unknown>;

/** Which entries of a shared list are ours: those whose `key` field is one of `values`. */
export interface Owners {
  key: string;
  values: readonly string[];
}
/** Our controllerNames (route parents, policy ancestors), or Owners for another key. */
export type OwnerNames = readonly string[] | Owners;

const ownersOf = (names: OwnerNames): Owners =>
  "key" in names ? names : { key: "controllerName", values: names };

const entriesOf = (status: unknown, list: string): Entry[] => {
  const v = (status as Status | undefined)?.[list];
  return Array.isArray(v) ? (v.filter((e) => typeof e === "object" && e !== null) as Entry[]) : [];
};
const ownerOf = (e: Entry, key: string): string => (typeof e[key] === "string" ? e[key] : "");

/** Our owner values: the configured ones and any our computed entries carry. */
function oursOf(owners: Owners, want: Status | undefined, list: string): Set<string> {
  const ours = new Set(owners.values);
  for (const e of entriesOf(want, list)) ours.add(ownerOf(e, owners.key));
  return ours;
}

/** Other controllers' entries of the live list, in their live order. */
export function foreignEntries(live: unknown, list: string, names: OwnerNames, want?: Status): Entry[] {
  const owners = ownersOf(names);
  const ours = oursOf(owners, want, list);
  return entriesOf(live, list).filter((e) => !ours.has(ownerOf(e, owners.key)));
}

/** The status to apply: what we computed, with the other controllers' entries of the shared list. */
export function mergedStatus(
  live: unknown,
  want: Status,
  list: string | undefined,
  names: OwnerNames,
): Status {
  if (!list) return want;
  return { ...want, [list]: [...foreignEntries(live, list, names, want), ...entriesOf(want, list)] };
}

/** The status withdrawing ours from the shared list, or undefined when the live list holds none of ours. */
export function withdrawnStatus(live: unknown, list: string, names: OwnerNames): Status | undefined {
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
