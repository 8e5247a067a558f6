// Pure: the part of a live object's status that one field manager owns, read from the object's
// managedFields (the API server's record of server-side apply ownership, in its "FieldsV1" form).
// The status writer compares what it would apply with this part only, so a field another controller
// wrote (a condition of its own type on a Gateway, say) never makes an apply look necessary.
// Hand-written: @kubernetes/client-node has no FieldsV1 reader (client-go's "extract" helpers have no
// JavaScript counterpart), and the format is small: `f:<field>` a map field, `k:<json>` the list
// element whose keys match, `v:<json>` a set element, `i:<n>` an index, `.` the node itself; an empty
// set means the whole value is owned.

type Fields = Record<string, unknown>;

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsType?: string;
  fieldsV1?: Fields;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** True when `element` has every key/value of `key` (compared as JSON). */
function matchesKey(element: unknown, key: Record<string, unknown>): boolean {
  if (!isRecord(element)) return false;
  return Object.entries(key).every(([k, v]) => JSON.stringify(element[k]) === JSON.stringify(v));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `value` restricted to the fields of `set`; undefined when it owns nothing present in `value`. */
export function projectFields(value: unknown, set: Fields): unknown {
  const keys = Object.keys(set);
  if (keys.length === 0) return value; // the whole value (a leaf, or an atomic map or list)
  const children = keys.filter((k) => k !== ".");
  const take = (v: unknown, sub: unknown) => projectFields(v, isRecord(sub) ? sub : {});
  if (Array.isArray(value)) {
    const picked = new Set<number>();
    const out = new Map<number, unknown>();
    for (const k of children) {
      const body = k.slice(2);
      let index = -1;
      if (k.startsWith("k:")) {
        const key = parseJson(body);
        if (isRecord(key)) index = value.findIndex((e, i) => !picked.has(i) && matchesKey(e, key));
      } else if (k.startsWith("v:")) {
        const want = JSON.stringify(parseJson(body));
        index = value.findIndex((e, i) => !picked.has(i) && JSON.stringify(e) === want);
      } else if (k.startsWith("i:")) {
        const n = Number(body);
        index = Number.isInteger(n) && n >= 0 && n < value.length ? n : -1;
      }
      if (index < 0) continue;
      picked.add(index);
      out.set(index, take(value[index], set[k]));
    }
    // In the live order: the elements we own keep their relative order.
    return [...out.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const k of children) {
    if (!k.startsWith("f:")) continue;
    const name = k.slice(2);
    if (value[name] === undefined) continue;
    out[name] = take(value[name], set[k]);
  }
  return out;
}

/**
 * The status fields of `object` that `manager` applied on the status subresource, or undefined when
 * the object carries no managedFields at all (the caller then compares the whole status).
 */
export function ownedStatus(object: { metadata?: unknown; status?: unknown }, manager: string): unknown {
  const entries = (object.metadata as { managedFields?: ManagedFieldsEntry[] } | undefined)?.managedFields;
  if (!Array.isArray(entries)) return undefined;
  const mine = entries.find(
    (e) => e.manager === manager && e.subresource === "status" && e.operation === "Apply",
  );
  const set =
    mine?.fieldsType === "FieldsV1" && isRecord(mine.fieldsV1) ? mine.fieldsV1["f:status"] : undefined;
  if (!isRecord(set) || object.status === undefined) return {};
  return projectFields(object.status, set);
}
