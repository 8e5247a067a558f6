// HTTPRoute matches → Envoy RouteMatch JSON. PathPrefix matches on path-segment boundaries as the
// Gateway API requires ("/foo" matches "/foo" and "/foo/bar", not "/foobar"), which Envoy's
// path_separated_prefix does exactly. Invalid matches are reported, never emitted: Envoy would reject
// the whole route configuration.
import type {
  HeaderMatcherJson,
  QueryParameterMatcherJson,
  RouteMatchJson,
  StringMatcherJson,
} from "@waymark/envoy-proto";
import { isRecord, records, str } from "../input/guards.ts";
import { RE2_MAX_PROGRAM_SIZE } from "../limits.ts";
import type { PathMatchType } from "./precedence.ts";

/** The Gateway API's header-name pattern (an RFC 7230 token). */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/;
/** Gateway API: query parameter names are at most 256 characters (Envoy allows 1024 bytes). */
const MAX_QUERY_NAME = 256;
/** Envoy's constraint on path_separated_prefix: no query or fragment, no trailing slash. */
const SEPARATED_PREFIX = /^[^?#]+[^?#/]$/;
const METHOD = /^[A-Z]+$/;

export interface CompiledMatch {
  match: RouteMatchJson;
  pathType: PathMatchType;
  pathLength: number;
  /** The path as matched: the exact path, the prefix without trailing "/" ("/" for the root), or the regex. */
  pathValue: string;
  hasMethod: boolean;
  headerCount: number;
  queryCount: number;
}

export type MatchResult = { ok: true; value: CompiledMatch } | { ok: false; message: string };

/**
 * Checks a regular expression for the RE2 dialect Envoy uses. JavaScript's parser catches syntax
 * errors; RE2 additionally rejects lookaround and backreferences, which JavaScript accepts. RE2-only
 * syntax (inline flags, `(?P<name>`) is rewritten to its JavaScript form before the check.
 */
export function checkRegex(regex: string): string | undefined {
  if (regex === "") return "the regular expression is empty";
  if (/\(\?<?[=!]/.test(regex))
    return `regular expression ${JSON.stringify(regex)} uses lookaround, which RE2 does not support`;
  if (/\\[1-9]/.test(regex))
    return `regular expression ${JSON.stringify(regex)} uses a backreference, which RE2 does not support`;
  const badEscape = re2EscapeProblem(regex);
  if (badEscape)
    return `regular expression ${JSON.stringify(regex)}: ${badEscape}, which RE2 does not support`;
  for (const m of regex.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) {
    if (Number(m[1]) > 1000 || Number(m[2] || 0) > 1000)
      return `regular expression ${JSON.stringify(regex)} repeats more than 1000 times, which RE2 does not support`;
  }
  if (/\(\?#/.test(regex))
    return `regular expression ${JSON.stringify(regex)} uses a (?# comment, which RE2 does not support`;
  if (/(^|[^\\])\[\^?\]/.test(regex))
    return `regular expression ${JSON.stringify(regex)} has an empty character class, which RE2 does not support`;
  if (/[}*+?]\{\d/.test(regex))
    return `regular expression ${JSON.stringify(regex)} repeats a repetition, which RE2 does not support`;
  const size = re2ProgramSizeBound(regex);
  if (size > MAX_REGEX_PROGRAM_SIZE)
    return `regular expression ${JSON.stringify(regex)} is too complex for Envoy (RE2 program size up to ${size}; Envoy allows ${MAX_REGEX_PROGRAM_SIZE})`;
  const js = regex
    .replace(/\(\?P</g, "(?<")
    .replace(/\(\?[imsU]+\)/g, "")
    .replace(/\(\?[imsU]+:/g, "(?:");
  try {
    new RegExp(js);
    return undefined;
  } catch (e) {
    return `invalid regular expression ${JSON.stringify(regex)}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

const RE2_LETTER_ESCAPES = new Set([..."afnrtvdDsSwWbBAzCpPQ"]);

/** The largest RE2 program a waypoint accepts (its bootstrap sets runtime re2.max_program_size.error_level). */
export const MAX_REGEX_PROGRAM_SIZE = RE2_MAX_PROGRAM_SIZE;

/**
 * An upper bound on the size of the RE2 program of a regex (RE2 itself often compiles smaller): one
 * instruction per literal, class or escape, one per `|`, `*`, `+`, `?`, two per capturing group, a
 * counted repetition copies its atom, plus four. Errs on the large side: a regex under it is never
 * refused by Envoy for its size.
 */
export function re2ProgramSizeBound(regex: string): number {
  let i = 0;
  const atom = (): number => {
    const c = regex[i];
    if (c === "\\") {
      if (regex[i + 1] === "Q") {
        const end = regex.indexOf("\\E", i + 2);
        const literal = end < 0 ? regex.length - i - 2 : end - i - 2;
        i = end < 0 ? regex.length : end + 2;
        return literal;
      }
      i += 2;
      if (/^\{/.test(regex.slice(i))) i = regex.indexOf("}", i) + 1 || regex.length;
      return 1;
    }
    if (c === "[") {
      i++;
      if (regex[i] === "^") i++;
      if (regex[i] === "]") i++;
      while (i < regex.length && regex[i] !== "]") i += regex[i] === "\\" ? 2 : 1;
      i++;
      return 1;
    }
    if (c === "(") {
      i++;
      let cost = 2;
      if (regex[i] === "?") {
        const close = /^\?[a-zA-Z]*\)/.exec(regex.slice(i));
        if (close) {
          i += close[0].length;
          return 0;
        }
        const named = /^\?P?<[^>]*>/.exec(regex.slice(i));
        if (named) i += named[0].length;
        else {
          i = regex.indexOf(":", i) + 1 || regex.length;
          cost = 0;
        }
      }
      cost += alternation();
      i++;
      return cost;
    }
    i++;
    return 1;
  };
  const repeated = (): number => {
    let size = atom();
    for (;;) {
      const c = regex[i];
      if (c === "*" || c === "+" || c === "?") {
        i++;
        if (regex[i] === "?") i++;
        size += 1;
        continue;
      }
      const counted = c === "{" ? /^\{(\d+)(,(\d*))?\}/.exec(regex.slice(i)) : null;
      if (!counted) return size;
      i += counted[0].length;
      const n = Number(counted[1]);
      const m = counted[2] === undefined ? n : counted[3] === "" ? n + 1 : Number(counted[3]);
      size = size * Math.max(n, m, 1) + Math.max(0, m - n) + 1;
      if (regex[i] === "?") i++;
    }
  };
  const sequence = (): number => {
    let size = 0;
    while (i < regex.length && regex[i] !== "|" && regex[i] !== ")") size += repeated();
    return size;
  };
  const alternation = (): number => {
    let size = sequence();
    while (regex[i] === "|") {
      i++;
      size += 1 + sequence();
    }
    return size;
  };
  let total = 0;
  while (i < regex.length) {
    total += alternation();
    if (i < regex.length) i++;
  }
  return total + 4;
}

/**
 * The first escape RE2 rejects (JavaScript accepts most unknown escapes as the letter itself): RE2
 * knows \a \f \n \r \t \v, \d \s \w and their negations, \b \B \A \z, \pX \p{Name}, \C, \Q...\E,
 * octal (\0, or \1-\7 followed by an octal digit), \xHH and \x{H...}, and \ before ASCII punctuation.
 */
function re2EscapeProblem(regex: string): string | undefined {
  for (let i = 0; i < regex.length; i++) {
    if (regex[i] !== "\\") continue;
    const c = regex[i + 1];
    if (c === undefined) return "it ends with a lone backslash";
    if (c === "Q") {
      const end = regex.indexOf("\\E", i + 2);
      if (end < 0) return undefined;
      i = end + 1;
      continue;
    }
    i++;
    if (/^[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e ]$/.test(c)) continue;
    if (c === "0") continue;
    if (/^[1-7]$/.test(c) && /^[0-7]$/.test(regex[i + 1] ?? "")) continue;
    if (c === "x") {
      if (/^\{[0-9A-Fa-f]+\}|^[0-9A-Fa-f]{2}/.test(regex.slice(i + 1))) continue;
      return "it has an invalid \\x escape";
    }
    if (RE2_LETTER_ESCAPES.has(c)) continue;
    return `it uses the escape \\${c}`;
  }
  return undefined;
}

function stringMatch(
  type: string,
  value: string,
  what: string,
): { ok: true; json: StringMatcherJson } | { ok: false; message: string } {
  if (type === "Exact") return { ok: true, json: { exact: value } };
  if (type === "RegularExpression") {
    const problem = checkRegex(value);
    return problem
      ? { ok: false, message: `${what}: ${problem}` }
      : { ok: true, json: { safeRegex: { regex: value } } };
  }
  return {
    ok: false,
    message: `${what}: match type ${JSON.stringify(type)} is not supported (use Exact or RegularExpression)`,
  };
}

function compilePath(
  path: unknown,
):
  | { ok: true; json: RouteMatchJson; type: PathMatchType; length: number; value: string }
  | { ok: false; message: string } {
  const p = isRecord(path) ? path : {};
  const type = str(p.type) ?? "PathPrefix";
  const value = str(p.value) ?? "/";
  if (type === "RegularExpression") {
    const problem = checkRegex(value);
    if (problem) return { ok: false, message: `path: ${problem}` };
    return { ok: true, json: { safeRegex: { regex: value } }, type, length: value.length, value };
  }
  if (type !== "Exact" && type !== "PathPrefix") {
    return {
      ok: false,
      message: `path match type ${JSON.stringify(type)} is not supported (use Exact, PathPrefix or RegularExpression)`,
    };
  }
  if (!value.startsWith("/"))
    return { ok: false, message: `path ${JSON.stringify(value)} must start with "/"` };
  if (/[?#]/.test(value))
    return { ok: false, message: `path ${JSON.stringify(value)} must not contain "?" or "#"` };
  if (type === "Exact") return { ok: true, json: { path: value }, type, length: value.length, value };
  // A trailing "/" in a prefix is ignored ("/foo/" matches "/foo").
  // Precedence compares the prefix as matched, so "/foo/" and "/foo" tie.
  const trimmed = value.replace(/\/+$/, "");
  if (trimmed === "") return { ok: true, json: { prefix: "/" }, type, length: 1, value: "/" };
  if (!SEPARATED_PREFIX.test(trimmed))
    return { ok: false, message: `path prefix ${JSON.stringify(value)} is not valid` };
  return { ok: true, json: { pathSeparatedPrefix: trimmed }, type, length: trimmed.length, value: trimmed };
}

/** Compiles one HTTPRouteMatch (undefined: the default, PathPrefix "/"). */
export function compileMatch(m: unknown): MatchResult {
  const raw = isRecord(m) ? m : {};
  const path = compilePath(raw.path);
  if (!path.ok) return path;
  const match: RouteMatchJson = { ...path.json };

  const headers: HeaderMatcherJson[] = [];
  const seenHeaders = new Set<string>();
  for (const h of records(raw.headers)) {
    const name = str(h.name) ?? "";
    const value = str(h.value) ?? "";
    if (!HEADER_NAME.test(name))
      return { ok: false, message: `header match name ${JSON.stringify(name)} is not a valid header name` };
    // Only the first match of a header name counts (Gateway API); header names are case-insensitive.
    if (seenHeaders.has(name.toLowerCase())) continue;
    seenHeaders.add(name.toLowerCase());
    const sm = stringMatch(str(h.type) ?? "Exact", value, `header ${name}`);
    if (!sm.ok) return sm;
    headers.push({ name, stringMatch: sm.json });
  }
  const method = raw.method === undefined ? undefined : str(raw.method);
  if (raw.method !== undefined && (method === undefined || !METHOD.test(method))) {
    return { ok: false, message: `method ${JSON.stringify(raw.method)} is not a valid HTTP method` };
  }
  if (method) headers.push({ name: ":method", stringMatch: { exact: method } });
  if (headers.length) match.headers = headers;

  const query: QueryParameterMatcherJson[] = [];
  const seenQuery = new Set<string>();
  for (const q of records(raw.queryParams)) {
    const name = str(q.name) ?? "";
    const value = str(q.value) ?? "";
    if (name === "") return { ok: false, message: "query parameter match has an empty name" };
    if (name.length > MAX_QUERY_NAME)
      return { ok: false, message: `query parameter match name is longer than ${MAX_QUERY_NAME} characters` };
    if (seenQuery.has(name)) continue;
    seenQuery.add(name);
    const sm = stringMatch(str(q.type) ?? "Exact", value, `query parameter ${name}`);
    if (!sm.ok) return sm;
    query.push({ name, stringMatch: sm.json });
  }
  if (query.length) match.queryParameters = query;

  return {
    ok: true,
    value: {
      match,
      pathType: path.type,
      pathLength: path.length,
      pathValue: path.value,
      hasMethod: method !== undefined,
      headerCount: seenHeaders.size,
      queryCount: seenQuery.size,
    },
  };
}
