// The inputs of the reference model: the `security.istio.io/v1` AuthorizationPolicy as the API server
// stores it (https://istio.io/latest/docs/reference/config/security/authorization-policy/), and one
// request as the waypoint sees it after ztunnel's PROXY header and jwt_authn have run.

/** `spec.action`; absent means ALLOW (authorization-policy reference, "AuthorizationPolicy.Action"). */
export type Action = "ALLOW" | "DENY" | "AUDIT" | "CUSTOM";

/** Gateway API `PolicyTargetReference` as Istio uses it in `targetRef` / `targetRefs`. */
export interface PolicyTargetReference {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface Source {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  trustDomains?: string[];
  notTrustDomains?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
}

export interface Operation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface Condition {
  key: string;
  values?: string[];
  notValues?: string[];
}

export interface Rule {
  from?: { source?: Source }[];
  to?: { operation?: Operation }[];
  when?: Condition[];
}

export interface AuthorizationPolicySpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  action?: Action;
  provider?: { name?: string };
  rules?: Rule[];
}

export interface AuthorizationPolicy {
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
  spec: AuthorizationPolicySpec;
}

/** The JWT a RequestAuthentication validated (jwt_authn's `payload_in_metadata`). */
export interface ValidatedJwt {
  iss: string;
  sub: string;
  aud?: string[];
  azp?: string;
  /** Every claim of the payload, `iss`/`sub`/`aud`/`azp` included or not: the model fills those in. */
  claims?: Record<string, unknown>;
}

export interface Request {
  protocol: "http" | "tcp";
  /** The peer's SPIFFE URI (`spiffe://<td>/ns/<ns>/sa/<sa>`) from TLV 0xD0, absent for no identity. */
  peerPrincipal?: string;
  /** Source address of the PROXY header: the client workload (what `ipBlocks` / `source.ip` test). */
  sourceIp: string;
  /**
   * The client address Envoy derives from X-Forwarded-For (`remote_ip`). Absent: the source address.
   * On TCP there is no X-Forwarded-For and the source address is used whatever this says.
   */
  remoteIp?: string;
  /** The service VIP and port of the PROXY header (Envoy's local address after the listener filter). */
  destinationIp: string;
  destinationPort: number;
  /** TLS SNI if the connection carried one (absent: Envoy's requested server name is ""). */
  sni?: string;
  // HTTP only (ignored for TCP):
  method?: string;
  /** `:path` as sent, query string included; paths are matched without it, as Envoy's `url_path`. */
  path?: string;
  /** `:authority` (Host), port included if the client sent one. */
  host?: string;
  /** Header names in any case; a list is a header sent several times (each value matched alone). */
  headers?: Record<string, string | string[]>;
  jwt?: ValidatedJwt;
}

export interface EvaluateOptions {
  /** The mesh trust domain (MeshConfig.trustDomain), `cluster.local` by default. */
  trustDomain?: string;
  trustDomainAliases?: string[];
  /** Istio's root namespace, `istio-system` by default (used by `boundTo`). */
  rootNamespace?: string;
  /**
   * CUSTOM providers' answers (the ext_authz server's verdict for this request). A CUSTOM policy whose
   * provider has no verdict here denies what it matches, as istiod does for an unknown provider.
   */
  customVerdicts?: Record<string, "allow" | "deny">;
  /**
   * Extra `when` keys or source/operation fields the translator cannot express, e.g. `paths`. They are
   * treated like an HTTP-only field on a TCP chain. `experimental.envoy.filters.*` always is.
   */
  untranslatable?: readonly string[];
  /** Claims jwt_authn splits on spaces into lists (RequestAuthentication.spaceDelimitedClaims). */
  spaceDelimitedClaims?: readonly string[];
}

export type Decision = "allow" | "deny";

export interface Verdict {
  decision: Decision;
  /** The stage that decided: a CUSTOM/DENY/ALLOW match, no ALLOW bound, or ALLOW bound and none matched. */
  reason: "custom" | "deny" | "allow" | "no-allow-policy" | "no-allow-match";
  /** `namespace/name` of the policy that decided, when one did. */
  policy?: string;
  /** Index of its rule that matched, when one did. */
  rule?: number;
  /** Whether an AUDIT policy matched (it never changes the decision). */
  audited: boolean;
}
