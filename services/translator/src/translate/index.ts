// The pure translation: source objects in, per-waypoint xDS resources and the status of every object
// of ours out. No clock, no randomness, no I/O; the same input always gives the same output. Bad
// user input never throws: it becomes a status condition and the object (or its bad part) is skipped.
import { type ObjectRef, objectKey, refOf } from "@waymark/api";
import { enrol } from "./enrolment.ts";
import { ourWaypoints, type WaypointInfo, waypointClassIsOurs } from "./gateways.ts";
import { compareStrings, int } from "./guards.ts";
import { indexObjects, nsName } from "./objects.ts";
import { resolveParents } from "./parents.ts";
import { type CompiledRoute, compileRoute } from "./routes.ts";
import { gatewayClassStatus, gatewayStatus, routeStatus } from "./status.ts";
import type { ObjectStatus, TranslationInput, TranslationOutput, TranslatorSettings } from "./types.ts";
import { buildWaypoint } from "./waypoint.ts";

export * from "./types.ts";

export function translate(input: TranslationInput, settings: TranslatorSettings): TranslationOutput {
  const index = indexObjects(input.objects);
  const statuses: ObjectStatus[] = [];

  const cls = index.gatewayClasses.get(settings.waypointClassName);
  if (cls && waypointClassIsOurs(index, settings)) {
    const generation = int(cls.metadata.generation);
    statuses.push({ ref: refOf(cls), generation, status: gatewayClassStatus(generation) });
  }

  const waypoints = ourWaypoints(index, settings);
  const waypointByKey = new Map(waypoints.map((w) => [w.key, w]));
  const enrolment = enrol(index, waypoints);

  const gatewayRoutes = new Map<string, CompiledRoute[]>(waypoints.map((w) => [w.key, []]));
  const serviceRoutes = new Map<string, CompiledRoute[]>();
  const attached = new Map<string, Set<string>>(waypoints.map((w) => [w.key, new Set()]));

  for (const route of index.httpRoutes) {
    const compiled = compileRoute(route, index);
    const parents = resolveParents(compiled, { index, waypoints: waypointByKey, enrolment });
    if (parents.length === 0) continue;
    const routeKey = nsName(compiled.namespace, compiled.name);
    for (const p of parents) {
      if (p.rejected || !p.waypoint) continue;
      attached.get(p.waypoint.key)?.add(routeKey);
      if (p.kind === "Gateway") {
        const list = gatewayRoutes.get(p.waypoint.key);
        if (list && !list.includes(compiled)) list.push(compiled);
      } else if (p.service) {
        const key = nsName(p.service.namespace, p.service.name);
        const list = serviceRoutes.get(key) ?? [];
        if (!list.includes(compiled)) list.push(compiled);
        serviceRoutes.set(key, list);
      }
    }
    statuses.push({
      ref: refOf(route),
      generation: compiled.generation,
      status: routeStatus(compiled, parents, settings),
    });
  }

  const outputs = waypoints.map((w: WaypointInfo) => {
    const addressService = index.service(w.ref.namespace, w.ref.name);
    statuses.push({
      ref: refOf(w.gateway),
      generation: w.generation,
      status: gatewayStatus(w, attached.get(w.key)?.size ?? 0, addressService),
    });
    return buildWaypoint(
      w,
      enrolment.servicesOf.get(w.key) ?? [],
      { gatewayRoutes: gatewayRoutes.get(w.key) ?? [], serviceRoutes },
      index,
      settings,
    );
  });

  const keyOf = (r: ObjectRef) => objectKey(r);
  statuses.sort((a, b) => compareStrings(keyOf(a.ref), keyOf(b.ref)));
  for (const s of statuses) if (s.generation === undefined) delete s.generation;
  return { waypoints: outputs, statuses };
}
