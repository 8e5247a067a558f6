// The pure translation: source objects in, per-waypoint xDS resources and the status of every object
// of ours out. No clock, no randomness, no I/O; the same input always gives the same output. Bad
// user input never throws: it becomes a status condition and the object (or its bad part) is skipped.
import { objectKey, refOf } from "@waymark/api";
import { waypointInfra } from "../infra/objects.ts";
import { compareStrings, int } from "./input/guards.ts";
import { indexObjects, nsName } from "./input/objects.ts";
import { DEFAULT_MAX_ROUTES_PER_WAYPOINT } from "./limits.ts";
import { fillServicePorts, translateIncrementally, type WaypointRecord } from "./memo/incremental.ts";
import type { TranslationMemo } from "./memo/memo.ts";
import { PolicyTranslation } from "./policies/index.ts";
import { type CompiledRoute, compileRoute } from "./routes/compile.ts";
import { type ParentContext, resolveParents } from "./routes/parents.ts";
import { routesOverLimit, withLimit } from "./routes/route-limit.ts";
import { gatewayClassStatus, gatewayStatus, routeStatus } from "./status/status.ts";
import type { ObjectStatus, TranslationInput, TranslationOutput, TranslatorSettings } from "./types.ts";
import { enrol } from "./waypoints/enrolment.ts";
import { ourWaypoints, type WaypointInfo, waypointClassIsOurs } from "./waypoints/gateways.ts";
import { buildWaypoint } from "./xds/waypoint.ts";

export { TranslationMemo } from "./memo/memo.ts";
export * from "./types.ts";

/**
 * Translates every object. A memo (kept by the caller between calls) lets a translation reuse the
 * work of the previous one for objects that did not change; the output is the same with or without.
 */
export function translate(
  input: TranslationInput,
  settings: TranslatorSettings,
  memo?: TranslationMemo,
): TranslationOutput {
  if (memo) {
    const patched = translateIncrementally(input, settings, memo);
    if (patched) return patched;
    memo.last = undefined; // until this translation completes
  }
  memo?.begin(input.objects, settings);
  const index = indexObjects(input.objects);
  const policies = new PolicyTranslation(index, settings);
  const statuses: ObjectStatus[] = [];

  const cls = index.gatewayClasses.get(settings.waypointClassName);
  if (cls && waypointClassIsOurs(index, settings)) {
    const generation = int(cls.metadata.generation);
    statuses.push({ ref: refOf(cls), generation, status: gatewayClassStatus(generation) });
  }

  const waypoints = ourWaypoints(index, settings);
  const waypointByKey = new Map(waypoints.map((w) => [w.key, w]));
  const enrolment = enrol(index, waypoints);
  const context: ParentContext = { index, waypoints: waypointByKey, enrolment };

  const gatewayRoutes = new Map<string, CompiledRoute[]>(waypoints.map((w) => [w.key, []]));
  const serviceRoutes = new Map<string, CompiledRoute[]>();
  const attached = new Map<string, Set<string>>(waypoints.map((w) => [w.key, new Set()]));
  /** Services some route applies to on selected ports only (the others: every route, every port). */
  const portRestricted = new Set<string>();
  /** Statuses with their objectKey (routes' keys are kept in their work). */
  const keyed: Array<{ key: string; s: ObjectStatus }> = [];

  const works = index.httpRoutes.map((route) => {
    let work = memo?.route(route);
    if (!work) {
      const compiled = compileRoute(route, index);
      const parents = resolveParents(compiled, context);
      work = { compiled, parents, status: undefined };
      memo?.rememberRoute(route, work);
    }
    return { route, work };
  });
  // Routes beyond a waypoint's limit: for each, the waypoints whose limit it is over.
  const overLimit = routesOverLimit(
    works.map((w) => w.work),
    settings.maxRoutesPerWaypoint ?? DEFAULT_MAX_ROUTES_PER_WAYPOINT,
  );

  for (const { route, work } of works) {
    const { compiled } = work;
    const over = overLimit.get(compiled);
    // Not cached: whether a route is over the limit depends on the other routes.
    const parents = over ? work.parents.map((p) => withLimit(p, over)) : work.parents;
    policies.route(compiled);
    if (parents.length === 0) continue;
    // The ports each Service parent selects follow from the parents alone: kept while they are the same.
    if (work.portsFrom !== parents) fillServicePorts(work, parents);
    work.name ??= nsName(compiled.namespace, compiled.name);
    const routeKey = work.name;
    for (const p of parents) {
      if (p.rejected || !p.waypoint) continue;
      attached.get(p.waypoint.key)?.add(routeKey);
      policies.attached(compiled, p.waypoint);
      if (p.kind === "Gateway") {
        // A route is only ever appended while it is the one being processed, so a duplicate (two
        // parentRefs to one parent) can only be the last element: no need to scan the list.
        const list = gatewayRoutes.get(p.waypoint.key);
        if (list && list.at(-1) !== compiled) list.push(compiled);
      } else if (p.service) {
        const key = nsName(p.service.namespace, p.service.name);
        const list = serviceRoutes.get(key) ?? [];
        if (list.at(-1) !== compiled) list.push(compiled);
        serviceRoutes.set(key, list);
      }
    }
    for (const key of work.restricted ?? []) portRestricted.add(key);
    let status: Record<string, unknown>;
    if (over) status = routeStatus(compiled, parents, settings);
    else {
      work.status ??= routeStatus(compiled, parents, settings);
      status = work.status;
    }
    work.ref ??= refOf(route);
    work.key ??= objectKey(work.ref);
    keyed.push({ key: work.key, s: { ref: work.ref, generation: compiled.generation, status } });
  }

  const records: WaypointRecord[] = [];
  const outputs = waypoints.map((w: WaypointInfo) => {
    const addressService = index.service(w.ref.namespace, w.ref.name);
    statuses.push({
      ref: refOf(w.gateway),
      generation: w.generation,
      status: gatewayStatus(w, attached.get(w.key)?.size ?? 0, addressService),
    });
    const record: WaypointRecord = { plans: [], targets: [] };
    records.push(record);
    const output = buildWaypoint(
      w,
      enrolment.servicesOf.get(w.key) ?? [],
      { gatewayRoutes: gatewayRoutes.get(w.key) ?? [], serviceRoutes, portRestricted },
      index,
      settings,
      memo,
      record,
    );
    policies.waypoint(w, output);
    return output;
  });

  for (const s of policies.statuses()) statuses.push(s);
  // Sorted by object key, each key computed once.
  for (const s of statuses) keyed.push({ key: objectKey(s.ref), s });
  const sorted = keyed.sort((a, b) => compareStrings(a.key, b.key)).map((k) => k.s);
  for (const s of sorted) if (s.generation === undefined) delete s.generation;
  const output: TranslationOutput = { waypoints: outputs, statuses: sorted };
  const infraSettings = settings.infra;
  if (infraSettings) {
    output.infra = waypoints.map((w) => ({
      waypoint: w.ref,
      objects: waypointInfra(
        {
          gateway: w.gateway,
          ref: w.ref,
          className: settings.waypointClassName,
          listenerPorts: w.listeners
            .filter((l) => l.invalid === undefined && l.port !== undefined)
            .map((l) => l.port as number),
        },
        infraSettings,
      ),
    }));
  }
  if (memo) {
    memo.end();
    memo.last = {
      objects: new Map(input.objects),
      settings,
      context,
      records,
      output,
      policies,
      routeOnly: overLimit.size === 0,
    };
  }
  return output;
}
