// Which policies a waypoint enforces on a chain. Source: istio/istio pilot/pkg/model/policyattachment.go
// `WorkloadPolicyMatcher.ShouldAttachPolicy` with `IsWaypoint`, and istio.io "Layer 7 authorization
// policies in ambient" (https://istio.io/latest/docs/ambient/usage/l7-features/#targeting-policies):
// a waypoint only takes policies with `targetRefs`; `selector` (or neither) belongs to ztunnel and
// sidecars.
import type { AuthorizationPolicy, EvaluateOptions, PolicyTargetReference } from "./types.ts";

export const WAYPOINT_GATEWAY_CLASS = "kgateway-waypoint";
export const DEFAULT_ROOT_NAMESPACE = "istio-system";

/** One chain of a waypoint: the Gateway, and the service whose chain it is (if any). */
export interface WaypointTarget {
  gateway: { name: string; namespace: string; gatewayClassName?: string };
  /** The enrolled Service or ServiceEntry this chain serves. */
  service?: { kind: "Service" | "ServiceEntry"; name: string; namespace: string };
  /** Istio's root namespace; else `options.rootNamespace`, else `istio-system`. */
  rootNamespace?: string;
  /** The waypoint GatewayClass a root-namespace policy may target; `kgateway-waypoint` by default. */
  gatewayClass?: string;
}

/** `targetRef` and `targetRefs` together (model.GetTargetRefs). */
export function targetRefs(policy: AuthorizationPolicy): PolicyTargetReference[] {
  return [...(policy.spec.targetRef ? [policy.spec.targetRef] : []), ...(policy.spec.targetRefs ?? [])];
}

// The group each kind must carry (policyattachment.go matchesGroupKind against gvk.*): core Service
// has the empty group, which Istio also writes "core".
const GROUPS: Record<string, string[]> = {
  Gateway: ["gateway.networking.k8s.io"],
  GatewayClass: ["gateway.networking.k8s.io"],
  Service: ["", "core"],
  ServiceEntry: ["networking.istio.io"],
};

const isKind = (ref: PolicyTargetReference, kind: string) =>
  ref.kind === kind && (GROUPS[kind] ?? []).includes(ref.group ?? "");

/**
 * Whether `policy` applies to the chain `target`:
 * - `kind: Service` / `ServiceEntry`: the chain's service, named in the policy's own namespace
 *   (a `namespace` on the ref is not consulted, as in ShouldAttachPolicy);
 * - `kind: GatewayClass` named like the waypoint class, from a policy in the root namespace: every
 *   chain of every waypoint of the class;
 * - `kind: Gateway`: every chain of the waypoint, from a policy in its namespace (a ref naming another
 *   namespace never matches);
 * - no targetRefs (with a `selector` or not): never.
 */
export function boundTo(
  policy: AuthorizationPolicy,
  target: WaypointTarget,
  options: Pick<EvaluateOptions, "rootNamespace"> = {},
): boolean {
  const ns = policy.metadata.namespace;
  const root = target.rootNamespace ?? options.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const cls = target.gatewayClass ?? WAYPOINT_GATEWAY_CLASS;
  for (const ref of targetRefs(policy)) {
    const svc = target.service;
    if (svc && isKind(ref, svc.kind) && ref.name === svc.name && ns === svc.namespace) return true;
    if (ns === root && isKind(ref, "GatewayClass") && ref.name === cls) {
      if (target.gateway.gatewayClassName === undefined || target.gateway.gatewayClassName === cls)
        return true;
    }
    if (ns !== target.gateway.namespace) continue;
    if (ref.namespace && ref.namespace !== target.gateway.namespace) continue;
    if (isKind(ref, "Gateway") && ref.name === target.gateway.name) return true;
  }
  return false;
}
