// The contract between the parts of Istio authorization on a waypoint (issue 13), fixed before the
// parts were written so they could be built side by side:
//   binding.ts / stage.ts  which AuthorizationPolicies and RequestAuthentications a chain takes, the
//                          filters into the IR's slots, the policies' status
//   rbac.ts                AuthorizationPolicies of one chain → RBAC filters (HTTP or network)
//   jwt.ts                 RequestAuthentications of one chain → one jwt_authn filter + JWKS clusters
// The semantics are Istio's, as docs/design/authorization.md describes them field by field.
import type { ClusterJson, FilterJson, HttpFilterJson } from "@waymark/envoy-proto";

/** An Istio policy bound to the chain being built. `spec` is raw: read it defensively. */
export interface BoundPolicy {
  namespace: string;
  name: string;
  spec: unknown;
  /** The istio.io/dry-run annotation, read as Go's strconv.ParseBool (unparsable: false). */
  dryRun: boolean;
  /**
   * CUSTOM only: why the policy's provider is not called here (unknown provider.name, another
   * provider on the waypoint, a TCP chain…); its rules then deny what they match.
   */
  customFallback?: string;
  /** CUSTOM only: the policy's provider is called (its rules go to the shadow RBAC filter). */
  customCalled?: boolean;
}

/** The mesh identity settings RBAC needs (trust-domain aliases, design note §4). */
export interface TrustDomains {
  /** The mesh trust domain (default cluster.local). */
  trustDomain: string;
  /** Its aliases, in order. */
  aliases: readonly string[];
}

/**
 * Something of a policy that could not be expressed on a chain, and what was done instead; never
 * an allow that the policy would not give (design note §7). Listed in the policy's status.
 */
export interface AuthzProblem {
  /** `<namespace>/<name>` of the policy. */
  policy: string;
  /** Index into spec.rules (or spec.jwtRules); -1 for the policy as a whole. */
  rule: number;
  /** The field as the user wrote it, e.g. `rules[0].to[0].operation.methods`, `rules[1].when[0] (request.headers[x])`. */
  field: string;
  /** Why, e.g. "HTTP only, the chain is TCP", "not a CIDR: 10.0.0.0/33". */
  cause: string;
  /**
   * rule-ignored: an ALLOW rule dropped, it allows nothing. condition-ignored: a DENY/AUDIT/CUSTOM
   * condition dropped, the rule matches more. denies: the whole rule denies what it matches (CUSTOM
   * whose provider is not called). policy-ignored: a RequestAuthentication rule not programmed (its tokens fail).
   */
  effect: "rule-ignored" | "condition-ignored" | "denies" | "policy-ignored";
}

export type ChainProtocol = "http" | "tcp";

/** rbac.ts: the RBAC filters of one chain, AUDIT then DENY then ALLOW (an action with no policy: no filter). */
export interface RbacBuild<F> {
  filters: F[];
  problems: AuthzProblem[];
}
export type HttpRbacBuilder = (
  policies: readonly BoundPolicy[],
  td: TrustDomains,
) => RbacBuild<HttpFilterJson>;
export type NetworkRbacBuilder = (
  policies: readonly BoundPolicy[],
  td: TrustDomains,
) => RbacBuild<FilterJson>;

/** jwt.ts: the authentication of one HTTP chain. */
export interface JwtAuthnBuild {
  /** The jwt_authn filter (named envoy.filters.http.jwt_authn); absent when no jwtRules are bound. */
  filter?: HttpFilterJson;
  /** One cluster per distinct jwksUri authority, named deterministically (`jwks|<host>|<port>`); http and https. */
  clusters: ClusterJson[];
  problems: AuthzProblem[];
  /**
   * The request headers jwt_authn writes verified data into (outputPayloadToHeader,
   * outputClaimToHeaders), lower-cased and sorted. The chain removes them as a request arrives,
   * before routing, so that a client without a token cannot set them to steer a route that matches
   * on them.
   */
  outputHeaders?: string[];
}
export type JwtAuthnBuilder = (policies: readonly BoundPolicy[]) => JwtAuthnBuild;

/** Where RBAC finds the JWT payload (jwt_authn's payload_in_metadata under the filter's name). */
export const JWT_FILTER_NAME = "envoy.filters.http.jwt_authn";
export const JWT_PAYLOAD_KEY = "payload";
// The peer identity (PROXY TLV 0xD0) is in filter state under PEER_PRINCIPAL_FILTER_STATE_KEY
// (input/names.ts).
