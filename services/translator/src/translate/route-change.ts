// The fast path of a translation with a memo. Route churn is the common change: a header value, a
// match, a backend weight. When the only objects changed since the memo's last translation are
// HTTPRoutes that keep their attachment (the same parents, accepted or rejected alike, on the same
// ports), the output is the last output with those routes' statuses and the route configurations
// holding them rebuilt. Nothing else could come out different:
//   - listeners follow the services alone;
//   - clusters follow the backends, and a rebuilt route configuration must send to the same ones;
//   - load assignments follow the backends and the EndpointSlices (none changed);
//   - Gateway statuses count the attached routes (the same ones);
//   - TrafficPolicies and the route limit look across routes: with a policy, or a route over a limit,
//     the fast path is not taken.
// Anything else returns undefined, and translate() does the whole translation. memo.test.ts checks
// that both give equal output through generated sequences of changes.
import type { HTTPRoute, KubeObject } from "@waymark/api";
import { objectKey, refOf } from "@waymark/api";
import { TypeUrl } from "@waymark/envoy-proto";
import type { BackendTarget } from "./backends.ts";
import { compareStrings } from "./guards.ts";
import type { BuiltRouteConfig, RouteWork, TranslationMemo } from "./memo.ts";
import { isIndexedRoute, nsName, type ObjectIndex, type ServiceInfo } from "./objects.ts";
import { type ParentContext, type ParentOutcome, resolveParents } from "./parents.ts";
import { type CompiledRoute, compileRoute } from "./routes.ts";
import { routeStatus } from "./status.ts";
import type { ObjectStatus, TranslationInput, TranslationOutput, TranslatorSettings } from "./types.ts";
import { buildRoutesConfig } from "./waypoint.ts";

/** Beyond this many changed routes, the whole translation is about as quick. */
const MAX_CHANGED_ROUTES = 64;

/** How one route configuration that holds routes was made. */
export interface RouteConfigPlan {
  name: string;
  service: ServiceInfo;
  /** The service port's cluster. */
  cluster: string;
  gatewayRoutes: readonly CompiledRoute[];
  serviceRoutes: readonly CompiledRoute[];
  built: BuiltRouteConfig;
}

/** What translate() keeps of its last translation. */
export interface LastTranslation {
  /** A copy of the input's objects. */
  objects: Map<string, KubeObject>;
  settings: TranslatorSettings;
  context: ParentContext;
  /** Per waypoint output (same order), its route configurations that hold routes. */
  plans: RouteConfigPlan[][];
  output: TranslationOutput;
  /** False when a change to routes alone can still change more than they do (see the file comment). */
  routeOnly: boolean;
}

/** The ServicePorts a route's accepted Service parents select (undefined: every port); kept on its work. */
export function fillServicePorts(work: RouteWork, parents: readonly ParentOutcome[]): void {
  const ports = work.compiled.servicePorts;
  ports.clear();
  for (const p of parents) {
    if (p.rejected || !p.waypoint || p.kind !== "Service" || !p.service) continue;
    const key = nsName(p.service.namespace, p.service.name);
    // Any parentRef to the Service without port or sectionName means all of its ports.
    if (!ports.has(key) || ports.get(key) !== undefined)
      ports.set(key, p.ports ? new Set([...(ports.get(key) ?? []), ...p.ports]) : undefined);
  }
  work.portsFrom = parents;
  work.restricted = [];
  for (const [key, selected] of ports) if (selected) work.restricted.push(key);
}

const sameSet = (a: ReadonlySet<number> | undefined, b: ReadonlySet<number> | undefined) =>
  a === b || (!!a && !!b && a.size === b.size && [...a].every((x) => b.has(x)));

/** Whether two parent outcomes program a route into the same places, and reject it the same way. */
function sameAttachment(a: readonly ParentOutcome[], b: readonly ParentOutcome[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => {
      const q = b[i]!;
      return (
        p.kind === q.kind &&
        p.waypoint === q.waypoint &&
        p.service === q.service &&
        sameSet(p.ports, q.ports) &&
        p.rejected?.reason === q.rejected?.reason &&
        p.rejected?.message === q.rejected?.message
      );
    })
  );
}

const sameTargets = (a: readonly BackendTarget[], b: readonly BackendTarget[]) =>
  a.length === b.length && a.every((t, i) => t.cluster === b[i]!.cluster);

interface RouteChange {
  before: HTTPRoute;
  after: HTTPRoute;
  old: RouteWork;
  work: RouteWork;
}

/** The keys whose objects differ from the last translation's; undefined if any object came or went. */
function changedKeys(last: LastTranslation, objects: ReadonlyMap<string, KubeObject>): string[] | undefined {
  if (objects.size !== last.objects.size) return undefined;
  const changed: string[] = [];
  for (const [key, o] of objects) {
    const before = last.objects.get(key);
    if (before === o) continue;
    if (before === undefined || changed.length === MAX_CHANGED_ROUTES) return undefined;
    changed.push(key);
  }
  return changed;
}

