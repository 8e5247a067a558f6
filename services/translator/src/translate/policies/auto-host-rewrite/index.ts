// TrafficPolicy `autoHostRewrite` (a boolean): true → the route action's auto_host_rewrite, so Envoy
// sends the chosen upstream host's hostname as the Host header. Envoy knows such a hostname only for
// strict/logical DNS clusters and endpoints that carry one; for the others the Host header is kept.
// Only for policies that target HTTPRoutes (kgateway's CRD rejects it on a Gateway). As kgateway
// does, an entry whose HTTPRoute rule already rewrites the host (URLRewrite hostname) keeps that;
// false programs nothing; entries that do not forward are left alone.
import type { RouteJson } from "@waymark/envoy-proto";
import { type FeatureContext, type FeatureRead, FieldErrors, type PolicyFeature } from "../feature.ts";
import { onlyForKinds } from "../route-fields.ts";

export function readAutoHostRewrite(
  value: unknown,
  ctx?: Pick<FeatureContext, "targetKinds">,
): FeatureRead<boolean> {
  const errors = new FieldErrors();
  if (ctx) onlyForKinds(ctx, ["HTTPRoute"], "autoHostRewrite", errors);
  if (typeof value !== "boolean") errors.at("autoHostRewrite", "must be true or false");
  return errors.length ? { ok: false, errors: errors.list } : { ok: true, value: value as boolean };
}

export const autoHostRewriteFeature: PolicyFeature<boolean> = {
  field: "autoHostRewrite",
  read: readAutoHostRewrite,
  equal: (a, b) => a === b,
  editRoute(enabled, route: RouteJson) {
    const a = route.route;
    if (!enabled || !a) return;
    if (
      a.hostRewriteLiteral ||
      a.hostRewriteHeader ||
      a.hostRewritePathRegex ||
      a.autoHostRewrite !== undefined
    )
      return;
    a.autoHostRewrite = true;
  },
};
