// TrafficPolicy support, as plugins. A feature (one spec field, e.g. transformation) says what it
// contributes: HTTP filters for the connection manager, and per-route (or per-virtual-host)
// typed_per_filter_config where it is in force. This module attaches policies to routes and
// waypoints (attachment.ts), decorates the translated xDS, and computes every policy's status.
// Adding a policy feature means adding a folder here and an entry in FEATURES.
import { type HTTPRoute, type ObjectRef, refOf } from "@waymark/api";
import type { JsonObject } from "@waymark/envoy-proto";
import { TypeUrl } from "@waymark/envoy-proto";
import { isRecord, stringMap } from "../input/guards.ts";
import { nsName, type ObjectIndex } from "../input/objects.ts";
import type { CompiledRoute } from "../routes/compile.ts";
import type { ObjectStatus, TranslatorSettings, WaypointOutput } from "../types.ts";
import type { WaypointInfo } from "../waypoints/gateways.ts";
import { insertHttpFilters } from "../xds/listener.ts";
import {
  type AncestorOutcome,
  comparePriority,
  type PolicyInfo,
  policyInfo,
  policyStatus,
  readTargets,
  targetMatches,
  UNSUPPORTED_FIELDS,
} from "./attachment.ts";
import { transformationFeature } from "./transformation/index.ts";

export type FeatureRead<C> = { ok: true; value: C } | { ok: false; errors: string[] };

export interface PolicyFeature<C> {
  /** The TrafficPolicy spec field this feature implements. */
  field: string;
  /** HTTP filters (before the router) in every connection manager of a waypoint using the feature. */
  httpFilters: readonly JsonObject[];
  /** Reads and validates the field of one policy; errors make the policy Invalid. */
  read(value: unknown, settings: TranslatorSettings): FeatureRead<C>;
  /** typed_per_filter_config entries where `config` is in force ({} when it does nothing). */
  perFilterConfig(config: C): Record<string, JsonObject>;
}

// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous registry; each feature checks its own config
export const FEATURES: ReadonlyArray<PolicyFeature<any>> = [transformationFeature];

const FEATURE_FIELDS = new Set(FEATURES.map((f) => f.field));
const ATTACHMENT_FIELDS = new Set(["targetRefs", "targetSelectors"]);

function readPolicy(p: Parameters<typeof policyInfo>[0], settings: TranslatorSettings): PolicyInfo {
  const errors: string[] = [];
  const ignored: string[] = [];
  const features = new Map<string, unknown>();
  const targets = readTargets(p, errors);
  const spec = isRecord(p.spec) ? p.spec : {};
  for (const field of Object.keys(spec).sort()) {
    if (ATTACHMENT_FIELDS.has(field) || FEATURE_FIELDS.has(field)) continue;
    if (UNSUPPORTED_FIELDS.includes(field)) ignored.push(field);
    else errors.push(`${field}: unknown field`);
  }
  for (const f of FEATURES) {
    if (spec[f.field] === undefined) continue;
    const r = f.read(spec[f.field], settings);
    if (r.ok) features.set(f.field, r.value);
    else errors.push(...r.errors);
  }
  return { ...policyInfo(p), targets, errors, ignored, features };
}

/**
 * One translation's view of the policies. index.ts calls route() for each compiled route, attached()
 * for each (route, waypoint) it programs, waypoint() for each waypoint's output, and statuses() last.
 */
export class PolicyTranslation {
  private readonly policies: PolicyInfo[];
  private readonly settings: TranslatorSettings;
  /** Policy key → waypoint key → outcome. */
  private readonly outcomes = new Map<string, Map<string, AncestorOutcome>>();
  /** Route key → policies in force on some of its entries, and where (rule label) others lost to whom. */
  private readonly routeProviders = new Map<
    string,
    { winners: Set<PolicyInfo>; losers: Map<PolicyInfo, Map<string, Set<string>>> }
  >();
  private readonly perFilterCache = new Map<string, Record<string, JsonObject>>();

