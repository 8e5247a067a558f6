// RequestAuthentication → one Envoy jwt_authn filter per HTTP chain, and the clusters its remote JWKS
// are fetched through (docs/design/authorization.md §5).
//
// Every jwtRule of every bound RequestAuthentication, in order, becomes one provider `origins-<i>`.
// The single requirement (prefix `/`) lets a request without a token through (allow_missing: the
// authorization filters decide) and refuses any token that is present and fails: 401 for a bad
// signature, an expired or not yet valid token, or an issuer no provider has; 403 for an audience
// the provider does not allow (Envoy's answer, as on Istio's proxies).
//
// Rules are read defensively (the spec comes from objects that may never have passed admission). A
// rule that cannot be programmed is left out and reported with effect `policy-ignored`. Leaving it
// out fails closed: Envoy rejects a token whose issuer no provider has. So that this also holds when
// no rule is left at all, and for tokens sent where only a left-out rule looks, a left-out rule adds
// the provider REJECTED_PROVIDER, which checks no issuer and only knows a key nobody can sign with.
import { createPublicKey, type JsonWebKey } from "node:crypto";
import { isIP } from "node:net";
import type {
  ClusterJson,
  HttpFilterJson,
  JwtAuthenticationJson,
  JwtProviderJson,
  JwtRequirementJson,
  UpstreamTlsContextJson,
} from "@waymark/envoy-proto";
import { compareStrings, isRecord, str } from "../input/guards.ts";
import { pack } from "../ir/any.ts";
import {
  type AuthzProblem,
  type BoundPolicy,
  JWT_FILTER_NAME,
  JWT_PAYLOAD_KEY,
  type JwtAuthnBuild,
  type JwtAuthnBuilder,
} from "./contract.ts";

const JWT_AUTHN_TYPE = "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const TLS_TYPE = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

/** Claims whose space-separated string value RBAC matches word by word (as Istio always adds them). */
const SPACE_DELIMITED_CLAIMS = ["scope", "permission"];

/** JWKS fetches: Istio's default `timeout` for a jwtRule, and how long a fetched JWKS is kept. */
const JWKS_FETCH_TIMEOUT = "5s";
const JWKS_CACHE_DURATION = "300s";
const JWKS_CONNECT_TIMEOUT = "2s";

/** The provider added when a rule is left out; its tokens, and any at its locations, fail with 401. */
export const REJECTED_PROVIDER = "origins-rejected";
/**
 * A P-256 public key made once for this purpose with node:crypto's generateKeyPairSync; the private
 * key was never stored, so no token verifies against it. (A symmetric key would not do: its secret
 * would be in this file.)
 */
const UNSIGNABLE_JWKS = JSON.stringify({
  keys: [
    {
      kty: "EC",
      crv: "P-256",
      kid: "waymark-rejects-every-token",
      x: "Wh2nbvybqZXiagD1BDfZIo3xDa2a6Ak6O_CFxFGsfc0",
      y: "HL8gUfUsfCLGQtLVALURZsg3FcHsaLvTxSgNv74a2kA",
    },
  ],
});

/** Envoy's token locations when a provider names none (what a rule without from* gets). */
const DEFAULT_HEADER = { name: "Authorization", valuePrefix: "Bearer " };
const DEFAULT_PARAM = "access_token";

/** An HTTP field name (RFC 9110 token); pseudo-headers and anything with spaces or colons are not. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A Go duration as Istio's `timeout` takes it, in the units that make sense for a fetch. */
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

const FAILS_CLOSED =
  "the rule is not programmed, so its tokens fail with 401 (no provider has its issuer) and the request is not authenticated";

interface Locations {
  fromHeaders: { name: string; valuePrefix?: string }[];
  fromParams: string[];
  fromCookies: string[];
}

/** A rule as read: the provider, or why it cannot be; the locations it names are kept either way. */
interface ReadRule {
  provider?: JwtProviderJson;
  jwks?: JwksTarget;
  invalid?: { field: string; cause: string };
  locations: Locations;
  /** True when the rule names no location of its own (Envoy's defaults apply). */
  defaultLocations: boolean;
}

/** Where a remote JWKS is fetched from: the URL and the cluster of its authority. */
interface JwksTarget {
  uri: string;
  tls: boolean;
  host: string;
  port: number;
}

