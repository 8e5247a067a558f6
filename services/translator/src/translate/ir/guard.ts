// The guard: a route table never runs without the security filters it was written for.
//
// Envoy keeps a connection on the filters it was opened with: when a chain's filters change (a first
// AuthorizationPolicy, a TrafficPolicy naming a GatewayExtension that had no filter yet), the
// connections opened before drain on the old connection manager. But the route table is shared by
// name, so those connections get the new one, whose per-route config turns on filters they do not
// have; Envoy ignores config for a filter that is not there, and such a request would go unchecked.
//
// So every HTTP chain starts with two filters of its own, present from its first version on:
//   - `waymark.guard.filters` (set_metadata) writes the names of the chain's security filters into
//     the request's dynamic metadata: it is the connection manager's own list, old or new;
//   - `waymark.guard` (rbac, no rules: it allows everything by itself).
// The route table's virtual host holds the guard's per-route config: deny unless every security
// filter of the chain it was written for is in that list. A connection from before the change is
// refused with 403 (and, as the waypoint drains immediately, closed after that answer); a
// connection on the current filters passes. Names only: a filter whose config changed is still
// there, and its new config reaches new connections as Envoy drains the old ones.
//
// Which filters count: those in the slots below, where a skipped filter would let a request through
// that it refuses (authentication, authorization, external checks and processing).
import type {
  HttpFilterJson,
  HttpRbacJson,
  HttpRbacPerRouteJson,
  SetMetadataJson,
} from "@waymark/envoy-proto";
import { pack } from "./any.ts";
import type { HttpFilterSlot } from "./filter-order.ts";
import type { ChainIR, PerFilterConfig, WaypointIR } from "./types.ts";

export const GUARD_FILTERS_NAME = "waymark.guard.filters";
export const GUARD_NAME = "waymark.guard";
/** The dynamic metadata namespace the list is written to (nothing else writes to it). */
const NAMESPACE = "waymark.guard";

const GUARDED_SLOTS: ReadonlySet<HttpFilterSlot> = new Set<HttpFilterSlot>([
  "authentication",
  "authorization",
  "oauth2",
  "basicAuth",
  "apiKeyAuth",
  "jwtAuth",
  "extAuth",
  "acl",
  "rbac",
  "extProc",
]);

const RBAC = "envoy.extensions.filters.http.rbac.v3.RBAC";
const RBAC_PER_ROUTE = "envoy.extensions.filters.http.rbac.v3.RBACPerRoute";

/** The names of a chain's security filters, sorted (the guard's filters excluded). */
export function guardedFilterNames(chain: ChainIR): string[] {
  return [
    ...new Set(chain.httpFilters.filter((f) => GUARDED_SLOTS.has(f.slot)).map((f) => String(f.filter.name))),
  ].sort();
}

function listFilter(names: readonly string[]): HttpFilterJson {
  const config: SetMetadataJson = {
    metadata: [{ metadataNamespace: NAMESPACE, value: Object.fromEntries(names.map((n) => [n, true])) }],
  };
  return {
    name: GUARD_FILTERS_NAME,
    typedConfig: pack("envoy.extensions.filters.http.set_metadata.v3.Config", config),
  };
}

function guardFilter(): HttpFilterJson {
  // No rules: the filter enforces nothing until a virtual host's per-route config gives it some.
  const config: HttpRbacJson = { rulesStatPrefix: "waymark_guard." };
  return { name: GUARD_NAME, typedConfig: pack(RBAC, config) };
}

/** The virtual host's guard: deny a request on a connection manager that lacks one of `names`. */
export function guardPerRoute(names: readonly string[]): PerFilterConfig {
  const perRoute: HttpRbacPerRouteJson = {
    rbac: {
      rules: {
        action: "DENY",
        policies: {
          "waymark-missing-filter": {
            permissions: [
              {
                orRules: {
                  rules: names.map((n) => ({
                    notRule: {
                      metadata: {
                        filter: NAMESPACE,
                        path: [{ key: n }],
                        value: { boolMatch: true },
                      },
                    },
                  })),
                },
              },
            ],
            principals: [{ any: true }],
          },
        },
      },
    },
  };
  return { [GUARD_NAME]: pack(RBAC_PER_ROUTE, perRoute) };
}

/**
 * Puts the guard on every HTTP chain of the waypoint and its per-route config on the chain's route
 * configuration (named like it). Call after every stage that places filters.
 */
export function guardWaypoint(ir: WaypointIR): void {
  const byName = new Map(ir.routeConfigs.map((rc) => [rc.name, rc]));
  for (const chain of ir.listener?.chains ?? []) {
    if (chain.kind !== "http") continue;
    const names = guardedFilterNames(chain);
    chain.httpFilters.push(
      { slot: "guardFilters", filter: listFilter(names) },
      { slot: "guard", filter: guardFilter() },
    );
    const rc = byName.get(chain.name);
    if (!rc || names.length === 0) continue;
    // A copy: the virtual host config of Gateway-level policies is one object for every chain.
    rc.virtualHostConfig = { ...rc.virtualHostConfig, ...guardPerRoute(names) };
  }
}