  constructor(index: ObjectIndex, settings: TranslatorSettings) {
    this.settings = settings;
    this.policies = index.trafficPolicies.map((p) => readPolicy(p, settings)).sort(comparePriority);
  }

  private perFilter(p: PolicyInfo, feature: PolicyFeature<unknown>): Record<string, JsonObject> {
    const key = `${p.key}|${feature.field}`;
    let c = this.perFilterCache.get(key);
    if (!c) {
      c = feature.perFilterConfig(p.features.get(feature.field));
      this.perFilterCache.set(key, c);
    }
    return c;
  }

  private valid(): PolicyInfo[] {
    return this.policies.filter((p) => p.errors.length === 0);
  }

  /** Whether some policy, valid or not, names or selects the route (its status then depends on it). */
  targetsRoute(route: HTTPRoute): boolean {
    const labels = stringMap(route.metadata.labels);
    return this.policies.some(
      (p) =>
        p.namespace === route.metadata.namespace &&
        p.targets.some((t) => targetMatches(t, "HTTPRoute", route.metadata.name, labels)),
    );
  }

  /** Puts the route-level policies' per-filter config on the route's entries. */
  route(route: CompiledRoute): void {
    if (this.policies.length === 0) return;
    const labels = stringMap(route.route.metadata.labels);
    const onRoute = (p: PolicyInfo, section: boolean) =>
      p.namespace === route.namespace &&
      p.targets.some(
        (t) => targetMatches(t, "HTTPRoute", route.name, labels) && (t.sectionName !== undefined) === section,
      );
    const routeLevel = this.valid().filter((p) => onRoute(p, false));
    const ruleLevel = this.valid().filter((p) => onRoute(p, true));
    if (routeLevel.length === 0 && ruleLevel.length === 0) return;
    const rules = Array.isArray(isRecord(route.route.spec) ? route.route.spec.rules : undefined)
      ? ((route.route.spec as { rules: unknown[] }).rules ?? [])
      : [];
    const winners = new Set<PolicyInfo>();
    const losers = new Map<PolicyInfo, Map<string, Set<string>>>();
    for (const entry of route.entries) {
      const rule = rules[entry.rank.ruleIndex];
      const ruleName = isRecord(rule) && typeof rule.name === "string" ? rule.name : undefined;
      const ruleLabel = `rule ${ruleName ?? entry.rank.ruleIndex}`;
      const candidates = [
        ...ruleLevel.filter((p) =>
          p.targets.some(
            (t) => t.kind === "HTTPRoute" && t.sectionName !== undefined && t.sectionName === ruleName,
          ),
        ),
        ...routeLevel,
      ];
      const config: Record<string, JsonObject> = {};
      for (const f of FEATURES) {
        const [winner, ...rest] = candidates.filter((p) => p.features.has(f.field));
        if (!winner) continue;
        Object.assign(config, this.perFilter(winner, f));
        winners.add(winner);
        for (const l of rest) {
          const byRule = losers.get(l) ?? new Map<string, Set<string>>();
          const by = byRule.get(ruleLabel) ?? new Set<string>();
          by.add(winner.key);
          byRule.set(ruleLabel, by);
          losers.set(l, byRule);
        }
      }
      if (Object.keys(config).length) entry.json.typedPerFilterConfig = config;
    }
    this.routeProviders.set(nsName(route.namespace, route.name), { winners, losers });
  }

  private outcome(p: PolicyInfo, w: WaypointInfo): AncestorOutcome {
    let byWaypoint = this.outcomes.get(p.key);
    if (!byWaypoint) {
      byWaypoint = new Map();
      this.outcomes.set(p.key, byWaypoint);
    }
    let o = byWaypoint.get(w.key);
    if (!o) {
      o = { waypoint: w, inForce: new Set(), overridden: new Map() };
      byWaypoint.set(w.key, o);
    }
    return o;
  }