export function jwksClusterName(host: string, port: number): string {
  return `jwks|${host}|${port}`;
}

class Invalid extends Error {
  readonly field: string;
  readonly why: string;
  constructor(field: string, why: string) {
    super(`${field}: ${why}`);
    this.field = field;
    this.why = why;
  }
}

function strings(v: unknown, field: string, what: (s: string) => string | undefined): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Invalid(field, "not a list");
  return v.map((x, i) => {
    if (typeof x !== "string") throw new Invalid(`${field}[${i}]`, "not a string");
    const bad = what(x);
    if (bad !== undefined) throw new Invalid(`${field}[${i}]`, bad);
    return x;
  });
}

const nonEmpty = (s: string) => (s === "" ? "empty" : undefined);
const headerName = (s: string) =>
  HEADER_NAME.test(s) ? undefined : `not an HTTP header name: ${JSON.stringify(s)}`;

function readHeaderField(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new Invalid(field, "not a string");
  const bad = headerName(v);
  if (bad !== undefined) throw new Invalid(field, bad);
  return v;
}

/** The token locations of a rule; each invalid entry throws. */
function readLocations(
  rule: Record<string, unknown>,
  at: string,
): { locations: Locations; defaults: boolean } {
  const fromHeaders: Locations["fromHeaders"] = [];
  const headers = rule.fromHeaders;
  if (headers !== undefined && headers !== null) {
    if (!Array.isArray(headers)) throw new Invalid(`${at}.fromHeaders`, "not a list");
    headers.forEach((h, i) => {
      const field = `${at}.fromHeaders[${i}]`;
      if (!isRecord(h)) throw new Invalid(field, "not an object");
      const name = readHeaderField(h.name, `${field}.name`);
      if (name === undefined) throw new Invalid(`${field}.name`, "missing");
      const prefix = h.prefix;
      if (prefix !== undefined && prefix !== null && typeof prefix !== "string")
        throw new Invalid(`${field}.prefix`, "not a string");
      // Envoy refuses a prefix that could not be in a header value.
      if (typeof prefix === "string" && /[\0\r\n]/.test(prefix))
        throw new Invalid(`${field}.prefix`, "not a header value");
      fromHeaders.push(
        typeof prefix === "string" && prefix !== "" ? { name, valuePrefix: prefix } : { name },
      );
    });
  }
  const fromParams = strings(rule.fromParams, `${at}.fromParams`, nonEmpty);
  const fromCookies = strings(rule.fromCookies, `${at}.fromCookies`, headerName);
  const locations = { fromHeaders, fromParams, fromCookies };
  return { locations, defaults: !fromHeaders.length && !fromParams.length && !fromCookies.length };
}

