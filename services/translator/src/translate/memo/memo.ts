// What one translation can reuse from the previous one. translate() stays a pure function of its
// input: with or without a memo it returns equal output; the memo only skips recomputing parts whose
// inputs are the very same objects as last time.
//
// Route churn is the hot path (thousands of routes on one waypoint, one route changes). Everything a
// compiled route, its parents and its status depend on, other than the route itself, is the "world":
// every object except HTTPRoutes and EndpointSlices (endpoints only feed load assignments, which are
// rebuilt every time). While the world keeps its identity, a route object seen before gets back its
// compiled form, parents and status; any change to the world drops them all.
//
// The memo also keeps the last translation whole (`last`), for incremental.ts: a change to routes that
// keep their attachment, or to EndpointSlices, patches the last output instead.
import type { KubeObject, ObjectRef } from "@waymark/api";
import type { JsonObject } from "@waymark/envoy-proto";
import type { BackendTarget } from "../routes/backends.ts";
import type { CompiledRoute } from "../routes/compile.ts";
import type { ParentOutcome } from "../routes/parents.ts";
import type { LastTranslation } from "./incremental.ts";

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

/** A route configuration and the backends its routes send to. */
export interface BuiltRouteConfig {
  json: JsonObject;
  targets: readonly BackendTarget[];
}

const ROUTE_KEY = /^gateway_networking_k8s_io\.HTTPRoute\./;
const SLICE_KEY = /^discovery_k8s_io\.EndpointSlice\./;

export class TranslationMemo {
  #world = new Map<string, KubeObject>();
  #settings: unknown;
  #routes = new WeakMap<KubeObject, RouteWork>();
  #ids = new WeakMap<CompiledRoute, number>();
  #nextId = 1;
  /** Name → the route configuration built last under that name, and its key (computed when needed). */
  #routeConfigs = new Map<string, { key: string | (() => string); built: BuiltRouteConfig }>();
  #usedRouteConfigs = new Set<string>();
  /** The last translation, kept by translate() (undefined until the first, or after a failed one). */
  last: LastTranslation | undefined;
  /** How many translations incremental.ts answered. */
  incremental = 0;

  /** Starts a translation: keeps the per-route work only if the world is the same objects as before. */
  begin(objects: ReadonlyMap<string, KubeObject>, settings: unknown): void {
    this.#usedRouteConfigs.clear();
    let same = settings === this.#settings;
    let count = 0;
    if (same) {
      for (const [key, o] of objects) {
        if (ROUTE_KEY.test(key) || SLICE_KEY.test(key)) continue;
        count++;
        if (this.#world.get(key) !== o) {
          same = false;
          break;
        }
      }
      same &&= count === this.#world.size;
    }
    if (same) return;
    this.#settings = settings;
    this.#world = new Map();
    for (const [key, o] of objects) if (!ROUTE_KEY.test(key) && !SLICE_KEY.test(key)) this.#world.set(key, o);
    this.#routes = new WeakMap();
    this.#routeConfigs.clear();
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
  setRouteConfig(name: string, key: () => string, built: BuiltRouteConfig): void {
    this.#routeConfigs.set(name, { key, built });
  }

  /** The route configuration built last time under the same name and key, else a new one. */
  routeConfig(name: string, key: string, build: () => BuiltRouteConfig): BuiltRouteConfig {
    this.#usedRouteConfigs.add(name);
    const seen = this.#routeConfigs.get(name);
    if (seen && typeof seen.key === "function") seen.key = seen.key();
    if (seen?.key === key) return seen.built;
    const built = build();
    this.#routeConfigs.set(name, { key, built });
    return built;
  }

  /** Ends a translation: forgets route configurations it did not use. */
  end(): void {
    for (const name of this.#routeConfigs.keys())
      if (!this.#usedRouteConfigs.has(name)) this.#routeConfigs.delete(name);
    this.#usedRouteConfigs.clear();
  }
}
