// Which Istio policies (AuthorizationPolicy, RequestAuthentication) each chain of a waypoint takes,
// and what each targetRef of a policy binds to (design note §1, §8). Only policies with targetRef or
// targetRefs are the waypoint's; a policy with a selector, or with neither, belongs to ztunnel and
// sidecars: it is skipped here and gets no status from Waymark.
import type { KubeObject } from "@waymark/api";
import { GATEWAY_GROUP } from "@waymark/api";
import { int, isRecord, str, stringMap } from "../input/guards.ts";
import { nsName, type ObjectIndex, serviceKey } from "../input/objects.ts";
import { ISTIO_NETWORKING_GROUP } from "../input/serviceentry.ts";
import { DEFAULT_ROOT_NAMESPACE, type TranslatorSettings } from "../types.ts";
import { requestedWaypoint } from "../waypoints/enrolment.ts";
import { waypointClassIsOurs } from "../waypoints/gateways.ts";
import type { Waypoints } from "../waypoints/stage.ts";
import type { BoundPolicy } from "./contract.ts";

export const DRY_RUN_ANNOTATION = "istio.io/dry-run";

export type IstioPolicyKind = "AuthorizationPolicy" | "RequestAuthentication";

/** One targetRef, read defensively; `invalid` says why it cannot be read. */
export interface TargetRef {
  group: string;
  kind: string;
  name: string;
  namespace?: string;
  invalid?: string;
}

/** What one targetRef binds to (design note §8), and whether it concerns Waymark at all. */
export interface TargetResult {
  ref: TargetRef;
  bound: boolean;
  reason: "Accepted" | "TargetNotFound" | "AncestorNotBound" | "Invalid";
  message: string;
  /** The whole waypoint (Gateway, GatewayClass) or one service's chains. */
  binds?: { waypoint: string } | { service: string } | { gatewayClass: true };
  /** False: the target is someone else's (another class's Gateway, another controller's waypoint). */
  ours: boolean;
}

/** An Istio policy with targetRefs, as the binding reads it. */
export interface IstioPolicy {
  kind: IstioPolicyKind;
  object: KubeObject;
  namespace: string;
  name: string;
  generation: number | undefined;
  bound: BoundPolicy;
  /** Why the policy as a whole cannot be read (e.g. spec is not an object); then it binds nothing. */
  malformed?: string;
  results: TargetResult[];
}

/** Go's strconv.ParseBool: true for 1, t, T, TRUE, true, True; anything else (unparsable too) false. */
export function parseGoBool(value: string | undefined): boolean {
  return value !== undefined && ["1", "t", "T", "TRUE", "true", "True"].includes(value);
}

/** targetRef and targetRefs as one list (Istio reads both); undefined when the policy has neither. */
export function readTargetRefs(spec: Record<string, unknown>): TargetRef[] | undefined {
  const raw: unknown[] = [];
  if (spec.targetRef !== undefined && spec.targetRef !== null) raw.push(spec.targetRef);
  if (spec.targetRefs !== undefined && spec.targetRefs !== null) {
    if (Array.isArray(spec.targetRefs)) raw.push(...spec.targetRefs);
    else
      return [
        { group: "", kind: "", name: "", invalid: "targetRefs is not a list" },
        ...raw.map(readTargetRef),
      ];
  }
  return raw.length ? raw.map(readTargetRef) : undefined;
}

function readTargetRef(r: unknown): TargetRef {
  if (!isRecord(r)) return { group: "", kind: "", name: "", invalid: "a targetRef is not an object" };
  const ref: TargetRef = { group: str(r.group) ?? "", kind: str(r.kind) ?? "", name: str(r.name) ?? "" };
  const namespace = str(r.namespace);
  if (namespace) ref.namespace = namespace;
  if (!ref.kind || !ref.name) ref.invalid = "a targetRef needs a kind and a name";
  return ref;
}

/** `<Kind>.<group>:<ns>/<name>` as istiod lists an unbound target (group `core` for Service). */
export function targetLabel(ref: TargetRef, policyNamespace: string): string {
  const group = ref.group || (ref.kind === "Service" ? "core" : "");
  return `${ref.kind}.${group}:${ref.namespace ?? policyNamespace}/${ref.name}`;
}

