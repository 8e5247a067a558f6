// Every attribute a rule can test: the `from.source` and `to.operation` fields and the `when` keys
// Istio documents (https://istio.io/latest/docs/reference/config/security/conditions/), each with
// what the Envoy matcher istiod generates for it does. Sources: istio/istio
// pilot/pkg/security/authz/model/model.go (which field becomes which generator) and generator.go (the
// matcher of each generator, which ones are "HTTP only").
import {
  cidrContains,
  headerMatch,
  isPathTemplate,
  parseCidr,
  pathOnly,
  templateRegex,
  validPath,
  wildcardMatch,
} from "./match.ts";
import type { EvaluateOptions, Request } from "./types.ts";

export const DEFAULT_TRUST_DOMAIN = "cluster.local";

/** How one attribute is matched. `test` receives one value of the policy; the list is ORed by the caller. */
export interface Attribute {
  /** Envoy can only see it on an HTTP chain (generator.go returns `"<key>" is HTTP only` for TCP). */
  httpOnly: boolean;
  /** Whether istiod's admission accepts the value (pkg/config/validation + pkg/config/security). */
  valid(value: string): boolean;
  test(value: string, req: Request): boolean;
}

const nonEmpty = (v: string) => v !== "";

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

const full = (re: string) => new RegExp(`^(?:${re})$`, "s");

// --- principals and trust domains ---

/** The trust domain bundle: the mesh trust domain first, then its aliases (trustdomain/bundle.go NewBundle). */
export function trustBundle(opts: EvaluateOptions): string[] {
  return [opts.trustDomain ?? DEFAULT_TRUST_DOMAIN, ...(opts.trustDomainAliases ?? [])];
}

const prefixPattern = (a: string, p: string) => p.endsWith("*") && a.startsWith(p.slice(0, -1));
const suffixPattern = (a: string, p: string) => p.startsWith("*") && a.endsWith(p.slice(1));

/**
 * `principals` (and `source.principal`) values with trust-domain aliases, as
 * `Bundle.ReplaceTrustDomainAliases` (pilot/pkg/security/trustdomain/bundle.go) rewrites them: a
 * value `<td>/ns/<ns>/sa/<sa>` whose trust domain is `cluster.local` (always "the local trust
 * domain") or matches one of the bundle becomes one value per trust domain of the bundle. A value
 * whose trust domain is exactly `*`, or that does not have five `/`-separated parts, is kept as is.
 */
