// Which TrafficPolicy is in force where, for every feature alike: route-level and rule-level policies
// on a route's entries, Gateway-level policies on a waypoint's virtual hosts, and each policy's status
// (attachment.ts). The features themselves (features.ts, one folder each) only read their field and
// give the config to place; this file places it, into the compiled routes and the waypoint IR.
import { type HTTPRoute, type ObjectRef, refOf, type TrafficPolicy } from "@waymark/api";
import type { ClusterJson, RouteJson, SecretJson } from "@waymark/envoy-proto";
import { compareStrings, isRecord, records, str, stringMap } from "../input/guards.ts";
import { nsName, type ObjectIndex } from "../input/objects.ts";
import type { PerFilterConfig, PlacedHttpFilter, WaypointIR } from "../ir/types.ts";
import { type CompiledRoute, routeKind } from "../routes/compile.ts";
import { routeKey } from "../routes/grpc.ts";
import type { ObjectStatus, TranslatorSettings } from "../types.ts";
import type { WaypointInfo } from "../waypoints/gateways.ts";
import {
  type AncestorOutcome,
  comparePriority,
  type PolicyInfo,
  policyInfo,
  policyStatus,
  readTargets,
  TRAFFIC_POLICY_FIELDS,
  targetMatches,
} from "./attachment.ts";
import { Extensions, sameNamespaceBackend } from "./extensions/resolve.ts";
import {
  type FeatureContext,
  formatFieldError,
  type PolicyFeature,
  type RouteFilterMetadata,
  type RouteSite,
} from "./feature.ts";
import { FEATURES } from "./features.ts";

/** The spec fields features implement (a feature of a sub-field, "rateLimit.global", counts for its field). */
const FEATURE_FIELDS = new Set(FEATURES.map((f) => f.field.split(".")[0]!));
/** Spec fields whose sub-fields are features of their own: field → those sub-fields, in feature order. */
const SUB_FIELDS = new Map<string, string[]>();
for (const f of FEATURES) {
  const [top, ...rest] = f.field.split(".");
  if (rest.length) SUB_FIELDS.set(top!, [...(SUB_FIELDS.get(top!) ?? []), rest.join(".")]);
}

/** The value at a feature's field ("rateLimit.global": spec.rateLimit.global). */
function fieldValue(spec: Record<string, unknown>, field: string): unknown {
  let v: unknown = spec;
  for (const k of field.split(".")) v = isRecord(v) ? v[k] : undefined;
  return v;
}
/** In entryFields: the entry fails closed (no Gateway-level edit applies to it). */
const FAIL_CLOSED_FIELD = "*failClosed";
const ATTACHMENT_FIELDS = new Set(["targetRefs", "targetSelectors"]);

/** What a feature's reader may see of the world: the policy's own namespace only. */
function featureContext(
  p: TrafficPolicy,
  settings: TranslatorSettings,
  index: ObjectIndex,
  extensions: Extensions,
): FeatureContext {
  const namespace = p.metadata.namespace ?? "";
  const spec = isRecord(p.spec) ? p.spec : {};
  const targetKinds = new Set<string>();
  for (const r of [...records(spec.targetRefs), ...records(spec.targetSelectors)]) {
    const kind = str(r.kind);
    if (kind) targetKinds.add(kind);
  }
  return {
    settings,
    namespace,
    targetKinds,
    spec,
    secret: (name) => index.secrets.get(nsName(namespace, name)),
    secretsSelected: (matchLabels) =>
      [...index.secrets.values()]
        .filter((s) => {
          if (s.metadata.namespace !== namespace) return false;
          const labels = stringMap(s.metadata.labels);
          return Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
        })
        .sort((a, b) => compareStrings(a.metadata.name, b.metadata.name)),
    extension: (kind, ref, path) => extensions.resolve(kind, ref, path, namespace),
    extensionsOfKind: (kind) => extensions.usable(kind, namespace),
    backend: (ref) => sameNamespaceBackend(ref, namespace, index),
  };
}

/** The body of a route entry a fail-closed policy could not be programmed for. */
export const FAIL_CLOSED_BODY =
  "waymark: a security policy for this route is invalid; see its TrafficPolicy status\n";

/** Makes a route entry answer 500 (fail closed) instead of forwarding or redirecting. */
function failClosed(route: RouteJson): void {
  delete route.route;
  delete route.redirect;
  delete route.filterAction;
  delete route.nonForwardingAction;
  route.directResponse = { status: 500, body: { inlineString: FAIL_CLOSED_BODY } };
}

