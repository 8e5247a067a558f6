// A typed, sorted index over the input objects. Everything the translation reads about an object is
// read here once, defensively: a malformed object is skipped or read as empty, never thrown on.
import { isIP } from "node:net";
import type {
  AuthorizationPolicy,
  EndpointSlice,
  Gateway,
  GatewayClass,
  GatewayExtension,
  GRPCRoute,
  HTTPRoute,
  KubeObject,
  ReferenceGrant,
  RequestAuthentication,
  Secret,
  TrafficPolicy,
} from "@waymark/api";
import { GATEWAY_GROUP, groupOf, ISTIO_SECURITY_GROUP, KGATEWAY_GROUP } from "@waymark/api";
import { compareStrings, int, isRecord, records, str, stringMap } from "./guards.ts";
import {
  ISTIO_NETWORKING_GROUP,
  readServiceEntry,
  SERVICE_ENTRY_VERSIONS,
  type ServiceEntryInfo,
  serviceEntryKey,
} from "./serviceentry.ts";

const DISCOVERY_GROUP = "discovery.k8s.io";
const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
/** The versions of security.istio.io read (v1beta1 objects have the same schema). */
const ISTIO_SECURITY_VERSIONS = new Set([`${ISTIO_SECURITY_GROUP}/v1`, `${ISTIO_SECURITY_GROUP}/v1beta1`]);

export interface ServicePortInfo {
  /** "" when the port is unnamed. */
  name: string;
  port: number;
  protocol?: string;
  appProtocol?: string;
  /** ServiceEntry ports: the endpoints' port when an endpoint names none (spec.ports[].targetPort). */
  targetPort?: number;
}

export interface ServiceInfo {
  object: KubeObject;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** Valid cluster IPs (VIPs); empty for a headless Service. */
  vips: string[];
  ports: ServicePortInfo[];
  /** Set for an Istio ServiceEntry (input/serviceentry.ts): its hosts, resolution and endpoints. */
  entry?: ServiceEntryInfo;
}

/** The key a Service (`<ns>/<name>`) or a ServiceEntry (serviceEntryKey) is filed under. */
export function serviceKey(s: Pick<ServiceInfo, "namespace" | "name" | "entry">): string {
  return s.entry ? serviceEntryKey(s.namespace, s.name) : nsName(s.namespace, s.name);
}

export interface ObjectIndex {
  /** By name. */
  gatewayClasses: ReadonlyMap<string, GatewayClass>;
  /** Sorted by namespace, then name. */
  gateways: readonly Gateway[];
  /** Sorted by namespace, then name. */
  httpRoutes: readonly HTTPRoute[];
  /** TCPRoutes (any served version: v1, v1alpha2), sorted by namespace, then name. */
  tcpRoutes: readonly KubeObject[];
  /** TLSRoutes (any served version: v1, v1alpha2, v1alpha3), sorted by namespace, then name. */
  tlsRoutes: readonly KubeObject[];
  /** Sorted by namespace, then name. */
  grpcRoutes: readonly GRPCRoute[];
  /** Sorted by namespace, then name. */
  services: readonly ServiceInfo[];
  /** Namespace name → labels (a namespace with no object has no entry). */
  namespaceLabels: ReadonlyMap<string, Record<string, string>>;
  /** `<ns>/<service>` → its EndpointSlices, sorted by name. */
  endpointSlices: ReadonlyMap<string, readonly EndpointSlice[]>;
  /** Namespace → its ReferenceGrants. */
  referenceGrants: ReadonlyMap<string, readonly ReferenceGrant[]>;
  /** kgateway TrafficPolicies, sorted by namespace, then name. */
  trafficPolicies: readonly TrafficPolicy[];
  /** Istio AuthorizationPolicies (security.istio.io v1, v1beta1), sorted by namespace, then name. */
  authorizationPolicies: readonly AuthorizationPolicy[];
  /** Istio RequestAuthentications (security.istio.io v1, v1beta1), sorted by namespace, then name. */
  requestAuthentications: readonly RequestAuthentication[];
  /** kgateway GatewayExtensions by `<ns>/<name>`. */
  gatewayExtensions: ReadonlyMap<string, GatewayExtension>;
  /**
   * Secrets by `<ns>/<name>`: only those the watcher was asked for (a policy references them). A
   * policy reads its own namespace's only (policies/feature.ts FeatureContext.secret).
   */
  secrets: ReadonlyMap<string, Secret>;
  /**
   * ConfigMaps by `<ns>/<name>`: only Istio's mesh config (`istio` in the root namespace) is read
   * (authorization/mesh-config.ts meshProviders); the watcher forwards no other.
   */
  configMaps: ReadonlyMap<string, KubeObject>;
  /** Istio ServiceEntries (networking.istio.io), sorted by namespace, then name. */
  serviceEntries: readonly ServiceInfo[];
  service(namespace: string, name: string): ServiceInfo | undefined;
  serviceEntry(namespace: string, name: string): ServiceInfo | undefined;
  /** The first ServiceEntry (by name) of the namespace listing `host` in spec.hosts. */
  serviceEntryByHost(namespace: string, host: string): ServiceInfo | undefined;
}