export function expandPrincipal(value: string, bundle: readonly string[]): string[] {
  const parts = value.split("/");
  if (parts.length !== 5 || parts[0] === "*") return [value];
  const td = parts[0]!;
  const known = bundle.some(
    (s) =>
      td === s ||
      s === "*" ||
      prefixPattern(td, s) ||
      prefixPattern(s, td) ||
      suffixPattern(td, s) ||
      suffixPattern(s, td),
  );
  if (!known && td !== DEFAULT_TRUST_DOMAIN) return [value];
  const out: string[] = [];
  for (const t of bundle) {
    // A trust domain like `*local` that matches this member of the bundle stays a wildcard.
    const v = suffixPattern(t, td) ? value : [t, ...parts.slice(1)].join("/");
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/**
 * A principal matches `spiffe://` + the value with Istio's wildcards
 * (srcPrincipalGenerator → `StringMatcherWithPrefix(value, "spiffe://")`). On a waypoint the peer
 * identity is read from the filter state `io.istio.peer_principal` (principal.go
 * `principalAuthenticated` with `useAuthenticated` false); no identity matches no value.
 */
function principalAttr(opts: EvaluateOptions): Attribute {
  const bundle = trustBundle(opts);
  return {
    httpOnly: false,
    valid: nonEmpty,
    test: (v, req) =>
      expandPrincipal(v, bundle).some((p) => wildcardMatch(p, req.peerPrincipal, "spiffe://")),
  };
}

/**
 * `namespaces` / `source.namespace`: the regex `.*\/ns/<value>/.*` on the peer principal, every `*` of
 * the value becoming `.*` (srcNamespaceGenerator). So a wildcard may sit anywhere, and a principal
 * without `/ns/<ns>/` (or no principal) matches nothing.
 */
const namespaceAttr: Attribute = {
  httpOnly: false,
  valid: nonEmpty,
  test: (v, req) => {
    if (req.peerPrincipal === undefined) return false;
    const ns = v.split("*").map(reEscape).join(".*");
    return full(`.*/ns/${ns}/.*`).test(req.peerPrincipal);
  },
};

/**
 * `serviceAccounts` / `source.serviceAccount`: `sa` or `ns/sa`, the namespace defaulting to the
 * policy's (serviceAccountRegex in generator.go); no wildcard, at most one `/`, at most 16 values and
 * 320 characters (pkg/config/security `CheckServiceAccount`).
 */
function serviceAccountAttr(policyNamespace: string): Attribute {
  return {
    httpOnly: false,
    valid: (v) => {
      if (v === "" || v.includes("*") || v.length > 320) return false;
      const slashes = v.split("/").length - 1;
      if (slashes > 1) return false;
      return slashes === 0 || (!v.startsWith("/") && !v.endsWith("/"));
    },
    test: (v, req) => {
      if (req.peerPrincipal === undefined) return false;
      const [ns, sa] = v.includes("/") ? v.split("/") : [policyNamespace, v];
      return full(`spiffe://.+/ns/${reEscape(ns!)}/(.+/|)sa/${reEscape(sa!)}(/.+)?`).test(req.peerPrincipal);
    },
  };
}

const wildcardOk = (v: string) => {
  const n = v.split("*").length - 1;
  return v !== "" && (n === 0 || (n === 1 && (v === "*" || v.startsWith("*") || v.endsWith("*"))));
};

/**
 * `trustDomains` / `source.trustDomain` (srcTrustDomainGenerator): `*` any SPIFFE identity, a plain
 * value the prefix `spiffe://<td>/`, a prefix/suffix wildcard `[^/]*` inside the trust domain. A value
 * that is a member of the bundle stands for the whole bundle (Bundle.ExpandTrustDomainAliases).
 * Admission allows one wildcard at the start or end and no `/` (CheckTrustDomainValues).
 */
function trustDomainAttr(opts: EvaluateOptions): Attribute {
  const bundle = trustBundle(opts);
  const one = (v: string, p: string) => {
    if (v === "*") return p.startsWith("spiffe://");
    if (!v.includes("*")) return p.startsWith(`spiffe://${v}/`);
    const i = v.indexOf("*");
    return full(`spiffe://${reEscape(v.slice(0, i))}[^/]*${reEscape(v.slice(i + 1))}/.*`).test(p);
  };
  return {
    httpOnly: false,
    valid: (v) => wildcardOk(v) && !v.includes("/"),
    test: (v, req) => {
      if (req.peerPrincipal === undefined) return false;
      const values = bundle.includes(v) ? bundle : [v];
      return values.some((x) => one(x, req.peerPrincipal!));
    },
  };
}

// --- addresses and ports ---

const validCidr = (v: string) => parseCidr(v) !== undefined;

/**
 * `ipBlocks` / `source.ip`: the source workload's address (istio.io conditions page), on a waypoint
 * the PROXY header's source. Istio matches it with `direct_remote_ip`, which behind ztunnel's PROXY
 * header is ztunnel's own address; see docs/design/authorization.md §4 for Waymark's matcher.
 */
const sourceIpAttr: Attribute = {
  httpOnly: false,
  valid: validCidr,
  test: (v, req) => cidrContains(parseCidr(v)!, req.sourceIp),
};

/**
 * `remoteIpBlocks` / `remote.ip`: Envoy's `remote_ip`, the client address from X-Forwarded-For (per
 * the HCM's `xff_num_trusted_hops`), the source address when there is none and on TCP.
 */
const remoteIpAttr: Attribute = {
  httpOnly: false,
  valid: validCidr,
  test: (v, req) =>
    cidrContains(parseCidr(v)!, req.protocol === "http" ? (req.remoteIp ?? req.sourceIp) : req.sourceIp),
};

/** `destination.ip`: Envoy's `destination_ip`, the local address (the VIP from the PROXY header). */
const destinationIpAttr: Attribute = {
  httpOnly: false,
  valid: validCidr,
  test: (v, req) => cidrContains(parseCidr(v)!, req.destinationIp),
};

/** Decimal 0–65535 (util.go `convertToPort`, pkg/config/security `ValidatePorts`). */
const validPort = (v: string) => /^[0-9]{1,10}$/.test(v) && Number(v) <= 65535;

/** `ports` / `destination.port`: Envoy's `destination_port`, the PROXY header's destination port. */
const portAttr: Attribute = {
  httpOnly: false,
  valid: validPort,
  test: (v, req) => Number(v) === req.destinationPort,
};

/** `connection.sni`: `requested_server_name` with Istio's wildcards; no SNI is the empty name. */
const sniAttr: Attribute = {
  httpOnly: false,
  valid: nonEmpty,
  test: (v, req) => wildcardMatch(v, req.sni ?? ""),
};

// --- HTTP request ---

/**
 * A request header's values as Envoy's header matcher reads them: case-insensitive name; a header
 * sent several times is several values. Envoy 1.40 matches each value on its own, not the values
 * joined with "," (checked: `exact: "gold"` and `exact: "silver"` both matched `x-tier: gold` +
 * `x-tier: silver`, `exact: "gold,silver"` did not). Undefined when the header is absent.
 */
export function header(req: Request, name: string): string[] | undefined {
  const n = name.toLowerCase();
  const one = (v: string | undefined) => (v === undefined ? undefined : [v]);
  if (n === ":method") return one(req.method);
  if (n === ":path") return one(req.path);
  // Envoy keeps Host as `:authority`, and a header matcher named `host` finds it too (checked
  // against Envoy 1.40: `present_match` on `host` matched an HTTP/1.1 request).
  if (n === ":authority" || n === "host") return one(req.host);
  const values: string[] = [];
  for (const [k, v] of Object.entries(req.headers ?? {})) {
    if (k.toLowerCase() === n) values.push(...(Array.isArray(v) ? v : [v]));
  }
  return values.length > 0 ? values : undefined;
}

/** `hosts`: a header matcher on `:authority`, case-insensitive (matcher/header.go HostMatcher). */
const hostAttr: Attribute = {
  httpOnly: true,
  valid: nonEmpty,
  test: (v, req) => headerMatch(v, req.host, true),
};

/** `methods`: a case-sensitive header matcher on `:method`, wildcards included (methodGenerator). */
const methodAttr: Attribute = {
  httpOnly: true,
  valid: nonEmpty,
  test: (v, req) => headerMatch(v, req.method),
};

/**
 * `paths`: a template (`{*}` one segment, `{**}` any rest) becomes Envoy's uri_template matcher,
 * anything else a `url_path` StringMatcher with Istio's wildcards (pathGenerator). Both see the path
 * without its query string. Admission rejects malformed templates (CheckValidPathTemplate).
 */
const pathAttr: Attribute = {
  httpOnly: true,
  valid: (v) => v !== "" && validPath(v) && (!isPathTemplate(v) || templateRegex(v) !== undefined),
  test: (v, req) => {
    if (req.path === undefined) return false;
    const p = pathOnly(req.path);
    if (isPathTemplate(v)) return templateRegex(v)!.test(p);
    return wildcardMatch(v, p);
  },
};

/** The name inside `[...]` of `request.headers[name]` (util.go extractNameInBrackets). */
function bracketName(s: string): string | undefined {
  return s.startsWith("[") && s.endsWith("]") && s.length > 2 ? s.slice(1, -1) : undefined;
}

/** `[a][b]` → `["a", "b"]`, else a single `[...]` (util.go extractNameInNestedBrackets). */
function claimPath(s: string): string[] | undefined {
  const m = /^(\[[^[\]]+\])+$/.exec(s);
  if (m) return [...s.matchAll(/\[([^[\]]+)\]/g)].map((x) => x[1]!);
  const one = bracketName(s);
  return one === undefined ? undefined : [one];
}

/** `request.headers[name]`: a header matcher, `*` meaning present (requestHeaderGenerator). */
function headerAttr(name: string): Attribute {
  return {
    httpOnly: true,
    valid: nonEmpty,
    test: (v, req) => (header(req, name) ?? []).some((h) => headerMatch(v, h)),
  };
}

// --- the validated JWT (jwt_authn's payload in dynamic metadata) ---

/** The payload Envoy's jwt_authn writes to metadata, with space-delimited claims split into lists. */
export function jwtPayload(req: Request, opts: EvaluateOptions): Record<string, unknown> | undefined {
  const jwt = req.jwt;
  if (!jwt || req.protocol !== "http") return undefined;
  const payload: Record<string, unknown> = { ...jwt.claims, iss: jwt.iss, sub: jwt.sub };
  if (jwt.aud !== undefined) payload["aud"] = jwt.aud;
  if (jwt.azp !== undefined) payload["azp"] = jwt.azp;
  // policy_applier.go buildSpaceDelimitedClaims: `scope` and `permission` always, plus the configured.
  for (const c of ["scope", "permission", ...(opts.spaceDelimitedClaims ?? [])]) {
    const v = payload[c];
    if (typeof v === "string") payload[c] = v.split(" ").filter((x) => x !== "");
  }
  return payload;
}

/**
 * A metadata value matcher in Istio's "extended JWT" form (util.go MetadataListValueMatcherForJWTClaims,
 * matcher/metadata.go with useExtendedJwt): a string claim matches the value, a list claim matches if
 * one of its strings does. Numbers, booleans and objects match nothing.
 */
function claimMatches(v: string, claim: unknown): boolean {
  if (typeof claim === "string") return wildcardMatch(v, claim);
  if (Array.isArray(claim)) return claim.some((c) => typeof c === "string" && wildcardMatch(v, c));
  return false;
}

function claimAt(payload: Record<string, unknown> | undefined, path: readonly string[]): unknown {
  let cur: unknown = payload;
  for (const k of path) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * `requestPrincipals` / `request.auth.principal`: `<iss>/<sub>`, split at the last `/`, matched as two
 * string matchers on the payload's `iss` and `sub` (requestPrincipalGenerator): `*` both non-empty;
 * `*x` with a `/`: issuer suffix (or any if `*`) and exact subject; `*x` without: any issuer, subject
 * suffix; `x*` with a `/`: exact issuer and subject prefix (or any); `x*` without: issuer prefix, any
 * subject; otherwise both exact.
 */
function requestPrincipalAttr(opts: EvaluateOptions): Attribute {
  const any = (s: unknown) => typeof s === "string" && s.length > 0;
  const exact = (x: string) => (s: unknown) => s === x;
  const suffix = (x: string) => (s: unknown) => typeof s === "string" && s.endsWith(x);
  const prefix = (x: string) => (s: unknown) => typeof s === "string" && s.startsWith(x);
  return {
    httpOnly: true,
    valid: nonEmpty,
    test: (v, req) => {
      const payload = jwtPayload(req, opts);
      if (!payload) return false;
      const idx = v.lastIndexOf("/");
      const found = idx >= 0;
      const iss = found ? v.slice(0, idx) : v;
      const sub = found ? v.slice(idx + 1) : "";
      let mi: (s: unknown) => boolean;
      let ms: (s: unknown) => boolean;
      if (v === "*") [mi, ms] = [any, any];
      else if (v.startsWith("*")) {
        if (found) [mi, ms] = [iss === "*" ? any : suffix(iss.slice(1)), exact(sub)];
        else [mi, ms] = [any, suffix(v.slice(1))];
      } else if (v.endsWith("*")) {
        if (found) [mi, ms] = [exact(iss), sub === "*" ? any : prefix(sub.slice(0, -1))];
        else [mi, ms] = [prefix(v.slice(0, -1)), any];
      } else [mi, ms] = [exact(iss), exact(sub)];
      return mi(payload["iss"]) && ms(payload["sub"]);
    },
  };
}

function claimAttr(path: readonly string[], opts: EvaluateOptions): Attribute {
  return {
    httpOnly: true,
    valid: nonEmpty,
    test: (v, req) => claimMatches(v, claimAt(jwtPayload(req, opts), path)),
  };
}

/** The attribute a `when` key names, or `undefined` for a key istiod does not know (model.go New). */
export function whenAttribute(
  key: string,
  policyNamespace: string,
  opts: EvaluateOptions,
): Attribute | "malformed" | undefined {
  switch (key) {
    case "source.ip":
      return sourceIpAttr;
    case "remote.ip":
      return remoteIpAttr;
    case "source.namespace":
      return namespaceAttr;
    case "source.serviceAccount":
      return serviceAccountAttr(policyNamespace);
    case "source.trustDomain":
      return { ...trustDomainAttr(opts), valid: wildcardOk };
    case "source.principal":
      return principalAttr(opts);
    case "request.auth.principal":
      return requestPrincipalAttr(opts);
    case "request.auth.audiences":
      return claimAttr(["aud"], opts);
    case "request.auth.presenter":
      return claimAttr(["azp"], opts);
    case "destination.ip":
      return destinationIpAttr;
    case "destination.port":
      return portAttr;
    case "connection.sni":
      return sniAttr;
  }
  if (key.startsWith("request.headers")) {
    const name = bracketName(key.slice("request.headers".length));
    return name === undefined ? "malformed" : headerAttr(name);
  }
  if (key.startsWith("request.auth.claims")) {
    const path = claimPath(key.slice("request.auth.claims".length));
    return path === undefined ? "malformed" : claimAttr(path, opts);
  }
  return undefined;
}

export const sourceFields = {
  principals: "principals",
  notPrincipals: "principals",
  requestPrincipals: "requestPrincipals",
  notRequestPrincipals: "requestPrincipals",
  namespaces: "namespaces",
  notNamespaces: "namespaces",
  serviceAccounts: "serviceAccounts",
  notServiceAccounts: "serviceAccounts",
  trustDomains: "trustDomains",
  notTrustDomains: "trustDomains",
  ipBlocks: "ipBlocks",
  notIpBlocks: "ipBlocks",
  remoteIpBlocks: "remoteIpBlocks",
  notRemoteIpBlocks: "remoteIpBlocks",
} as const;

export function sourceAttribute(
  field: (typeof sourceFields)[keyof typeof sourceFields],
  policyNamespace: string,
  opts: EvaluateOptions,
): Attribute {
  switch (field) {
    case "principals":
      return principalAttr(opts);
    case "requestPrincipals":
      return requestPrincipalAttr(opts);
    case "namespaces":
      return namespaceAttr;
    case "serviceAccounts":
      return serviceAccountAttr(policyNamespace);
    case "trustDomains":
      return trustDomainAttr(opts);
    case "ipBlocks":
      return sourceIpAttr;
    case "remoteIpBlocks":
      return remoteIpAttr;
  }
}

export function operationAttribute(field: "hosts" | "ports" | "methods" | "paths"): Attribute {
  switch (field) {
    case "hosts":
      return hostAttr;
    case "ports":
      return portAttr;
    case "methods":
      return methodAttr;
    case "paths":
      return pathAttr;
  }
}
