// The one place that orders filters. Every filter Waymark puts into a connection manager (HTTP) or a
// filter chain (network) names a slot here, and is emitted in slot order (filters of one slot in the
// order of policies/features.ts). A new feature picks its slot, or adds one where it belongs; nothing
// else decides where a filter goes.
//
// HTTP: who the caller is and whether it may call come first (Istio RequestAuthentication and
// AuthorizationPolicy), so no TrafficPolicy filter runs for a request that is refused; then the
// TrafficPolicy features; the router last.
export const HTTP_FILTER_SLOTS = [
  // The guard (ir/guard.ts): before everything, it refuses a request whose connection manager lacks
  // a security filter its route table counts on.
  "guardFilters", // set_metadata: the connection manager's security filters
  "guard", // rbac: deny when one is missing
  "authentication", // jwt_authn (RequestAuthentication)
  "authorization", // rbac (AuthorizationPolicy)
  // TrafficPolicy features, in the order kgateway's filter stages put them: a preflight answered and
  // a fault injected before anyone is authenticated; who the caller is, then whether they may call;
  // then limits, then what changes the request.
  "cors", // cors (answers preflights)
  "csrf",
  "faultInjection", // fault
  // compressor: before every filter that changes a response body (transformation), as responses
  // pass the filters in reverse order and must be compressed last.
  "compression", // compressor (responses)
  "decompression", // decompressor (request bodies)
  "buffer",
  // oauth2: the first of the authentication filters, as kgateway puts it before its AuthN stage: it
  // answers its own callback and logout paths and turns a browser's session cookies into the bearer
  // token it forwards, which the filters after it (jwtAuth) can then verify.
  "oauth2", // oauth2 (TrafficPolicy oauth2 / GatewayExtension OAuth2)
  "basicAuth", // basic_auth
  "apiKeyAuth", // api_key_auth
  "jwtAuth", // jwt_authn (TrafficPolicy jwtAuth / GatewayExtension JWTProvider)
  "extAuth", // ext_authz (issue 15)
  "acl", // rbac on the client IP
  "rbac", // rbac with CEL matchers (TrafficPolicy rbac)
  "localRateLimit", // local_ratelimit
  "rateLimit", // ratelimit (global, issue 15)
  "extProc", // ext_proc (issue 15)
  "headerModifiers", // header_mutation
  "transformation", // lua (TrafficPolicy transformation)
  "router", // the router, always last
] as const;
export type HttpFilterSlot = (typeof HTTP_FILTER_SLOTS)[number];

// Network filters of each filter chain: the peer identity is copied into filter state first (RBAC
// reads it there), then authorization, then the terminal filter (HTTP connection manager or TCP proxy).
export const NETWORK_FILTER_SLOTS = ["peerIdentity", "authorization", "terminal"] as const;
export type NetworkFilterSlot = (typeof NETWORK_FILTER_SLOTS)[number];

const httpRank = new Map<string, number>(HTTP_FILTER_SLOTS.map((s, i) => [s, i]));
const networkRank = new Map<string, number>(NETWORK_FILTER_SLOTS.map((s, i) => [s, i]));

/** The filters in slot order; filters of one slot keep their order (the sort is stable). */
export function inHttpOrder<F>(filters: ReadonlyArray<{ slot: HttpFilterSlot; filter: F }>): F[] {
  return [...filters].sort((a, b) => httpRank.get(a.slot)! - httpRank.get(b.slot)!).map((f) => f.filter);
}

export function inNetworkOrder<F>(filters: ReadonlyArray<{ slot: NetworkFilterSlot; filter: F }>): F[] {
  return [...filters]
    .sort((a, b) => networkRank.get(a.slot)! - networkRank.get(b.slot)!)
    .map((f) => f.filter);
}
