// Which TrafficPolicy is in force where, for every feature alike: route-level and rule-level policies
// on a route's entries, Gateway-level policies on a waypoint's virtual hosts, and each policy's status
// (attachment.ts). The features themselves (features.ts, one folder each) only read their field and
// give the config to place; this file places it, into the compiled routes and the waypoint IR.
import { type HTTPRoute, type ObjectRef, refOf, type TrafficPolicy } from "@waymark/api";
import type { ClusterJson, RouteJson, SecretJson } from "@waymark/envoy-proto";
import { compareStrings, isRecord, lowerBound, records, str, stringMap } from "../input/guards.ts";
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
  type TargetKind,
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
  private policies: PolicyInfo[];
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
  /**
   * The policies by target, so that finding an object's policies costs O(its policies), not
   * O(all policies): `<ns>\0<kind>\0<name>` → the policies naming it, `<ns>\0<kind>` → those with a
   * selector of that kind; each list in priority order (`rank`: the position in `policies`).
   */
  private readonly byName = new Map<string, PolicyInfo[]>();
  private readonly bySelector = new Map<string, PolicyInfo[]>();
  private readonly rank = new Map<PolicyInfo, number>();
  /** Waypoint key → what its route entries and Gateway-level policies put in force (waypoint()). */
  private readonly uses = new Map<string, WaypointUse>();
  /** The policy replacement() read last (readChanges takes it rather than reading it twice). */
  private lastRead: { policy: TrafficPolicy; info: PolicyInfo } | undefined;

  constructor(index: ObjectIndex, settings: TranslatorSettings) {
    this.settings = settings;
    this.index = index;
    this.extensions = new Extensions(index, settings);
    this.policies = index.trafficPolicies
      .map((p) => readPolicy(p, settings, index, this.extensions))
      .sort(comparePriority);
    this.reindex();
  }

  private reindex(): void {
    this.byName.clear();
    this.bySelector.clear();
    this.rank.clear();
    for (const [i, p] of this.policies.entries()) {
      this.rank.set(p, i);
      for (const t of p.targets) {
        const named = t.name !== undefined;
        const map = named ? this.byName : this.bySelector;
        const key = named ? `${p.namespace}\0${t.kind}\0${t.name}` : `${p.namespace}\0${t.kind}`;
        const list = map.get(key);
        if (!list) map.set(key, [p]);
        else if (list.at(-1) !== p) list.push(p);
      }
    }
  }

  /** The policies, valid or not, with a target matching the object, in priority order (do not edit). */
  private targeting(
    namespace: string,
    kind: TargetKind,
    name: string,
    labels: () => Record<string, string>,
  ): readonly PolicyInfo[] {
    const named = this.byName.get(`${namespace}\0${kind}\0${name}`);
    const selectors = this.bySelector.get(`${namespace}\0${kind}`);
    if (!selectors) return named ?? [];
    const l = labels();
    const selecting = selectors.filter((p) =>
      p.targets.some((t) => t.name === undefined && targetMatches(t, kind, name, l)),
    );
    if (!named || selecting.length === 0) return named ?? selecting;
    return [...new Set([...named, ...selecting])].sort((a, b) => this.rank.get(a)! - this.rank.get(b)!);
  }

  /** The policies naming or selecting a compiled route. */
  private routePolicies(route: CompiledRoute): readonly PolicyInfo[] {
    return this.targeting(route.namespace, routeKind(route), route.name, () =>
      stringMap(route.route.metadata.labels),
    );
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

  /** Whether some policy, valid or not, names or selects the route (its status then depends on it). */
  targetsRoute(route: HTTPRoute): boolean {
    const kind = (route.kind as string) === "GRPCRoute" ? "GRPCRoute" : "HTTPRoute";
    return (
      this.targeting(route.metadata.namespace ?? "", kind, route.metadata.name, () =>
        stringMap(route.metadata.labels),
      ).length > 0
    );
  }

  /** Puts the route-level policies' per-filter config on the route's entries. */
  route(route: CompiledRoute): void {
    if (this.policies.length === 0) return;
    const mine = this.routePolicies(route);
    if (mine.length === 0) return;
    const labels = stringMap(route.route.metadata.labels);
    const kind = routeKind(route);
    const onRoute = (p: PolicyInfo, section: boolean) =>
      p.targets.some(
        (t) => targetMatches(t, kind, route.name, labels) && (t.sectionName !== undefined) === section,
      );
    const routeLevel = mine.filter((p) => p.errors.length === 0 && onRoute(p, false));
    const ruleLevel = mine.filter((p) => p.errors.length === 0 && onRoute(p, true));
    const closing = mine.filter((p) => p.failsClosed.length && (onRoute(p, false) || onRoute(p, true)));
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
    for (const p of this.routePolicies(route)) this.attachedFor(p, route, w);
  }

  /** attached() for one policy that names or selects the route. */
  private attachedFor(p: PolicyInfo, route: CompiledRoute, w: WaypointInfo): void {
    const o = this.outcome(p, w);
    if (p.errors.length) return;
    const label = `${routeKind(route)} ${nsName(route.namespace, route.name)}`;
    const providers = this.routeProviders.get(routeKey(route));
    const lost = providers?.losers.get(p);
    if (providers?.winners.has(p) || p.features.size === 0 || !lost) o.inForce.add(label);
    for (const [rule, by] of lost ?? []) o.overridden.set(`${label} ${rule}`, by);
  }

  /** Gateway-level policies of waypoint w, by priority. */
  private gatewayPolicies(w: WaypointInfo): PolicyInfo[] {
    const labels = stringMap(w.gateway.metadata.labels);
    return this.targeting(w.ref.namespace, "Gateway", w.ref.name, () => labels).filter((p) =>
      p.targets.some(
        (t) =>
          targetMatches(t, "Gateway", w.ref.name, labels) &&
          (t.sectionName === undefined || t.sectionName === w.inbound?.name),
      ),
    );
  }

  /** Fills the waypoint IR's policy slots: Gateway-level virtual host config, the features' HTTP filters. */
  waypoint(w: WaypointInfo, ir: WaypointIR): void {
    if (this.policies.length === 0) {
      // Nothing to place; the filters in use are counted all the same, for a policy added later.
      const use: WaypointUse = { inForce: new Map(), used: new Map() };
      this.uses.set(w.key, use);
      for (const rc of ir.routeConfigs)
        for (const list of [rc.gatewayRoutes, rc.serviceRoutes])
          for (const r of list) countEntries(use.used, r, 1);
      return;
    }
    const policies = this.gatewayPolicies(w);
    const vhostConfig: PerFilterConfig = {};
    const label = `Gateway ${w.key}`;
    /** Feature field → the policies in force for it on this waypoint; filter name → in use. */
    const use: WaypointUse = { inForce: new Map(), used: new Map() };
    this.uses.set(w.key, use);
    const gatewayEdits: Array<{ feature: PolicyFeature<unknown>; value: unknown }> = [];
    /** Feature field → the Gateway-level policy in force for it (route-level ones override it). */
    const gatewayWinners = new Map<string, PolicyInfo>();
    for (const p of policies) this.outcome(p, w);
    for (const f of FEATURES) {
      const having = policies.filter((p) => p.errors.length === 0 && p.features.has(f.field));
      const [winner, ...losers] = having;
      if (!winner) continue;
      count(use.inForce, f.field, winner, 1);
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
    const vhostKeys = Object.keys(vhostConfig);
    const closed = policies.some((p) => p.failsClosed.length > 0);
    const routeEdit = gatewayEdits.length || closed ? this.gatewayRouteEdit(gatewayEdits, closed) : undefined;
    for (const rc of ir.routeConfigs) {
      if (vhostKeys.length) rc.virtualHostConfig = vhostConfig;
      if (routeEdit) rc.routeEdit = routeEdit;
      for (const k of vhostKeys) countUse(use.used, k, 1);
      for (const list of [rc.gatewayRoutes, rc.serviceRoutes])
        for (const r of list) {
          const values = this.routeValues.get(routeKey(r));
          if (values) countRoute(use, values, r, 1);
          for (const [field, ps] of values ?? []) {
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
          if (!values) countEntries(use.used, r, 1);
        }
    }
    const filters: PlacedHttpFilter[] = [];
    const clusters = new Map<string, ClusterJson>();
    const secrets = new Map<string, SecretJson>();
    for (const f of FEATURES) {
      const ps = use.inForce.get(f.field);
      if (!ps?.size) continue;
      const out = featureOutput(f, ps.keys(), (name) => use.used.has(name));
      filters.push(...out.filters);
      for (const c of out.clusters) if (c.name && !clusters.has(c.name)) clusters.set(c.name, c);
      for (const s of out.secrets) if (s.name && !secrets.has(s.name)) secrets.set(s.name, s);
      for (const b of out.backends)
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
    this.lastRead = { policy: after, info: next };
    if (!samePolicy(old, next)) return undefined;
    const commit = () => {
      this.policies[at] = next;
      this.reindex();
      for (const { winners, losers } of this.routeProviders.values()) {
        if (winners.delete(old)) winners.add(next);
        const lost = losers.get(old);
        if (lost) {
          losers.delete(old);
          losers.set(next, lost);
        }
      }
      for (const values of this.routeValues.values())
        for (const ps of values.values()) if (ps.delete(old)) ps.add(next);
      for (const use of this.uses.values())
        for (const m of use.inForce.values()) {
          const n = m.get(old);
          if (n === undefined) continue;
          m.delete(old);
          m.set(next, n);
        }
      // The per-filter config cached and placed for `old` stays right: the values are equal.
    };
    return { status: this.statusOf(next), commit };
  }

  /** The old readings taken out of the policies, the new put in their places by priority. */
  private swapReadings(r: PolicyReadings): void {
    const gone = new Set(r.old);
    const list = this.policies.filter((p) => !gone.has(p));
    for (const p of r.next)
      list.splice(
        lowerBound(list, (x) => comparePriority(x, p) < 0),
        0,
        p,
      );
    this.policies = list;
    this.reindex();
  }

  /**
   * For incremental.ts, TrafficPolicies edited, added or removed (`before`, `after`: as the index
   * lists them), step 1: their readings before (this translation's) and after. Undefined when a
   * policy before is not one this translation read, or one targets a Gateway (a Gateway-level policy
   * reaches every route of its waypoints and their virtual hosts: the whole translation).
   */
  readChanges(
    changed: ReadonlyArray<{ before: TrafficPolicy | undefined; after: TrafficPolicy | undefined }>,
  ): PolicyReadings | undefined {
    const old: PolicyInfo[] = [];
    const next: PolicyInfo[] = [];
    for (const c of changed) {
      if (c.before) {
        const p = this.policies.find((x) => x.policy === c.before);
        if (!p) return undefined;
        old.push(p);
      }
      if (c.after)
        next.push(
          this.lastRead?.policy === c.after
            ? this.lastRead.info
            : readPolicy(c.after, this.settings, this.index, this.extensions),
        );
    }
    if ([...old, ...next].some(onGateway)) return undefined;
    return { old, next };
  }

  /**
   * Step 2: the new readings put in place of the old, and the routes compiled anew (`swaps`: every
   * route a changed policy names or selects, before or after, and every route edited) edited by the
   * policies as route() does; then, for each waypoint, the routes' shares of what is in force taken
   * out and put in (`occurrences`: a swap once for each route configuration of the waypoint it is
   * in), which must leave the features' filters, clusters and secrets as they were; then the status
   * outcomes of every policy that names or selects one of the routes, before or after, recomputed
   * over the routes it targets (`routesOf`: each with its compiled form and accepted waypoints).
   * Returns those policies' status entries (undefined: none now) and an undo; or undefined, with
   * everything undone, when the change reaches further (a Gateway-level policy on a waypoint of a
   * targeted route, a listener that would change).
   */
  patch(
    r: PolicyReadings,
    swaps: readonly RouteSwap[],
    occurrences: ReadonlyArray<{ waypoint: string; swap: RouteSwap }>,
    routesOf: (
      p: PolicyInfo,
    ) => ReadonlyArray<{ compiled: CompiledRoute; waypoints: readonly WaypointInfo[] }> | undefined,
  ): { statuses: Array<{ ref: ObjectRef; entry: ObjectStatus | undefined }>; undo: () => void } | undefined {
    const undo: Array<() => void> = [];
    const rollback = () => {
      for (const u of undo.reverse()) u();
      undo.length = 0;
    };
    /** Policies whose status is recomputed: the changed ones, and those on a swapped route. */
    const affected = new Set<PolicyInfo>([...r.old, ...r.next]);
    /** Waypoints of a route some policy targets (before or after): no Gateway-level policy there. */
    const targeted = new Set<WaypointInfo>();
    for (const s of swaps) {
      const mine = this.routePolicies(s.old);
      for (const p of mine) affected.add(p);
      if (mine.length) for (const w of s.waypoints) targeted.add(w);
    }
    const previous = this.policies;
    if (r.old.length || r.next.length) this.swapReadings(r);
    // The per-filter config cached under a changed policy's key is the old reading's.
    const dropCached = () => {
      for (const p of [...r.old, ...r.next])
        for (const f of FEATURES)
          for (const on of ["route", "vhost"]) this.perFilterCache.delete(`${p.key}|${f.field}|${on}`);
    };
    dropCached();
    undo.push(() => {
      if (this.policies === previous) return;
      this.policies = previous;
      this.reindex();
      dropCached();
    });
    for (const s of swaps) {
      const mine = this.routePolicies(s.next);
      for (const p of mine) affected.add(p);
      if (mine.length) for (const w of s.waypoints) targeted.add(w);
    }
    if ([...affected].some(onGateway) || [...targeted].some((w) => this.gatewayPolicies(w).length)) {
      rollback();
      return undefined;
    }

    // Each route's policy edits, anew.
    const oldValues = new Map<CompiledRoute, ReadonlyMap<string, ReadonlySet<PolicyInfo>> | undefined>();
    for (const s of swaps) {
      const key = routeKey(s.old);
      const providers = this.routeProviders.get(key);
      const values = this.routeValues.get(key);
      oldValues.set(s.old, values);
      const names = (c: CompiledRoute) => c.entries.map((e) => e.json.name).filter((n) => n !== undefined);
      const fields = names(s.old).map((n) => [n, this.entryFields.get(n)] as const);
      undo.push(() => {
        for (const n of names(s.next)) this.entryFields.delete(n);
        for (const [n, f] of fields) if (f) this.entryFields.set(n, f);
        if (providers) this.routeProviders.set(key, providers);
        else this.routeProviders.delete(key);
        if (values) this.routeValues.set(key, values as Map<string, Set<PolicyInfo>>);
        else this.routeValues.delete(key);
      });
      this.routeProviders.delete(key);
      this.routeValues.delete(key);
      for (const [n] of fields) this.entryFields.delete(n);
    }
    for (const s of swaps) this.route(s.next);

    // Each waypoint's features in force: the same filters, clusters and secrets, or no patch.
    const deltas = new Map<string, WaypointUse>();
    for (const { waypoint, swap } of occurrences) {
      let d = deltas.get(waypoint);
      if (!d) {
        d = { inForce: new Map(), used: new Map() };
        deltas.set(waypoint, d);
      }
      countRoute(d, oldValues.get(swap.old) ?? new Map(), swap.old, -1);
      countRoute(d, this.routeValues.get(routeKey(swap.next)) ?? new Map(), swap.next, 1);
    }
    for (const [waypoint, d] of deltas) {
      // Every waypoint's counts are kept by waypoint(); one without is not one this translation built.
      const base = this.uses.get(waypoint);
      if (!base || !sameListenerParts(base, d)) {
        rollback();
        return undefined;
      }
    }
    for (const [waypoint, d] of deltas) {
      const base = this.uses.get(waypoint)!;
      addUse(base, d, 1);
      undo.push(() => addUse(base, d, -1));
    }

    // The affected policies' outcomes, over every route each targets.
    const keys = new Map<string, PolicyInfo>();
    for (const p of affected) keys.set(p.key, p);
    for (const key of keys.keys()) {
      const saved = this.outcomes.get(key);
      undo.push(() => {
        if (saved) this.outcomes.set(key, saved);
        else this.outcomes.delete(key);
      });
      this.outcomes.delete(key);
    }
    const current = new Set(this.policies);
    const statuses: Array<{ ref: ObjectRef; entry: ObjectStatus | undefined }> = [];
    for (const [key, p] of keys) {
      const now = current.has(p) ? p : this.policies.find((x) => x.key === key);
      if (now) {
        const routes = routesOf(now);
        if (!routes) {
          rollback();
          return undefined;
        }
        for (const { compiled, waypoints } of routes)
          for (const w of waypoints) this.attachedFor(now, compiled, w);
      }
      statuses.push({ ref: refOf((now ?? p).policy), entry: now && this.statusOf(now) });
    }
    return { statuses, undo: rollback };
  }
}

/** TrafficPolicies read anew for incremental.ts (PolicyTranslation.readChanges). */
export interface PolicyReadings {
  old: PolicyInfo[];
  next: PolicyInfo[];
}

/** A route compiled anew (PolicyTranslation.patch), and the waypoints it is accepted on. */
export interface RouteSwap {
  old: CompiledRoute;
  next: CompiledRoute;
  waypoints: readonly WaypointInfo[];
}

const onGateway = (p: PolicyInfo) => p.targets.some((t) => t.kind === "Gateway");

/** Adds `d` (times `sign`) into `base`. */
function addUse(base: WaypointUse, d: WaypointUse, sign: 1 | -1): void {
  for (const [field, m] of d.inForce) for (const [p, n] of m) count(base.inForce, field, p, sign * n);
  for (const [name, n] of d.used) countUse(base.used, name, sign * n);
}

/**
 * Whether a waypoint's features put the same HTTP filters, clusters and secrets on it with `d`
 * added to `base`: compared for each feature whose policies in force change, or for every feature
 * in force when the set of filters in use changes.
 */
function sameListenerParts(base: WaypointUse, d: WaypointUse): boolean {
  const fields = new Set<string>();
  for (const [field, m] of d.inForce)
    for (const [p, n] of m) {
      const was = base.inForce.get(field)?.get(p) ?? 0;
      if (was > 0 !== was + n > 0) fields.add(field);
    }
  let usedChanged = false;
  for (const [name, n] of d.used) {
    const was = base.used.get(name) ?? 0;
    if (was > 0 !== was + n > 0) usedChanged = true;
  }
  if (usedChanged) for (const field of [...base.inForce.keys(), ...d.inForce.keys()]) fields.add(field);
  for (const field of fields) {
    const f = FEATURES.find((x) => x.field === field);
    if (!f) return false;
    const before = [...(base.inForce.get(field)?.keys() ?? [])];
    const after = new Map(base.inForce.get(field));
    for (const [p, n] of d.inForce.get(field) ?? []) {
      const m = (after.get(p) ?? 0) + n;
      if (m > 0) after.set(p, m);
      else after.delete(p);
    }
    const usedBefore = (name: string) => base.used.has(name);
    const usedAfter = (name: string) => (base.used.get(name) ?? 0) + (d.used.get(name) ?? 0) > 0;
    // As waypoint() does: a feature no policy puts in force places nothing.
    const a = JSON.stringify(before.length ? featureOutput(f, before, usedBefore) : NOTHING);
    const b = JSON.stringify(after.size ? featureOutput(f, after.keys(), usedAfter) : NOTHING);
    if (a !== b) return false;
  }
  return true;
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

/**
 * What a waypoint's policies put in force, as counts of the places that do (a route in a route
 * configuration, a Gateway-level winner, a virtual host's config), so that incremental.ts can take
 * one route's share out and put its new share in: a key is in force or in use while its count is
 * above 0 (a key at 0 is deleted).
 */
interface WaypointUse {
  /** Feature field → policy → count. */
  inForce: Map<string, Map<PolicyInfo, number>>;
  /** HTTP filter name → how many places have per-filter config for it. */
  used: Map<string, number>;
}

function count(inForce: WaypointUse["inForce"], field: string, p: PolicyInfo, by: number): void {
  let m = inForce.get(field);
  if (!m) {
    m = new Map();
    inForce.set(field, m);
  }
  const n = (m.get(p) ?? 0) + by;
  if (n === 0) m.delete(p);
  else m.set(p, n);
  if (m.size === 0) inForce.delete(field);
}

function countUse(used: Map<string, number>, name: string, by: number): void {
  const n = (used.get(name) ?? 0) + by;
  if (n === 0) used.delete(name);
  else used.set(name, n);
}

/** Counts the per-filter config keys of a route's entries, `by` times. */
function countEntries(used: Map<string, number>, r: CompiledRoute, by: number): void {
  for (const e of r.entries)
    if (e.json.typedPerFilterConfig)
      for (const k of Object.keys(e.json.typedPerFilterConfig)) countUse(used, k, by);
}

/** Counts one route's share: the policies in force on it by field, and its entries' filters. */
function countRoute(
  use: WaypointUse,
  values: ReadonlyMap<string, ReadonlySet<PolicyInfo>>,
  r: CompiledRoute,
  by: number,
): void {
  for (const [field, ps] of values) for (const p of ps) count(use.inForce, field, p, by);
  countEntries(use.used, r, by);
}

const NOTHING = { filters: [], clusters: [], secrets: [], backends: [] };

/** What feature f puts on a waypoint for the policies in force for it (filters: those in use). */
function featureOutput(f: PolicyFeature<unknown>, ps: Iterable<PolicyInfo>, used: (name: string) => boolean) {
  const values = [...ps].sort(comparePriority).map((p) => p.features.get(f.field));
  return {
    filters: (f.filtersFor ? f.filtersFor(values) : (f.httpFilters ?? [])).filter((h) =>
      used(String(h.filter.name)),
    ),
    clusters: f.clustersFor?.(values) ?? [],
    secrets: f.secretsFor?.(values) ?? [],
    backends: f.backendsFor?.(values) ?? [],
  };
}
