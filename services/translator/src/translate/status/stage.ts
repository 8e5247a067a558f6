// Stage 7: the status of every object of ours that the translation considered: our GatewayClass, each
// waypoint Gateway, each HTTPRoute with a parent of ours, and each TrafficPolicy with an ancestor
// (computed by the policies stage). Sorted by object key.
import { objectKey, refOf } from "@waymark/api";
import { compareStrings, int } from "../input/guards.ts";
import type { ObjectIndex } from "../input/objects.ts";
import type { CompiledRoutes } from "../routes/stage.ts";
import type { ObjectStatus, TranslatorSettings } from "../types.ts";
import { waypointClassIsOurs } from "../waypoints/gateways.ts";
import type { Waypoints } from "../waypoints/stage.ts";
import { gatewayClassStatus, gatewayStatus, routeStatus } from "./status.ts";

export function collectStatuses(
  index: ObjectIndex,
  settings: TranslatorSettings,
  waypoints: Waypoints,
  routes: CompiledRoutes,
  policyStatuses: readonly ObjectStatus[],
): ObjectStatus[] {
  /** Statuses with their objectKey (routes' keys are kept in their work). */
  const keyed: Array<{ key: string; s: ObjectStatus }> = [];
  const add = (s: ObjectStatus) => keyed.push({ key: objectKey(s.ref), s });

  const cls = index.gatewayClasses.get(settings.waypointClassName);
  if (cls && waypointClassIsOurs(index, settings)) {
    const generation = int(cls.metadata.generation);
    add({ ref: refOf(cls), generation, status: gatewayClassStatus(generation) });
  }
  for (const { route, work, parents, over, conflicted } of routes.all) {
    if (parents.length === 0) continue;
    const { compiled } = work;
    let status: Record<string, unknown>;
    // Not cached when over a limit or conflicted: that depends on the other routes.
    if (over || conflicted) status = routeStatus(compiled, parents, settings);
    else {
      work.status ??= routeStatus(compiled, parents, settings);
      status = work.status;
    }
    work.ref ??= refOf(route);
    work.key ??= objectKey(work.ref);
    keyed.push({ key: work.key, s: { ref: work.ref, generation: compiled.generation, status } });
  }
  for (const w of waypoints.list) {
    const addressService = index.service(w.ref.namespace, w.ref.name);
    add({
      ref: refOf(w.gateway),
      generation: w.generation,
      status: gatewayStatus(w, routes.attached.get(w.key)?.size ?? 0, addressService),
    });
  }
  for (const s of policyStatuses) add(s);
  const sorted = keyed.sort((a, b) => compareStrings(a.key, b.key)).map((k) => k.s);
  for (const s of sorted) if (s.generation === undefined) delete s.generation;
  return sorted;
}
