// Defensive readers for user-supplied objects: the translation must never throw on bad input, so every
// field it reads goes through one of these instead of trusting the declared types.

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The array at v, or [] when it is not one. */
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The records in the array at v; non-record items are dropped. */
export function records(v: unknown): Record<string, unknown>[] {
  return arr(v).filter(isRecord);
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function int(v: unknown): number | undefined {
  return typeof v === "number" && Number.isInteger(v) ? v : undefined;
}

/** A string → string map (labels, selectors); non-string values are dropped. */
export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

/** Code-point order: the same on every machine and locale (unlike localeCompare). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The first index of a sorted list whose element does not sort before the one sought (`before(x)`:
 * x sorts before it): where the sought element is, or where it goes. Binary search, written here
 * because neither JavaScript nor a dependency of ours has one.
 */
export function lowerBound<T>(list: readonly T[], before: (x: T) => boolean): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(list[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
