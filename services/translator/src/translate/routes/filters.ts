// HTTPRoute filters → what the route entries need: header operations (RequestHeaderModifier,
// ResponseHeaderModifier), a redirect (RequestRedirect), a rewrite (URLRewrite), mirrors
// (RequestMirror) and a CORS policy (CORS, read and rendered as the TrafficPolicy cors field is:
// policies/cors/spec.ts). The same reader serves rule filters and backendRef filters; the caller says which
// types a place allows. Whatever cannot be applied is reported as a problem (the rule then answers
// 500 rather than run without the filter the user asked for).
import type { CorsPolicyJson, HeaderValueOptionJson, RouteJson } from "@waymark/envoy-proto";
import { int, isRecord, records, str } from "../input/guards.ts";
import { HTTP_CORS_FILTER_FIELDS, readCorsFields } from "../policies/cors/spec.ts";
import { FieldErrors, formatFieldError } from "../policies/feature.ts";
import { unknownKeys } from "../policies/read.ts";

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/;
/** Gateway API: a header value is at most 4096 characters; Envoy refuses NUL, CR and LF in it. */
const MAX_HEADER_VALUE = 4096;
const BAD_HEADER_VALUE = /[\0\r\n]/;
/** RFC 1123 subdomain, optionally a wildcard-free hostname as the Gateway API's PreciseHostname. */
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export type PathModifier =
  | { type: "ReplaceFullPath"; value: string }
  | { type: "ReplacePrefixMatch"; value: string };

export interface RedirectSpec {
  scheme?: string;
  hostname?: string;
  port?: number;
  path?: PathModifier;
  statusCode: number;
}

export interface RewriteSpec {
  hostname?: string;
  path?: PathModifier;
}

export interface MirrorSpec {
  backendRef: Record<string, unknown>;
  /** Share of requests mirrored, in millionths (undefined: all). */
  millionths?: number;
}

/** The header fields a Route and a weighted cluster have alike. */
export type HeaderOps = Pick<
  RouteJson,
  "requestHeadersToAdd" | "requestHeadersToRemove" | "responseHeadersToAdd" | "responseHeadersToRemove"
>;

export interface CompiledFilters {
  /** Route fields: request/responseHeadersToAdd, request/responseHeadersToRemove. */
  headerOps: HeaderOps;
  redirect?: RedirectSpec;
  rewrite?: RewriteSpec;
  mirrors: MirrorSpec[];
  /** The CORS filter's policy (Envoy's CorsPolicy), for the rule's forwarding entries. */
  cors?: CorsPolicyJson;
  /** One message per filter that cannot be applied; empty when all are fine. */
  problems: string[];
}

/** Envoy treats header values as format strings: a literal "%" must be written "%%". */
export function escapeHeaderValue(value: string): string {
  return value.replaceAll("%", "%%");
}

function headerModifier(
  modifier: unknown,
  what: string,
  adds: HeaderValueOptionJson[],
  removes: string[],
  problems: string[],
): void {
  if (!isRecord(modifier)) {
    problems.push(`${what} filter has no ${what.charAt(0).toLowerCase()}${what.slice(1)} configuration`);
    return;
  }
  const header = (h: Record<string, unknown>, action: NonNullable<HeaderValueOptionJson["appendAction"]>) => {
    const name = str(h.name) ?? "";
    if (!HEADER_NAME.test(name)) {
      problems.push(`${what}: ${JSON.stringify(name)} is not a valid header name`);
      return;
    }
    if (name.toLowerCase() === "host") {
      problems.push(`${what}: the Host header cannot be modified`);
      return;
    }
    const value = str(h.value) ?? "";
    if (value.length > MAX_HEADER_VALUE || BAD_HEADER_VALUE.test(value)) {
      problems.push(
        `${what}: the value of header ${name} is not valid (at most ${MAX_HEADER_VALUE} characters, no NUL, CR or LF)`,
      );
      return;
    }
    adds.push({ header: { key: name, value: escapeHeaderValue(value) }, appendAction: action });
  };
  for (const h of records(modifier.set)) header(h, "OVERWRITE_IF_EXISTS_OR_ADD");
  for (const h of records(modifier.add)) header(h, "APPEND_IF_EXISTS_OR_ADD");
  for (const r of Array.isArray(modifier.remove) ? modifier.remove : []) {
    const name = str(r) ?? "";
    if (!HEADER_NAME.test(name)) problems.push(`${what}: ${JSON.stringify(name)} is not a valid header name`);
    else if (name.toLowerCase() === "host") problems.push(`${what}: the Host header cannot be removed`);
    else if (!removes.includes(name)) removes.push(name);
  }
}

