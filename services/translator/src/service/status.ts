// Status bookkeeping, pure: stamps each condition's lastTransitionTime (kept from the stored status
// while the condition's status is unchanged) and tells whether an entry differs from what is stored.
import type { StatusEntry } from "@waymark/api";
import type { ObjectStatus } from "../translate/types.ts";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonRecord = { [k: string]: Json };

const isRecord = (v: unknown): v is JsonRecord => typeof v === "object" && v !== null && !Array.isArray(v);

/** JSON with object keys sorted: equal values give equal strings whatever their key order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    isRecord(val)
      ? Object.fromEntries(
          Object.keys(val)
            .sort()
            .map((k) => [k, val[k]]),
        )
      : val,
  );
}

/**
 * A stable identity for an element of a status list, so a condition is matched with its stored
 * counterpart even when the list is reordered: listeners by name, route parents by parentRef (and
 * controllerName), policy ancestors by ancestorRef; anything else by position.
 */
function elementId(el: Json, index: number): string {
  if (!isRecord(el)) return `#${index}`;
  if (typeof el["name"] === "string") return `name=${el["name"]}`;
  const ref = el["parentRef"] ?? el["ancestorRef"];
  if (ref !== undefined) return `ref=${canonicalJson(ref)}|${String(el["controllerName"] ?? "")}`;
  return `#${index}`;
}

interface Found {
  status: unknown;
  lastTransitionTime?: unknown;
}

/** Visits every `conditions` list in a status stanza, naming each condition by its path and type. */
function walkConditions(v: Json, path: string, visit: (path: string, cond: JsonRecord) => void): void {
  if (Array.isArray(v)) {
    for (const [i, el] of v.entries()) walkConditions(el, `${path}[${elementId(el, i)}]`, visit);
    return;
  }
  if (!isRecord(v)) return;
  for (const [k, child] of Object.entries(v)) {
    if (k === "conditions" && Array.isArray(child)) {
      for (const c of child) {
        if (isRecord(c) && typeof c["type"] === "string") visit(`${path}.conditions[${c["type"]}]`, c);
      }
    } else {
      walkConditions(child, `${path}.${k}`, visit);
    }
  }
}

function conditionIndex(status: unknown): Map<string, Found> {
  const out = new Map<string, Found>();
  if (isRecord(status)) {
    walkConditions(status, "", (p, c) =>
      out.set(p, { status: c["status"], lastTransitionTime: c["lastTransitionTime"] }),
    );
  }
  return out;
}

/**
 * The entry to store for a computed status: every condition gets lastTransitionTime = `now` if its
 * status differs from the stored one (or it is new), else the stored time.
 */
export function stampStatus(
  computed: ObjectStatus,
  stored: StatusEntry | undefined,
  now: string,
): StatusEntry {
  const before = conditionIndex(stored?.status);
  const status = structuredClone(computed.status) as JsonRecord;
  walkConditions(status, "", (p, c) => {
    const prev = before.get(p);
    c["lastTransitionTime"] =
      prev && prev.status === c["status"] && typeof prev.lastTransitionTime === "string"
        ? prev.lastTransitionTime
        : now;
  });
  const entry: StatusEntry = { ref: computed.ref, status, computedAt: now };
  if (computed.generation !== undefined) entry.generation = computed.generation;
  return entry;
}

/** True when two entries hold the same status (computedAt aside). */
export function sameStatus(a: StatusEntry, b: StatusEntry | undefined): boolean {
  if (!b) return false;
  const strip = (e: StatusEntry) =>
    canonicalJson({ ref: e.ref, generation: e.generation ?? null, status: e.status });
  return strip(a) === strip(b);
}
