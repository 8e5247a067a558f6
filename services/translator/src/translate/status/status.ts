// Status stanzas of the objects we own: our GatewayClass, our waypoint Gateways (with per-listener
// status and attachedRoutes) and the parents of ours of each HTTPRoute. Conditions carry no
// lastTransitionTime: the service stamps it when a condition changes.
import type { Condition } from "@waymark/api";
import { GATEWAY_GROUP } from "@waymark/api";
import type { ServiceInfo } from "../input/objects.ts";
import type { CompiledRoute } from "../routes/compile.ts";
import type { ParentOutcome } from "../routes/parents.ts";
import type { TranslatorSettings } from "../types.ts";
import { supportedKinds, type WaypointInfo } from "../waypoints/gateways.ts";

/** Kubernetes refuses a condition message longer than this (metav1.Condition). */
export const MAX_CONDITION_MESSAGE = 32768;

/** The message cut to what Kubernetes accepts, saying so. */
export function boundedMessage(message: string): string {
  if (message.length <= MAX_CONDITION_MESSAGE) return message;
  const note = ` … (${message.length - MAX_CONDITION_MESSAGE + 200} more characters cut)`;
  return message.slice(0, MAX_CONDITION_MESSAGE - 200) + note;
}

export function condition(
  type: string,
  ok: boolean,
  reason: string,
  message: string,
  generation: number | undefined,
): Condition {
  const c: Condition = { type, status: ok ? "True" : "False", reason, message: boundedMessage(message) };
  if (generation !== undefined) c.observedGeneration = generation;
  return c;
}

export function gatewayClassStatus(generation: number | undefined): Record<string, unknown> {
  return {
    conditions: [
      condition("Accepted", true, "Accepted", "GatewayClass accepted by the Waymark controller", generation),
    ],
  };
}

/**
 * @param attachedRoutes routes attached to the inbound listener (via the Gateway, or via a Service
 *   that uses this waypoint)
 * @param service the Service named after the Gateway, whose cluster IPs are the waypoint's addresses
 */
export function gatewayStatus(
  waypoint: WaypointInfo,
  attachedRoutes: number,
  service: ServiceInfo | undefined,
): Record<string, unknown> {
  const g = waypoint.generation;
  const invalid = waypoint.listeners.filter((l) => l.invalid !== undefined);
  const accepted = waypoint.inbound
    ? invalid.length
      ? condition(
          "Accepted",
          true,
          "ListenersNotValid",
          `Gateway accepted; ${invalid.length} listener(s) ignored: ${invalid.map((l) => JSON.stringify(l.name)).join(", ")}`,
          g,
        )
      : condition("Accepted", true, "Accepted", "Gateway accepted", g)
    : condition(
        "Accepted",
        false,
        "ListenersNotValid",
        "Gateway has no usable 'istio.io/PROXY' listener; a waypoint needs one (e.g. name: proxy, port: 15088, protocol: istio.io/PROXY)",
        g,
      );
  const programmed = waypoint.inbound
    ? condition("Programmed", true, "Programmed", "Waypoint configuration programmed", g)
    : condition("Programmed", false, "Invalid", "Gateway is not accepted; nothing is programmed", g);

  const listeners = waypoint.listeners.map((l) => {
    const isInbound = l === waypoint.inbound;
    const conditions: Condition[] = [
      isInbound
        ? condition("Accepted", true, "Accepted", "Listener accepted", g)
        : condition("Accepted", false, "Invalid", l.invalid ?? "Listener is not used", g),
      condition("Conflicted", false, "NoConflicts", "No conflicts", g),
      isInbound
        ? condition("Programmed", true, "Programmed", "Listener programmed", g)
        : condition("Programmed", false, "Invalid", "Listener is not used", g),
      l.invalidKinds.length
        ? condition(
            "ResolvedRefs",
            false,
            "InvalidRouteKinds",
            `Unsupported route kinds: ${l.invalidKinds.join(", ")} (HTTPRoute and GRPCRoute are supported)`,
            g,
          )
        : condition("ResolvedRefs", true, "ResolvedRefs", "All references resolved", g),
    ];
    return {
      name: l.name,
      supportedKinds: isInbound ? supportedKinds(l).map((kind) => ({ group: GATEWAY_GROUP, kind })) : [],
      attachedRoutes: isInbound ? attachedRoutes : 0,
      conditions,
    };
  });

  const status: Record<string, unknown> = { conditions: [accepted, programmed], listeners };
  if (service?.vips.length) status.addresses = service.vips.map((value) => ({ type: "IPAddress", value }));
  return status;
}

export function routeStatus(
  route: CompiledRoute,
  parents: readonly ParentOutcome[],
  settings: TranslatorSettings,
): Record<string, unknown> {
  const g = route.generation;
  const resolved = route.refProblems[0]
    ? condition(
        "ResolvedRefs",
        false,
        route.refProblems[0].reason,
        route.refProblems.map((p) => p.message).join("; "),
        g,
      )
    : condition("ResolvedRefs", true, "ResolvedRefs", "All references resolved", g);
  return {
    parents: parents.map((p) => {
      const accepted = p.rejected
        ? condition("Accepted", false, p.rejected.reason, p.rejected.message, g)
        : route.unsupported.length
          ? condition("Accepted", false, "UnsupportedValue", route.unsupported.join("; "), g)
          : condition("Accepted", true, "Accepted", "Route accepted", g);
      return {
        parentRef: p.parentRef,
        controllerName: settings.controllerName,
        conditions: [accepted, resolved],
      };
    }),
  };
}
