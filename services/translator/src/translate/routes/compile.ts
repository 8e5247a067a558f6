// HTTPRoute → Envoy route entries. Each route is compiled once (matches, filters, backends) into
// entries carrying their precedence rank; the virtual hosts of each service then take the entries of
// the routes that apply to it and sort them (see precedence.ts and routeconfig.ts).
//
// A rule becomes, per match, one of:
//   - a redirect (RequestRedirect);
//   - a forward to its backends (one cluster, or weighted clusters when several backends or backend
//     filters), with URLRewrite, RequestMirror, timeouts and retries;
//   - HTTP 500, when the rule cannot be honoured (no usable backend, a filter we cannot apply).
// A CORS filter puts Envoy's CorsPolicy on the rule's forwarding entries (typed_per_filter_config;
// Envoy's cors filter acts only on entries with a route action) and the route then needs the cors
// filter in its connection managers (httpFilters). A TrafficPolicy cors on the same entry loses to
// it (policies/translation.ts keeps the entry's own per-filter config).
// When only some backends are unusable, their share of the weight answers 500 and the rest is
// forwarded: a first entry with the same match takes that share (runtime_fraction) and answers 500.
import type { HTTPRoute } from "@waymark/api";
import type {
  FilterStateMatcherJson,
  RouteAction_RequestMirrorPolicyJson,
  RouteActionJson,
  RouteJson,
  RouteMatchJson,
  WeightedCluster_ClusterWeightJson,
} from "@waymark/envoy-proto";
import { arr, int, isRecord, records, str } from "../input/guards.ts";
import { routeEntryName } from "../input/names.ts";
import type { ObjectIndex } from "../input/objects.ts";
import type { PerFilterConfig, PlacedHttpFilter } from "../ir/types.ts";
import { CORS_HTTP_FILTER, corsPerFilter } from "../policies/cors/spec.ts";
import { type BackendReason, type BackendTarget, isCoreGroup, resolveBackend } from "./backends.ts";
import { type CompiledFilters, compileFilters, type RedirectSpec, type RewriteSpec } from "./filters.ts";
import { type CompiledMatch, compileMatch } from "./matches.ts";
import { type MatchRank, parseTimestamp } from "./precedence.ts";
import { compileResilience } from "./resilience.ts";
import { escapeRegex, redirectAction, rewriteFields } from "./rewrite.ts";

export { gatewayDurationToProto } from "./resilience.ts";

export interface RouteEntry {
  rank: MatchRank;
  /** A complete Envoy Route. */
  json: RouteJson;
  /**
   * The entry's own typed_per_filter_config (from the route's filters, e.g. CORS), also in json; a
   * policy's per-filter config for the same filter does not replace it.
   */
  ownPerFilter?: PerFilterConfig;
}

export interface RefProblem {
  reason: BackendReason;
  message: string;
}

/** The route kinds compiled into route entries (GRPCRoute: routes/grpc.ts). */
export type RouteKind = "HTTPRoute" | "GRPCRoute";

export interface CompiledRoute {
  /** The route object (a GRPCRoute's has the same parentRefs, rules, names and backendRefs). */
  route: HTTPRoute;
  /** Absent for an HTTPRoute. */
  kind?: "GRPCRoute";
  namespace: string;
  name: string;
  generation: number | undefined;
  /** One per valid (rule, match), plus one per split entry; unsorted. */
  entries: RouteEntry[];
  /** The backends the entries send to, mirrors included (each needs a cluster). */
  targets: BackendTarget[];
  /** What the route asks for that Waymark cannot do (Accepted=False, UnsupportedValue). */
  unsupported: string[];
  /** Backends that cannot be resolved (ResolvedRefs=False), in rule order. */
  refProblems: RefProblem[];
  /**
   * Service key (`<ns>/<name>`) → the service ports the route applies to (undefined: all of them);
   * filled in when its parents are resolved (parentRef port and sectionName).
   */
  servicePorts: Map<string, ReadonlySet<number> | undefined>;
  /** HTTP filters the entries' own per-filter config needs in the connection manager (CORS); by name, once. */
  httpFilters: PlacedHttpFilter[];
}

