// Reading the values of a Secret a policy references (basicAuth, apiKeyAuth). Values never go into
// errors, logs or status: callers name the Secret and the entry, never what it holds.
import type { Secret } from "@waymark/api";

/**
 * A Secret's entries, decoded, sorted by name: data (base64, as the API server serves it), with
 * stringData (as files may hold it) winning where both have a key, as the API server merges them.
 * Entries that are not strings are skipped.
 */
export function secretEntries(secret: Secret): Map<string, string> {
  const out = new Map<string, string>();
  const data: unknown = secret.data;
  const stringData: unknown = secret.stringData;
  if (data && typeof data === "object")
    for (const [k, v] of Object.entries(data))
      if (typeof v === "string") out.set(k, Buffer.from(v, "base64").toString("utf8"));
  if (stringData && typeof stringData === "object")
    for (const [k, v] of Object.entries(stringData)) if (typeof v === "string") out.set(k, v);
  return [...out.keys()].sort().reduce((m, k) => m.set(k, out.get(k)!), new Map<string, string>());
}
