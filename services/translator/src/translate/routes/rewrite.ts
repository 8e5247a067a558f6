// RequestRedirect and URLRewrite → Envoy. Both can replace the whole path or the matched prefix; the
// prefix case depends on the match of each route entry, so these are built per (rule, match).
//
// ReplacePrefixMatch follows the Gateway API's path-segment semantics: with the match "/foo", a
// replacement "/bar" turns "/foo/x" into "/bar/x", and a replacement "/" turns "/foo/x" into "/x" and
// "/foo" into "/" (never "//x" or ""). Envoy's plain prefix_rewrite gets the first right but not the
// second, so that case (and the root prefix) is a regex rewrite.
import type { RedirectActionJson, RouteActionJson } from "@waymark/envoy-proto";
import type { PathModifier, RedirectSpec, RewriteSpec } from "./filters.ts";
import type { CompiledMatch } from "./matches.ts";

/** RE2-safe literal. */
export function escapeRegex(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
}

/** Path fields of a RouteAction (rewrite) or a RedirectAction (redirect). */
type PathFields = Pick<RouteActionJson, "prefixRewrite" | "regexRewrite"> &
  Pick<RedirectActionJson, "pathRedirect">;

export type PathRewrite<F = PathFields> = { ok: true; fields: F } | { ok: false; message: string };

/**
 * The path fields for RouteAction (`full` names its field: regexRewrite for a rewrite, pathRedirect
 * for a redirect); prefixRewrite and regexRewrite are common to both.
 */
function pathFields(path: PathModifier, match: CompiledMatch, redirect: boolean): PathRewrite {
  if (path.type === "ReplaceFullPath") {
    return redirect
      ? { ok: true, fields: { pathRedirect: path.value } }
      : { ok: true, fields: { regexRewrite: { pattern: { regex: "^.*$" }, substitution: path.value } } };
  }
  if (match.pathType !== "PathPrefix")
    return { ok: false, message: "ReplacePrefixMatch needs a PathPrefix match" };
  const replacement = path.value.replace(/\/+$/, "");
  if (match.pathValue === "/") {
    // Root prefix: insert the replacement before the path.
    if (replacement === "") return { ok: true, fields: {} };
    return {
      ok: true,
      fields: { regexRewrite: { pattern: { regex: "^/" }, substitution: `${replacement}/` } },
    };
  }
  if (replacement === "") {
    return {
      ok: true,
      fields: {
        regexRewrite: { pattern: { regex: `^${escapeRegex(match.pathValue)}/*` }, substitution: "/" },
      },
    };
  }
  return { ok: true, fields: { prefixRewrite: replacement } };
}

const REDIRECT_CODE: Record<number, NonNullable<RedirectActionJson["responseCode"]>> = {
  301: "MOVED_PERMANENTLY",
  302: "FOUND",
  303: "SEE_OTHER",
  307: "TEMPORARY_REDIRECT",
  308: "PERMANENT_REDIRECT",
};
const WELL_KNOWN_PORT: Record<string, number> = { http: 80, https: 443 };

/** An Envoy RedirectAction. */
export function redirectAction(spec: RedirectSpec, match: CompiledMatch): PathRewrite<RedirectActionJson> {
  const out: RedirectActionJson = {};
  if (spec.scheme) out.schemeRedirect = spec.scheme;
  if (spec.hostname) out.hostRedirect = spec.hostname;
  // Gateway API: with a new scheme and no port, the port is the scheme's well-known one (which Envoy
  // then leaves out of the Location); with neither, the request's own port is kept.
  const port = spec.port ?? (spec.scheme ? WELL_KNOWN_PORT[spec.scheme] : undefined);
  if (port !== undefined) out.portRedirect = port;
  if (spec.path) {
    const p = pathFields(spec.path, match, true);
    if (!p.ok) return p;
    Object.assign(out, p.fields);
  }
  out.responseCode = REDIRECT_CODE[spec.statusCode] ?? "FOUND";
  return { ok: true, fields: out };
}

/** RouteAction fields of a URLRewrite. */
export function rewriteFields(spec: RewriteSpec, match: CompiledMatch): PathRewrite<RouteActionJson> {
  const out: RouteActionJson = {};
  if (spec.hostname) out.hostRewriteLiteral = spec.hostname;
  if (spec.path) {
    const p = pathFields(spec.path, match, false);
    if (!p.ok) return p;
    Object.assign(out, p.fields);
  }
  return { ok: true, fields: out };
}