  /** Records that `route` is programmed into waypoint `w` (for the status of its policies). */
  attached(route: CompiledRoute, w: WaypointInfo): void {
    if (this.policies.length === 0) return;
    const label = `HTTPRoute ${nsName(route.namespace, route.name)}`;
    const labels = stringMap(route.route.metadata.labels);
    const providers = this.routeProviders.get(nsName(route.namespace, route.name));
    for (const p of this.policies) {
      if (p.namespace !== route.namespace) continue;
      if (!p.targets.some((t) => targetMatches(t, "HTTPRoute", route.name, labels))) continue;
      const o = this.outcome(p, w);
      if (p.errors.length) continue;
      const lost = providers?.losers.get(p);
      if (providers?.winners.has(p) || p.features.size === 0 || !lost) o.inForce.add(label);
      for (const [rule, by] of lost ?? []) o.overridden.set(`${label} ${rule}`, by);
    }
  }

  /** Gateway-level policies of waypoint w, by priority. */
  private gatewayPolicies(w: WaypointInfo): PolicyInfo[] {
    const labels = stringMap(w.gateway.metadata.labels);
    return this.policies.filter(
      (p) =>
        p.namespace === w.ref.namespace &&
        p.targets.some(
          (t) =>
            targetMatches(t, "Gateway", w.ref.name, labels) &&
            (t.sectionName === undefined || t.sectionName === w.inbound?.name),
        ),
    );
  }

  /** Adds the Gateway-level policies' virtual host config and the features' HTTP filters. */
  waypoint(w: WaypointInfo, out: WaypointOutput): void {
    if (this.policies.length === 0) return;
    const policies = this.gatewayPolicies(w);
    const vhostConfig: Record<string, JsonObject> = {};
    const label = `Gateway ${w.key}`;
    for (const p of policies) this.outcome(p, w);
    for (const f of FEATURES) {
      const having = policies.filter((p) => p.errors.length === 0 && p.features.has(f.field));
      const [winner, ...losers] = having;
      if (!winner) continue;
      Object.assign(vhostConfig, this.perFilter(winner, f));
      this.outcome(winner, w).inForce.add(label);
      for (const l of losers) {
        const o = this.outcome(l, w);
        const by = o.overridden.get(label) ?? new Set<string>();
        by.add(winner.key);
        o.overridden.set(label, by);
      }
    }
    for (const p of policies) {
      const o = this.outcome(p, w);
      if (p.errors.length === 0 && p.features.size === 0) o.inForce.add(label);
    }

    const used = new Set<string>();
    for (const rc of out.resources[TypeUrl.route]) {
      for (const vh of Array.isArray(rc.json.virtualHosts) ? rc.json.virtualHosts : []) {
        if (!isRecord(vh)) continue;
        if (Object.keys(vhostConfig).length) vh.typedPerFilterConfig = { ...vhostConfig };
        for (const k of Object.keys(isRecord(vh.typedPerFilterConfig) ? vh.typedPerFilterConfig : {}))
          used.add(k);
        for (const r of Array.isArray(vh.routes) ? vh.routes : []) {
          if (isRecord(r) && isRecord(r.typedPerFilterConfig))
            for (const k of Object.keys(r.typedPerFilterConfig)) used.add(k);
        }
      }
    }
    const filters = FEATURES.flatMap((f) => f.httpFilters).filter((f) => used.has(String(f.name)));
    if (filters.length === 0) return;
    for (const l of out.resources[TypeUrl.listener]) insertHttpFilters(l.json, filters);
  }

  statuses(): ObjectStatus[] {
    const out: ObjectStatus[] = [];
    for (const p of this.policies) {
      const byWaypoint = this.outcomes.get(p.key);
      if (!byWaypoint || byWaypoint.size === 0) continue;
      const outcomes = [...byWaypoint.values()].sort((a, b) => (a.waypoint.key < b.waypoint.key ? -1 : 1));
      const ref: ObjectRef = refOf(p.policy);
      out.push({ ref, generation: p.generation, status: policyStatus(p, outcomes, this.settings) });
    }
    return out;
  }
}
