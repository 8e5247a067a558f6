// The pure translation: source objects in, per-waypoint xDS resources and the status of every object
// of ours out. No clock, no randomness, no I/O; the same input always gives the same output. Bad
// user input never throws: it becomes a status condition and the object (or its bad part) is skipped.
//
// translate() runs the stages in order, one folder each:
//   input/      index the input objects (read once, defensively)
//   waypoints/  find our waypoints and the services enrolled in each
//   routes/     compile every route, resolve its parents, apply the route limit (routes/tcp/: TCPRoute, TLSRoute)
//   policies/   attach the TrafficPolicies to routes (then fill the IR's policy slots)
//   ir/         build a typed IR per waypoint: listener, chains, route configurations, clusters
//   authorization/  Istio AuthorizationPolicy and RequestAuthentication bound to each chain
//   ir/guard.ts  the guard on each HTTP chain: no route table runs without its security filters
//   xds/        emit the xDS resources from the IR
//   status/     the status of every object considered
// The memo and the incremental path (memo/) sit beside the stages: they only hand back earlier work.
import { waypointInfra } from "../infra/objects.ts";
import { bindAuthorization } from "./authorization/stage.ts";
import { indexObjects } from "./input/objects.ts";
import { guardWaypoint } from "./ir/guard.ts";
import { buildWaypointIR } from "./ir/waypoint.ts";
import { translateIncrementally } from "./memo/incremental.ts";
import type { TranslationMemo } from "./memo/memo.ts";
import { attachPolicies } from "./policies/stage.ts";
import { compileRoutes } from "./routes/stage.ts";
import { applyStreamRoutes } from "./routes/tcp/ir.ts";
import { compileStreamRoutes, streamRouteStatuses } from "./routes/tcp/stage.ts";
import { collectStatuses } from "./status/stage.ts";
import type { TranslationInput, TranslationOutput, TranslatorSettings, WaypointInfra } from "./types.ts";
import { findWaypoints, type Waypoints } from "./waypoints/stage.ts";
import { emitWaypoint } from "./xds/emit.ts";

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
  const patched = memo && translateIncrementally(input, settings, memo);
  if (patched) return patched;
  memo?.begin(input.objects, settings);

  const index = indexObjects(input.objects);
  const waypoints = findWaypoints(index, settings);
  const routes = compileRoutes(waypoints, settings, memo);
  const streams = compileStreamRoutes(waypoints, routes.attached);
  const policies = attachPolicies(index, settings, routes);
  const authz = bindAuthorization(index, settings, waypoints);
  const irs = waypoints.list.map((w) => {
    const services = waypoints.enrolment.servicesOf.get(w.key) ?? [];
    const gatewayRoutes = routes.gatewayRoutes.get(w.key) ?? [];
    const { serviceRoutes, portRestricted } = routes;
    const ir = buildWaypointIR(w, services, { gatewayRoutes, serviceRoutes, portRestricted }, settings);
    applyStreamRoutes(ir, streams);
    policies.waypoint(w, ir);
    authz.waypoint(w, ir);
    guardWaypoint(ir);
    return ir;
  });
  const output: TranslationOutput = {
    waypoints: irs.map((ir) => emitWaypoint(ir, index, memo)),
    statuses: collectStatuses(index, settings, waypoints, routes, [
      ...streamRouteStatuses(streams, settings),
      ...policies.statuses(),
      ...authz.statuses(),
    ]),
  };
  if (settings.infra) output.infra = infraOf(waypoints, settings);

  memo?.end({
    objects: input.objects,
    ...(input.journal ? { generation: input.journal.generation } : {}),
    settings,
    context: waypoints,
    irs,
    output,
    policies,
    routes,
  });
  return output;
}

/** Each waypoint's Kubernetes objects (ServiceAccount, ConfigMap, Service, Deployment). */
function infraOf(waypoints: Waypoints, settings: TranslatorSettings): WaypointInfra[] {
  const infraSettings = settings.infra!;
  return waypoints.list.map((w) => ({
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
