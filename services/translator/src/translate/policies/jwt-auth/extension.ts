// The JWT type of GatewayExtension (kgateway's JWTProvider): spec.jwt's providers (issuer, audiences,
// token source, claims to headers, JWKS inline or fetched by Envoy from a Service) and its validation
// mode, read into what the jwtAuth feature programs. Error paths are below the extension's spec.
import type { JwtProviderJson } from "@waymark/envoy-proto";
import { inlineJwksProblem } from "../../authorization/jwt.ts";
import { isRecord, records, str } from "../../input/guards.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import { gatewayDurationToProto } from "../../routes/resilience.ts";
import type { ExtensionContext, ExtensionKind } from "../extensions/kind.ts";
import { type FeatureRead, FieldErrors } from "../feature.ts";

/** A JWT extension's providers, by their names in it, and whether a request may come without a token. */
export interface JwtProviders {
  providers: Array<{ name: string; provider: JwtProviderJson }>;
  allowMissing: boolean;
  /** The JWKS servers (remote JWKS), as backends of the waypoint. */
  backends: BackendTarget[];
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const JWKS_FETCH_TIMEOUT = "5s";
const DEFAULT_CACHE = "300s";

function readProvider(
  raw: Record<string, unknown>,
  at: string,
  errors: FieldErrors,
  ctx: ExtensionContext,
): { provider: JwtProviderJson; backend: BackendTarget | undefined } | undefined {
  const before = errors.length;
  const provider: JwtProviderJson = {};
  const issuer = str(raw.issuer);
  if (issuer) provider.issuer = issuer;
  if (raw.audiences !== undefined) {
    const auds = Array.isArray(raw.audiences) ? raw.audiences : [];
    if (!auds.length || !auds.every((a) => typeof a === "string" && a !== ""))
      errors.at(`${at}.audiences`, "a non-empty list of audiences (strings)");
    else provider.audiences = auds as string[];
  }
  if (raw.tokenSource !== undefined) {
    const src = isRecord(raw.tokenSource) ? raw.tokenSource : {};
    const header = isRecord(src.header) ? src.header : undefined;
    const query = str(src.queryParameter);
    if ((header === undefined) === (query === undefined))
      errors.at(`${at}.tokenSource`, "set exactly one of header and queryParameter");
    else if (header) {
      const name = str(header.header) ?? "";
      if (!HEADER_NAME.test(name)) errors.at(`${at}.tokenSource.header.header`, "not a header name", name);
      else {
        const prefix = str(header.prefix);
        provider.fromHeaders = [prefix ? { name, valuePrefix: prefix } : { name }];
      }
    } else if (query) provider.fromParams = [query];
  }
  // The defaults when no tokenSource is given: Envoy's (Authorization: Bearer, access_token), as kgateway.
  const claims = records(raw.claimsToHeaders);
  claims.forEach((c, i) => {
    const claim = str(c.name) ?? "";
    const header = str(c.header) ?? "";
    if (claim === "") errors.at(`${at}.claimsToHeaders[${i}].name`, "needs the claim's name");
    if (!HEADER_NAME.test(header))
      errors.at(`${at}.claimsToHeaders[${i}].header`, "not a header name", header);
  });
  if (claims.length) {
    provider.claimToHeaders = claims.map((c) => ({
      claimName: str(c.name) ?? "",
      headerName: str(c.header) ?? "",
    }));
    // Headers added after routing was decided: recompute the route, as kgateway does.
    provider.clearRouteCache = true;
  }
  provider.forward = raw.forwardToken === true;
  let backend: BackendTarget | undefined;
  const jwks = isRecord(raw.jwks) ? raw.jwks : undefined;
  const local = isRecord(jwks?.local) ? jwks.local : undefined;
  const remote = isRecord(jwks?.remote) ? jwks.remote : undefined;
  if (!jwks || (local === undefined) === (remote === undefined))
    errors.at(`${at}.jwks`, "set exactly one of local and remote");
  else if (local) {
    const inline = str(local.inline);
    if (local.configMapRef !== undefined)
      errors.at(
        `${at}.jwks.local.configMapRef`,
        "Waymark does not read ConfigMaps; put the JWKS in jwks.local.inline",
      );
    else if (!inline) errors.at(`${at}.jwks.local.inline`, "needs the JWKS (JSON) or a PEM public key");
    else if (inline.trimStart().startsWith("-----BEGIN PUBLIC KEY-----"))
      provider.localJwks = { inlineString: inline };
    else {
      // One key alone is a key set of one.
      let text = inline;
      try {
        const parsed: unknown = JSON.parse(inline);
        if (isRecord(parsed) && parsed.keys === undefined && parsed.kty !== undefined)
          text = JSON.stringify({ keys: [parsed] });
      } catch {
        // inlineJwksProblem says "not JSON".
      }
      const why = inlineJwksProblem(text);
      if (why) errors.at(`${at}.jwks.local.inline`, why);
      else provider.localJwks = { inlineString: text };
    }
  } else if (remote) {
    const url = str(remote.url) ?? "";
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      errors.at(`${at}.jwks.remote.url`, "not a URL", url);
    }
    if (parsed && parsed.protocol !== "http:")
      errors.at(
        `${at}.jwks.remote.url`,
        "only http is supported: Waymark does not configure TLS to the JWKS backend yet; serve the keys over http inside the mesh or inline them",
        url,
      );
    const b = ctx.backend(remote.backendRef);
    if (!b.ok) errors.at(`${at}.jwks.remote.backendRef`, b.message);
    else backend = b.target;
    let cache = DEFAULT_CACHE;
    if (remote.cacheDuration !== undefined) {
      const d = gatewayDurationToProto(str(remote.cacheDuration) ?? "");
      if (!d) errors.at(`${at}.jwks.remote.cacheDuration`, "not a duration such as 5m or 30s");
      else cache = d;
    }
    if (backend && parsed)
      provider.remoteJwks = {
        httpUri: { uri: parsed.href, cluster: backend.cluster, timeout: JWKS_FETCH_TIMEOUT },
        cacheDuration: cache,
      };
  }
  return errors.length === before ? { provider, backend } : undefined;
}

