// The incremental path of a translation with a memo. Most changes in a running mesh are small: a
// route's header value, match or weight; a pod coming or going in an EndpointSlice; a policy edited
// without effect on what it programs. When every object changed since the memo's last translation is
//   - an HTTPRoute that keeps its attachment (the same parents, ports and backends), while no route
//     is over a waypoint's limit (the policies that name or select it, before or after, edit its new
//     compiled form, and their statuses are recomputed: PolicyTranslation.patch);
//   - a TrafficPolicy edited, added or removed, none of them on a Gateway: every route it names or
//     selects, before or after, is compiled anew as if edited, when no waypoint of such a route has
//     a Gateway-level policy and the waypoints' listeners keep their filters, clusters and secrets;
//   - one HTTPRoute created or deleted whose parents are all Services (not a Gateway), that no
//     TrafficPolicy names or selects, with no filter of its own (CORS), sending only to clusters the
//     waypoint has anyway (a Service port's own), onto route configurations that have routes before
//     and after, while no TCPRoute/TLSRoute exists and the waypoint stays under its route limit;
//   - an EndpointSlice edited, added or removed (its Service's load assignments are all it feeds); or
//   - a TrafficPolicy that, as each of its features judges (PolicyFeature.equal), programs what it did
//     (only its status changes); or
//   - Istio AuthorizationPolicies and RequestAuthentications edited, added or removed (alone, or with
//     EndpointSlices), when they need the same clusters as before and the guard lists the same
//     filters on every chain: the authorization stage runs again on the last IR with its own
//     filters taken off, and only the listeners and those policies' statuses are replaced,
// the last IR and output are patched: those routes' statuses and route configurations (for a route
// created or deleted also its waypoints' Gateway status, whose attachedRoutes counts it), those
// services' load assignments, those policies' statuses. Anything else returns undefined, and
// translate() does the whole translation. memo.test.ts checks that both give equal output through
// generated sequences of changes.
import type { EndpointSlice, HTTPRoute, KubeObject, TrafficPolicy } from "@waymark/api";
import { objectKey, refOf } from "@waymark/api";
import { type RouteConfigurationJson, TypeUrl } from "@waymark/envoy-proto";
import { bindAuthorization } from "../authorization/stage.ts";
import { compareStrings, lowerBound, stringMap } from "../input/guards.ts";
import {
  indexObjects,
  isIndexedRoute,
  type ObjectIndex,
  serviceKey,
  sliceServiceKey,
} from "../input/objects.ts";
import { guardWaypoint } from "../ir/guard.ts";
import type { ListenerIR, RouteConfigIR, WaypointIR } from "../ir/types.ts";
import { targetsOf } from "../ir/waypoint.ts";
import { DEFAULT_MAX_ROUTES_PER_WAYPOINT } from "../limits.ts";
import { type PolicyInfo, targetMatches } from "../policies/attachment.ts";
import type { PolicyReadings, RouteSwap } from "../policies/translation.ts";
import type { BackendTarget } from "../routes/backends.ts";
import { appliesToPort, type CompiledRoute, compileRoute } from "../routes/compile.ts";
import { routeKey } from "../routes/grpc.ts";
import { type ParentOutcome, resolveParents } from "../routes/parents.ts";
import { fillServicePorts, type RouteWork } from "../routes/stage.ts";
import { gatewayStatus, routeStatus } from "../status/status.ts";
import type {
  ObjectStatus,
  TranslationInput,
  TranslationOutput,
  TranslatorSettings,
  WaypointOutput,
} from "../types.ts";
import type { WaypointInfo } from "../waypoints/gateways.ts";
import { emitLoadAssignment } from "../xds/clusters.ts";
import { resource } from "../xds/emit.ts";
import { emitListener } from "../xds/listener.ts";
import { fillRouteConfigSlots, routeConfigOf } from "../xds/routeconfig.ts";
import type { LastTranslation, TranslationMemo } from "./memo.ts";

/** Beyond this many changed objects, the whole translation is about as quick. */
const MAX_CHANGED_OBJECTS = 64;
/** Beyond this many routes that changed TrafficPolicies name or select, too. */
const MAX_POLICY_ROUTES = 256;

const sameSet = (a: ReadonlySet<number> | undefined, b: ReadonlySet<number> | undefined) =>
  a === b || (!!a && !!b && a.size === b.size && [...a].every((x) => b.has(x)));

/** Whether two parent outcomes program a route into the same places, and reject it the same way. */
// Waypoints and Services are compared by key, not identity: a route's memoized parents may come from
// an earlier full translation than the last one (the memo keeps a route's work while the route does
// not change), whose WaypointInfo and ServiceInfo objects are other instances of the same ones. By
// identity, a translator that built more than once before a route changed (as one does while the
// objects first arrive) never took the incremental path for that route again.
const serviceKeyOf = (s: ParentOutcome["service"]) => (s ? serviceKey(s) : undefined);