/** The changed route's new work, if its attachment is the same as before. */
function recompile(
  last: LastTranslation,
  memo: TranslationMemo,
  before: KubeObject,
  after: KubeObject,
): RouteChange | undefined {
  if (!isIndexedRoute(before) || !isIndexedRoute(after)) return undefined;
  if (before.metadata.namespace !== after.metadata.namespace || before.metadata.name !== after.metadata.name)
    return undefined;
  const old = memo.route(before);
  const routes = last.context.index.httpRoutes;
  const at = routes.indexOf(before);
  if (!old || at < 0 || routes.lastIndexOf(before) !== at) return undefined;
  const compiled = compileRoute(after, last.context.index);
  const parents = resolveParents(compiled, last.context);
  if (!sameAttachment(old.parents, parents)) return undefined;
  const work: RouteWork = { compiled, parents, status: undefined };
  fillServicePorts(work, parents);
  if (parents.length > 0) work.status = routeStatus(compiled, parents, last.settings);
  return { before, after, old, work };
}

/** The position of `key` in statuses sorted by objectKey, or -1. */
function statusAt(statuses: readonly ObjectStatus[], key: string): number {
  let lo = 0;
  let hi = statuses.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compareStrings(objectKey(statuses[mid]!.ref), key);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The output for `input` patched from the memo's last translation, or undefined when it cannot be. */
export function translateRouteChange(
  input: TranslationInput,
  settings: TranslatorSettings,
  memo: TranslationMemo,
): TranslationOutput | undefined {
  const last = memo.last;
  if (!last?.routeOnly || last.settings !== settings) return undefined;
  const keys = changedKeys(last, input.objects);
  if (!keys) return undefined;

  const changes: RouteChange[] = [];
  for (const key of keys) {
    const c = recompile(last, memo, last.objects.get(key)!, input.objects.get(key)!);
    if (!c) return undefined;
    changes.push(c);
  }
  /** The list with each changed route's old compiled form replaced (a route is in a list once). */
  const swapped = (rs: readonly CompiledRoute[]) => {
    let out: CompiledRoute[] | undefined;
    for (const { old, work } of changes) {
      const at = rs.indexOf(old.compiled);
      if (at < 0) continue;
      out ??= [...rs];
      out[at] = work.compiled;
    }
    return out;
  };
  // Routes that send to the same backends as before leave every route configuration's backends alone.
  const sameBackends = changes.every(({ old, work }) =>
    sameTargets(old.compiled.targets, work.compiled.targets),
  );
  const rebuilt = new Map<RouteConfigPlan, RouteConfigPlan>();
  for (const plans of last.plans) {
    for (const plan of plans) {
      const gatewayRoutes = swapped(plan.gatewayRoutes);
      const serviceRoutes = swapped(plan.serviceRoutes);
      if (!gatewayRoutes && !serviceRoutes) continue;
      const next = {
        ...plan,
        gatewayRoutes: gatewayRoutes ?? plan.gatewayRoutes,
        serviceRoutes: serviceRoutes ?? plan.serviceRoutes,
      };
      const built = buildRoutesConfig(next, sameBackends ? plan.built.targets : undefined);
      // Other backends: other clusters and load assignments.
      if (!sameTargets(plan.built.targets, built.targets)) return undefined;
      rebuilt.set(plan, { ...next, built });
    }
  }
  const statuses = [...last.output.statuses];
  const statusChanges: Array<[number, ObjectStatus]> = [];
  for (const { old, work } of changes) {
    if (!old.status) continue;
    const ref = refOf(work.compiled.route);
    const at = statusAt(statuses, objectKey(ref));
    // The entry the last translation wrote for this very route, or the patch is not safe.
    if (at < 0 || statuses[at]!.status !== old.status || !work.status) return undefined;
    const s: ObjectStatus = { ref, generation: work.compiled.generation, status: work.status };
    if (s.generation === undefined) delete s.generation;
    statusChanges.push([at, s]);
  }

  // Every check passed: from here on, nothing returns early.
  for (const [at, s] of statusChanges) statuses[at] = s;
  const routesIndex = [...last.context.index.httpRoutes];
  for (const c of changes) {
    memo.rememberRoute(c.after, c.work);
    routesIndex[routesIndex.indexOf(c.before)] = c.after;
  }
  for (const key of keys) last.objects.set(key, input.objects.get(key)!);
  const index: ObjectIndex = { ...last.context.index, httpRoutes: routesIndex };
  const waypoints = last.output.waypoints.map((out, i) => {
    const plans = last.plans[i]!;
    let touched = false;
    for (const [j, plan] of plans.entries()) {
      const next = rebuilt.get(plan);
      if (!next) continue;
      touched = true;
      plans[j] = next;
      const { cluster, gatewayRoutes, serviceRoutes } = next;
      memo.setRouteConfig(
        next.name,
        () => memo.routeConfigKey(cluster, gatewayRoutes, serviceRoutes),
        next.built,
      );
    }
    if (!touched) return out;
    const json = new Map(plans.map((p) => [p.name, p.built.json]));
    const routes = out.resources[TypeUrl.route].map((r) => {
      const j = json.get(r.name);
      return j && j !== r.json ? { name: r.name, json: j } : r;
    });
    return { ...out, resources: { ...out.resources, [TypeUrl.route]: routes } };
  });
  const output: TranslationOutput = { ...last.output, waypoints, statuses };
  last.context = { ...last.context, index };
  last.output = output;
  memo.fastPaths++;
  return output;
}
