// The API resources Waymark reads, writes status to, or creates, with their REST paths.
import { GATEWAY_GROUP, ISTIO_SECURITY_GROUP, KGATEWAY_GROUP, type ObjectRef } from "@waymark/api";

export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  /** Plural resource name in URLs. */
  plural: string;
  namespaced: boolean;
  /** Waymark writes this kind's status (server-side apply on the status subresource). */
  statusWriter?: boolean;
  /**
   * The status list this kind shares with other controllers, one entry per controllerName (route
   * parents, policy ancestors). The CRDs make it atomic: an apply replaces it whole, so Waymark
   * applies the other controllers' entries along with its own.
   */
  sharedStatusList?: string;
  /**
   * The field of a shared list's entry that says whose it is: `controllerName` (the default; ours are
   * our GatewayClasses' controllerNames) or, for a conditions list, `type`.
   */
  sharedStatusKey?: string;
  /** The values of sharedStatusKey that are Waymark's, when fixed (the condition types it writes). */
  sharedStatusOurs?: readonly string[];
}

/**
 * The condition types Waymark writes on Istio policies: istiod's own (design note §8) and Waymark's
 * report of what it could not translate. The others in the list (another manager's) are left alone.
 */
export const ISTIO_POLICY_CONDITIONS: readonly string[] = ["WaypointAccepted", "waymark.dev/Translated"];

/**
 * Istio's `status.conditions` has no list type in its CRDs (it is atomic, an apply replaces it whole)
 * and is shared with istiod: the entries are attributed by condition type.
 */
const ISTIO_POLICY_STATUS = {
  statusWriter: true,
  sharedStatusList: "conditions",
  sharedStatusKey: "type",
  sharedStatusOurs: ISTIO_POLICY_CONDITIONS,
} as const;

/** The kinds the watcher informs on (mirrored into wm-objects). */
export const WATCHED: readonly ResourceInfo[] = [
  {
    group: GATEWAY_GROUP,
    version: "v1",
    kind: "GatewayClass",
    plural: "gatewayclasses",
    namespaced: false,
    statusWriter: true,
  },
  {
    group: GATEWAY_GROUP,
    version: "v1",
    kind: "Gateway",
    plural: "gateways",
    namespaced: true,
    statusWriter: true,
  },
  {
    group: GATEWAY_GROUP,
    version: "v1",
    kind: "HTTPRoute",
    plural: "httproutes",
    namespaced: true,
    statusWriter: true,
    sharedStatusList: "parents",
  },
  // TCPRoute and TLSRoute: v1 in gateway-api v1.6.1 (standard channel). A cluster without these CRDs
  // serves neither kind (404), which the informer reads as empty.
  {
    group: GATEWAY_GROUP,
    version: "v1",
    kind: "TCPRoute",
    plural: "tcproutes",
    namespaced: true,
    statusWriter: true,
    sharedStatusList: "parents",
  },
  {
    group: GATEWAY_GROUP,
    version: "v1",
    kind: "TLSRoute",
    plural: "tlsroutes",
    namespaced: true,
    statusWriter: true,
    sharedStatusList: "parents",
  },
  {
    group: GATEWAY_GROUP,
    version: "v1",
    kind: "GRPCRoute",
    plural: "grpcroutes",
    namespaced: true,
    statusWriter: true,
    sharedStatusList: "parents",
  },
  {
    group: GATEWAY_GROUP,
    version: "v1beta1",
    kind: "ReferenceGrant",
    plural: "referencegrants",
    namespaced: true,
  },
  { group: "", version: "v1", kind: "Service", plural: "services", namespaced: true },
  { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false },
  {
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
    namespaced: true,
  },
  {
    group: KGATEWAY_GROUP,
    version: "v1alpha1",
    kind: "TrafficPolicy",
    plural: "trafficpolicies",
    namespaced: true,
    statusWriter: true,
    sharedStatusList: "ancestors",
  },
  // What TrafficPolicies name in extensionRef; their status (Accepted, or why not) is ours too.
  {
    group: KGATEWAY_GROUP,
    version: "v1alpha1",
    kind: "GatewayExtension",
    plural: "gatewayextensions",
    namespaced: true,
    statusWriter: true,
  },
  {
    group: ISTIO_SECURITY_GROUP,
    version: "v1",
    kind: "AuthorizationPolicy",
    plural: "authorizationpolicies",
    namespaced: true,
    ...ISTIO_POLICY_STATUS,
  },
  {
    group: ISTIO_SECURITY_GROUP,
    version: "v1",
    kind: "RequestAuthentication",
    plural: "requestauthentications",
    namespaced: true,
    ...ISTIO_POLICY_STATUS,
  },
  // Not a status writer: istiod writes a ServiceEntry's status, and the addresses it allocates there
  // (status.addresses) are VIPs the translator reads, so the status is forwarded whole.
  {
    group: "networking.istio.io",
    version: "v1",
    kind: "ServiceEntry",
    plural: "serviceentries",
    namespaced: true,
  },
];

/** The kinds of a waypoint's deployment objects (applied from wm-infra). */
export const INFRA: readonly ResourceInfo[] = [
  { group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true },
  { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true },
  { group: "", version: "v1", kind: "Service", plural: "services", namespaced: true },
  { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true },
];

export const LEASES: ResourceInfo = {
  group: "coordination.k8s.io",
  version: "v1",
  kind: "Lease",
  plural: "leases",
  namespaced: true,
};

export function apiVersionOf(r: ResourceInfo): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** `/api/v1/namespaces/ns/services` or `/apis/group/version/plural` (all namespaces when ns is ""). */
export function collectionPath(r: ResourceInfo, namespace = ""): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return r.namespaced && namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

export function objectPath(r: ResourceInfo, namespace: string, name: string): string {
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}`;
}

export function findResource(
  list: readonly ResourceInfo[],
  group: string,
  kind: string,
): ResourceInfo | undefined {
  return list.find((r) => r.group === group && r.kind === kind);
}

export function refPath(r: ResourceInfo, ref: ObjectRef): string {
  return objectPath(r, r.namespaced ? ref.namespace : "", ref.name);
}