function sameAttachment(a: readonly ParentOutcome[], b: readonly ParentOutcome[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => {
      const q = b[i]!;
      return (
        p.kind === q.kind &&
        p.waypoint?.key === q.waypoint?.key &&
        serviceKeyOf(p.service) === serviceKeyOf(q.service) &&
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
  /** The route's position in the index's HTTPRoutes. */
  at: number;
  old: RouteWork;
  work: RouteWork;
}

/** An EndpointSlice edited (both), added (no `before`) or removed (no `after`). */
interface SliceChange {
  before: EndpointSlice | undefined;
  after: EndpointSlice | undefined;
  /** The `<ns>/<service>` each is filed under ("": not filed; undefined: absent). */
  from: string | undefined;
  to: string | undefined;
}

interface PolicyChange {
  before: TrafficPolicy;
  after: TrafficPolicy;
  /** Its new status entry (undefined: it has none), and its position among the statuses. */
  status: ObjectStatus | undefined;
  at: number;
  commit: () => void;
}

/**
 * As changedKeys, from the input's journal: only the keys changed since the last translation's
 * generation are compared, not every object. Null when the journal cannot tell (then changedKeys).
 * The order is changedKeys': the keys present, in key order, then the keys removed.
 */
function journalKeys(last: LastTranslation, input: TranslationInput): string[] | undefined | null {
  const since =
    input.journal && last.generation !== undefined ? input.journal.changedSince(last.generation) : undefined;
  if (!since) return null;
  const present: string[] = [];
  const removed: string[] = [];
  for (const key of new Set(since)) {
    const o = input.objects.get(key);
    if (last.objects.get(key) === o) continue;
    if (present.length + removed.length === MAX_CHANGED_OBJECTS) return undefined;
    (o === undefined ? removed : present).push(key);
  }
  return [...present.sort(compareStrings), ...removed.sort(compareStrings)];
}

/**
 * The keys whose objects differ from the last translation's (an object edited, added or removed);
 * undefined beyond MAX_CHANGED_OBJECTS.
 */
function changedKeys(last: LastTranslation, objects: ReadonlyMap<string, KubeObject>): string[] | undefined {
  const changed: string[] = [];
  let kept = 0;
  for (const [key, o] of objects) {
    const before = last.objects.get(key);
    if (before === o) {
      kept++;
      continue;
    }
    if (before !== undefined) kept++;
    if (changed.length === MAX_CHANGED_OBJECTS) return undefined;
    changed.push(key);
  }
  // Removed: in the last translation and not in this one.
  if (kept !== last.objects.size) {
    for (const key of last.objects.keys()) {
      if (objects.has(key)) continue;
      if (changed.length === MAX_CHANGED_OBJECTS) return undefined;
      changed.push(key);
    }
  }
  return changed;
}

/** As indexObjects() sorts each Service's EndpointSlices. */
const bySliceName = (a: EndpointSlice, b: EndpointSlice) =>
  compareStrings(a.metadata.namespace ?? "", b.metadata.namespace ?? "") ||
  compareStrings(a.metadata.name, b.metadata.name);

/** The changed route's new work, if its attachment and backends are the same as before. */
function recompile(
  last: LastTranslation,
  memo: TranslationMemo,
  before: HTTPRoute,
  after: HTTPRoute,
): RouteChange | undefined {
  if (before.metadata.namespace !== after.metadata.namespace || before.metadata.name !== after.metadata.name)
    return undefined;
  // A policy on the route (its per-filter config on the route's entries, and the policy's status):
  // PolicyTranslation.patch edits the new compiled form and recomputes the policy's status.
  const old = memo.route(before);
  const routes = last.context.index.httpRoutes;
  const at = routes.indexOf(before);
  if (!old || at < 0 || routes.lastIndexOf(before) !== at) return undefined;
  const compiled = compileRoute(after, last.context.index);
  // Other backends: other clusters and load assignments.
  if (!sameTargets(old.compiled.targets, compiled.targets)) return undefined;
  // Other HTTP filters for its own filters (a CORS filter added or removed): other listeners.
  const filterNames = (r: CompiledRoute) => r.httpFilters.map((f) => String(f.filter.name)).join();
  if (filterNames(old.compiled) !== filterNames(compiled)) return undefined;
  const parents = resolveParents(compiled, last.context);
  if (!sameAttachment(old.parents, parents)) return undefined;
  const work: RouteWork = { compiled, parents, status: undefined };
  fillServicePorts(work, parents);
  if (parents.length > 0) work.status = routeStatus(compiled, parents, last.settings);
  return { before, after, at, old, work };
}

/** One HTTPRoute created (no `before`) or deleted (no `after`). */
interface RouteMembership {
  route: HTTPRoute;
  created: boolean;
  /** Its work: new when created, the last translation's when deleted. */
  work: RouteWork;
  /** The waypoints it is (or was) attached to. */
  waypoints: Set<string>;
}

/** The accepted Service parents of a route: waypoint key → `<ns>/<service>` keys. */
function serviceParents(parents: readonly ParentOutcome[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const p of parents) {
    if (p.rejected || !p.waypoint || !p.service) continue;
    const set = out.get(p.waypoint.key) ?? new Set<string>();
    set.add(serviceKey(p.service));
    out.set(p.waypoint.key, set);
  }
  return out;
}

/** A route created or deleted, if the incremental path can place it (see the file's comment). */
function membership(
  last: LastTranslation,
  memo: TranslationMemo,
  before: HTTPRoute | undefined,
  after: HTTPRoute | undefined,
): RouteMembership | undefined {
  const route = (after ?? before)!;
  const { index } = last.context;
  if (!last.routeOnly || index.tcpRoutes.length || index.tlsRoutes.length) return undefined;
  if (last.policies.targetsRoute(route)) return undefined;
  let work: RouteWork;
  if (after) {
    const compiled = compileRoute(after, index);
    work = { compiled, parents: resolveParents(compiled, last.context), status: undefined };
  } else {
    const old = memo.route(route);
    const at = index.httpRoutes.indexOf(route);
    if (!old || at < 0 || index.httpRoutes.lastIndexOf(route) !== at) return undefined;
    work = old;
  }
  const { compiled, parents } = work;
  // A Gateway parent puts it on every route configuration of its waypoint.
  if (parents.some((p) => p.kind === "Gateway")) return undefined;
  // Its own filters (CORS) or per-filter config: other listeners, other filters in use.
  if (
    compiled.httpFilters.length ||
    compiled.entries.some((e) => e.json.typedPerFilterConfig || e.ownPerFilter)
  )
    return undefined;
  const waypoints = new Set<string>();
  for (const p of parents) if (!p.rejected && p.waypoint) waypoints.add(p.waypoint.key);
  const max = last.settings.maxRoutesPerWaypoint ?? DEFAULT_MAX_ROUTES_PER_WAYPOINT;
  for (const w of waypoints) {
    const attached = last.attached.get(w);
    if (!attached) return undefined;
    const name = routeKey(compiled);
    if (after && (attached.has(name) || attached.size + 1 > max)) return undefined;
    if (before && !attached.has(name)) return undefined;
  }
  if (after) {
    fillServicePorts(work, parents);
    work.name = routeKey(compiled);
    if (parents.length > 0) work.status = routeStatus(compiled, parents, last.settings);
  }
  return { route, created: !!after, work, waypoints };
}

/** `list` with `route` inserted in index order (by namespace, then name). */
function inserted(list: readonly CompiledRoute[], route: CompiledRoute): CompiledRoute[] {
  const lo = lowerBound(
    list,
    (r) => (compareStrings(r.namespace, route.namespace) || compareStrings(r.name, route.name)) < 0,
  );
  return [...list.slice(0, lo), route, ...list.slice(lo)];
}

/** A route configuration built anew: its IR, its JSON before its slots are filled, and after. */
interface RebuiltConfig {
  rc: RouteConfigIR;
  /** What the memo keeps under the configuration's key, as emitWaypoint does: the slots are the IR's. */
  unfilled: RouteConfigurationJson;
  json: RouteConfigurationJson;
}

function rebuiltConfig(rc: RouteConfigIR): RebuiltConfig {
  const unfilled = routeConfigOf(rc);
  return { rc, unfilled, json: fillRouteConfigSlots(unfilled, rc) };
}

/**
 * The route configurations a created or deleted route changes, rebuilt; undefined when one of them
 * would gain or lose its routes altogether, or a cluster would come or go.
 */
function placeMembership(
  last: LastTranslation,
  m: RouteMembership,
  rebuilt: Map<RouteConfigIR, RebuiltConfig>,
): boolean {
  const { compiled } = m.work;
  const services = serviceParents(m.work.parents);
  for (const ir of last.irs) {
    const keys = services.get(ir.waypoint.key);
    if (!keys) continue;
    const chainClusters = new Set((ir.listener?.chains ?? []).map((c) => c.cluster));
    if (!compiled.targets.every((t) => chainClusters.has(t.cluster))) return false;
    for (const rc of ir.routeConfigs) {
      const key = serviceKey(rc.service);
      if (!keys.has(key)) continue;
      let serviceRoutes: readonly CompiledRoute[];
      if (m.created) {
        if (!appliesToPort(compiled, key, rc.port)) continue;
        serviceRoutes = inserted(rc.serviceRoutes, compiled);
      } else {
        const at = rc.serviceRoutes.indexOf(compiled);
        if (at < 0) continue;
        serviceRoutes = rc.serviceRoutes.filter((r) => r !== compiled);
      }
      const hasRoutes = rc.gatewayRoutes.length > 0 || serviceRoutes.length > 0;
      if (!rc.hasRoutes || !hasRoutes || rebuilt.has(rc)) return false;
      const next: RouteConfigIR = {
        ...rc,
        serviceRoutes,
        targets: targetsOf(rc.gatewayRoutes, serviceRoutes),
      };
      rebuilt.set(rc, rebuiltConfig(next));
    }
  }
  return true;
}

/** Where an entry with `key` goes in statuses sorted by objectKey. */
function statusBound(statuses: readonly ObjectStatus[], key: string): number {
  return lowerBound(statuses, (s) => compareStrings(objectKey(s.ref), key) < 0);
}

/**
 * The status entries a route created or deleted changes: its own (added or removed) and those of the
 * Gateways it attaches to (their attachedRoutes); undefined when they are not where they should be.
 */
function membershipStatuses(
  last: LastTranslation,
  m: RouteMembership,
  statuses: readonly ObjectStatus[],
):
  | {
      gateways: Array<[number, ObjectStatus]>;
      route: { ref: ReturnType<typeof refOf>; key: string; entry: ObjectStatus | undefined };
    }
  | undefined {
  const { compiled, parents } = m.work;
  const ref = m.work.ref ?? refOf(m.route);
  const key = m.work.key ?? objectKey(ref);
  const at = statusAt(statuses, key);
  let entry: ObjectStatus | undefined;
  if (parents.length > 0) {
    if (!m.work.status) return undefined;
    entry = { ref, generation: compiled.generation, status: m.work.status };
    if (entry.generation === undefined) delete entry.generation;
    // Created: no entry yet. Deleted: the very entry the last translation wrote for it.
    if (m.created ? at >= 0 : at < 0 || statuses[at]!.status !== m.work.status) return undefined;
  } else if (at >= 0) return undefined;
  const gateways: Array<[number, ObjectStatus]> = [];
  for (const wkey of m.waypoints) {
    const w = last.context.list.find((x) => x.key === wkey);
    if (!w) return undefined;
    const gref = refOf(w.gateway);
    const gat = statusAt(statuses, objectKey(gref));
    if (gat < 0) return undefined;
    const count = (last.attached.get(wkey)?.size ?? 0) + (m.created ? 1 : -1);
    const addressService = last.context.index.service(w.ref.namespace, w.ref.name);
    const s: ObjectStatus = {
      ref: gref,
      generation: w.generation,
      status: gatewayStatus(w, count, addressService),
    };
    if (s.generation === undefined) delete s.generation;
    gateways.push([gat, s]);
  }
  return { gateways, route: { ref, key, entry } };
}

const ISTIO_GROUP = "security.istio.io";
/** An Istio security policy the authorization stage reads (in any version: indexObjects filters). */
const isIstioPolicy = (o: KubeObject) =>
  (o.kind === "AuthorizationPolicy" || o.kind === "RequestAuthentication") &&
  typeof o.apiVersion === "string" &&
  o.apiVersion.startsWith(`${ISTIO_GROUP}/`) &&
  typeof o.metadata?.name === "string";
const isIstioStatus = (s: ObjectStatus) =>
  s.ref.group === ISTIO_GROUP &&
  (s.ref.kind === "AuthorizationPolicy" || s.ref.kind === "RequestAuthentication");

/** The HTTP filter slots the authorization stage and the guard fill (ir/filter-order.ts). */
const AUTHZ_HTTP_SLOTS = new Set<string>(["authentication", "authorization", "guardFilters", "guard"]);

/** The IR's chains without what the authorization stage and the guard put on them. */
function withoutAuthorization(ir: WaypointIR): WaypointIR {
  const listener = ir.listener && {
    ...ir.listener,
    chains: ir.listener.chains.map((c) => {
      const chain = {
        ...c,
        httpFilters: c.httpFilters.filter((f) => !AUTHZ_HTTP_SLOTS.has(f.slot)),
        networkFilters: c.networkFilters.filter((f) => f.slot !== "authorization"),
      };
      delete chain.earlyRemovedHeaders;
      return chain;
    }),
  };
  return { ...ir, listener, routeConfigs: ir.routeConfigs.map((rc) => ({ ...rc })) };
}

/** What an authorization translation adds to a waypoint besides its chains' filters (clusters). */
function authzClusters(authz: ReturnType<typeof bindAuthorization>, w: WaypointInfo, ir: WaypointIR): string {
  const draft: WaypointIR = { ...withoutAuthorization(ir), clusters: [], extraClusters: [] };
  authz.waypoint(w, draft);
  return JSON.stringify([draft.clusters.map((c) => c.cluster), draft.extraClusters]);
}

/**
 * The listeners and statuses after the Istio policies changed: the authorization stage run again
 * on the last IR (its own filters and the guard's taken off, then put back as the new policies
 * bind); undefined when anything else would change (clusters, the guard's list of filters).
 */
function reauthorize(
  last: LastTranslation,
  index: ObjectIndex,
  statuses: readonly ObjectStatus[],
): { listeners: Array<ListenerIR | undefined>; statuses: ObjectStatus[] } | undefined {
  // Probes for the clusters (a translation counts the chains each policy is placed on: one each).
  const before = bindAuthorization(last.context.index, last.settings, last.context);
  const probe = bindAuthorization(index, last.settings, last.context);
  const after = bindAuthorization(index, last.settings, last.context);
  const listeners: Array<ListenerIR | undefined> = [];
  for (const [i, ir] of last.irs.entries()) {
    const w = last.context.list[i];
    if (!w || w.key !== ir.waypoint.key) return undefined;
    if (!ir.listener) {
      listeners.push(undefined);
      continue;
    }
    if (authzClusters(before, w, ir) !== authzClusters(probe, w, ir)) return undefined;
    const draft = withoutAuthorization(ir);
    after.waypoint(w, draft);
    guardWaypoint(draft);
    const guardOf = (c: { httpFilters: ReadonlyArray<{ slot: string; filter: unknown }> }) =>
      JSON.stringify(c.httpFilters.find((f) => f.slot === "guardFilters")?.filter);
    const chains = draft.listener!.chains;
    if (!chains.every((c, k) => guardOf(c) === guardOf(ir.listener!.chains[k]!))) return undefined;
    listeners.push(draft.listener);
  }
  // The Istio policies' statuses replaced, in their places by key.
  const out = statuses.filter((s) => !isIstioStatus(s));
  for (const s of after.statuses()) {
    if (s.generation === undefined) delete s.generation;
    out.splice(statusBound(out, objectKey(s.ref)), 0, s);
  }
  return { listeners, statuses: out };
}

/** The position of `key` in statuses sorted by objectKey, or -1. */
function statusAt(statuses: readonly ObjectStatus[], key: string): number {
  const at = statusBound(statuses, key);
  return at < statuses.length && objectKey(statuses[at]!.ref) === key ? at : -1;
}

/** The index with the Istio policies at `keys` as in `objects` (those of `previous` taken out). */
function patchIstio(
  index: ObjectIndex,
  previous: ReadonlyMap<string, KubeObject>,
  objects: ReadonlyMap<string, KubeObject>,
  keys: readonly string[],
): ObjectIndex {
  const gone = new Set<KubeObject>();
  const added = new Map<string, KubeObject>();
  for (const k of keys) {
    const b = previous.get(k);
    const a = objects.get(k);
    if (b) gone.add(b);
    if (a) added.set(k, a);
  }
  // indexObjects decides which of them it lists (well-formed, a known version, namespaced).
  const fresh = indexObjects(added);
  const byName = (a: KubeObject, b: KubeObject) =>
    compareStrings(a.metadata.namespace ?? "", b.metadata.namespace ?? "") ||
    compareStrings(a.metadata.name, b.metadata.name);
  return {
    ...index,
    authorizationPolicies: [
      ...index.authorizationPolicies.filter((p) => !gone.has(p)),
      ...fresh.authorizationPolicies,
    ].sort(byName),
    requestAuthentications: [
      ...index.requestAuthentications.filter((p) => !gone.has(p)),
      ...fresh.requestAuthentications,
    ].sort(byName),
  };
}

/** A TrafficPolicy edited (both), added (no `before`) or removed (no `after`). */
interface TrafficPolicyChange {
  key: string;
  before: TrafficPolicy | undefined;
  after: TrafficPolicy | undefined;
}

/** The policy if indexObjects lists it (well-formed, of kgateway's group, namespaced), else undefined. */
function listedPolicy(p: TrafficPolicy | undefined): TrafficPolicy | undefined {
  return p && indexObjects(new Map([["", p]])).trafficPolicies[0];
}

/** The index's TrafficPolicies with the changed ones out and their new versions in, sorted by name. */
function patchPolicies(
  list: readonly TrafficPolicy[],
  changed: readonly TrafficPolicyChange[],
): TrafficPolicy[] {
  const gone = new Set(changed.map((c) => c.before));
  const out = list.filter((p) => !gone.has(p));
  for (const c of changed) {
    const p = listedPolicy(c.after);
    if (p) out.splice(firstAt(out, p.metadata.namespace ?? "", p.metadata.name), 0, p);
  }
  return out;
}

/**
 * The HTTPRoutes of `routes` (sorted by namespace, then name) that policy `p` names or selects, each
 * as edited when it is among `changes` (its labels then as edited).
 */
function routesTargeted(
  routes: readonly HTTPRoute[],
  p: PolicyInfo,
  changes: readonly RouteChange[],
): HTTPRoute[] {
  const targets = p.targets.filter((t) => t.kind === "HTTPRoute");
  if (targets.length === 0) return [];
  const after = new Map(changes.map((c) => [c.before, c.after]));
  const out: HTTPRoute[] = [];
  const matches = (r: HTTPRoute) =>
    targets.some((t) => targetMatches(t, "HTTPRoute", r.metadata.name, stringMap(r.metadata.labels)));
  const selects = targets.some((t) => t.name === undefined);
  if (!selects) {
    // Named only: each found by its name.
    for (const t of targets) {
      const at = firstAt(routes, p.namespace, t.name!);
      for (let i = at; i < routes.length; i++) {
        const r = routes[i]!;
        if (r.metadata.namespace !== p.namespace || r.metadata.name !== t.name) break;
        out.push(r);
      }
    }
    return out;
  }
  for (let i = firstAt(routes, p.namespace, ""); i < routes.length; i++) {
    const r = routes[i]!;
    if (r.metadata.namespace !== p.namespace) break;
    if (matches(r) || matches(after.get(r) ?? r)) out.push(r);
  }
  return out;
}

/** The position of the first object at or after namespace/name in a list sorted by namespace, then name. */
function firstAt(list: readonly KubeObject[], namespace: string, name: string): number {
  return lowerBound(
    list,
    (r) =>
      (compareStrings(r.metadata.namespace ?? "", namespace) || compareStrings(r.metadata.name, name)) < 0,
  );
}

/**
 * The routes policy `p` names or selects now, each with its compiled form and the waypoints it is
 * accepted on (a changed route: its new work); undefined when one has no work in the memo.
 */
function routesOfPolicy(
  last: LastTranslation,
  memo: TranslationMemo,
  p: PolicyInfo,
  changes: readonly RouteChange[],
): Array<{ compiled: CompiledRoute; waypoints: WaypointInfo[] }> | undefined {
  const byBefore = new Map(changes.map((c) => [c.before, c]));
  const out: Array<{ compiled: CompiledRoute; waypoints: WaypointInfo[] }> = [];
  for (const route of routesTargeted(last.context.index.httpRoutes, p, changes)) {
    const c = byBefore.get(route);
    const now = c ? c.after : route;
    const labels = stringMap(now.metadata.labels);
    if (!p.targets.some((t) => targetMatches(t, "HTTPRoute", now.metadata.name, labels))) continue;
    const work = c ? c.work : memo.route(route);
    if (!work) return undefined;
    const waypoints: WaypointInfo[] = [];
    for (const q of work.parents) if (!q.rejected && q.waypoint) waypoints.push(q.waypoint);
    out.push({ compiled: work.compiled, waypoints });
  }
  return out;
}

/** The Services whose EndpointSlices changed (a slice filed under it before or after). */
function touchedServices(slices: readonly SliceChange[]): Set<string> {
  const out = new Set<string>();
  for (const s of slices) {
    if (s.from) out.add(s.from);
    if (s.to) out.add(s.to);
  }
  return out;
}

/** The index with the changed routes and EndpointSlices in place of the old ones. */
function patchIndex(
  index: ObjectIndex,
  routes: readonly RouteChange[],
  slices: readonly SliceChange[],
  policies: readonly PolicyChange[],
  member: RouteMembership | undefined,
) {
  const next = { ...index };
  if (member) {
    const list = index.httpRoutes;
    const route = member.route;
    if (member.created) {
      const lo = firstAt(list, route.metadata.namespace ?? "", route.metadata.name);
      next.httpRoutes = [...list.slice(0, lo), route, ...list.slice(lo)];
    } else next.httpRoutes = list.filter((r) => r !== route);
  }
  if (policies.length) {
    const list = [...index.trafficPolicies];
    for (const p of policies) list[list.indexOf(p.before)] = p.after;
    next.trafficPolicies = list;
  }
  if (routes.length) {
    const list = [...index.httpRoutes];
    for (const c of routes) list[c.at] = c.after;
    next.httpRoutes = list;
  }
  if (slices.length) {
    // Each Service a slice left or joined: its list without the old objects, with the new, sorted.
    const bySlice = new Map(index.endpointSlices);
    const gone = new Set<EndpointSlice>();
    for (const s of slices) if (s.before) gone.add(s.before);
    for (const service of touchedServices(slices)) {
      const list = (bySlice.get(service) ?? []).filter((x) => !gone.has(x));
      for (const s of slices) if (s.after && s.to === service) list.push(s.after);
      list.sort(bySliceName);
      if (list.length) bySlice.set(service, list);
      else bySlice.delete(service);
    }
    next.endpointSlices = bySlice;
  }
  return next;
}

/** The output for `input` patched from the memo's last translation, or undefined when it cannot be. */
export function translateIncrementally(
  input: TranslationInput,
  settings: TranslatorSettings,
  memo: TranslationMemo,
): TranslationOutput | undefined {
  const last = memo.last;
  if (!last || last.settings !== settings) return undefined;
  const journaled = journalKeys(last, input);
  const keys = journaled === null ? changedKeys(last, input.objects) : journaled;
  if (!keys) return undefined;
  // Until this path completes, `last.objects` may not be the objects at any one generation.
  delete last.generation;

  const changes: RouteChange[] = [];
  const slices: SliceChange[] = [];
  const policies: PolicyChange[] = [];
  let member: RouteMembership | undefined;
  /** Keys of Istio security policies edited, added or removed. */
  const istio: string[] = [];
  /** TrafficPolicies edited (other than in effect), added or removed. */
  const trafficPolicies: TrafficPolicyChange[] = [];
  for (const key of keys) {
    const before = last.objects.get(key);
    const after = input.objects.get(key);
    if ((!before || isIstioPolicy(before)) && (!after || isIstioPolicy(after))) {
      istio.push(key);
      continue;
    }
    if (!before || !after) {
      const o = (before ?? after)!;
      if (isIndexedRoute(o)) {
        // One route created or deleted (with no other route change in the same translation).
        if (member) return undefined;
        member = membership(last, memo, before as HTTPRoute | undefined, after as HTTPRoute | undefined);
        if (!member) return undefined;
        continue;
      }
      if (o.kind === "TrafficPolicy") {
        trafficPolicies.push({ key, before: before as TrafficPolicy, after: after as TrafficPolicy });
        continue;
      }
      // Else only an EndpointSlice added or removed (it feeds its Service's endpoints only).
      const filed = sliceServiceKey(o);
      if (filed === undefined) return undefined;
      if (
        before &&
        filed &&
        !(last.context.index.endpointSlices.get(filed) ?? []).includes(before as EndpointSlice)
      )
        return undefined;
      slices.push({
        before: before as EndpointSlice | undefined,
        after: after as EndpointSlice | undefined,
        from: before ? filed : undefined,
        to: after ? filed : undefined,
      });
      continue;
    }
    if (isIndexedRoute(before) && isIndexedRoute(after)) {
      if (!last.routeOnly) return undefined;
      const c = recompile(last, memo, before, after);
      if (!c) return undefined;
      changes.push(c);
      continue;
    }
    if (before.kind === "TrafficPolicy" && after.kind === "TrafficPolicy") {
      // The policy's features say whether it programs anything else than before.
      // If not, PolicyTranslation.patch places what it programs now.
      const r = last.policies.replacement(before as TrafficPolicy, after as TrafficPolicy);
      const at = statusAt(last.output.statuses, key);
      if (r && at < 0 === (r.status === undefined))
        policies.push({ ...r, at, before: before as TrafficPolicy, after: after as TrafficPolicy });
      else trafficPolicies.push({ key, before: before as TrafficPolicy, after: after as TrafficPolicy });
      continue;
    }
    // An EndpointSlice edited, perhaps filed under another Service now (then it moves between them).
    const from = sliceServiceKey(before);
    const to = sliceServiceKey(after);
    if (from === undefined || to === undefined) return undefined;
    if (from && !(last.context.index.endpointSlices.get(from) ?? []).includes(before as EndpointSlice))
      return undefined;
    slices.push({ before: before as EndpointSlice, after: after as EndpointSlice, from, to });
  }

  /** The list with each changed route's old compiled form replaced (a route is in a list once). */
  const swapped = (rs: readonly CompiledRoute[], found?: (old: CompiledRoute) => void) => {
    let out: CompiledRoute[] | undefined;
    for (const { old, work } of changes) {
      const at = rs.indexOf(old.compiled);
      if (at < 0) continue;
      out ??= [...rs];
      out[at] = work.compiled;
      found?.(old.compiled);
    }
    return out;
  };
  if (member && changes.length) return undefined;
  if (istio.length && (member || changes.length || policies.length || trafficPolicies.length))
    return undefined;
  if (member && trafficPolicies.length) return undefined;
  let readings: PolicyReadings | undefined;
  // Policies edited without effect, with other policy or route changes: read anew with them
  // (PolicyTranslation.patch reorders the policies and recomputes statuses).
  if (policies.length && (trafficPolicies.length || changes.length))
    for (const p of policies.splice(0)) trafficPolicies.push({ key: objectKey(refOf(p.before)), ...p });
  if (trafficPolicies.length) {
    readings = last.policies.readChanges(
      trafficPolicies.map((c) => ({ before: listedPolicy(c.before), after: listedPolicy(c.after) })),
    );
    if (!readings || !last.routeOnly) return undefined;
    // Every route a changed policy names or selects, before or after, compiled anew.
    const edited = new Set(changes.map((c) => c.before));
    const seen = new Set<HTTPRoute>();
    for (const p of [...readings.old, ...readings.next])
      for (const route of routesTargeted(last.context.index.httpRoutes, p, changes)) {
        if (edited.has(route) || seen.has(route)) continue;
        seen.add(route);
        if (seen.size > MAX_POLICY_ROUTES) return undefined;
        const c = recompile(last, memo, route, route);
        if (!c) return undefined;
        changes.push(c);
      }
  }
  let authz: ReturnType<typeof reauthorize>;
  let istioIndex: ObjectIndex | undefined;
  if (istio.length) {
    istioIndex = patchIstio(last.context.index, last.objects, input.objects, istio);
    authz = reauthorize(last, istioIndex, last.output.statuses);
    if (!authz) return undefined;
  }
  const rebuilt = new Map<RouteConfigIR, RebuiltConfig>();
  if (member && !placeMembership(last, member, rebuilt)) return undefined;
  /** The route configurations the changed routes are in, with those routes swapped. */
  const swappedConfigs: Array<[RouteConfigIR, RouteConfigIR]> = [];
  const swaps = new Map<CompiledRoute, RouteSwap>();
  for (const c of changes) {
    const waypoints: WaypointInfo[] = [];
    for (const p of c.work.parents) if (!p.rejected && p.waypoint) waypoints.push(p.waypoint);
    swaps.set(c.old.compiled, { old: c.old.compiled, next: c.work.compiled, waypoints });
  }
  /** Each swap once for each route configuration of a waypoint that has it (PolicyTranslation.patch). */
  const occurrences: Array<{ waypoint: string; swap: RouteSwap }> = [];
  // A changed route keeps its attachment (recompile), so only its parents' waypoints hold it.
  const holders = new Set<string>();
  for (const s of swaps.values()) for (const w of s.waypoints) holders.add(w.key);
  for (const { routeConfigs, waypoint } of changes.length ? last.irs : []) {
    if (!holders.has(waypoint.key)) continue;
    for (const rc of routeConfigs) {
      if (!rc.hasRoutes) continue;
      const found = (old: CompiledRoute) =>
        occurrences.push({ waypoint: waypoint.key, swap: swaps.get(old)! });
      const gatewayRoutes = swapped(rc.gatewayRoutes, found);
      const serviceRoutes = swapped(rc.serviceRoutes, found);
      if (!gatewayRoutes && !serviceRoutes) continue;
      // Every changed route sends to the same backends as before: so do the route configurations
      // (rc.targets stays), and the policy slots stay as the unchanged policies filled them.
      const next: RouteConfigIR = {
        ...rc,
        gatewayRoutes: gatewayRoutes ?? rc.gatewayRoutes,
        serviceRoutes: serviceRoutes ?? rc.serviceRoutes,
      };
      swappedConfigs.push([rc, next]);
    }
  }
  const statuses = authz ? authz.statuses : [...last.output.statuses];
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
  const memberStatus = member && membershipStatuses(last, member, statuses);
  if (member && !memberStatus) return undefined;
  // The policies' edits on the changed routes, and the statuses of the policies on them: the last check.
  const policyPatch =
    changes.length || trafficPolicies.length
      ? last.policies.patch(readings ?? { old: [], next: [] }, [...swaps.values()], occurrences, (p) =>
          routesOfPolicy(last, memo, p, changes),
        )
      : undefined;
  if ((changes.length || trafficPolicies.length) && !policyPatch) return undefined;
  // The route configurations' JSON once the routes' entries carry their policies' edits.
  for (const [rc, next] of swappedConfigs) rebuilt.set(rc, rebuiltConfig(next));

  // Every check passed: from here on, nothing returns early.
  for (const [at, s] of statusChanges) statuses[at] = s;
  for (const { ref, entry } of policyPatch?.statuses ?? []) {
    const key = objectKey(ref);
    const at = statusAt(statuses, key);
    if (entry) {
      if (entry.generation === undefined) delete entry.generation;
      if (at >= 0) statuses[at] = entry;
      else statuses.splice(statusBound(statuses, key), 0, entry);
    } else if (at >= 0) statuses.splice(at, 1);
  }
  for (const p of policies) {
    p.commit();
    if (!p.status) continue;
    if (p.status.generation === undefined) delete p.status.generation;
    statuses[p.at] = p.status;
  }
  if (member && memberStatus) {
    // The Gateways' entries keep their places; the route's own is inserted or removed.
    for (const [at, s] of memberStatus.gateways) statuses[at] = s;
    const { ref, key, entry } = memberStatus.route;
    if (member.created && entry) statuses.splice(statusBound(statuses, key), 0, entry);
    else if (!member.created && entry) statuses.splice(statusAt(statuses, key), 1);
    // Work recompiled on the incremental path has no name (the routes stage fills it in a whole
    // translation): the route's key is its name.
    const name = member.work.name ?? routeKey(member.work.compiled);
    for (const w of member.waypoints) {
      const set = new Set(last.attached.get(w));
      if (member.created) set.add(name);
      else set.delete(name);
      last.attached.set(w, set);
    }
    if (member.created) {
      member.work.ref = ref;
      member.work.key = key;
      memo.rememberRoute(member.route, member.work);
    }
  }
  for (const c of changes) memo.rememberRoute(c.after, c.work);
  memo.keepWorld(keys, input.objects);
  for (const key of keys) {
    const o = input.objects.get(key);
    if (o) last.objects.set(key, o);
    else last.objects.delete(key);
  }
  const index = patchIndex(istioIndex ?? last.context.index, changes, slices, policies, member);
  if (trafficPolicies.length) index.trafficPolicies = patchPolicies(index.trafficPolicies, trafficPolicies);
  const services = touchedServices(slices);
  const waypoints = last.output.waypoints.map((out, i) => {
    const listener = authz?.listeners[i];
    if (listener) last.irs[i] = { ...last.irs[i]!, listener };
    return patchWaypoint(out, last.irs[i]!, { rebuilt, services, index, memo, listener });
  });
  const output: TranslationOutput = { ...last.output, waypoints, statuses };
  last.context = { ...last.context, index };
  last.output = output;
  if (input.journal) last.generation = input.journal.generation;
  memo.incremental++;
  return output;
}

/** One waypoint's output with its rebuilt route configurations and the changed services' endpoints. */
function patchWaypoint(
  out: WaypointOutput,
  ir: WaypointIR,
  p: {
    rebuilt: ReadonlyMap<RouteConfigIR, RebuiltConfig>;
    services: ReadonlySet<string>;
    index: ObjectIndex;
    memo: TranslationMemo;
    /** The waypoint's listener, when the authorization stage ran again. */
    listener?: ListenerIR | undefined;
  },
): WaypointOutput {
  let resources = out.resources;
  if (p.listener) {
    const json = emitListener(p.listener);
    resources = { ...resources, [TypeUrl.listener]: [resource(String(json.name), json)] };
  }
  const routes = new Map<string, RouteConfigurationJson>();
  for (const [j, rc] of ir.routeConfigs.entries()) {
    const next = p.rebuilt.get(rc);
    if (!next) continue;
    ir.routeConfigs[j] = next.rc;
    routes.set(rc.name, next.json);
    const { cluster, gatewayRoutes, serviceRoutes } = next.rc;
    p.memo.setRouteConfig(
      rc.name,
      () => p.memo.routeConfigKey(cluster, gatewayRoutes, serviceRoutes),
      next.unfilled,
    );
  }
  const endpoints = new Map<string, ReturnType<typeof emitLoadAssignment>>();
  if (p.services.size)
    for (const t of ir.clusters)
      if (p.services.has(serviceKey(t.service))) endpoints.set(t.cluster, emitLoadAssignment(t, p.index));
  /** The resources of one type with those named in `json` replaced. */
  const replaced = (
    type: TypeUrl,
    json: ReadonlyMap<string, RouteConfigurationJson | ReturnType<typeof emitLoadAssignment>>,
  ) =>
    resources[type].map((r) => {
      const j = json.get(r.name);
      return j ? resource(r.name, j) : r;
    });
  if (routes.size) resources = { ...resources, [TypeUrl.route]: replaced(TypeUrl.route, routes) };
  if (endpoints.size) resources = { ...resources, [TypeUrl.endpoint]: replaced(TypeUrl.endpoint, endpoints) };
  return resources === out.resources ? out : { ...out, resources };
}
