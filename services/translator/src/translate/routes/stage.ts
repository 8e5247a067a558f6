// Stage 3: compile every HTTPRoute and GRPCRoute (matches, filters, backends; GRPCRoute: grpc.ts),
// resolve its parents, apply the per-waypoint route limit, and file the accepted routes by waypoint
// (Gateway parents) and by Service (Service parents). A cache (the memo, kept beside the stages) may hand back a route's
// work from the last translation; with or without one the result is the same.
import type { HTTPRoute, KubeObject, ObjectRef } from "@waymark/api";
import { serviceKey } from "../input/objects.ts";
import { DEFAULT_MAX_ROUTES_PER_WAYPOINT } from "../limits.ts";
import type { TranslatorSettings } from "../types.ts";
import type { Waypoints } from "../waypoints/stage.ts";
import { type CompiledRoute, compileRoute } from "./compile.ts";
import { compileGrpcRoute, grpcConflicts, grpcParents, listenerConflicts, routeKey } from "./grpc.ts";
import { type ParentOutcome, type Rejection, resolveParents } from "./parents.ts";
import { type OverLimit, routesOverLimit, withLimit } from "./route-limit.ts";

/** What one route's translation keeps (and a cache may reuse while the route object is the same). */
export interface RouteWork {
  compiled: CompiledRoute;
  parents: ParentOutcome[];
  status: Record<string, unknown> | undefined;
  /** The parents `compiled.servicePorts` was last filled from (skipped while they are the same). */
  portsFrom?: readonly ParentOutcome[];
  /** Service keys whose ports `compiled.servicePorts` restricts (filled with it). */
  restricted?: string[];
  /** `<namespace>/<name>` of the route. */
  name?: string;
  /** The route's reference and its objectKey, for its status entry. */
  ref?: ObjectRef;
  key?: string;
}

/** Where the routes stage may find, and leave, each route's work (memo/memo.ts). */
export interface RouteCache {
  route(route: KubeObject): RouteWork | undefined;
  rememberRoute(route: KubeObject, work: RouteWork): void;
}

export interface RouteResult {
  route: HTTPRoute;
  work: RouteWork;
  /** Its parents with the route limit applied. */
  parents: readonly ParentOutcome[];
  /** Waypoint key → why the route is over that waypoint's limit; undefined when it is under all. */
  over: ReadonlyMap<string, Rejection> | undefined;
  /** An HTTPRoute some of whose parents a GRPCRoute takes (grpc.ts grpcConflicts): its status is not cached. */
  conflicted?: boolean;
}

export interface CompiledRoutes {
  /** Every HTTPRoute, in index order, then every GRPCRoute, in index order. */
  all: RouteResult[];
  /** Whether there is any GRPCRoute (its conflicts with HTTPRoutes depend on the other routes). */
  anyGrpc: boolean;
  overLimit: OverLimit;
  /** Waypoint key → routes accepted with that waypoint's Gateway as parent. */
  gatewayRoutes: Map<string, CompiledRoute[]>;
  /** Service key → routes accepted with that Service as parent. */
  serviceRoutes: Map<string, CompiledRoute[]>;
  /** Waypoint key → the routes attached to it (for the Gateway's attachedRoutes). */
  attached: Map<string, Set<string>>;
  /** Services some route applies to on selected ports only (the others: every route, every port). */
  portRestricted: Set<string>;
}

/** The ServicePorts a route's accepted Service parents select (undefined: every port); kept on its work. */
export function fillServicePorts(work: RouteWork, parents: readonly ParentOutcome[]): void {
  const ports = work.compiled.servicePorts;
  ports.clear();
  for (const p of parents) {
    if (p.rejected || !p.waypoint || p.kind === "Gateway" || !p.service) continue;
    const key = serviceKey(p.service);
    // Any parentRef to the Service without port or sectionName means all of its ports.
    if (!ports.has(key) || ports.get(key) !== undefined)
      ports.set(key, p.ports ? new Set([...(ports.get(key) ?? []), ...p.ports]) : undefined);
  }
  work.portsFrom = parents;
  work.restricted = [];
  for (const [key, selected] of ports) if (selected) work.restricted.push(key);
}

