// GRPCRoute (gateway.networking.k8s.io/v1) → route entries, beside compile.ts for HTTPRoute. A gRPC
// call is an HTTP/2 POST to `/<service>/<method>`, so a GRPCRoute compiles to the same CompiledRoute as
// an HTTPRoute: its method match becomes a path match, its header matches, filters and weighted
// backends are HTTPRoute's (compile.ts compileRule), and the route configurations, policies and status
// take it as they take an HTTPRoute. What is its own:
//   - method matches: Exact service and method is the path `/<service>/<method>`; service only, the
//     prefix `/<service>/`; method only, any service (`/[^/]+/<method>`); RegularExpression wraps
//     each given part in a group (an absent part matches any segment); Envoy's safe_regex matches
//     the whole path;
//   - filters: RequestHeaderModifier, ResponseHeaderModifier and RequestMirror (GRPCRoute has no
//     redirect, rewrite or CORS; ExtensionRef is not supported), reported as HTTPRoute's are;
//   - precedence (its spec): the most characters of the matched service, then of the method, then the
//     most header matches (precedence.ts);
//   - parents: a Service parent applies on the Service's HTTP/2 ports only (appProtocol grpc, http2,
//     kubernetes.io/h2c, or a port named grpc-*/http2-*); a parentRef that selects none of them is not
//     accepted (NotAllowedByListeners); a waypoint Gateway parent applies on every HTTP/2 port of its
//     services (ir/waypoint.ts);
//   - on a Service port where a GRPCRoute applies, HTTPRoutes do not (GAMMA's route type specificity,
//     GEP-1294: GRPCRoute before HTTPRoute); an HTTPRoute Service parent left with no port is not
//     accepted (reason Conflicted), see grpcConflicts;
//   - the backends' clusters speak HTTP/2 to gRPC clients (BackendTarget.grpc, xds/clusters.ts).
import type { GRPCRoute, HTTPRoute } from "@waymark/api";
import type { RouteMatchJson } from "@waymark/envoy-proto";
import { arr, isRecord, str } from "../input/guards.ts";
import { routeEntryName } from "../input/names.ts";
import { nsName, type ObjectIndex, type ServiceInfo, serviceKey } from "../input/objects.ts";
import { isHttp2Port, isHttpPort, isTcpTransport } from "../input/protocol.ts";
import {
  type CompiledRoute,
  compileRule,
  emptyCompiledRoute,
  matchEntries,
  parentServiceKeys,
  type RouteKind,
  routeKind,
} from "./compile.ts";
import { compileFilters } from "./filters.ts";
import { checkRegex, compileMatch } from "./matches.ts";
import type { ParentOutcome } from "./parents.ts";
import { parseTimestamp } from "./precedence.ts";
import { escapeRegex } from "./rewrite.ts";

/** The GRPCRoute CRD's patterns for an Exact service and method. */
const EXACT_SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const EXACT_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;
/** The filter types a GRPCRoute rule can have that Waymark applies. */
const GRPC_RULE_FILTERS = new Set(["RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror"]);

export interface GrpcMatch {
  /** The Envoy RouteMatch: path (or prefix, safe_regex) and headers. */
  match: RouteMatchJson;
  /** Characters of the service and method as given (for precedence). */
  serviceLength: number;
  methodLength: number;
  headerCount: number;
}

export type GrpcMatchResult = { ok: true; value: GrpcMatch } | { ok: false; message: string };