function resolveTarget(
  ref: TargetRef,
  kind: IstioPolicyKind,
  namespace: string,
  waypoints: Waypoints,
  settings: TranslatorSettings,
): TargetResult {
  const index = waypoints.index;
  const notFound = (message = "not bound"): TargetResult => ({
    ref,
    bound: false,
    reason: "TargetNotFound",
    message,
    ours: true,
  });
  if (ref.invalid) return { ref, bound: false, reason: "Invalid", message: ref.invalid, ours: true };
  // A target in another namespace never matches: a policy binds in its own namespace only.
  const sameNamespace = ref.namespace === undefined || ref.namespace === namespace;

  if (ref.kind === "Gateway" && ref.group === GATEWAY_GROUP) {
    const w = sameNamespace ? waypoints.waypoints.get(nsName(namespace, ref.name)) : undefined;
    if (w)
      return {
        ref,
        bound: true,
        reason: "Accepted",
        message: `bound to ${w.key}`,
        binds: { waypoint: w.key },
        ours: true,
      };
    // A Gateway that exists but is not one of our waypoints is another controller's.
    const ns = ref.namespace ?? namespace;
    const other =
      !waypoints.waypoints.has(nsName(ns, ref.name)) &&
      index.gateways.some((g) => g.metadata.namespace === ns && g.metadata.name === ref.name);
    return { ...notFound(), ours: !other };
  }
  const isService = ref.kind === "Service" && (ref.group === "" || ref.group === "core");
  if (isService || (ref.kind === "ServiceEntry" && ref.group === ISTIO_NETWORKING_GROUP)) {
    // A Service, or a ServiceEntry served like one: of the policy's namespace, bound when it uses one
    // of our waypoints.
    const ns = ref.namespace ?? namespace;
    const label = `${ref.kind} ${ns}/${ref.name}`;
    const svc = !sameNamespace
      ? undefined
      : isService
        ? index.service(namespace, ref.name)
        : index.serviceEntry(namespace, ref.name);
    if (!svc) return notFound(`${label} was not found`);
    const key = serviceKey(svc);
    const w = waypoints.enrolment.waypointOf.get(key);
    if (w && svc.entry?.unusable)
      // Bound to nothing Envoy serves: the ServiceEntry gets no chain (its reason says why).
      return { ref, bound: false, reason: "Invalid", message: svc.entry.unusable, ours: true };
    if (w)
      return {
        ref,
        bound: true,
        reason: "Accepted",
        message: `bound to ${w.key}`,
        binds: { service: key },
        ours: true,
      };
    // A service that uses another controller's waypoint is not ours to judge.
    return {
      ref,
      bound: false,
      reason: "AncestorNotBound",
      message: `${label} is not bound to a waypoint`,
      ours: requestedWaypoint(svc, index) === undefined,
    };
  }
  if (ref.kind === "GatewayClass" && ref.group === GATEWAY_GROUP) {
    const root = settings.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
    if (ref.name !== settings.waypointClassName) {
      // Another class: ours only to report when nobody has it.
      return { ...notFound(), ours: !index.gatewayClasses.has(ref.name) };
    }
    if (namespace !== root)
      return {
        ref,
        bound: false,
        reason: "Invalid",
        message: `${kind} must be in the root namespace \`${root}\` when referencing a GatewayClass`,
        ours: true,
      };
    if (!waypointClassIsOurs(index, settings))
      return {
        ref,
        bound: false,
        reason: "Invalid",
        message: `GatewayClass must use controller name \`${settings.controllerName}\` for waypoints`,
        ours: true,
      };
    return {
      ref,
      bound: true,
      reason: "Accepted",
      message: `bound to ${ref.name}`,
      binds: { gatewayClass: true },
      ours: true,
    };
  }
  return {
    ref,
    bound: false,
    reason: "Invalid",
    message: `unsupported targetRef kind ${ref.group ? `${ref.kind}.${ref.group}` : ref.kind}`,
    ours: true,
  };
}

/**
 * The policy as the waypoint sees it, or undefined when it is not the waypoint's (a selector, no
 * targetRefs) or concerns no target of Waymark's (every target is another controller's).
 */
export function readIstioPolicy(
  o: KubeObject,
  kind: IstioPolicyKind,
  waypoints: Waypoints,
  settings: TranslatorSettings,
): IstioPolicy | undefined {
  const namespace = o.metadata.namespace ?? "";
  const name = o.metadata.name;
  const annotations = stringMap(o.metadata.annotations);
  const spec = (o as { spec?: unknown }).spec;
  const base = {
    kind,
    object: o,
    namespace,
    name,
    generation: int(o.metadata.generation),
    bound: { namespace, name, spec: spec ?? {}, dryRun: parseGoBool(annotations[DRY_RUN_ANNOTATION]) },
  };
  if (spec !== undefined && spec !== null && !isRecord(spec)) {
    // Its targets cannot be read, so it binds nothing; it may still be meant for a waypoint of ours.
    return { ...base, malformed: "spec is not an object; the policy binds nothing", results: [] };
  }
  const refs = readTargetRefs(isRecord(spec) ? spec : {});
  if (!refs) return undefined;
  const results = refs.map((r) => resolveTarget(r, kind, namespace, waypoints, settings));
  if (!results.some((r) => r.ours)) return undefined;
  return { ...base, results: results.filter((r) => r.ours) };
}

/** Every Istio policy with targetRefs of ours, AuthorizationPolicies then RequestAuthentications. */
export function readIstioPolicies(
  index: ObjectIndex,
  waypoints: Waypoints,
  settings: TranslatorSettings,
): IstioPolicy[] {
  const out: IstioPolicy[] = [];
  for (const p of index.authorizationPolicies) {
    const r = readIstioPolicy(p, "AuthorizationPolicy", waypoints, settings);
    if (r) out.push(r);
  }
  for (const p of index.requestAuthentications) {
    const r = readIstioPolicy(p, "RequestAuthentication", waypoints, settings);
    if (r) out.push(r);
  }
  return out;
}

/**
 * Whether the policy binds to the chains of `service` on waypoint `waypointKey`: through the waypoint
 * Gateway (same namespace), the Service itself (its namespace), or our GatewayClass (root namespace).
 */
export function bindsChain(p: IstioPolicy, waypointKey: string, serviceKey: string): boolean {
  return p.results.some((r) => {
    const b = r.binds;
    if (!r.bound || !b) return false;
    if ("waypoint" in b) return b.waypoint === waypointKey;
    if ("service" in b) return b.service === serviceKey;
    return true;
  });
}