export function nsName(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function byNamespaceName(a: KubeObject, b: KubeObject): number {
  return (
    compareStrings(a.metadata.namespace ?? "", b.metadata.namespace ?? "") ||
    compareStrings(a.metadata.name, b.metadata.name)
  );
}

/** An object with the bare minimum every reader relies on: a metadata record with a string name. */
function wellFormed(o: unknown): o is KubeObject {
  return (
    isRecord(o) &&
    typeof o.apiVersion === "string" &&
    typeof o.kind === "string" &&
    isRecord(o.metadata) &&
    typeof o.metadata.name === "string" &&
    o.metadata.name !== "" &&
    (o.metadata.namespace === undefined || typeof o.metadata.namespace === "string")
  );
}

/**
 * For an EndpointSlice as indexObjects() files it: the `<ns>/<service>` it is filed under, or "" when
 * it names no service (not filed). Undefined for anything that is not such an EndpointSlice.
 */
export function sliceServiceKey(o: unknown): string | undefined {
  if (!wellFormed(o) || groupOf(o.apiVersion) !== DISCOVERY_GROUP || o.kind !== "EndpointSlice")
    return undefined;
  const ns = o.metadata.namespace;
  if (!ns) return undefined;
  const svc = stringMap(o.metadata.labels)[SERVICE_NAME_LABEL];
  return svc ? nsName(ns, svc) : "";
}

/** Whether indexObjects() lists `o` among the HTTPRoutes. */
export function isIndexedRoute(o: unknown): o is HTTPRoute {
  return (
    wellFormed(o) &&
    groupOf(o.apiVersion) === GATEWAY_GROUP &&
    o.kind === "HTTPRoute" &&
    !!o.metadata.namespace
  );
}

export function readService(o: KubeObject): ServiceInfo {
  const spec = isRecord(o.spec) ? o.spec : {};
  const ipList = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [spec.clusterIP];
  const vips: string[] = [];
  for (const ip of ipList) if (typeof ip === "string" && isIP(ip) !== 0 && !vips.includes(ip)) vips.push(ip);
  const ports: ServicePortInfo[] = [];
  for (const p of records(spec.ports)) {
    const port = int(p.port);
    if (port === undefined || port < 1 || port > 65535) continue;
    const info: ServicePortInfo = { name: str(p.name) ?? "", port };
    const protocol = str(p.protocol);
    const appProtocol = str(p.appProtocol);
    if (protocol) info.protocol = protocol;
    if (appProtocol) info.appProtocol = appProtocol;
    ports.push(info);
  }
  return {
    object: o,
    namespace: o.metadata.namespace ?? "",
    name: o.metadata.name,
    labels: stringMap(o.metadata.labels),
    vips,
    ports,
  };
}

export function indexObjects(objects: ReadonlyMap<string, KubeObject>): ObjectIndex {
  const gatewayClasses = new Map<string, GatewayClass>();
  const gateways: Gateway[] = [];
  const httpRoutes: HTTPRoute[] = [];
  const tcpRoutes: KubeObject[] = [];
  const tlsRoutes: KubeObject[] = [];
  const grpcRoutes: GRPCRoute[] = [];
  const services: ServiceInfo[] = [];
  const namespaceLabels = new Map<string, Record<string, string>>();
  const endpointSlices = new Map<string, EndpointSlice[]>();
  const referenceGrants = new Map<string, ReferenceGrant[]>();
  const trafficPolicies: TrafficPolicy[] = [];
  const authorizationPolicies: AuthorizationPolicy[] = [];
  const requestAuthentications: RequestAuthentication[] = [];
  const gatewayExtensions = new Map<string, GatewayExtension>();
  const secrets = new Map<string, Secret>();
  const configMaps = new Map<string, KubeObject>();
  const serviceEntries: ServiceInfo[] = [];

  for (const o of objects.values()) {
    if (!wellFormed(o)) continue;
    const group = groupOf(o.apiVersion);
    const ns = o.metadata.namespace ?? "";
    if (group === GATEWAY_GROUP) {
      if (o.kind === "GatewayClass") gatewayClasses.set(o.metadata.name, o as GatewayClass);
      else if (o.kind === "Gateway" && ns) gateways.push(o as Gateway);
      else if (o.kind === "HTTPRoute" && ns) httpRoutes.push(o as HTTPRoute);
      else if (o.kind === "TCPRoute" && ns) tcpRoutes.push(o);
      else if (o.kind === "TLSRoute" && ns) tlsRoutes.push(o);
      else if (o.kind === "GRPCRoute" && ns) grpcRoutes.push(o as GRPCRoute);
      else if (o.kind === "ReferenceGrant" && ns) {
        const list = referenceGrants.get(ns) ?? [];
        list.push(o as ReferenceGrant);
        referenceGrants.set(ns, list);
      }
    } else if (group === "") {
      if (o.kind === "Service" && ns) services.push(readService(o));
      else if (o.kind === "Namespace") namespaceLabels.set(o.metadata.name, stringMap(o.metadata.labels));
      else if (o.kind === "Secret" && ns) secrets.set(nsName(ns, o.metadata.name), o as Secret);
      else if (o.kind === "ConfigMap" && ns) configMaps.set(nsName(ns, o.metadata.name), o);
    } else if (group === KGATEWAY_GROUP && o.kind === "TrafficPolicy" && ns) {
      trafficPolicies.push(o as TrafficPolicy);
    } else if (group === KGATEWAY_GROUP && o.kind === "GatewayExtension" && ns) {
      gatewayExtensions.set(nsName(ns, o.metadata.name), o as GatewayExtension);
    } else if (group === ISTIO_SECURITY_GROUP && ns && ISTIO_SECURITY_VERSIONS.has(o.apiVersion)) {
      if (o.kind === "AuthorizationPolicy") authorizationPolicies.push(o as AuthorizationPolicy);
      else if (o.kind === "RequestAuthentication") requestAuthentications.push(o as RequestAuthentication);
    } else if (group === ISTIO_NETWORKING_GROUP && o.kind === "ServiceEntry" && ns) {
      if (SERVICE_ENTRY_VERSIONS.has(o.apiVersion)) serviceEntries.push(readServiceEntry(o));
    } else if (group === DISCOVERY_GROUP && o.kind === "EndpointSlice") {
      const key = sliceServiceKey(o);
      if (!key) continue;
      const list = endpointSlices.get(key) ?? [];
      list.push(o as EndpointSlice);
      endpointSlices.set(key, list);
    }
  }

  gateways.sort(byNamespaceName);
  httpRoutes.sort(byNamespaceName);
  tcpRoutes.sort(byNamespaceName);
  tlsRoutes.sort(byNamespaceName);
  grpcRoutes.sort(byNamespaceName);
  trafficPolicies.sort(byNamespaceName);
  authorizationPolicies.sort(byNamespaceName);
  requestAuthentications.sort(byNamespaceName);
  services.sort((a, b) => compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name));
  for (const list of endpointSlices.values()) list.sort(byNamespaceName);
  for (const list of referenceGrants.values()) list.sort(byNamespaceName);
  const serviceByKey = new Map(services.map((s) => [nsName(s.namespace, s.name), s]));
  serviceEntries.sort((a, b) => compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name));
  const entryByKey = new Map(serviceEntries.map((s) => [nsName(s.namespace, s.name), s]));
  const entryByHost = new Map<string, ServiceInfo>();
  for (const s of serviceEntries)
    for (const h of s.entry?.hosts ?? []) {
      const k = nsName(s.namespace, h);
      if (!entryByHost.has(k)) entryByHost.set(k, s);
    }

  return {
    gatewayClasses,
    gateways,
    httpRoutes,
    tcpRoutes,
    tlsRoutes,
    grpcRoutes,
    services,
    namespaceLabels,
    endpointSlices,
    referenceGrants,
    trafficPolicies,
    authorizationPolicies,
    requestAuthentications,
    gatewayExtensions,
    secrets,
    configMaps,
    serviceEntries,
    service: (namespace, name) => serviceByKey.get(nsName(namespace, name)),
    serviceEntry: (namespace, name) => entryByKey.get(nsName(namespace, name)),
    serviceEntryByHost: (namespace, host) => entryByHost.get(nsName(namespace, host)),
  };
}
