// Value matchers, each the behaviour of the Envoy matcher istiod generates for one kind of value.
// Hand-written rather than a library: each one must reproduce one Envoy matcher exactly (an IP
// library would accept forms Go's netip rejects, a glob library has other wildcard rules).

/**
 * A value with Istio's wildcard forms, as `matcher.StringMatcherWithPrefix` turns it into an Envoy
 * StringMatcher (istio/istio pilot/pkg/security/authz/matcher/string.go): `*` is the regex `.+` (any
 * non-empty value), `*abc` a suffix, `abc*` a prefix, anything else exact. `prefix` is prepended to
 * the pattern (`spiffe://` for principals). A `*` in the middle is a literal character.
 */
export function wildcardMatch(pattern: string, value: string | undefined, prefix = "", ignoreCase = false) {
  if (value === undefined) return false;
  const v = ignoreCase ? value.toLowerCase() : value;
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const pre = ignoreCase ? prefix.toLowerCase() : prefix;
  if (p === "*") return v.length > 0;
  if (p.startsWith("*")) return v.startsWith(pre) && v.slice(pre.length).endsWith(p.slice(1));
  if (p.endsWith("*")) return v.startsWith(pre + p.slice(0, -1));
  return v === pre + p;
}

/**
 * Envoy's HeaderMatcher as `matcher.HeaderMatcher` builds it (matcher/header.go): `*` is
 * `present_match` (an empty value is present), the other forms as above. An absent header matches
 * nothing.
 */
export function headerMatch(pattern: string, value: string | undefined, ignoreCase = false) {
  if (value === undefined) return false;
  if (pattern === "*") return true;
  if (ignoreCase) return wildcardMatch(pattern, value, "", true);
  if (pattern.startsWith("*")) return value.endsWith(pattern.slice(1));
  if (pattern.endsWith("*")) return value.startsWith(pattern.slice(0, -1));
  return value === pattern;
}

// --- IP addresses and CIDR ranges, as Go's netip.ParseAddr / ParsePrefix accept them ---

export interface Cidr {
  v6: boolean;
  bits: number;
  addr: bigint;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0n;
  for (const p of parts) {
    // netip rejects leading zeros ("010") and anything but decimal digits.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const b = Number(p);
    if (b > 255) return undefined;
    n = (n << 8n) | BigInt(b);
  }
  return n;
}

function parseV6(s: string): bigint | undefined {
  if (s.includes("%")) return undefined; // a zone cannot be part of an Envoy CidrRange
  let tail: bigint | undefined;
  let text = s;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    tail = parseV4(s.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    text = s.slice(0, lastColon + 1) + "0:0"; // placeholder groups, replaced below
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const back = halves.length === 2 ? groups(halves[1]!) : [];
  const total = head.length + back.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const all = [...head, ...Array<string>(8 - total).fill("0"), ...back];
  let n = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    n = (n << 16n) | BigInt(Number.parseInt(g, 16));
  }
  if (tail !== undefined) n = (n & ~0xffffffffn) | tail;
  return n;
}

export function parseIp(s: string): { v6: boolean; addr: bigint } | undefined {
  if (s.includes(":")) {
    const addr = parseV6(s);
    return addr === undefined ? undefined : { v6: true, addr };
  }
  const addr = parseV4(s);
  return addr === undefined ? undefined : { v6: false, addr };
}

/**
 * An `ipBlocks`/`source.ip`/`destination.ip` value: a bare address is a /32 or /128, otherwise an
 * address and prefix length (istio/istio pkg/config/security/security.go `ValidateIPs`; the builder's
 * `util.AddrStrToCidrRange`). Host bits may be set: Envoy's CidrRange ignores them.
 */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf("/");
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (!ip) return undefined;
  const max = ip.v6 ? 128 : 32;
  if (slash < 0) return { ...ip, bits: max };
  const len = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]*)$/.test(len) || Number(len) > max) return undefined;
  return { ...ip, bits: Number(len) };
}

/** Envoy's CidrRange match: same family, same leading `bits` bits. */
export function cidrContains(c: Cidr, ip: string): boolean {
  const a = parseIp(ip);
  if (!a || a.v6 !== c.v6) return false;
  const width = BigInt(c.v6 ? 128 : 32);
  const shift = width - BigInt(c.bits);
  return a.addr >> shift === c.addr >> shift;
}

// --- Paths ---

/** `{*}` or `{**}` anywhere makes a path a template (pkg/config/security `ContainsPathTemplate`). */
export function isPathTemplate(p: string) {
  return p.includes("{*}") || p.includes("{**}");
}

// The characters of a literal template segment: Envoy's pchar set (RFC 3986 appendix A without `*`
// and `=`), source/extensions/path/uri_template_lib/uri_template_internal.cc `kLiteral`.
const PCHAR = "a-zA-Z0-9\\-._~%!$&'()+,;:@";
const ISTIO_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;

/**
 * Whether istiod admits `path` (pkg/config/security `CheckValidPathTemplate`): after trimming slashes,
 * each segment is `{*}`, `{**}` or, in a template, a pchar literal; `{**}` is the last operator; no
 * other `{` or `}`.
 */
export function validPath(path: string): boolean {
  const template = isPathTemplate(path);
  let sawAny = false;
  for (const seg of path.replace(/^\/+|\/+$/g, "").split("/")) {
    if ((seg === "{*}" || seg === "{**}") && !sawAny) {
      if (seg === "{**}") sawAny = true;
      continue;
    }
    if (seg === "{*}" || seg === "{**}") return false;
    if (/[{}]/.test(seg)) return false;
    if (template && !ISTIO_LITERAL.test(seg)) return false;
  }
  return true;
}

/**
 * The regex of Envoy's uri_template matcher for an Istio template (istiod rewrites `{*}` to `*` and
 * `{**}` to `**`, matcher/template.go): `*` is one or more pchars, `**` zero or more pchars or `/`,
 * literal segments literally. Returns undefined for a template Envoy would reject (it must start with
 * `/`, `=` is not a pchar), which the caller treats as untranslatable.
 */
export function templateRegex(path: string): RegExp | undefined {
  if (!path.startsWith("/") || !validPath(path)) return undefined;
  const body = path.slice(1);
  const segs = body.split("/");
  const out: string[] = [];
  for (const seg of segs) {
    if (seg === "{*}") out.push(`[${PCHAR}]+`);
    else if (seg === "{**}") out.push(`[${PCHAR}/]*`);
    else if (seg === "" || new RegExp(`^[${PCHAR}]+$`).test(seg)) out.push(seg.replace(/[.$()+]/g, "\\$&"));
    else return undefined;
  }
  // Envoy's parser allows an empty segment only as a single trailing "/".
  if (segs.slice(0, -1).includes("")) return undefined;
  return new RegExp(`^/${out.join("/")}$`);
}

/** The path without query string and fragment, what Envoy's `url_path` and uri_template see. */
export function pathOnly(path: string) {
  const q = path.search(/[?#]/);
  return q < 0 ? path : path.slice(0, q);
}
