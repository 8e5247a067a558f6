// The Envoy matchers Istio's wildcard forms become (docs/design/authorization.md §3), and the value
// checks that keep Envoy from NACKing what a hand-written policy holds (§7).
import { isIP } from "node:net";
import type { RbacPermissionJson, RbacPrincipalJson, StringMatcherJson } from "@waymark/envoy-proto";

export type HeaderMatcherJson = NonNullable<RbacPermissionJson["header"]>;
export type CidrRangeJson = NonNullable<RbacPrincipalJson["sourceIp"]>;
export type MetadataMatcherJson = NonNullable<RbacPrincipalJson["metadata"]>;
type ValueMatcherJson = NonNullable<MetadataMatcherJson["value"]>;

/** RE2 needs its metacharacters escaped to take a value literally. */
export function re2Escape(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
}

/** A regex StringMatcher (Envoy matches the whole value). */
export const regex = (re: string): StringMatcherJson => ({ safeRegex: { regex: re } });

/**
 * Istio's string forms: `*` any non-empty value (regex `.+`), `*x` a suffix, `x*` a prefix, else
 * exact; a `*` elsewhere is literal. `prefix` goes in front of the pattern (`spiffe://` for
 * principals); with a prefix, a suffix form becomes a regex so the prefix is still required.
 */
export function stringMatch(v: string, prefix = "", ignoreCase = false): StringMatcherJson {
  const ic = ignoreCase ? { ignoreCase: true } : {};
  // `*` is any non-empty value, prefix or not (Istio's StringMatcherWithPrefix does the same).
  if (v === "*") return regex(".+");
  if (v.startsWith("*")) {
    if (prefix === "") return { suffix: v.slice(1), ...ic };
    return regex(`${re2Escape(prefix)}.*${re2Escape(v.slice(1))}`);
  }
  if (v.endsWith("*")) return { prefix: prefix + v.slice(0, -1), ...ic };
  return { exact: prefix + v, ...ic };
}

/** A header matcher: `*` is presence (an empty value is present), otherwise the string forms. */
export function headerMatch(name: string, v: string, ignoreCase = false): HeaderMatcherJson {
  if (v === "*") return { name, presentMatch: true };
  return { name, stringMatch: stringMatch(v, "", ignoreCase) };
}

/**
 * A metadata matcher on a JWT payload claim, in Istio's "extended" form: a string claim matches the
 * value, a list claim matches when one of its elements does (numbers, booleans, objects: no match).
 */
export function claimMatch(filter: string, path: readonly string[], v: string): MetadataMatcherJson {
  const s: ValueMatcherJson = { stringMatch: stringMatch(v) };
  return {
    filter,
    path: path.map((key) => ({ key })),
    value: { orMatch: { valueMatchers: [{ listMatch: { oneOf: s } }, s] } },
  };
}

/** A metadata matcher on one string claim (the issuer and subject of a request principal). */
export function stringClaimMatch(
  filter: string,
  path: readonly string[],
  m: StringMatcherJson,
): MetadataMatcherJson {
  return { filter, path: path.map((key) => ({ key })), value: { stringMatch: m } };
}

/**
 * A CIDR as istiod admits it (an address, or address/length; host bits may be set), or undefined.
 * node:net's isIP rejects what Go's netip rejects that matters here (leading zeros in IPv4); zones
 * are refused by hand because Envoy's CidrRange cannot hold them.
 */
export function parseCidr(v: string): CidrRangeJson | undefined {
  const slash = v.indexOf("/");
  const addr = slash < 0 ? v : v.slice(0, slash);
  if (addr.includes("%")) return undefined;
  const family = isIP(addr);
  if (family === 0) return undefined;
  const max = family === 6 ? 128 : 32;
  if (slash < 0) return { addressPrefix: addr, prefixLen: max };
  const len = v.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(len) || Number(len) > max) return undefined;
  return { addressPrefix: addr, prefixLen: Number(len) };
}

/** A port as istiod admits it: decimal, 0–65535. */
export function parsePort(v: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(v)) return undefined;
  const n = Number(v);
  return n <= 65535 ? n : undefined;
}

/** `{*}` or `{**}` anywhere makes a path a template. */
export const isTemplate = (p: string) => p.includes("{*}") || p.includes("{**}");

// Envoy's uri_template literal characters: RFC 3986 pchar without `=` and `*` (its parser's literal
// set); `=` is admitted by istiod but NACKed by Envoy, so it is refused here.
const LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@]+$/;

/**
 * Why a `paths` value cannot be used, or undefined when it can. Any path: no `{`/`}` except whole
 * `{*}`/`{**}` segments, `{**}` the last operator (istiod's CheckValidPathTemplate). A template also
 * has to be one Envoy's uri_template accepts: it starts with `/`, its literal segments are pchars, and
 * only the last segment may be empty.
 */
export function pathProblem(p: string): string | undefined {
  if (p === "") return "empty path";
  const template = isTemplate(p);
  const segments = p.replace(/^\/+|\/+$/g, "").split("/");
  let sawDoubleStar = false;
  for (const seg of segments) {
    if (seg === "{*}" || seg === "{**}") {
      if (sawDoubleStar) return `{**} must be the last operator: ${p}`;
      if (seg === "{**}") sawDoubleStar = true;
      continue;
    }
    if (/[{}]/.test(seg)) return `a path segment may be {*} or {**} but not contain braces: ${p}`;
    if (template && !LITERAL.test(seg)) return `not a path template Envoy accepts: ${p}`;
  }
  if (template) {
    if (!p.startsWith("/")) return `a path template must start with /: ${p}`;
    const inner = p.slice(1).split("/").slice(0, -1);
    if (inner.includes("")) return `a path template may not have empty segments: ${p}`;
  }
  return undefined;
}

/** The uri_template pattern of an Istio template: `{*}` → `*`, `{**}` → `**`. */
export const templatePattern = (p: string) => p.replaceAll("{**}", "**").replaceAll("{*}", "*");