/** One GRPCRouteMatch (undefined: every call). */
export function compileGrpcMatch(m: unknown): GrpcMatchResult {
  const raw = isRecord(m) ? m : {};
  // Headers as HTTPRoute reads them (name, Exact or RegularExpression, the first of a name counts).
  const headers = compileMatch({ headers: raw.headers });
  if (!headers.ok) return headers;
  const match = { ...headers.value.match };
  delete match.prefix;
  let serviceLength = 0;
  let methodLength = 0;
  if (raw.method === undefined) {
    match.prefix = "/";
  } else {
    const method = isRecord(raw.method) ? raw.method : {};
    const type = str(method.type) ?? "Exact";
    const svc = str(method.service) ?? "";
    const name = str(method.method) ?? "";
    serviceLength = svc.length;
    methodLength = name.length;
    if (svc === "" && name === "")
      return { ok: false, message: "method: set service, method or both (at least one must be non-empty)" };
    if (type === "Exact") {
      if (svc && !EXACT_SERVICE.test(svc))
        return {
          ok: false,
          message: `method.service ${JSON.stringify(svc)} is not a valid gRPC service name (e.g. package.Service)`,
        };
      if (name && !EXACT_METHOD.test(name))
        return {
          ok: false,
          message: `method.method ${JSON.stringify(name)} is not a valid gRPC method name`,
        };
      if (svc && name) match.path = `/${svc}/${name}`;
      else if (svc) match.prefix = `/${svc}/`;
      else match.safeRegex = { regex: `/[^/]+/${escapeRegex(name)}` };
    } else if (type === "RegularExpression") {
      for (const [what, value] of [
        ["service", svc],
        ["method", name],
      ] as const) {
        const problem = value ? checkRegex(value) : undefined;
        if (problem) return { ok: false, message: `method.${what}: ${problem}` };
      }
      const regex = `/${svc ? `(?:${svc})` : "[^/]+"}/${name ? `(?:${name})` : "[^/]+"}`;
      const problem = checkRegex(regex);
      if (problem) return { ok: false, message: `method: ${problem}` };
      match.safeRegex = { regex };
    } else {
      return {
        ok: false,
        message: `method: match type ${JSON.stringify(type)} is not supported (use Exact or RegularExpression)`,
      };
    }
  }
  // Headers after the path, as Envoy prints a RouteMatch.
  const { headers: headerMatchers, ...path } = match;
  const ordered = headerMatchers ? { ...path, headers: headerMatchers } : path;
  return {
    ok: true,
    value: { match: ordered, serviceLength, methodLength, headerCount: headers.value.headerCount },
  };
}

/** A rule's filters: the ones a GRPCRoute can have, compiled as HTTPRoute's; the others are problems. */
function grpcRuleFilters(filters: unknown) {
  const usable: unknown[] = [];
  const problems: string[] = [];
  for (const f of arr(filters)) {
    const type = isRecord(f) ? str(f.type) : undefined;
    if (type === undefined || GRPC_RULE_FILTERS.has(type)) usable.push(f);
    else if (type === "ExtensionRef") problems.push("filter type ExtensionRef is not supported");
    else problems.push(`filter type ${type} is not supported on a GRPCRoute`);
  }
  const compiled = compileFilters(usable);
  compiled.problems.unshift(...problems);
  return compiled;
}

/** The name of a GRPCRoute's entry (apart from an HTTPRoute's of the same name). */
export function grpcEntryName(namespace: string, name: string, rule: number, match: number): string {
  return `grpc:${routeEntryName(namespace, name, rule, match)}`;
}

export function compileGrpcRoute(route: GRPCRoute, index: ObjectIndex): CompiledRoute {
  // Read like an HTTPRoute's everywhere (metadata, parentRefs, rules by index).
  const out = emptyCompiledRoute(route as unknown as HTTPRoute, "GRPCRoute");
  const { namespace, name } = out;
  const created = parseTimestamp(route.metadata.creationTimestamp);
  const spec = isRecord(route.spec) ? route.spec : {};
  const parentServices = parentServiceKeys(spec, namespace);
  arr(spec.rules).forEach((rule, ruleIndex) => {
    if (!isRecord(rule)) {
      out.unsupported.push(`rules[${ruleIndex}] is not an object; it is ignored`);
      return;
    }
    const ruleName = str(rule.name);
    const label = ruleName ? `rules[${ruleIndex}] (${ruleName})` : `rules[${ruleIndex}]`;
    const filters = grpcRuleFilters(rule.filters);
    // GRPCRoute rules have no timeouts or retry: only the backendRefs are read.
    const action = compileRule({ backendRefs: rule.backendRefs }, label, out, index, parentServices, filters);
    const matches = arr(rule.matches);
    (matches.length ? matches : [undefined]).forEach((m, matchIndex) => {
      const compiled = compileGrpcMatch(m);
      const where = `${label}.matches[${matchIndex}]`;
      if (!compiled.ok) {
        out.unsupported.push(`${where}: ${compiled.message}; this match is not programmed`);
        return;
      }
      const c = compiled.value;
      const entryName = grpcEntryName(namespace, name, ruleIndex, matchIndex);
      // No redirect or rewrite: the CompiledMatch fields matchEntries reads for them are not needed.
      const asHttp = {
        match: c.match,
        pathType: "Exact" as const,
        pathLength: 0,
        pathValue: "",
        hasMethod: false,
        headerCount: c.headerCount,
        queryCount: 0,
      };
      for (const e of matchEntries(action, asHttp, where, out)) {
        out.entries.push({
          rank: {
            pathType: "Exact",
            pathLength: 0,
            hasMethod: false,
            headerCount: c.headerCount,
            queryCount: 0,
            grpc: { service: c.serviceLength, method: c.methodLength },
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
          },
        });
      }
    });
  });
  // Every backend of a GRPCRoute is sent gRPC: its cluster must speak HTTP/2 to it.
  out.targets = out.targets.map((t) => ({ ...t, grpc: true }));
  return out;
}

