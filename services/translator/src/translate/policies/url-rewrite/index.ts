// TrafficPolicy `urlRewrite` (kgateway's shape): pathRegex {pattern, substitution} → the route
// action's regex_rewrite: the parts of the path the RE2 pattern matches are replaced by the
// substitution, which may name the pattern's capture groups as \1 to \9 (\0: the whole match).
// Only for policies that target HTTPRoutes (kgateway's CRD rejects it on a Gateway). As kgateway
// does, an entry whose HTTPRoute rule already rewrites the path (URLRewrite filter) keeps its own
// rewrite; entries that do not forward are left alone.
import type { RouteJson } from "@waymark/envoy-proto";
import { checkRegex } from "../../routes/matches.ts";
import { type FeatureContext, type FeatureRead, FieldErrors, type PolicyFeature } from "../feature.ts";
import { onlyForKinds, readObject, unknownKeys } from "../route-fields.ts";

export interface UrlRewriteValue {
  pathRegex: { pattern: string; substitution: string } | undefined;
}

const MAX_LENGTH = 1024;

/** The number of capture groups of a pattern checkRegex accepted (its JavaScript form). */
function groupCount(pattern: string): number {
  const js = pattern
    .replace(/\(\?P</g, "(?<")
    .replace(/\(\?[imsU]+\)/g, "")
    .replace(/\(\?[imsU]+:/g, "(?:");
  return (new RegExp(`${js}|`).exec("")?.length ?? 1) - 1;
}

/** A problem with an RE2 rewrite string: only \0-\9 and \\ may follow a backslash. */
function substitutionProblem(substitution: string, groups: number): string | undefined {
  for (let i = 0; i < substitution.length; i++) {
    if (substitution[i] !== "\\") continue;
    const next = substitution[i + 1];
    if (next === undefined) return "ends with a lone backslash (write \\\\ for a backslash)";
    i++;
    if (next === "\\") continue;
    if (next >= "0" && next <= "9") {
      if (Number(next) > groups)
        return `refers to group \\${next}, but the pattern has ${groups === 0 ? "no capture groups" : `only ${groups} capture group${groups === 1 ? "" : "s"}`}`;
      continue;
    }
    return `has \\${next}: only \\0 to \\9 (capture groups) and \\\\ (a backslash) may follow a backslash`;
  }
  return undefined;
}

export function readUrlRewrite(
  value: unknown,
  ctx?: Pick<FeatureContext, "targetKinds">,
): FeatureRead<UrlRewriteValue> {
  const errors = new FieldErrors();
  if (ctx) onlyForKinds(ctx, ["HTTPRoute"], "urlRewrite", errors);
  const o = readObject(value, "urlRewrite", errors);
  let pathRegex: UrlRewriteValue["pathRegex"];
  if (o) {
    unknownKeys(o, ["pathRegex"], "urlRewrite", errors);
    if (o.pathRegex === undefined) errors.at("urlRewrite", "set pathRegex: there is nothing else to rewrite");
    const p = o.pathRegex === undefined ? undefined : readObject(o.pathRegex, "urlRewrite.pathRegex", errors);
    if (p) {
      unknownKeys(p, ["pattern", "substitution"], "urlRewrite.pathRegex", errors);
      const at = (k: string) => `urlRewrite.pathRegex.${k}`;
      let ok = true;
      for (const k of ["pattern", "substitution"] as const) {
        const v = p[k];
        if (typeof v !== "string" || v.length === 0 || v.length > MAX_LENGTH) {
          errors.at(at(k), `must be a string of 1 to ${MAX_LENGTH} characters`);
          ok = false;
        }
      }
      if (ok) {
        const pattern = p.pattern as string;
        const substitution = p.substitution as string;
        const problem = checkRegex(pattern);
        if (problem) errors.at(at("pattern"), problem);
        else {
          const sub = substitutionProblem(substitution, groupCount(pattern));
          if (sub) errors.at(at("substitution"), `${JSON.stringify(substitution)} ${sub}`);
          else pathRegex = { pattern, substitution };
        }
      }
    }
  }
  return errors.length ? { ok: false, errors: errors.list } : { ok: true, value: { pathRegex } };
}

export const urlRewriteFeature: PolicyFeature<UrlRewriteValue> = {
  field: "urlRewrite",
  read: readUrlRewrite,
  equal: (a, b) =>
    a.pathRegex?.pattern === b.pathRegex?.pattern && a.pathRegex?.substitution === b.pathRegex?.substitution,
  editRoute({ pathRegex }, route: RouteJson) {
    const action = route.route;
    if (!action || !pathRegex) return;
    if (action.regexRewrite !== undefined || action.prefixRewrite || action.pathRewritePolicy) return;
    action.regexRewrite = { pattern: { regex: pathRegex.pattern }, substitution: pathRegex.substitution };
  },
};
