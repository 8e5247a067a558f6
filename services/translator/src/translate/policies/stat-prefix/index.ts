// TrafficPolicy `statPrefix` (a string) → the route entry's stat_prefix: Envoy then keeps per-route
// stats under vhost.<virtual host>.route.<prefix>.* (upstream_rq_completed, upstream_rq_<code>, ...).
// The value is stat-safe literals (letters, digits, _ % . -) and the tokens {{route_name}},
// {{route_namespace}} and {{rule_name}} (spaces allowed inside the braces), filled from the entry's
// HTTPRoute and rule. An unnamed rule's {{rule_name}} is empty; as kgateway does, the empty
// "."-separated segments this leaves are dropped ("ns.route." → "ns.route"). Only for policies that
// target routes (kgateway's CRD rejects it on a Gateway). Set on every entry, redirects included.
import type { RouteJson } from "@waymark/envoy-proto";
import {
  type FeatureContext,
  type FeatureRead,
  FieldErrors,
  type PolicyFeature,
  type RouteSite,
} from "../feature.ts";
import { onlyForKinds } from "../route-fields.ts";

const TOKEN = /\{\{\s*(route_name|route_namespace|rule_name)\s*\}\}/g;
const SYNTAX = /^([a-zA-Z0-9_%.-]|\{\{\s*(route_name|route_namespace|rule_name)\s*\}\})+$/;

export function readStatPrefix(
  value: unknown,
  ctx?: Pick<FeatureContext, "targetKinds">,
): FeatureRead<string> {
  const errors = new FieldErrors();
  if (ctx) onlyForKinds(ctx, ["HTTPRoute", "GRPCRoute"], "statPrefix", errors);
  if (typeof value !== "string" || value.length < 1 || value.length > 256)
    errors.at("statPrefix", "must be a string of 1 to 256 characters");
  else if (!SYNTAX.test(value))
    errors.at(
      "statPrefix",
      `${JSON.stringify(value)} is not a stat prefix: use letters, digits, "_", "%", ".", "-" and the tokens {{route_name}}, {{route_namespace}}, {{rule_name}}`,
    );
  return errors.length ? { ok: false, errors: errors.list } : { ok: true, value: value as string };
}

/** The prefix for one entry: tokens filled in, empty "."-separated segments dropped. */
export function renderStatPrefix(template: string, site: RouteSite | undefined): string {
  const vars: Record<string, string> = {
    route_name: site?.routeName ?? "",
    route_namespace: site?.routeNamespace ?? "",
    rule_name: site?.ruleName ?? "",
  };
  return template
    .replace(TOKEN, (_t, name: string) => vars[name] ?? "")
    .split(".")
    .filter((s) => s !== "")
    .join(".");
}

export const statPrefixFeature: PolicyFeature<string> = {
  field: "statPrefix",
  read: readStatPrefix,
  equal: (a, b) => a === b,
  editRoute(template, route: RouteJson, site) {
    const prefix = renderStatPrefix(template, site);
    if (prefix) route.statPrefix = prefix;
  },
};