/** The ports of a Service that carry HTTP/2 (a GRPCRoute applies there). */
export function http2Ports(service: ServiceInfo): number[] {
  return service.ports.filter((p) => isTcpTransport(p) && isHttp2Port(p)).map((p) => p.port);
}

function portLabel(service: ServiceInfo, port: number): string {
  const p = service.ports.find((x) => x.port === port);
  const what = p?.appProtocol ? `appProtocol ${p.appProtocol}` : p?.name ? `name ${p.name}` : "no name";
  return `${port} (${what})`;
}

/**
 * A GRPCRoute's parents: each Service parent restricted to the Service's HTTP/2 ports; one that
 * selects none of them is not accepted, saying what to change.
 */
export function grpcParents(parents: readonly ParentOutcome[]): ParentOutcome[] {
  return parents.map((p) => {
    if (p.rejected || p.kind !== "Service" || !p.service) return p;
    const service = p.service;
    const h2 = new Set(http2Ports(service));
    const selected = p.ports ? [...p.ports] : service.ports.filter(isTcpTransport).map((x) => x.port);
    const usable = selected.filter((port) => h2.has(port));
    if (usable.length > 0) return { ...p, ports: new Set(usable) };
    const key = serviceKey(service);
    const ports = selected.map((port) => portLabel(service, port)).join(", ");
    const fix = "set its appProtocol to grpc (or http2, kubernetes.io/h2c), or name it grpc-* or http2-*";
    return {
      ...p,
      rejected: {
        reason: "NotAllowedByListeners",
        message: p.ports
          ? `Service ${key} port ${ports} is not an HTTP/2 port, which a GRPCRoute needs: ${fix}`
          : `Service ${key} has no HTTP/2 port (${ports || "no TCP ports"}), which a GRPCRoute needs: ${fix.replace("its", "a port's")}`,
      },
    };
  });
}

/** Whether two route hostnames (RFC 1123, `*.` wildcard prefix) can match the same host. */
function hostnamesMeet(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.startsWith("*.") && b.endsWith(a.slice(1))) return true;
  return b.startsWith("*.") && a.endsWith(b.slice(1));
}

/** The hostnames of a route; empty: every host. */
function hostnamesOf(route: CompiledRoute): string[] {
  const spec = isRecord(route.route.spec) ? route.route.spec : {};
  return arr(spec.hostnames).filter((h): h is string => typeof h === "string" && h !== "");
}

const intersect = (a: readonly string[], b: readonly string[]) =>
  a.length === 0 || b.length === 0 || a.some((x) => b.some((y) => hostnamesMeet(x, y)));

/**
 * The GRPCRoute spec on one listener: when an HTTPRoute and a GRPCRoute both attach to it and their
 * hostnames intersect, exactly one is accepted, the older (creationTimestamp), then the first by
 * `<namespace>/<name>`. Rejects, in `parents` (by route index), the waypoint Gateway parents that lose;
 * returns the indexes of the routes it changed.
 */
