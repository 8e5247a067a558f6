// Reading the values of a Secret a policy references (basicAuth, apiKeyAuth). Values never go into
// errors, logs or status: callers name the Secret and the entry, never what it holds.
import type { Secret } from "@waymark/api";

/** A Secret's entries, decoded: data (base64, as the API server serves it) over stringData (files). */
export function secretEntries(secret: Secret): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(secret.stringData ?? {})) if (typeof v === "string") out.set(k, v);
  for (const [k, v] of Object.entries(secret.data ?? {}))
    if (typeof v === "string") out.set(k, Buffer.from(v, "base64").toString("utf8"));
  return [...out.keys()].sort().reduce((m, k) => m.set(k, out.get(k)!), new Map<string, string>());
}