function pathModifier(v: unknown, what: string, problems: string[]): PathModifier | undefined {
  if (v === undefined) return undefined;
  const p = isRecord(v) ? v : {};
  const type = str(p.type);
  const value = type === "ReplaceFullPath" ? str(p.replaceFullPath) : str(p.replacePrefixMatch);
  if (type !== "ReplaceFullPath" && type !== "ReplacePrefixMatch") {
    problems.push(
      `${what}: path type ${JSON.stringify(type ?? "")} is not supported (use ReplaceFullPath or ReplacePrefixMatch)`,
    );
    return undefined;
  }
  if (value === undefined || !value.startsWith("/") || /[?#\s]/.test(value)) {
    problems.push(`${what}: ${JSON.stringify(value ?? "")} is not a valid path for ${type}`);
    return undefined;
  }
  return { type, value };
}

function hostname(v: unknown, what: string, problems: string[]): string | undefined {
  if (v === undefined) return undefined;
  const h = str(v) ?? "";
  if (!HOSTNAME.test(h) || h.length > 253) {
    problems.push(`${what}: ${JSON.stringify(h)} is not a valid hostname`);
    return undefined;
  }
  return h;
}

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

function requestRedirect(v: unknown, problems: string[]): RedirectSpec | undefined {
  if (!isRecord(v)) {
    problems.push("RequestRedirect filter has no requestRedirect configuration");
    return undefined;
  }
  const before = problems.length;
  const spec: RedirectSpec = { statusCode: 302 };
  if (v.scheme !== undefined) {
    const scheme = str(v.scheme);
    if (scheme !== "http" && scheme !== "https")
      problems.push(
        `RequestRedirect: scheme ${JSON.stringify(v.scheme)} is not supported (use http or https)`,
      );
    else spec.scheme = scheme;
  }
  const host = hostname(v.hostname, "RequestRedirect", problems);
  if (host !== undefined) spec.hostname = host;
  if (v.port !== undefined) {
    const port = int(v.port);
    if (port === undefined || port < 1 || port > 65535)
      problems.push(`RequestRedirect: port ${JSON.stringify(v.port)} is not a valid port`);
    else spec.port = port;
  }
  const path = pathModifier(v.path, "RequestRedirect", problems);
  if (path) spec.path = path;
  if (v.statusCode !== undefined) {
    const code = int(v.statusCode);
    if (code === undefined || !REDIRECT_CODES.has(code))
      problems.push(
        `RequestRedirect: status code ${JSON.stringify(v.statusCode)} is not supported (use 301, 302, 303, 307 or 308)`,
      );
    else spec.statusCode = code;
  }
  return problems.length === before ? spec : undefined;
}

function urlRewrite(v: unknown, problems: string[]): RewriteSpec | undefined {
  if (!isRecord(v)) {
    problems.push("URLRewrite filter has no urlRewrite configuration");
    return undefined;
  }
  const before = problems.length;
  const spec: RewriteSpec = {};
  const host = hostname(v.hostname, "URLRewrite", problems);
  if (host !== undefined) spec.hostname = host;
  const path = pathModifier(v.path, "URLRewrite", problems);
  if (path) spec.path = path;
  return problems.length === before ? spec : undefined;
}

function requestMirror(v: unknown, problems: string[]): MirrorSpec | undefined {
  if (!isRecord(v) || !isRecord(v.backendRef)) {
    problems.push("RequestMirror filter has no backendRef");
    return undefined;
  }
  const spec: MirrorSpec = { backendRef: v.backendRef };
  if (v.percent !== undefined && v.fraction !== undefined) {
    problems.push("RequestMirror: percent and fraction cannot both be set");
    return undefined;
  }
  if (v.percent !== undefined) {
    const p = int(v.percent);
    if (p === undefined || p < 0 || p > 100) {
      problems.push(`RequestMirror: percent ${JSON.stringify(v.percent)} is not between 0 and 100`);
      return undefined;
    }
    spec.millionths = p * 10_000;
  } else if (v.fraction !== undefined) {
    const f = isRecord(v.fraction) ? v.fraction : {};
    const numerator = int(f.numerator);
    const denominator = f.denominator === undefined ? 100 : int(f.denominator);
    if (
      numerator === undefined ||
      denominator === undefined ||
      denominator < 1 ||
      numerator < 0 ||
      numerator > denominator
    ) {
      problems.push(`RequestMirror: fraction ${JSON.stringify(v.fraction)} is not valid`);
      return undefined;
    }
    spec.millionths = Math.round((numerator * 1_000_000) / denominator);
  }
  return spec;
}

function cors(v: unknown, problems: string[]): CorsPolicyJson | undefined {
  if (!isRecord(v)) {
    problems.push("CORS filter has no cors configuration");
    return undefined;
  }
  const errors = new FieldErrors();
  unknownKeys(v, HTTP_CORS_FILTER_FIELDS, "cors", errors);
  const policy = readCorsFields(v, "cors", errors);
  for (const e of errors.list) problems.push(`CORS: ${formatFieldError(e)}`);
  return errors.length ? undefined : policy;
}

export type FilterPlace = "rule" | "backendRef";

/** The filter types each place supports. */
const ALLOWED: Record<FilterPlace, ReadonlySet<string>> = {
  rule: new Set([
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestRedirect",
    "URLRewrite",
    "RequestMirror",
    "CORS",
  ]),
  backendRef: new Set(["RequestHeaderModifier", "ResponseHeaderModifier"]),
};

export function compileFilters(filters: unknown, place: FilterPlace = "rule"): CompiledFilters {
  const requestAdd: HeaderValueOptionJson[] = [];
  const requestRemove: string[] = [];
  const responseAdd: HeaderValueOptionJson[] = [];
  const responseRemove: string[] = [];
  const out: CompiledFilters = { headerOps: {}, mirrors: [], problems: [] };
  const problems = out.problems;
  const seen = new Set<string>();
  for (const f of Array.isArray(filters) ? filters : []) {
    const type = isRecord(f) ? str(f.type) : undefined;
    if (!isRecord(f) || type === undefined) {
      problems.push("a filter has no type");
      continue;
    }
    if (!ALLOWED[place].has(type)) {
      problems.push(
        place === "rule"
          ? `filter type ${type} is not supported yet`
          : `filter type ${type} is not supported on a backendRef`,
      );
      continue;
    }
    // Only RequestMirror may repeat (Gateway API).
    if (type !== "RequestMirror" && seen.has(type)) {
      problems.push(`filter type ${type} is given more than once`);
      continue;
    }
    seen.add(type);
    if (type === "RequestHeaderModifier") {
      headerModifier(f.requestHeaderModifier, "RequestHeaderModifier", requestAdd, requestRemove, problems);
    } else if (type === "ResponseHeaderModifier") {
      headerModifier(
        f.responseHeaderModifier,
        "ResponseHeaderModifier",
        responseAdd,
        responseRemove,
        problems,
      );
    } else if (type === "RequestRedirect") {
      const r = requestRedirect(f.requestRedirect, problems);
      if (r) out.redirect = r;
    } else if (type === "URLRewrite") {
      const r = urlRewrite(f.urlRewrite, problems);
      if (r) out.rewrite = r;
    } else if (type === "RequestMirror") {
      const m = requestMirror(f.requestMirror, problems);
      if (m) out.mirrors.push(m);
    } else if (type === "CORS") {
      const c = cors(f.cors, problems);
      if (c) out.cors = c;
    }
  }
  if (seen.has("RequestRedirect") && seen.has("URLRewrite"))
    problems.push("RequestRedirect and URLRewrite cannot be used in the same rule");
  const headerOps = out.headerOps;
  if (requestAdd.length) headerOps.requestHeadersToAdd = requestAdd;
  if (requestRemove.length) headerOps.requestHeadersToRemove = requestRemove;
  if (responseAdd.length) headerOps.responseHeadersToAdd = responseAdd;
  if (responseRemove.length) headerOps.responseHeadersToRemove = responseRemove;
  return out;
}
