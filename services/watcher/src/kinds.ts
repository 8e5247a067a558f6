// The object kinds the watcher forwards, by API group and kind. Anything else is skipped.
import { GATEWAY_GROUP, ISTIO_SECURITY_GROUP, KGATEWAY_GROUP } from "@waymark/api";

export interface KindInfo {
  group: string;
  kind: string;
  /** API versions accepted for this kind (the part after the group's slash, or the whole core version). */
  versions: readonly string[];
  namespaced: boolean;
}

export const SUPPORTED_KINDS: readonly KindInfo[] = [
  { group: GATEWAY_GROUP, kind: "GatewayClass", versions: ["v1", "v1beta1"], namespaced: false },
  { group: GATEWAY_GROUP, kind: "Gateway", versions: ["v1", "v1beta1"], namespaced: true },
  { group: GATEWAY_GROUP, kind: "HTTPRoute", versions: ["v1", "v1beta1"], namespaced: true },
  // v1 in gateway-api v1.6.1; directories may hold the experimental channel's older versions.
  { group: GATEWAY_GROUP, kind: "TCPRoute", versions: ["v1", "v1alpha2"], namespaced: true },
  { group: GATEWAY_GROUP, kind: "TLSRoute", versions: ["v1", "v1alpha3", "v1alpha2"], namespaced: true },
  { group: GATEWAY_GROUP, kind: "GRPCRoute", versions: ["v1"], namespaced: true },
  { group: GATEWAY_GROUP, kind: "ReferenceGrant", versions: ["v1", "v1beta1"], namespaced: true },
  { group: "", kind: "Service", versions: ["v1"], namespaced: true },
  { group: "", kind: "Namespace", versions: ["v1"], namespaced: false },
  { group: "discovery.k8s.io", kind: "EndpointSlice", versions: ["v1"], namespaced: true },
  { group: KGATEWAY_GROUP, kind: "TrafficPolicy", versions: ["v1alpha1"], namespaced: true },
  // The external services (auth, processing, rate limit, JWT providers) TrafficPolicies refer to.
  { group: KGATEWAY_GROUP, kind: "GatewayExtension", versions: ["v1alpha1"], namespaced: true },
  // Secrets that policies reference (basicAuth, apiKeyAuth). In standalone mode the directory is the
  // operator's choice of what to share; on Kubernetes the watcher reads only referenced Secrets.
  { group: "", kind: "Secret", versions: ["v1"], namespaced: true },
  // Istio's mesh config: only the ConfigMap `istio` of the Istio namespace, only its `mesh` key
  // (parse.ts skips any other ConfigMap; mesh-config.ts). On Kubernetes it is read by name.
  { group: "", kind: "ConfigMap", versions: ["v1"], namespaced: true },
  // Istio's CRDs serve v1 and v1beta1 with the same schema; directories may hold either.
  { group: ISTIO_SECURITY_GROUP, kind: "AuthorizationPolicy", versions: ["v1", "v1beta1"], namespaced: true },
  {
    group: ISTIO_SECURITY_GROUP,
    kind: "RequestAuthentication",
    versions: ["v1", "v1beta1"],
    namespaced: true,
  },
  // Istio ServiceEntries a waypoint serves (istio.io/use-waypoint); their status (the addresses
  // Istio allocates) is part of what the translator reads.
  {
    group: "networking.istio.io",
    kind: "ServiceEntry",
    versions: ["v1", "v1beta1", "v1alpha3"],
    namespaced: true,
  },
];

/** Splits an apiVersion into group ("" for core) and version. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf("/");
  return i < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** The supported kind for this apiVersion and kind, or undefined. */
export function lookupKind(apiVersion: string, kind: string): KindInfo | undefined {
  const { group, version } = splitApiVersion(apiVersion);
  return SUPPORTED_KINDS.find((k) => k.group === group && k.kind === kind && k.versions.includes(version));
}