const internalError = (): RouteJson => ({ directResponse: { status: 500 } });

/** The kind of a compiled route. */
export function routeKind(route: CompiledRoute): RouteKind {
  return route.kind ?? "HTTPRoute";
}

/** The filter state key holding the client's SPIFFE identity (set from ztunnel's PROXY header). */
export const PEER_PRINCIPAL_KEY = "io.istio.peer_principal";

export type RuleAction =
  | { kind: "error" }
  | { kind: "redirect"; redirect: RedirectSpec }
  | {
      kind: "forward";
      /** RouteAction fields common to every match: cluster(s), timeout, retries, mirrors. */
      action: RouteActionJson;
      rewrite: RewriteSpec | undefined;
      /** Millionths of the requests that go to unusable backends and get 500. */
      errorShare: number;
    };

interface WeightedBackend {
  target: BackendTarget;
  weight: number;
  filters: CompiledFilters | undefined;
}

function clusterWeight(b: WeightedBackend): WeightedCluster_ClusterWeightJson {
  return { name: b.target.cluster, weight: b.weight, ...(b.filters?.headerOps ?? {}) };
}

export function compileRule(
  rule: Record<string, unknown>,
  label: string,
  route: CompiledRoute,
  index: ObjectIndex,
  parentServices: ReadonlySet<string>,
  filters: CompiledFilters,
): RuleAction {
  const namespace = route.namespace;
  let broken = false;
  for (const p of filters.problems) {
    route.unsupported.push(`${label}: ${p}; requests matching this rule get HTTP 500`);
    broken = true;
  }
  const refs = arr(rule.backendRefs);
  if (filters.redirect && refs.length > 0) {
    route.unsupported.push(
      `${label}: a RequestRedirect rule cannot have backendRefs; requests matching this rule get HTTP 500`,
    );
    broken = true;
  }
  if (filters.redirect && !broken) return { kind: "redirect", redirect: filters.redirect };

  // Backends are resolved even for a broken rule: their problems belong in the status too.
  const backends: WeightedBackend[] = [];
  let invalidWeight = 0;
  for (const ref of refs) {
    const declared = isRecord(ref) && ref.weight !== undefined ? int(ref.weight) : 1;
    const weight = declared === undefined || declared < 0 ? 0 : declared;
    const result = resolveBackend(ref, namespace, index, parentServices, routeKind(route));
    if (!result.ok) {
      route.refProblems.push({ reason: result.reason, message: `${label}: ${result.message}` });
      invalidWeight += weight;
      continue;
    }
    let backendFilters: CompiledFilters | undefined;
    if (isRecord(ref) && arr(ref.filters).length > 0) {
      backendFilters = compileFilters(ref.filters, "backendRef");
      if (backendFilters.problems.length) {
        for (const p of backendFilters.problems)
          route.unsupported.push(
            `${label}: backendRef ${result.target.service.name}: ${p}; its share of requests gets HTTP 500`,
          );
        invalidWeight += weight;
        continue;
      }
    }
    if (weight === 0) continue;
    // Backends without filters that send to the same cluster add up; Envoy wants each once.
    const same = backendFilters
      ? undefined
      : backends.find((b) => b.target.cluster === result.target.cluster && !b.filters);
    if (same) same.weight += weight;
    else backends.push({ target: result.target, weight, filters: backendFilters });
  }
  const validWeight = backends.reduce((n, b) => n + b.weight, 0);
  // No backends, none usable, or all weights zero: the Gateway API's required 500.
  if (broken || backends.length === 0 || validWeight === 0) return { kind: "error" };

  const first = backends[0];
  const action: RouteActionJson =
    backends.length === 1 && first && !first.filters
      ? { cluster: first.target.cluster }
      : { weightedClusters: { clusters: backends.map(clusterWeight) } };
  for (const b of backends) addTarget(route, b.target);

  const resilience = compileResilience(rule);
  for (const p of resilience.problems) route.unsupported.push(`${label}: ${p}`);
  Object.assign(action, resilience.fields);

  const mirrors: RouteAction_RequestMirrorPolicyJson[] = [];
  for (const m of filters.mirrors) {
    const result = resolveBackend(m.backendRef, namespace, index, parentServices, routeKind(route));
    if (!result.ok) {
      route.refProblems.push({
        reason: result.reason,
        message: `${label}: RequestMirror: ${result.message}; requests are not mirrored there`,
      });
      continue;
    }
    addTarget(route, result.target);
    const policy: RouteAction_RequestMirrorPolicyJson = {
      cluster: result.target.cluster,
      disableShadowHostSuffixAppend: true,
    };
    if (m.millionths !== undefined)
      policy.runtimeFraction = { defaultValue: { numerator: m.millionths, denominator: "MILLION" } };
    mirrors.push(policy);
  }
  if (mirrors.length) action.requestMirrorPolicies = mirrors;

  const errorShare = Math.round((invalidWeight * 1_000_000) / (invalidWeight + validWeight));
  return { kind: "forward", action, rewrite: filters.rewrite, errorShare };
}