export function compileRoutes(
  /** The waypoints stage's result: also the context parentRefs are resolved in. */
  context: Waypoints,
  settings: TranslatorSettings,
  cache?: RouteCache,
): CompiledRoutes {
  const { index } = context;
  const works = index.httpRoutes.map((route) => {
    let work = cache?.route(route);
    if (!work) {
      const compiled = compileRoute(route, index);
      work = { compiled, parents: resolveParents(compiled, context), status: undefined };
      cache?.rememberRoute(route, work);
    }
    return { route, work };
  });
  const grpcWorks = index.grpcRoutes.map((grpc) => {
    const route = grpc as unknown as HTTPRoute;
    let work = cache?.route(grpc);
    if (!work) {
      const compiled = compileGrpcRoute(grpc, index);
      work = { compiled, parents: grpcParents(resolveParents(compiled, context)), status: undefined };
      work.name = routeKey(compiled);
      cache?.rememberRoute(grpc, work);
    }
    return { route, work };
  });
  const httpCount = works.length;
  works.push(...grpcWorks);
  // Routes beyond a waypoint's limit: for each, the waypoints whose limit it is over.
  const overLimit = routesOverLimit(
    works.map((w) => w.work),
    settings.maxRoutesPerWaypoint ?? DEFAULT_MAX_ROUTES_PER_WAYPOINT,
  );
  const out: CompiledRoutes = {
    all: [],
    anyGrpc: grpcWorks.length > 0,
    overLimit,
    gatewayRoutes: new Map(context.list.map((w) => [w.key, []])),
    serviceRoutes: new Map(),
    attached: new Map(context.list.map((w) => [w.key, new Set()])),
    portRestricted: new Set(),
  };
  // Each route's parents with the route limit applied. Not cached: whether a route is over the
  // limit, or loses a parent to a route of the other type (grpc.ts), depends on the other routes.
  const limited = works.map(({ work }) => {
    const over = overLimit.get(work.compiled);
    return over ? work.parents.map((p) => withLimit(p, over)) : work.parents;
  });
  const conflicted = new Set<number>();
  if (grpcWorks.length > 0) {
    for (const i of listenerConflicts(
      works.map((w) => w.work.compiled),
      limited,
    ))
      conflicted.add(i);
    const grpcAttached = grpcWorks.map((g, k) => ({
      compiled: g.work.compiled,
      parents: limited[httpCount + k]!,
    }));
    for (let i = 0; i < httpCount; i++) {
      const c = grpcConflicts(limited[i]!, grpcAttached);
      if (c) {
        limited[i] = c;
        conflicted.add(i);
      }
    }
  }
  works.forEach(({ route, work }, i) => {
    const { compiled } = work;
    const over = overLimit.get(compiled);
    const parents = limited[i]!;
    out.all.push({ route, work, parents, over, ...(conflicted.has(i) ? { conflicted: true } : {}) });
    if (parents.length === 0) return;
    // The ports each Service parent selects follow from the parents alone: kept while they are the same.
    if (work.portsFrom !== parents) fillServicePorts(work, parents);
    work.name ??= routeKey(compiled);
    for (const p of parents) {
      if (p.rejected || !p.waypoint) continue;
      out.attached.get(p.waypoint.key)?.add(work.name);
      if (p.kind === "Gateway") {
        // A route is only ever appended while it is the one being processed, so a duplicate (two
        // parentRefs to one parent) can only be the last element: no need to scan the list.
        const list = out.gatewayRoutes.get(p.waypoint.key);
        if (list && list.at(-1) !== compiled) list.push(compiled);
      } else if (p.service) {
        const key = serviceKey(p.service);
        const list = out.serviceRoutes.get(key) ?? [];
        if (list.at(-1) !== compiled) list.push(compiled);
        out.serviceRoutes.set(key, list);
      }
    }
    for (const key of work.restricted ?? []) out.portRestricted.add(key);
  });
  return out;
}
