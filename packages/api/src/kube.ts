// The slice of Kubernetes and Gateway API object shapes Waymark reads. Fields are optional where the
// API server may omit them; the translator validates what it uses.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generation?: number;
  creationTimestamp?: string;
  uid?: string;
  resourceVersion?: string;
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [extra: string]: unknown;
}

/** Identifies an object: group "" is the core group; namespace "" is cluster-scoped. */
export interface ObjectRef {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

export function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf("/");
  return i < 0 ? "" : apiVersion.slice(0, i);
}

export function refOf(o: KubeObject): ObjectRef {
  return {
    group: groupOf(o.apiVersion),
    kind: o.kind,
    namespace: o.metadata.namespace ?? "",
    name: o.metadata.name,
  };
}

export function refString(r: ObjectRef): string {
  const gk = r.group ? `${r.kind}.${r.group}` : r.kind;
  return r.namespace ? `${gk} ${r.namespace}/${r.name}` : `${gk} ${r.name}`;
}

export const GATEWAY_GROUP = "gateway.networking.k8s.io";
export const KGATEWAY_GROUP = "gateway.kgateway.dev";
/** Istio security: AuthorizationPolicy, RequestAuthentication. */
export const ISTIO_SECURITY_GROUP = "security.istio.io";

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
}

export interface Service extends KubeObject {
  kind: "Service";
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    ports?: ServicePort[];
    selector?: Record<string, string>;
  };
}

export interface EndpointSlice extends KubeObject {
  kind: "EndpointSlice";
  addressType?: string;
  endpoints?: Array<{
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    nodeName?: string;
    zone?: string;
  }>;
  ports?: Array<{ name?: string; port?: number; protocol?: string; appProtocol?: string }>;
}

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface HTTPHeaderMatch {
  type?: "Exact" | "RegularExpression";
  name: string;
  value: string;
}

export interface HTTPQueryParamMatch {
  type?: "Exact" | "RegularExpression";
  name: string;
  value: string;
}

export interface HTTPRouteMatch {
  path?: { type?: "Exact" | "PathPrefix" | "RegularExpression"; value?: string };
  headers?: HTTPHeaderMatch[];
  queryParams?: HTTPQueryParamMatch[];
  method?: string;
}

export interface HTTPHeader {
  name: string;
  value: string;
}

export interface HTTPHeaderFilter {
  set?: HTTPHeader[];
  add?: HTTPHeader[];
  remove?: string[];
}

export interface HTTPRouteFilter {
  type: string;
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  [other: string]: unknown;
}

export interface HTTPBackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: HTTPRouteFilter[];
}

export interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
}

export interface HTTPRoute extends KubeObject {
  kind: "HTTPRoute";
  spec?: { parentRefs?: ParentReference[]; hostnames?: string[]; rules?: HTTPRouteRule[] };
}

/** GRPCRoute (gateway.networking.k8s.io/v1): a method match is `/<service>/<method>` on the wire. */
export interface GRPCMethodMatch {
  type?: "Exact" | "RegularExpression";
  service?: string;
  method?: string;
}

export interface GRPCRouteMatch {
  method?: GRPCMethodMatch;
  headers?: HTTPHeaderMatch[];
}

export interface GRPCRouteRule {
  name?: string;
  matches?: GRPCRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
}

export interface GRPCRoute extends KubeObject {
  kind: "GRPCRoute";
  spec?: { parentRefs?: ParentReference[]; hostnames?: string[]; rules?: GRPCRouteRule[] };
}

export interface GatewayListener {
  name: string;
  port: number;
  protocol: string;
  hostname?: string;
  allowedRoutes?: {
    namespaces?: { from?: "Same" | "All" | "Selector"; selector?: unknown };
    kinds?: Array<{ group?: string; kind: string }>;
  };
}

export interface Gateway extends KubeObject {
  kind: "Gateway";
  spec?: { gatewayClassName?: string; listeners?: GatewayListener[]; addresses?: unknown[] };
}

export interface GatewayClass extends KubeObject {
  kind: "GatewayClass";
  spec?: { controllerName?: string; description?: string };
}

export interface Namespace extends KubeObject {
  kind: "Namespace";
}

export interface ReferenceGrant extends KubeObject {
  kind: "ReferenceGrant";
  spec?: {
    from?: Array<{ group: string; kind: string; namespace: string }>;
    to?: Array<{ group: string; kind: string; name?: string }>;
  };
}

export interface PolicyTargetReference {
  group: string;
  kind: string;
  name: string;
  sectionName?: string;
}

export interface PolicyTargetSelector {
  group: string;
  kind: string;
  matchLabels?: Record<string, string>;
  sectionName?: string;
}

export interface TransformationTemplateHeader {
  name: string;
  value?: string;
}

export interface TransformationSide {
  set?: TransformationTemplateHeader[];
  add?: TransformationTemplateHeader[];
  remove?: string[];
  body?: { parseAs?: "AsString" | "AsJson" | "None"; value?: string };
  dynamicMetadata?: Array<{ namespace?: string; key: string; value: { stringValue?: string } }>;
}

/** kgateway's TrafficPolicy (gateway.kgateway.dev/v1alpha1); Waymark reads targets and transformation. */
export interface TrafficPolicy extends KubeObject {
  kind: "TrafficPolicy";
  spec?: {
    targetRefs?: PolicyTargetReference[];
    targetSelectors?: PolicyTargetSelector[];
    transformation?: { request?: TransformationSide; response?: TransformationSide };
    [feature: string]: unknown;
  };
}

/** kgateway's GatewayExtension (gateway.kgateway.dev/v1alpha1): the servers and providers policies name. */
export interface GatewayExtension extends KubeObject {
  kind: "GatewayExtension";
  spec?: {
    /** kgateway's types: ExtAuth, ExtProc, RateLimit, JWT (JWTProvider). */
    type?: string;
    [field: string]: unknown;
  };
}

/**
 * A core Secret. Only the Secrets a policy references reach the translator; their values never go
 * into logs, traces, status or metrics.
 */
export interface Secret extends KubeObject {
  kind: "Secret";
  type?: string;
  /** Base64-encoded values, as the API server serves them. */
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** A targetRef of an Istio policy (istio.io/api type.v1beta1.PolicyTargetReference). */
export interface IstioPolicyTargetReference {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

/**
 * Istio's AuthorizationPolicy (security.istio.io/v1). The spec is typed loosely on purpose: objects
 * from a directory never met admission, so the translator reads every field defensively.
 */
export interface AuthorizationPolicy extends KubeObject {
  kind: "AuthorizationPolicy";
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    targetRef?: IstioPolicyTargetReference;
    targetRefs?: IstioPolicyTargetReference[];
    action?: "ALLOW" | "DENY" | "AUDIT" | "CUSTOM";
    provider?: { name?: string };
    rules?: unknown[];
    [field: string]: unknown;
  };
}

/** Istio's RequestAuthentication (security.istio.io/v1). */
export interface RequestAuthentication extends KubeObject {
  kind: "RequestAuthentication";
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    targetRef?: IstioPolicyTargetReference;
    targetRefs?: IstioPolicyTargetReference[];
    jwtRules?: unknown[];
    [field: string]: unknown;
  };
}