function addTarget(route: CompiledRoute, t: BackendTarget): void {
  if (!route.targets.some((x) => x.cluster === t.cluster)) route.targets.push(t);
}

/** The Services a route names as parents, as `<ns>/<name>`. */
export function parentServiceKeys(spec: Record<string, unknown>, routeNamespace: string): Set<string> {
  const out = new Set<string>();
  for (const ref of records(spec.parentRefs)) {
    const group = str(ref.group);
    if (group === undefined || !isCoreGroup(group) || str(ref.kind) !== "Service") continue;
    out.add(`${str(ref.namespace) || routeNamespace}/${str(ref.name) ?? ""}`);
  }
  return out;
}

export interface EntryPart {
  part: number;
  suffix: string;
  /** Route fields besides name and match (the action, header operations). */
  body: RouteJson;
  matchExtra?: RouteMatchJson;
}

/** The entries of one match of a rule (two when a share of the requests gets 500). */
export function matchEntries(
  action: RuleAction,
  match: CompiledMatch,
  label: string,
  route: CompiledRoute,
): EntryPart[] {
  if (action.kind === "error") return [{ part: 0, suffix: "", body: internalError() }];
  if (action.kind === "redirect") {
    const r = redirectAction(action.redirect, match);
    if (!r.ok) {
      route.unsupported.push(`${label}: RequestRedirect: ${r.message}; requests matching it get HTTP 500`);
      return [{ part: 0, suffix: "", body: internalError() }];
    }
    return [{ part: 0, suffix: "", body: { redirect: r.fields } }];
  }
  let routeAction = action.action;
  if (action.rewrite) {
    const r = rewriteFields(action.rewrite, match);
    if (!r.ok) {
      route.unsupported.push(`${label}: URLRewrite: ${r.message}; requests matching it get HTTP 500`);
      return [{ part: 0, suffix: "", body: internalError() }];
    }
    routeAction = { ...routeAction, ...r.fields };
  }
  const forward: EntryPart = { part: 1, suffix: "", body: { route: routeAction } };
  if (action.errorShare <= 0) return [forward];
  return [
    {
      part: 0,
      suffix: "/unresolved-backends",
      body: internalError(),
      matchExtra: {
        runtimeFraction: { defaultValue: { numerator: action.errorShare, denominator: "MILLION" } },
      },
    },
    forward,
  ];
}

/** A route's compiled form before its rules are read (HTTPRoute, or a GRPCRoute read like one). */
export function emptyCompiledRoute(route: HTTPRoute, kind?: "GRPCRoute"): CompiledRoute {
  return {
    route,
    ...(kind ? { kind } : {}),
    namespace: route.metadata.namespace ?? "",
    name: route.metadata.name,
    generation: int(route.metadata.generation),
    entries: [],
    targets: [],
    unsupported: [],
    refProblems: [],
    servicePorts: new Map(),
    httpFilters: [],
  };
}