function readPolicy(
  p: TrafficPolicy,
  settings: TranslatorSettings,
  index: ObjectIndex,
  extensions: Extensions,
): PolicyInfo {
  const errors: string[] = [];
  const ignored: string[] = [];
  const failsClosed: string[] = [];
  const features = new Map<string, unknown>();
  const targets = readTargets(p, errors);
  const spec = isRecord(p.spec) ? p.spec : {};
  for (const field of Object.keys(spec).sort()) {
    if (ATTACHMENT_FIELDS.has(field) || FEATURE_FIELDS.has(field)) continue;
    if (TRAFFIC_POLICY_FIELDS.includes(field)) ignored.push(field);
    else errors.push(`${field}: unknown field`);
  }
  // A field split into features: what none of them reads is unknown, and it must set one of them.
  for (const [field, subs] of SUB_FIELDS) {
    const v = spec[field];
    if (v === undefined) continue;
    if (!isRecord(v)) {
      errors.push(`${field}: must be an object`);
      continue;
    }
    for (const k of Object.keys(v))
      if (!subs.includes(k)) errors.push(`${field}.${k}: unknown field (known: ${subs.join(", ")})`);
    if (Object.keys(v).length === 0) errors.push(`${field}: set ${subs.join(" or ")}`);
  }
  const ctx = featureContext(p, settings, index, extensions);
  for (const f of FEATURES) {
    const value = fieldValue(spec, f.field);
    if (value === undefined) continue;
    const r = f.read(value, ctx);
    if (r.ok) {
      features.set(f.field, r.value);
      for (const path of f.ignored?.(r.value) ?? []) ignored.push(path);
    } else {
      for (const e of r.errors) errors.push(formatFieldError(e));
      if (f.failClosed) failsClosed.push(f.field);
    }
  }
  if (failsClosed.length)
    errors.push(
      `${failsClosed.join(", ")} could not be programmed, so the routes this policy targets answer 500 until it is fixed (security policies fail closed)`,
    );
  return { ...policyInfo(p), targets, errors, ignored, failsClosed, features };
}

