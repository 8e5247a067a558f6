// The names of the Envoy resources Waymark emits. They follow kgateway's waypoint translator so
// dashboards and config dumps read the same. Kubernetes names are DNS-safe already: nothing is
// sanitised here.

export const LISTENER_NAME = "proxy_protocol_inbound";
export const PROXY_PROTOCOL_FILTER = "envoy.filters.listener.proxy_protocol";
export const PEER_PRINCIPAL_METADATA_KEY = "peer_principal";
export const PEER_PRINCIPAL_FILTER_STATE_KEY = "io.istio.peer_principal";
export const AUTHORITY_FILTER_NAME = "proxy_protocol_authority";
/** The PROXY protocol v2 TLV carrying the peer identity (0xD0). */
export const PEER_PRINCIPAL_TLV = 208;

export type ChainKind = "http" | "tcp";

/** Filter chain (and, for HTTP, route configuration) of one service port. */
export function chainName(kind: ChainKind, port: number, service: string, namespace: string): string {
  return `fc_${kind}_${port}_${service}_${namespace}`;
}

export function clusterName(namespace: string, service: string, port: number): string {
  return `kube_${namespace}_${service}_${port}`;
}

/** Virtual host of a service port that no HTTPRoute applies to. */
export function defaultVirtualHostName(port: number, service: string, namespace: string): string {
  return `vh_http_${port}_${service}_${namespace}`;
}

/** Virtual host holding the HTTPRoute rules of a service (shared by its HTTP ports). */
export function routesVirtualHostName(service: string, namespace: string): string {
  return `http_routes_${service}_${namespace}`;
}

/** Envoy route entry of one match of one HTTPRoute rule (for config dumps and stats). */
export function routeEntryName(namespace: string, route: string, rule: number, match: number): string {
  return `${namespace}/${route}/rule${rule}/match${match}`;
}

/**
 * Filter chain (and route configuration) of one ServiceEntry port. Kubernetes names hold no "_", so
 * the `se_` part keeps it apart from any Service's chain name.
 */
export function entryChainName(kind: ChainKind, port: number, entry: string, namespace: string): string {
  return `fc_${kind}_${port}_se_${entry}_${namespace}`;
}

/**
 * The cluster of one ServiceEntry port, named as kgateway names it: `istio-se_<ns>_<name>_<host>_<port>`
 * with the ServiceEntry's first host (apart from the `kube_` clusters of Services).
 */
export function entryClusterName(namespace: string, entry: string, host: string, port: number): string {
  return `istio-se_${namespace}_${entry}_${host}_${port}`;
}