export function compileRoute(route: HTTPRoute, index: ObjectIndex): CompiledRoute {
  const out = emptyCompiledRoute(route);
  const { namespace, name } = out;
  const created = parseTimestamp(route.metadata.creationTimestamp);
  const spec = isRecord(route.spec) ? route.spec : {};
  const parentServices = parentServiceKeys(spec, namespace);
  // Indexes are those of spec.rules (a malformed rule is skipped but keeps its place in messages).
  arr(spec.rules).forEach((rule, ruleIndex) => {
    if (!isRecord(rule)) {
      out.unsupported.push(`rules[${ruleIndex}] is not an object; it is ignored`);
      return;
    }
    const ruleName = str(rule.name);
    const label = ruleName ? `rules[${ruleIndex}] (${ruleName})` : `rules[${ruleIndex}]`;
    const filters = compileFilters(rule.filters);
    const action = compileRule(rule, label, out, index, parentServices, filters);
    const matches = arr(rule.matches);
    (matches.length ? matches : [undefined]).forEach((m, matchIndex) => {
      const compiled = compileMatch(m);
      if (!compiled.ok) {
        out.unsupported.push(
          `${label}.matches[${matchIndex}]: ${compiled.message}; this match is not programmed`,
        );
        return;
      }
      const c = compiled.value;
      const entryName = routeEntryName(namespace, name, ruleIndex, matchIndex);
      for (const e of matchEntries(action, c, `${label}.matches[${matchIndex}]`, out)) {
        const own = filters.cors && e.body.route ? corsPerFilter(filters.cors) : undefined;
        if (own && !out.httpFilters.includes(CORS_HTTP_FILTER)) out.httpFilters.push(CORS_HTTP_FILTER);
        out.entries.push({
          ...(own ? { ownPerFilter: own } : {}),
          rank: {
            pathType: c.pathType,
            pathLength: c.pathLength,
            hasMethod: c.hasMethod,
            headerCount: c.headerCount,
            queryCount: c.queryCount,
            created,
            namespace,
            name,
            ruleIndex,
            matchIndex,
            part: e.part,
          },
          json: {
            name: entryName + e.suffix,
            match: e.matchExtra ? { ...c.match, ...e.matchExtra } : c.match,
            ...e.body,
            ...filters.headerOps,
            ...(own ? { typedPerFilterConfig: { ...own } } : {}),
          },
        });
      }
    });
  });
  return out;
}

/**
 * The entries of a route for one Service. A consumer route (the route's namespace is not the
 * Service's) only applies to clients of the route's namespace: each entry also matches the client's
 * identity (SPIFFE `.../ns/<namespace>/sa/...`) carried from ztunnel's PROXY header.
 */
export function entriesForService(route: CompiledRoute, serviceNamespace: string): RouteEntry[] {
  if (route.namespace === serviceNamespace) return route.entries;
  const gate = consumerGate(route.namespace);
  return route.entries.map((e) => {
    const match = isRecord(e.json.match) ? e.json.match : {};
    return { rank: e.rank, json: { ...e.json, match: { ...match, filterState: [gate] } } };
  });
}

/** A filterState match: the client's identity (from ztunnel) is in namespace `namespace`. */
export function consumerGate(namespace: string): FilterStateMatcherJson {
  return {
    key: PEER_PRINCIPAL_KEY,
    stringMatch: { safeRegex: { regex: `^spiffe://[^/]+/ns/${escapeRegex(namespace)}/sa/[^/]+$` } },
  };
}

/** Whether a route attached to Service `serviceKey` applies to its port `port`. */
export function appliesToPort(route: CompiledRoute, serviceKey: string, port: number): boolean {
  if (!route.servicePorts.has(serviceKey)) return true;
  const ports = route.servicePorts.get(serviceKey);
  return ports === undefined || ports.has(port);
}
