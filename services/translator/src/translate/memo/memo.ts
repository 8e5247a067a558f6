// What one translation can reuse from the previous one. translate() stays a pure function of its
// input: with or without a memo it returns equal output; the memo only skips recomputing parts whose
// inputs are the very same objects as last time.
//
// Route churn is the hot path (thousands of routes on one waypoint, one route changes). Everything a
// compiled route, its parents and its status depend on, other than the route itself, is the "world":
// every object except HTTPRoutes, EndpointSlices (endpoints only feed load assignments, which are
// rebuilt every time) and Istio AuthorizationPolicies and RequestAuthentications (only the
// authorization stage reads them; it runs every time). While the world keeps its identity, a route object seen before gets back its
// compiled form, parents and status; any change to the world drops them all.
//
// The memo also keeps the last translation whole (`last`), for incremental.ts: a change to routes that
// keep their attachment, a route created or deleted on Service parents, a change to EndpointSlices, or
// to route-level TrafficPolicies, patches the last IR and output instead. The stages see the memo only through RouteCache (routes/stage.ts) and
// RouteConfigCache (xds/emit.ts).
import type { KubeObject, TrafficPolicy } from "@waymark/api";
import type { RouteConfigurationJson } from "@waymark/envoy-proto";
import { isRecord, stringMap } from "../input/guards.ts";
import type { WaypointIR } from "../ir/types.ts";
import { readTargets, targetMatches } from "../policies/attachment.ts";
import type { PolicyTranslation } from "../policies/translation.ts";
import type { CompiledRoute } from "../routes/compile.ts";
import type { CompiledRoutes, RouteCache, RouteWork } from "../routes/stage.ts";
import type { TranslationOutput, TranslatorSettings } from "../types.ts";
import type { Waypoints } from "../waypoints/stage.ts";
import type { RouteConfigCache } from "../xds/emit.ts";

/** What translate() keeps of its last translation, for incremental.ts. */
export interface LastTranslation {
  /** A copy of the input's objects. */
  objects: Map<string, KubeObject>;
  /** The input's journal generation, when it had a journal: `objects` are the objects at it. */
  generation?: number;
  settings: TranslatorSettings;
  /** The waypoints stage's result (also the context parentRefs are resolved in). */
  context: Waypoints;
  /** Per waypoint output, its IR, in the same order. */
  irs: WaypointIR[];
  output: TranslationOutput;
  policies: PolicyTranslation;
  /** False when a change to a route can change more than it (see incremental.ts). */
  routeOnly: boolean;
  /** Waypoint key → the routes attached to it (the Gateway's attachedRoutes, and the route limit). */
  attached: Map<string, Set<string>>;
}

const ROUTE_KEY = /^gateway_networking_k8s_io\.HTTPRoute\./;
const SLICE_KEY = /^discovery_k8s_io\.EndpointSlice\./;
/** Istio security policies: only the authorization stage reads them, never a route's work. */
const ISTIO_KEY = /^security_istio_io\.(AuthorizationPolicy|RequestAuthentication)\./;
/** A TrafficPolicy as indexObjects() could list it (anything else in the world: no reuse). */
function isTrafficPolicy(o: unknown): o is TrafficPolicy {
  return (
    isRecord(o) &&
    o.kind === "TrafficPolicy" &&
    typeof o.apiVersion === "string" &&
    o.apiVersion.startsWith("gateway.kgateway.dev/") &&
    isRecord(o.metadata) &&
    typeof o.metadata.name === "string"
  );
}
const outsideWorld = (key: string) => ROUTE_KEY.test(key) || SLICE_KEY.test(key) || ISTIO_KEY.test(key);

export class TranslationMemo implements RouteCache, RouteConfigCache {
  #world = new Map<string, KubeObject>();
  #settings: unknown;
  #routes = new WeakMap<KubeObject, RouteWork>();
  #ids = new WeakMap<CompiledRoute, number>();
  #nextId = 1;
  /** Name → the route configuration built last under that name, and its key (computed when needed). */
  #routeConfigs = new Map<string, { key: string | (() => string); json: RouteConfigurationJson }>();
  #usedRouteConfigs = new Set<string>();
  /** The last translation, kept by translate() (undefined until the first, or after a failed one). */
  last: LastTranslation | undefined;
  /** How many translations incremental.ts answered. */
  incremental = 0;