/**
 * One translation's view of the policies. policies/stage.ts calls route() for each compiled route,
 * attached() for each (route, waypoint) it programs, waypoint() for each waypoint's IR; the statuses
 * stage calls statuses() last.
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
  /** Route key → feature field → the route-level and rule-level policies in force for it on some entry. */
  private readonly routeValues = new Map<string, Map<string, Set<PolicyInfo>>>();
  /** Route entry name → the features a route-level or rule-level policy sets on it (editRoute). */
  private readonly entryFields = new Map<string, Set<string>>();
  private readonly perFilterCache = new Map<string, PerFilterConfig>();
  private readonly index: ObjectIndex;
  /** The GatewayExtensions, each read once; their statuses go out with the policies'. */
  private readonly extensions: Extensions;

  constructor(index: ObjectIndex, settings: TranslatorSettings) {
    this.settings = settings;
    this.index = index;
    this.extensions = new Extensions(index, settings);
    this.policies = index.trafficPolicies
      .map((p) => readPolicy(p, settings, index, this.extensions))
      .sort(comparePriority);
  }

  private perFilter(p: PolicyInfo, feature: PolicyFeature<unknown>, on: "route" | "vhost"): PerFilterConfig {
    const key = `${p.key}|${feature.field}|${on}`;
    let c = this.perFilterCache.get(key);
    if (!c) {
      const value = p.features.get(feature.field);
      c =
        on === "vhost" && feature.perVirtualHost
          ? feature.perVirtualHost(value)
          : (feature.perRoute?.(value) ?? {});
      this.perFilterCache.set(key, c);
    }
    return c;
  }

  /** Whether there is any TrafficPolicy at all (else every step is a no-op). */
  any(): boolean {
    return this.policies.length > 0;
  }

  private valid(): PolicyInfo[] {
    return this.policies.filter((p) => p.errors.length === 0);
  }

  /** Whether some policy, valid or not, names or selects the route (its status then depends on it). */
  targetsRoute(route: HTTPRoute): boolean {
    const labels = stringMap(route.metadata.labels);
    const kind = (route.kind as string) === "GRPCRoute" ? "GRPCRoute" : "HTTPRoute";
    return this.policies.some(
      (p) =>
        p.namespace === route.metadata.namespace &&
        p.targets.some((t) => targetMatches(t, kind, route.metadata.name, labels)),
    );
  }

  /** Puts the route-level policies' per-filter config on the route's entries. */
  route(route: CompiledRoute): void {
    if (this.policies.length === 0) return;
    const labels = stringMap(route.route.metadata.labels);
    const kind = routeKind(route);
    const onRoute = (p: PolicyInfo, section: boolean) =>
      p.namespace === route.namespace &&
      p.targets.some(
        (t) => targetMatches(t, kind, route.name, labels) && (t.sectionName !== undefined) === section,
      );
    const routeLevel = this.valid().filter((p) => onRoute(p, false));
    const ruleLevel = this.valid().filter((p) => onRoute(p, true));
    const closing = this.policies.filter(
      (p) => p.failsClosed.length && (onRoute(p, false) || onRoute(p, true)),
    );
    if (routeLevel.length === 0 && ruleLevel.length === 0 && closing.length === 0) return;
    const rules = Array.isArray(isRecord(route.route.spec) ? route.route.spec.rules : undefined)
      ? ((route.route.spec as { rules: unknown[] }).rules ?? [])
      : [];
    const winners = new Set<PolicyInfo>();
    const losers = new Map<PolicyInfo, Map<string, Set<string>>>();
    const values = new Map<string, Set<PolicyInfo>>();
    for (const entry of route.entries) {
      const rule = rules[entry.rank.ruleIndex];
      const ruleName = isRecord(rule) && typeof rule.name === "string" ? rule.name : undefined;
      const ruleLabel = `rule ${ruleName ?? entry.rank.ruleIndex}`;
      const site: RouteSite = {
        routeNamespace: route.namespace,
        routeName: route.name,
        ruleName,
        ruleIndex: entry.rank.ruleIndex,
      };
      const fields = new Set<string>();
      const candidates = [
        ...ruleLevel.filter((p) =>
          p.targets.some((t) => t.kind === kind && t.sectionName !== undefined && t.sectionName === ruleName),
        ),
        ...routeLevel,
      ];
      const config: PerFilterConfig = {};
      const metadata: RouteFilterMetadata = {};
      for (const f of FEATURES) {
        const [winner, ...rest] = candidates.filter((p) => p.features.has(f.field));
        if (!winner) continue;
        Object.assign(config, this.perFilter(winner, f, "route"));
        if (f.routeMetadata) Object.assign(metadata, f.routeMetadata(winner.features.get(f.field)));
        // In place: a compiled route reused by the memo gets the same edit again (editRoute sets fields).
        if (f.editRoute) {
          f.editRoute(winner.features.get(f.field), entry.json, site);
          fields.add(f.field);
        }
        winners.add(winner);
        const inForce = values.get(f.field) ?? new Set<PolicyInfo>();
        inForce.add(winner);
        values.set(f.field, inForce);
        for (const l of rest) {
          const byRule = losers.get(l) ?? new Map<string, Set<string>>();
          const by = byRule.get(ruleLabel) ?? new Set<string>();
          by.add(winner.key);
          byRule.set(ruleLabel, by);
          losers.set(l, byRule);
        }
      }
      const closedBy = closing.some((p) =>
        p.targets.some(
          (t) =>
            targetMatches(t, kind, route.name, labels) &&
            (t.sectionName === undefined || t.sectionName === ruleName),
        ),
      );
      if (closedBy) {
        failClosed(entry.json);
        // Gateway-level edits must not put a forwarding action back.
        fields.add(FAIL_CLOSED_FIELD);
      }
      if (fields.size && entry.json.name) this.entryFields.set(entry.json.name, fields);
      // The entry's own per-filter config (the HTTPRoute's CORS filter) wins over a policy's.
      const merged = entry.ownPerFilter ? { ...config, ...entry.ownPerFilter } : config;
      if (Object.keys(merged).length) entry.json.typedPerFilterConfig = merged;
      if (Object.keys(metadata).length)
        entry.json.metadata = {
          ...entry.json.metadata,
          filterMetadata: { ...entry.json.metadata?.filterMetadata, ...metadata },
        };
    }
    this.routeProviders.set(routeKey(route), { winners, losers });
    this.routeValues.set(routeKey(route), values);
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
    const kind = routeKind(route);
    const label = `${kind} ${nsName(route.namespace, route.name)}`;
    const labels = stringMap(route.route.metadata.labels);
    const providers = this.routeProviders.get(routeKey(route));
    for (const p of this.policies) {
      if (p.namespace !== route.namespace) continue;
      if (!p.targets.some((t) => targetMatches(t, kind, route.name, labels))) continue;
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

  /** Fills the waypoint IR's policy slots: Gateway-level virtual host config, the features' HTTP filters. */
  waypoint(w: WaypointInfo, ir: WaypointIR): void {
    if (this.policies.length === 0) return;
    const policies = this.gatewayPolicies(w);
    const vhostConfig: PerFilterConfig = {};
    const label = `Gateway ${w.key}`;
    /** Feature field → the policies in force for it on this waypoint, in priority order. */
    const inForce = new Map<string, Set<PolicyInfo>>();
    const gatewayEdits: Array<{ feature: PolicyFeature<unknown>; value: unknown }> = [];
    /** Feature field → the Gateway-level policy in force for it (route-level ones override it). */
    const gatewayWinners = new Map<string, PolicyInfo>();
    for (const p of policies) this.outcome(p, w);
    for (const f of FEATURES) {
      const having = policies.filter((p) => p.errors.length === 0 && p.features.has(f.field));
      const [winner, ...losers] = having;
      if (!winner) continue;
      inForce.set(f.field, new Set([winner]));
      gatewayWinners.set(f.field, winner);
      Object.assign(vhostConfig, this.perFilter(winner, f, "vhost"));
      if (f.editRoute) gatewayEdits.push({ feature: f, value: winner.features.get(f.field) });
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

    // The filters in use: those some virtual host or route entry has per-filter config for.
    const used = new Set<string>();
    const vhostKeys = Object.keys(vhostConfig);
    const closed = policies.some((p) => p.failsClosed.length > 0);
    const routeEdit = gatewayEdits.length || closed ? this.gatewayRouteEdit(gatewayEdits, closed) : undefined;
    for (const rc of ir.routeConfigs) {
      if (vhostKeys.length) rc.virtualHostConfig = vhostConfig;
      if (routeEdit) rc.routeEdit = routeEdit;
      for (const k of vhostKeys) used.add(k);
      for (const list of [rc.gatewayRoutes, rc.serviceRoutes])
        for (const r of list) {
          for (const [field, ps] of this.routeValues.get(routeKey(r)) ?? []) {
            const all = inForce.get(field) ?? new Set<PolicyInfo>();
            for (const p of ps) all.add(p);
            inForce.set(field, all);
            // The route's own policy sets this feature: the Gateway-level one is overridden there
            // (a route entry's per-filter config and fields replace the virtual host's).
            const gw = gatewayWinners.get(field);
            if (gw) {
              const o = this.outcome(gw, w);
              const on = `${routeKind(r)} ${nsName(r.namespace, r.name)}`;
              const by = o.overridden.get(on) ?? new Set<string>();
              for (const p of ps) by.add(p.key);
              o.overridden.set(on, by);
            }
          }
          for (const e of r.entries)
            if (e.json.typedPerFilterConfig)
              for (const k of Object.keys(e.json.typedPerFilterConfig)) used.add(k);
        }
    }
    const filters: PlacedHttpFilter[] = [];
    const clusters = new Map<string, ClusterJson>();
    const secrets = new Map<string, SecretJson>();
    for (const f of FEATURES) {
      const ps = inForce.get(f.field);
      if (!ps?.size) continue;
      const values = [...ps].sort(comparePriority).map((p) => p.features.get(f.field));
      for (const h of f.filtersFor ? f.filtersFor(values) : (f.httpFilters ?? []))
        if (used.has(String(h.filter.name))) filters.push(h);
      for (const c of f.clustersFor?.(values) ?? [])
        if (c.name && !clusters.has(c.name)) clusters.set(c.name, c);
      for (const s of f.secretsFor?.(values) ?? [])
        if (s.name && !secrets.has(s.name)) secrets.set(s.name, s);
      for (const b of f.backendsFor?.(values) ?? [])
        if (!ir.clusters.some((c) => c.cluster === b.cluster)) ir.clusters.push(b);
    }
    if (clusters.size) {
      const extra = [...(ir.extraClusters ?? [])];
      for (const c of clusters.values()) if (!extra.some((e) => e.name === c.name)) extra.push(c);
      ir.extraClusters = extra.sort((a, b) => compareStrings(a.name ?? "", b.name ?? ""));
    }
    if (secrets.size)
      ir.secrets = [...(ir.secrets ?? []), ...secrets.values()].sort((a, b) =>
        compareStrings(a.name ?? "", b.name ?? ""),
      );
    if (filters.length === 0) return;
    // A chain may have one of them already, for its routes' own filters (ir/waypoint.ts).
    for (const chain of ir.listener?.chains ?? [])
      if (chain.kind === "http")
        for (const f of filters)
          if (!chain.httpFilters.some((h) => h.filter.name === f.filter.name)) chain.httpFilters.push(f);
  }

  /**
   * The Gateway-level route edits: a copy of each route entry with every Gateway-level editRoute
   * feature applied that no route-level or rule-level policy sets on that entry (the more specific
   * wins); undefined when none applies (the entry is kept as it is).
   */
  private gatewayRouteEdit(
    edits: ReadonlyArray<{ feature: PolicyFeature<unknown>; value: unknown }>,
    closed: boolean,
  ): (route: RouteJson) => RouteJson | undefined {
    return (route) => {
      const set = route.name ? this.entryFields.get(route.name) : undefined;
      if (set?.has(FAIL_CLOSED_FIELD)) return undefined;
      if (closed) {
        const copy = structuredClone(route);
        failClosed(copy);
        return copy;
      }
      const apply = edits.filter((e) => !set?.has(e.feature.field));
      if (apply.length === 0) return undefined;
      const copy = structuredClone(route);
      for (const e of apply) e.feature.editRoute!(e.value, copy, undefined);
      return copy;
    };
  }

  statuses(): ObjectStatus[] {
    const out: ObjectStatus[] = this.extensions.statuses();
    for (const p of this.policies) {
      const s = this.statusOf(p);
      if (s) out.push(s);
    }
    return out;
  }

  private statusOf(p: PolicyInfo): ObjectStatus | undefined {
    const byWaypoint = this.outcomes.get(p.key);
    if (!byWaypoint || byWaypoint.size === 0) return undefined;
    const outcomes = [...byWaypoint.values()].sort((a, b) => (a.waypoint.key < b.waypoint.key ? -1 : 1));
    const ref: ObjectRef = refOf(p.policy);
    return { ref, generation: p.generation, status: policyStatus(p, outcomes, this.settings) };
  }

  /**
   * After a translation: whether `after` programs exactly what `before` did — the same targets,
   * priority and problems, and each feature's value equal to the old one, as that feature judges
   * (PolicyFeature.equal). If so, only the policy's own status can differ (its generation): the
   * answer holds that status entry (undefined when it has none) and a commit that puts `after` in
   * place. Undefined when the change may program something else: the whole translation is needed.
   */
  replacement(
    before: TrafficPolicy,
    after: TrafficPolicy,
  ): { status: ObjectStatus | undefined; commit: () => void } | undefined {
    const at = this.policies.findIndex((p) => p.policy === before);
    if (at < 0) return undefined;
    const old = this.policies[at]!;
    const next = readPolicy(after, this.settings, this.index, this.extensions);
    if (!samePolicy(old, next)) return undefined;
    const commit = () => {
      this.policies[at] = next;
      for (const { winners, losers } of this.routeProviders.values()) {
        if (winners.delete(old)) winners.add(next);
        const lost = losers.get(old);
        if (lost) {
          losers.delete(old);
          losers.set(next, lost);
        }
      }
      // The per-filter config cached and placed for `old` stays right: the values are equal.
    };
    return { status: this.statusOf(next), commit };
  }
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** Whether two reads of one policy program the same (see PolicyTranslation.replacement). */
function samePolicy(a: PolicyInfo, b: PolicyInfo): boolean {
  if (a.key !== b.key || a.weight !== b.weight || a.created !== b.created) return false;
  if (!sameList(a.errors, b.errors) || !sameList(a.ignored, b.ignored)) return false;
  if (JSON.stringify(a.targets) !== JSON.stringify(b.targets)) return false;
  if (a.features.size !== b.features.size) return false;
  return FEATURES.every(
    (f) =>
      a.features.has(f.field) === b.features.has(f.field) &&
      (!a.features.has(f.field) || f.equal(a.features.get(f.field), b.features.get(f.field))),
  );
}