/** A jwksUri: an absolute http(s) URL with a host; the port defaults by scheme. */
function readJwksUri(v: string, field: string): JwksTarget {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new Invalid(field, `not a URL: ${JSON.stringify(v)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new Invalid(field, `not an http or https URL: ${JSON.stringify(v)}`);
  if (url.username !== "" || url.password !== "") throw new Invalid(field, "credentials in the URL");
  const tls = url.protocol === "https:";
  // URL keeps an IPv6 literal in brackets; the cluster's address wants it bare.
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (host === "") throw new Invalid(field, `no host: ${JSON.stringify(v)}`);
  const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
  if (port === 0) throw new Invalid(field, `port 0: ${JSON.stringify(v)}`);
  return { uri: url.href, tls, host, port };
}

/**
 * An inline JWKS: JSON with a `keys` list of which at least one key Envoy can use. Envoy skips the
 * keys it cannot read, but refuses the whole configuration (a NACK of the listener) when none is
 * left, so that case must stay out of the filter.
 */
function readInlineJwks(v: string, field: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw new Invalid(field, "not JSON");
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.keys) || parsed.keys.length === 0)
    throw new Invalid(field, "no keys: a JWKS is an object with a non-empty `keys` list");
  const why = parsed.keys.map(unusableKey);
  if (why.every((w) => w !== undefined))
    throw new Invalid(field, `no usable key: ${why.map((w, i) => `keys[${i}] ${w}`).join("; ")}`);
  return v;
}

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
/**
 * base64url as Envoy decodes it: padding optional but then complete, and never one character left
 * over (Buffer.from is more lenient and would accept what Envoy refuses).
 */
function b64(s: unknown): Buffer | undefined {
  if (typeof s !== "string" || !BASE64URL.test(s)) return undefined;
  const bare = s.replace(/=+$/, "");
  if (bare.length % 4 === 1 || (bare.length !== s.length && s.length % 4 !== 0)) return undefined;
  return Buffer.from(bare, "base64url");
}
const EC_CURVES: Record<string, string> = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };

/**
 * Why Envoy would skip this JWK (the rules of its JWKS reader: kty EC, RSA, oct or OKP; alg, when
 * given, of the key's family and matching the curve; RSA exponent 3 or 65537), or undefined when it
 * can use it. The key material itself is checked by importing it with node:crypto: a point off its
 * curve or a malformed modulus fails there as it does in BoringSSL. Written here rather than taken
 * from a JOSE library because what matters is Envoy's acceptance, not the JOSE rules.
 */
function unusableKey(k: unknown): string | undefined {
  if (!isRecord(k)) return "is not an object";
  const { kty, alg } = k;
  if (typeof kty !== "string") return "has no kty";
  // An alg that is not a string is ignored, as Envoy's reader does.
  const a = typeof alg === "string" ? alg : "";
  const imports = (jwk: Record<string, unknown>) => {
    try {
      createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
      return true;
    } catch {
      return false;
    }
  };
  switch (kty) {
    case "EC": {
      if (a !== "" && !a.startsWith("ES")) return `has alg ${a} for an EC key`;
      if (k.crv !== undefined && typeof k.crv !== "string") return "has a crv that is not a string";
      const crv = (k.crv as string | undefined) || EC_CURVES[a] || (a === "" ? "P-256" : undefined);
      if (crv === undefined || !Object.values(EC_CURVES).includes(crv)) return "has an unsupported curve";
      if (a !== "" && k.crv !== undefined && k.crv !== "" && EC_CURVES[a] !== crv)
        return `has alg ${a} on ${crv}`;
      if (!b64(k.x) || !b64(k.y)) return "has no x or y";
      return imports({ kty, crv, x: k.x, y: k.y }) ? undefined : "is not a point on its curve";
    }
    case "RSA": {
      if (a !== "" && !a.startsWith("RS") && !a.startsWith("PS")) return `has alg ${a} for an RSA key`;
      const n = b64(k.n);
      const e = b64(k.e);
      if (!n || !e) return "has no n or e";
      const exponent = e.length >= 1 && e.length <= 4 ? e.readUIntBE(0, e.length) : 0;
      if (exponent !== 3 && exponent !== 65537) return "has an exponent other than 3 or 65537";
      const bits = (n.length - (n[0] === 0 ? 1 : 0)) * 8;
      if (bits < 512 || bits > 16384 || (n[n.length - 1] ?? 0) % 2 === 0) return "has a malformed modulus";
      return imports({ kty, n: k.n, e: k.e }) ? undefined : "has a malformed modulus";
    }
    case "oct": {
      if (a !== "" && a !== "HS256" && a !== "HS384" && a !== "HS512") return `has alg ${a} for an oct key`;
      return b64(k.k)?.length ? undefined : "has no k";
    }
    case "OKP": {
      if (a !== "" && a !== "EdDSA") return `has alg ${a} for an OKP key`;
      if (k.crv !== "Ed25519") return "is not on Ed25519";
      return b64(k.x)?.length === 32 ? undefined : "has an x that is not 32 bytes";
    }
    default:
      return `has kty ${kty}, which Envoy does not read`;
  }
}

function readRule(raw: unknown, at: string): ReadRule {
  const empty: Locations = { fromHeaders: [], fromParams: [], fromCookies: [] };
  if (!isRecord(raw))
    return { invalid: { field: at, cause: "not an object" }, locations: empty, defaultLocations: true };
  // The locations first: a rule left out still says where its tokens are, for REJECTED_PROVIDER.
  let locations = empty;
  let defaultLocations = true;
  try {
    const read = readLocations(raw, at);
    locations = read.locations;
    defaultLocations = read.defaults;
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    // Where the rule meant to look, as far as that reads; Envoy's defaults when nothing does.
    const salvaged = salvageLocations(raw, at);
    const none = !salvaged.fromHeaders.length && !salvaged.fromParams.length && !salvaged.fromCookies.length;
    return { invalid: { field: e.field, cause: e.why }, locations: salvaged, defaultLocations: none };
  }
  try {
    const issuer = str(raw.issuer);
    if (issuer === undefined || issuer === "") throw new Invalid(`${at}.issuer`, "missing");
    const audiences = strings(raw.audiences, `${at}.audiences`, nonEmpty);
    const provider: JwtProviderJson = { issuer };
    if (audiences.length) provider.audiences = audiences;

    const uri = raw.jwksUri;
    const jwks = raw.jwks;
    const hasUri = uri !== undefined && uri !== null && uri !== "";
    const hasJwks = jwks !== undefined && jwks !== null && jwks !== "";
    if (hasUri && hasJwks) throw new Invalid(`${at}.jwks`, "both jwks and jwksUri are set");
    let target: JwksTarget | undefined;
    if (hasUri) {
      if (typeof uri !== "string") throw new Invalid(`${at}.jwksUri`, "not a string");
      target = readJwksUri(uri, `${at}.jwksUri`);
    } else if (hasJwks) {
      if (typeof jwks !== "string") throw new Invalid(`${at}.jwks`, "not a string");
      provider.localJwks = { inlineString: readInlineJwks(jwks, `${at}.jwks`) };
    } else {
      // istiod would look the JWKS up from the issuer's OpenID configuration; Waymark does not.
      throw new Invalid(
        `${at}.jwksUri`,
        "neither jwks nor jwksUri is set (OpenID discovery is not supported)",
      );
    }
    const timeout = readTimeout(raw.timeout, `${at}.timeout`);
    if (target) {
      provider.remoteJwks = {
        httpUri: {
          uri: target.uri,
          cluster: jwksClusterName(target.host, target.port),
          timeout: timeout ?? JWKS_FETCH_TIMEOUT,
        },
        cacheDuration: JWKS_CACHE_DURATION,
        // Fetched when the listener starts and fetched again (every second by default) while that
        // fails, so a JWKS that is down at start is picked up when it comes back.
        asyncFetch: { fastListener: false },
        retryPolicy: { numRetries: 3, retryBackOff: { baseInterval: "0.2s", maxInterval: "2s" } },
      };
    }

    const forward = raw.forwardOriginalToken;
    if (forward !== undefined && forward !== null && typeof forward !== "boolean")
      throw new Invalid(`${at}.forwardOriginalToken`, "not a boolean");
    if (forward === true) provider.forward = true;
    if (locations.fromHeaders.length) provider.fromHeaders = locations.fromHeaders;
    if (locations.fromParams.length) provider.fromParams = locations.fromParams;
    if (locations.fromCookies.length) provider.fromCookies = locations.fromCookies;

    const payloadHeader = readHeaderField(raw.outputPayloadToHeader, `${at}.outputPayloadToHeader`);
    if (payloadHeader !== undefined) provider.forwardPayloadHeader = payloadHeader;
    provider.payloadInMetadata = JWT_PAYLOAD_KEY;
    const spaced = strings(raw.spaceDelimitedClaims, `${at}.spaceDelimitedClaims`, nonEmpty);
    provider.normalizePayloadInMetadata = {
      spaceDelimitedClaims: [...new Set([...SPACE_DELIMITED_CLAIMS, ...spaced])],
    };

    const claims = raw.outputClaimToHeaders;
    if (claims !== undefined && claims !== null) {
      if (!Array.isArray(claims)) throw new Invalid(`${at}.outputClaimToHeaders`, "not a list");
      const out = claims.map((c, i) => {
        const field = `${at}.outputClaimToHeaders[${i}]`;
        if (!isRecord(c)) throw new Invalid(field, "not an object");
        const headerName = readHeaderField(c.header, `${field}.header`);
        if (headerName === undefined) throw new Invalid(`${field}.header`, "missing");
        const claimName = str(c.claim);
        if (claimName === undefined || claimName === "") throw new Invalid(`${field}.claim`, "missing");
        return { headerName, claimName };
      });
      if (out.length) {
        provider.claimToHeaders = out;
        // The route was chosen before these headers were set: choose it again so that routes
        // matching on them see the verified claims.
        provider.clearRouteCache = true;
      }
    }
    return target
      ? { provider, jwks: target, locations, defaultLocations }
      : { provider, locations, defaultLocations };
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    return { invalid: { field: e.field, cause: e.why }, locations, defaultLocations };
  }
}

/** The locations of a rule whose locations did not all read: the entries that do. */
function salvageLocations(raw: Record<string, unknown>, at: string): Locations {
  const out: Locations = { fromHeaders: [], fromParams: [], fromCookies: [] };
  for (const h of Array.isArray(raw.fromHeaders) ? raw.fromHeaders : []) {
    try {
      out.fromHeaders.push(...readLocations({ fromHeaders: [h] }, at).locations.fromHeaders);
    } catch {
      // An unreadable entry: the readable ones and Envoy's defaults still look for tokens.
    }
  }
  for (const p of Array.isArray(raw.fromParams) ? raw.fromParams : [])
    if (typeof p === "string" && p !== "") out.fromParams.push(p);
  for (const c of Array.isArray(raw.fromCookies) ? raw.fromCookies : [])
    if (typeof c === "string" && HEADER_NAME.test(c)) out.fromCookies.push(c);
  return out;
}

function readTimeout(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new Invalid(field, "not a duration");
  const m = DURATION.exec(v);
  if (!m) throw new Invalid(field, `not a duration: ${JSON.stringify(v)}`);
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as "ms" | "s" | "m" | "h"];
  // Protobuf's JSON Duration: seconds with at most nine fractional digits, a day at most here
  // (a JWKS fetch that takes longer has failed).
  const seconds = Number((Number(m[1]) * factor).toFixed(9));
  if (!(seconds > 0)) throw new Invalid(field, "not positive");
  if (seconds > 86_400) throw new Invalid(field, `over a day: ${JSON.stringify(v)}`);
  return `${seconds}s`;
}

/** The cluster a remote JWKS is fetched through: the URL's host, resolved by DNS unless an IP. */
function jwksCluster(t: JwksTarget): ClusterJson {
  const name = jwksClusterName(t.host, t.port);
  const cluster: ClusterJson = {
    name,
    type: isIP(t.host) === 0 ? "STRICT_DNS" : "STATIC",
    connectTimeout: JWKS_CONNECT_TIMEOUT,
    loadAssignment: {
      clusterName: name,
      endpoints: [
        {
          lbEndpoints: [{ endpoint: { address: { socketAddress: { address: t.host, portValue: t.port } } } }],
        },
      ],
    },
  };
  // IPv4 first, IPv6 when the name has no IPv4 address (Envoy's default tries IPv6 first).
  if (cluster.type === "STRICT_DNS") cluster.dnsLookupFamily = "V4_PREFERRED";
  if (t.tls) {
    // SNI names the host; an IP literal is not sent as SNI (RFC 6066 allows only host names). The
    // server certificate is not verified: Waymark has no CA setting for JWKS servers yet.
    const tls: UpstreamTlsContextJson = isIP(t.host) === 0 ? { sni: t.host } : {};
    cluster.transportSocket = { name: "envoy.transport_sockets.tls", typedConfig: pack(TLS_TYPE, tls) };
  }
  return cluster;
}

function requirement(valid: string[], rejected: boolean): JwtRequirementJson {
  const optional = (p: string): JwtRequirementJson => ({
    requiresAny: { requirements: [{ providerName: p }, { allowMissing: {} }] },
  });
  const all = rejected ? [...valid, REJECTED_PROVIDER] : valid;
  if (all.length === 1) return optional(all[0] as string);
  // Any one provider's token alone, or else every token present valid for its provider; the
  // rejecting provider is never enough alone.
  return {
    requiresAny: {
      requirements: [
        ...valid.map((p) => ({ providerName: p })),
        { requiresAll: { requirements: all.map(optional) } },
      ],
    },
  };
}

function rejectingProvider(ignored: ReadRule[]): JwtProviderJson {
  const headers = new Map<string, { name: string; valuePrefix?: string }>();
  const params = new Set<string>();
  const cookies = new Set<string>();
  for (const r of ignored) {
    if (r.defaultLocations) {
      headers.set(`${DEFAULT_HEADER.name.toLowerCase()}|${DEFAULT_HEADER.valuePrefix}`, {
        ...DEFAULT_HEADER,
      });
      params.add(DEFAULT_PARAM);
    }
    for (const h of r.locations.fromHeaders) headers.set(`${h.name.toLowerCase()}|${h.valuePrefix ?? ""}`, h);
    for (const p of r.locations.fromParams) params.add(p);
    for (const c of r.locations.fromCookies) cookies.add(c);
  }
  const provider: JwtProviderJson = { localJwks: { inlineString: UNSIGNABLE_JWKS } };
  if (headers.size) provider.fromHeaders = [...headers.values()];
  if (params.size) provider.fromParams = [...params];
  if (cookies.size) provider.fromCookies = [...cookies];
  return provider;
}

/** RequestAuthentications bound to one HTTP chain → its jwt_authn filter and JWKS clusters. */
export const jwtAuthnFilter: JwtAuthnBuilder = (policies: readonly BoundPolicy[]): JwtAuthnBuild => {
  const problems: AuthzProblem[] = [];
  const providers: Record<string, JwtProviderJson> = {};
  const names: string[] = [];
  const ignored: ReadRule[] = [];
  const clusters = new Map<string, { target: JwksTarget; cluster: ClusterJson }>();
  let bound = 0;
  for (const policy of policies) {
    const id = `${policy.namespace}/${policy.name}`;
    const spec = policy.spec;
    if (!isRecord(spec)) continue;
    const rules = spec.jwtRules;
    if (rules === undefined || rules === null) continue;
    if (!Array.isArray(rules)) {
      problems.push({
        policy: id,
        rule: -1,
        field: "jwtRules",
        cause: `not a list; ${FAILS_CLOSED}`,
        effect: "policy-ignored",
      });
      ignored.push({
        locations: { fromHeaders: [], fromParams: [], fromCookies: [] },
        defaultLocations: true,
      });
      bound++;
      continue;
    }
    rules.forEach((raw, i) => {
      bound++;
      const at = `jwtRules[${i}]`;
      const rule = readRule(raw, at);
      let invalid = rule.invalid;
      if (!invalid && rule.jwks) {
        const name = jwksClusterName(rule.jwks.host, rule.jwks.port);
        const seen = clusters.get(name);
        if (seen && seen.target.tls !== rule.jwks.tls)
          invalid = {
            field: `${at}.jwksUri`,
            cause: `another rule reaches ${rule.jwks.host}:${rule.jwks.port} over ${seen.target.tls ? "https" : "http"}`,
          };
        else if (!seen) clusters.set(name, { target: rule.jwks, cluster: jwksCluster(rule.jwks) });
      }
      if (invalid || !rule.provider) {
        const why = invalid ?? { field: at, cause: "not readable" };
        problems.push({
          policy: id,
          rule: i,
          field: why.field,
          cause: `${why.cause}; ${FAILS_CLOSED}`,
          effect: "policy-ignored",
        });
        ignored.push(rule);
        return;
      }
      const name = `origins-${names.length}`;
      names.push(name);
      providers[name] = rule.provider;
    });
  }
  if (bound === 0) return { clusters: [], problems };
  if (ignored.length) providers[REJECTED_PROVIDER] = rejectingProvider(ignored);
  const config: JwtAuthenticationJson = {
    providers,
    rules: [{ match: { prefix: "/" }, requires: requirement(names, ignored.length > 0) }],
    bypassCorsPreflight: true,
  };
  const filter: HttpFilterJson = { name: JWT_FILTER_NAME, typedConfig: pack(JWT_AUTHN_TYPE, config) };
  const out = [...clusters.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, c]) => c.cluster);
  const written = new Set<string>();
  for (const p of Object.values(providers)) {
    if (p.forwardPayloadHeader) written.add(p.forwardPayloadHeader.toLowerCase());
    for (const c of p.claimToHeaders ?? []) if (c.headerName) written.add(c.headerName.toLowerCase());
  }
  const outputHeaders = [...written].sort(compareStrings);
  return outputHeaders.length
    ? { filter, clusters: out, problems, outputHeaders }
    : { filter, clusters: out, problems };
};

/** Why an inline JWKS cannot be used (Envoy would refuse it), or undefined: for TrafficPolicy jwtAuth. */
export function inlineJwksProblem(v: string): string | undefined {
  try {
    readInlineJwks(v, "");
    return undefined;
  } catch (e) {
    if (e instanceof Invalid) return e.why;
    throw e;
  }
}