function readJwt(value: unknown, ctx: ExtensionContext): FeatureRead<JwtProviders> {
  const errors = new FieldErrors();
  if (!isRecord(value)) return { ok: false, errors: [{ path: "jwt", message: "must be an object" }] };
  const mode = str(value.validationMode) ?? "Strict";
  if (mode !== "Strict" && mode !== "AllowMissing")
    errors.at("jwt.validationMode", "must be Strict or AllowMissing", mode);
  const list = records(value.providers);
  if (list.length === 0) errors.at("jwt.providers", "is empty; give at least one provider");
  const providers: JwtProviders["providers"] = [];
  const backends: BackendTarget[] = [];
  const names = new Set<string>();
  list.forEach((p, i) => {
    const at = `jwt.providers[${i}]`;
    const name = str(p.name) ?? "";
    if (name === "") {
      errors.at(`${at}.name`, "needs a name");
      return;
    }
    if (names.has(name)) errors.at(`${at}.name`, "is used by another provider of this extension", name);
    names.add(name);
    const r = readProvider(p, at, errors, ctx);
    if (!r) return;
    providers.push({ name, provider: r.provider });
    if (r.backend && !backends.some((b) => b.cluster === r.backend!.cluster)) backends.push(r.backend);
  });
  if (errors.length) return { ok: false, errors: errors.list };
  return { ok: true, value: { providers, allowMissing: mode === "AllowMissing", backends } };
}

export const jwtExtension: ExtensionKind<JwtProviders> = {
  type: "JWT",
  field: "jwt",
  read: readJwt,
  equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
};
