// Reading TrafficPolicy basicAuth (kgateway's shape): exactly one of `users` (htpasswd lines inline),
// `secretRef` (a Secret of the policy's namespace holding an htpasswd file under `key`, by default
// `.htpasswd`) and `disable`. Envoy's basic_auth filter checks only `{SHA}` entries (base64 of the
// SHA-1 of the password) and refuses its whole config for any other line, so, as kgateway does, any
// other hash (bcrypt, apr1, crypt, plain text), a malformed line or a user listed twice with different
// hashes makes the policy Invalid; the error names the field and the user, never the hash.
import { type FeatureContext, type FeatureRead, FieldErrors } from "../feature.ts";
import { object, readDisable, readStrings, unknownKeys } from "../read.ts";
import { secretEntries } from "../secrets.ts";

export type BasicAuth =
  | { kind: "disable" }
  | {
      kind: "require";
      /** The htpasswd users as Envoy reads them: `user:{SHA}digest` lines, one per user, in input order. */
      htpasswd: string;
    };

export const DEFAULT_SECRET_KEY = ".htpasswd";
const MAX_USERS = 256;
const SHA_PREFIX = "{SHA}";
/** base64 of a 20-byte SHA-1 digest: 28 characters (Envoy checks the length only). */
const SHA_DIGEST_LENGTH = 28;

/** What a hash that is not `{SHA}` looks like, by its prefix (never by its content). */
function scheme(hash: string): string {
  if (/^\$2[abxy]?\$/.test(hash)) return "a bcrypt hash";
  if (hash.startsWith("$apr1$")) return "an apr1 (Apache MD5) hash";
  if (hash.startsWith("$1$")) return "an MD5-crypt hash";
  if (hash.startsWith("$5$")) return "a SHA-256-crypt hash";
  if (hash.startsWith("$6$")) return "a SHA-512-crypt hash";
  if (hash.startsWith("{SSHA}")) return "a salted SHA-1 ({SSHA}) hash";
  return "not a {SHA} hash (crypt or plain text)";
}

/** Where a line came from, for its errors: the field path, and how to name the line in the message. */
interface LineSite {
  path: string;
  /** e.g. "Secret ns/name key .htpasswd line 3"; undefined when the path says it all. */
  where: (line: number) => string | undefined;
}

/**
 * Adds the users of one htpasswd text to `users` (user → hash, in order of first appearance). Lines are
 * trimmed (so CRLF files work); blank lines and `#` comments are skipped. Errors name the user or the
 * line, never what follows the colon.
 */
function addHtpasswd(text: string, site: LineSite, users: Map<string, string>, errors: FieldErrors): void {
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    const user = colon < 0 ? undefined : line.slice(0, colon);
    const hash = line.slice(colon + 1);
    const problem = lineProblem(user, hash, users);
    if (problem === undefined) {
      users.set(user!, hash);
      continue;
    }
    const where = site.where(i + 1);
    errors.at(site.path, where === undefined ? problem : `${where}: ${problem}`, user || undefined);
  }
}

/** What is wrong with one `user:hash` line (user undefined: no colon), or undefined when Envoy takes it. */
function lineProblem(user: string | undefined, hash: string, users: Map<string, string>): string | undefined {
  if (user === undefined) return "not an htpasswd line (user:hash)";
  if (user === "") return "the user name is empty";
  if (hash === "") return "the hash is empty";
  if (!hash.startsWith(SHA_PREFIX))
    return `${scheme(hash)}; Envoy checks only {SHA} (SHA-1) hashes: write the line with htpasswd -s`;
  if (hash.length !== SHA_PREFIX.length + SHA_DIGEST_LENGTH)
    return `the {SHA} hash is not ${SHA_DIGEST_LENGTH} base64 characters (a SHA-1 digest)`;
  const seen = users.get(user);
  // The same line twice (a file concatenated with itself) is one user; two passwords are ambiguous.
  if (seen !== undefined && seen !== hash) return "listed twice with different hashes";
  return undefined;
}

export function readBasicAuth(value: unknown, ctx: FeatureContext): FeatureRead<BasicAuth> {
  const errors = new FieldErrors();
  const v = object(value, "basicAuth", errors);
  if (!v) return { ok: false, errors: errors.list };
  unknownKeys(v, ["users", "secretRef", "disable"], "basicAuth", errors);
  const set = ["users", "secretRef", "disable"].filter((k) => v[k] !== undefined);
  if (set.length !== 1) {
    errors.at("basicAuth", "set exactly one of users, secretRef and disable");
    return { ok: false, errors: errors.list };
  }
  if (v.disable !== undefined) {
    readDisable(v.disable, "basicAuth.disable", errors);
    return errors.length ? { ok: false, errors: errors.list } : { ok: true, value: { kind: "disable" } };
  }

  const users = new Map<string, string>();
  if (v.users !== undefined) {
    const lines = readStrings(v.users, "basicAuth.users", errors, MAX_USERS);
    if (lines?.length === 0) errors.at("basicAuth.users", "needs at least one user");
    lines?.forEach((text, i) => {
      const several = text.trim().includes("\n");
      addHtpasswd(
        text,
        { path: `basicAuth.users[${i}]`, where: (n) => (several ? `line ${n}` : undefined) },
        users,
        errors,
      );
    });
    if (lines?.length && users.size === 0 && errors.length === 0)
      errors.at("basicAuth.users", "no user: every entry is blank or a comment");
  } else {
    const ref = object(v.secretRef, "basicAuth.secretRef", errors);
    if (ref) {
      unknownKeys(ref, ["name", "namespace", "key"], "basicAuth.secretRef", errors);
      const name = typeof ref.name === "string" ? ref.name : "";
      const ns = ref.namespace;
      const key = ref.key === undefined ? DEFAULT_SECRET_KEY : ref.key;
      if (typeof key !== "string" || key === "")
        errors.at("basicAuth.secretRef.key", "must be a non-empty string (the Secret's key)");
      else if (ns !== undefined && ns !== ctx.namespace)
        errors.at(
          "basicAuth.secretRef.namespace",
          `a policy may only use Secrets of its own namespace (${ctx.namespace})`,
          typeof ns === "string" ? ns : undefined,
        );
      else if (name === "") errors.at("basicAuth.secretRef.name", "needs the Secret's name");
      else {
        const s = ctx.secret(name);
        const what = `Secret ${ctx.namespace}/${name}`;
        const text = s ? secretEntries(s).get(key) : undefined;
        if (!s) errors.at("basicAuth.secretRef", `${what} not found; create it or fix the name`);
        else if (text === undefined) {
          const keys = [...secretEntries(s).keys()];
          errors.at(
            "basicAuth.secretRef.key",
            `${what} has no key ${key}${keys.length ? ` (its keys: ${keys.join(", ")})` : " (it is empty)"}`,
          );
        } else {
          const before = errors.length;
          addHtpasswd(
            text,
            { path: "basicAuth.secretRef", where: (n) => `${what} key ${key} line ${n}` },
            users,
            errors,
          );
          if (users.size === 0 && errors.length === before)
            errors.at("basicAuth.secretRef", `${what} key ${key} holds no user`);
        }
      }
    }
  }
  if (errors.length) return { ok: false, errors: errors.list };
  const htpasswd = [...users].map(([u, h]) => `${u}:${h}`).join("\n");
  return { ok: true, value: { kind: "require", htpasswd } };
}
