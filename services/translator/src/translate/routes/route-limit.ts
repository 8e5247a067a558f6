// The per-waypoint route limit: which routes are beyond it. Pure. Routes are counted per waypoint,
// once each however many of their parents belong to it, oldest first (creationTimestamp, then
// namespace and name); the newest beyond the limit are not programmed into that waypoint, and their
// parents there are not accepted. Routes already programmed are never displaced by a newer one.
import { compareStrings } from "../input/guards.ts";
import { MAX_ROUTES_ENV } from "../limits.ts";
import type { CompiledRoute } from "./compile.ts";
import type { ParentOutcome, Rejection } from "./parents.ts";
import { parseTimestamp } from "./precedence.ts";

/** For each route over a limit: waypoint key → why it is not accepted there. */
export type OverLimit = Map<CompiledRoute, Map<string, Rejection>>;

export function routesOverLimit(
  works: ReadonlyArray<{ compiled: CompiledRoute; parents: readonly ParentOutcome[] }>,
  max: number,
): OverLimit {
  const perWaypoint = new Map<string, { label: string; routes: CompiledRoute[] }>();
  for (const { compiled, parents } of works) {
    for (const p of parents) {
      if (p.rejected || !p.waypoint) continue;
      let entry = perWaypoint.get(p.waypoint.key);
      if (!entry) {
        entry = { label: `${p.waypoint.ref.namespace}/${p.waypoint.ref.name}`, routes: [] };
        perWaypoint.set(p.waypoint.key, entry);
      }
      if (entry.routes.at(-1) !== compiled) entry.routes.push(compiled);
    }
  }
  const over: OverLimit = new Map();
  for (const [key, { label, routes }] of perWaypoint) {
    if (routes.length <= max) continue;
    const created = new Map(routes.map((r) => [r, parseTimestamp(r.route.metadata.creationTimestamp)]));
    routes.sort((a, b) => {
      const ta = created.get(a) ?? Number.POSITIVE_INFINITY;
      const tb = created.get(b) ?? Number.POSITIVE_INFINITY;
      return (
        (ta === tb ? 0 : ta < tb ? -1 : 1) ||
        compareStrings(a.namespace, b.namespace) ||
        compareStrings(a.name, b.name)
      );
    });
    const rejection: Rejection = {
      reason: "UnsupportedValue",
      message:
        `Not programmed: waypoint ${label} has more HTTPRoutes than its limit of ${max}, and this ` +
        `route is among the newest (by creationTimestamp, then namespace and name). Remove routes, or raise ` +
        `the limit with the translator's ${MAX_ROUTES_ENV}`,
    };
    for (const r of routes.slice(max)) {
      const m = over.get(r) ?? new Map<string, Rejection>();
      m.set(key, rejection);
      over.set(r, m);
    }
  }
  return over;
}

/** The parent outcome with the limit applied: not accepted when its waypoint's limit excludes the route. */
export function withLimit(p: ParentOutcome, over: ReadonlyMap<string, Rejection>): ParentOutcome {
  if (p.rejected || !p.waypoint) return p;
  const rejected = over.get(p.waypoint.key);
  return rejected ? { ...p, rejected } : p;
}