  /** Starts a translation: keeps the per-route work only if the world is the same objects as before. */
  begin(objects: ReadonlyMap<string, KubeObject>, settings: unknown): void {
    this.last = undefined; // until this translation completes
    this.#usedRouteConfigs.clear();
    let same = settings === this.#settings;
    let count = 0;
    if (same) {
      for (const [key, o] of objects) {
        if (outsideWorld(key)) continue;
        count++;
        if (this.#world.get(key) !== o) {
          same = false;
          break;
        }
      }
      same &&= count === this.#world.size;
    }
    if (same) return;
    if (settings === this.#settings && this.#keepAcrossPolicies(objects)) return;
    this.#settings = settings;
    this.#world = new Map();
    for (const [key, o] of objects) if (!outsideWorld(key)) this.#world.set(key, o);
    this.#routes = new WeakMap();
    this.#routeConfigs.clear();
  }

  /**
   * When the world differs only in TrafficPolicies (edited, added or removed): forgets the work of
   * the routes any of them names or selects, before or after (a policy edits its routes' entries in
   * place, policies/translation.ts route()), keeps every other route's work and the route
   * configurations, and takes the new world. A route no changed policy targets is compiled and
   * edited as before: the unchanged policies edit it the same way again. False (nothing done) when
   * anything else in the world changed.
   */
  #keepAcrossPolicies(objects: ReadonlyMap<string, KubeObject>): boolean {
    const changed: TrafficPolicy[] = [];
    for (const [key, o] of objects) {
      if (outsideWorld(key)) continue;
      const before = this.#world.get(key);
      if (before === o) continue;
      if (!isTrafficPolicy(o) || (before !== undefined && !isTrafficPolicy(before))) return false;
      changed.push(o);
      if (before) changed.push(before);
    }
    // A world object gone: only TrafficPolicies may be.
    for (const [key, before] of this.#world) {
      if (objects.has(key)) continue;
      if (!isTrafficPolicy(before)) return false;
      changed.push(before);
    }
    const targets = changed.map((p) => ({ namespace: p.metadata.namespace, targets: readTargets(p, []) }));
    for (const o of objects.values()) {
      if (!isRecord(o) || !isRecord(o.metadata) || typeof o.metadata.name !== "string") continue;
      const kind = o.kind === "HTTPRoute" ? "HTTPRoute" : o.kind === "GRPCRoute" ? "GRPCRoute" : undefined;
      if (!kind) continue;
      const labels = stringMap(o.metadata.labels);
      const name = o.metadata.name;
      if (
        targets.some(
          (p) =>
            p.namespace === o.metadata.namespace &&
            p.targets.some((t) => targetMatches(t, kind, name, labels)),
        )
      )
        this.#routes.delete(o);
    }
    this.#world = new Map();
    for (const [key, o] of objects) if (!outsideWorld(key)) this.#world.set(key, o);
    return true;
  }

  /**
   * After the incremental path: the world takes the objects at `keys` (there, only TrafficPolicies
   * are in it), so that a later whole translation forgets the work of the routes they name or select
   * when they change again, as it would have after a whole translation (the incremental path leaves
   * every route's work as those policies edit it).
   */
  keepWorld(keys: readonly string[], objects: ReadonlyMap<string, KubeObject>): void {
    for (const key of keys) {
      if (outsideWorld(key)) continue;
      const o = objects.get(key);
      if (o) this.#world.set(key, o);
      else this.#world.delete(key);
    }
  }

  route(route: KubeObject): RouteWork | undefined {
    return this.#routes.get(route);
  }

  rememberRoute(route: KubeObject, work: RouteWork): void {
    this.#routes.set(route, work);
  }

  /** A number naming one compiled route for as long as it is reused. */
  idOf(route: CompiledRoute): number {
    let id = this.#ids.get(route);
    if (id === undefined) {
      id = this.#nextId++;
      this.#ids.set(route, id);
    }
    return id;
  }

  /** What makes a route configuration: its fallback cluster and its routes, in order. */
  routeConfigKey(
    cluster: string,
    gatewayRoutes: readonly CompiledRoute[],
    serviceRoutes: readonly CompiledRoute[],
  ): string {
    const ids = (rs: readonly CompiledRoute[]) => rs.map((r) => this.idOf(r)).join(",");
    return `${cluster}|${ids(gatewayRoutes)}|${ids(serviceRoutes)}`;
  }

  /** Replaces the route configuration remembered under `name` (incremental.ts rebuilt it). */
  setRouteConfig(name: string, key: () => string, json: RouteConfigurationJson): void {
    this.#routeConfigs.set(name, { key, json });
  }

  /** The route configuration built last time under the same name and key, else a new one. */
  routeConfig(name: string, key: string, build: () => RouteConfigurationJson): RouteConfigurationJson {
    this.#usedRouteConfigs.add(name);
    const seen = this.#routeConfigs.get(name);
    if (seen && typeof seen.key === "function") seen.key = seen.key();
    if (seen?.key === key) return seen.json;
    const json = build();
    this.#routeConfigs.set(name, { key, json });
    return json;
  }

  /** Ends a translation: forgets route configurations it did not use, keeps the translation whole. */
  end(
    t: Omit<LastTranslation, "objects" | "routeOnly" | "attached"> & {
      objects: ReadonlyMap<string, KubeObject>;
      routes: CompiledRoutes;
    },
  ): void {
    for (const name of this.#routeConfigs.keys())
      if (!this.#usedRouteConfigs.has(name)) this.#routeConfigs.delete(name);
    this.#usedRouteConfigs.clear();
    const { routes, ...rest } = t;
    // With a GRPCRoute, an HTTPRoute's status can depend on it (routes/grpc.ts grpcConflicts).
    const routeOnly = routes.overLimit.size === 0 && !routes.anyGrpc;
    this.last = { ...rest, objects: new Map(t.objects), routeOnly, attached: routes.attached };
  }
}