export function listenerConflicts(
  routes: readonly CompiledRoute[],
  parents: ParentOutcome[][] | (readonly ParentOutcome[])[],
): Set<number> {
  const entries: Array<{ i: number; j: number; created: number; key: string }> = [];
  routes.forEach((route, i) => {
    parents[i]?.forEach((p, j) => {
      if (p.kind !== "Gateway" || p.rejected || !p.waypoint) return;
      const created = parseTimestamp(route.route.metadata.creationTimestamp) ?? Number.POSITIVE_INFINITY;
      entries.push({ i, j, created, key: nsName(route.namespace, route.name) });
    });
  });
  const kinds = new Set(entries.map((e) => routeKind(routes[e.i]!)));
  const changed = new Set<number>();
  if (kinds.size < 2) return changed;
  entries.sort(
    (a, b) =>
      a.created - b.created ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) ||
      // The same namespace/name as both kinds: HTTPRoutes come first in `routes`.
      a.i - b.i ||
      a.j - b.j,
  );
  const kept = new Map<string, Array<{ route: CompiledRoute; hostnames: string[] }>>();
  for (const e of entries) {
    const route = routes[e.i]!;
    const p = parents[e.i]![e.j]!;
    const waypoint = p.waypoint!.key;
    const hostnames = hostnamesOf(route);
    const list = kept.get(waypoint) ?? [];
    const winner = list.find(
      (k) => routeKind(k.route) !== routeKind(route) && intersect(k.hostnames, hostnames),
    );
    if (!winner) {
      list.push({ route, hostnames });
      kept.set(waypoint, list);
      continue;
    }
    const copy = [...parents[e.i]!];
    copy[e.j] = {
      ...p,
      rejected: {
        reason: "Conflicted",
        message: `${routeKind(winner.route)} ${nsName(winner.route.namespace, winner.route.name)} is attached to Gateway ${waypoint} too and its hostnames intersect this route's; of an HTTPRoute and a GRPCRoute on one listener only the older is accepted (GRPCRoute spec, hostnames)`,
      },
    };
    parents[e.i] = copy;
    changed.add(e.i);
  }
  return changed;
}

/** `<namespace>/<name>` of a route, prefixed by its kind for a GRPCRoute (attachedRoutes, policies). */
export function routeKey(route: { kind?: RouteKind; namespace: string; name: string }): string {
  const key = nsName(route.namespace, route.name);
  return route.kind === "GRPCRoute" ? `GRPCRoute/${key}` : key;
}

/**
 * GAMMA route type specificity on a Service port: GRPCRoute wins over HTTPRoute. For each accepted
 * HTTPRoute Service parent, the HTTP ports it selects where a GRPCRoute applies (through a Service
 * parent on that port, or a parent that is the Service's waypoint Gateway on an HTTP/2 port); when
 * that is all of them, the parent is rejected (Conflicted) and names the GRPCRoutes.
 */
export function grpcConflicts(
  httpParents: readonly ParentOutcome[],
  grpcRoutes: ReadonlyArray<{ compiled: CompiledRoute; parents: readonly ParentOutcome[] }>,
): ParentOutcome[] | undefined {
  let changed = false;
  const out = httpParents.map((p) => {
    if (p.rejected || p.kind !== "Service" || !p.service || !p.waypoint) return p;
    const service = p.service;
    const key = serviceKey(service);
    const ports = (p.ports ? [...p.ports] : service.ports.map((x) => x.port)).filter((port) => {
      const sp = service.ports.find((x) => x.port === port);
      return !!sp && isTcpTransport(sp) && isHttpPort(sp);
    });
    if (ports.length === 0) return p;
    const h2 = new Set(http2Ports(service));
    const by = new Set<string>();
    const taken = ports.filter((port) => {
      let hit = false;
      for (const g of grpcRoutes) {
        // By key, not identity: a route's parents may be kept from an earlier translation (memo).
        const applies = g.parents.some(
          (q) =>
            !q.rejected &&
            q.waypoint?.key === p.waypoint?.key &&
            ((q.kind === "Gateway" && h2.has(port)) ||
              (q.kind === "Service" &&
                !!q.service &&
                serviceKey(q.service) === key &&
                (q.ports === undefined || q.ports.has(port)))),
        );
        if (applies) {
          hit = true;
          by.add(nsName(g.compiled.namespace, g.compiled.name));
        }
      }
      return hit;
    });
    if (taken.length < ports.length) return p;
    changed = true;
    return {
      ...p,
      rejected: {
        reason: "Conflicted" as const,
        message: `${by.size > 1 ? "GRPCRoutes" : "GRPCRoute"} ${[...by].sort().join(", ")} ${by.size > 1 ? "apply" : "applies"} to Service ${key} port ${ports.join(", ")}; on a Service port a GRPCRoute takes precedence over an HTTPRoute (GEP-1294 route type specificity), so this HTTPRoute is not programmed there`,
      },
    };
  });
  return changed ? out : undefined;
}
