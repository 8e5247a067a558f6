// The OAuth2 type of GatewayExtension (kgateway's OAuth2Provider): an OpenID Connect / OAuth2
// provider for the authorization code flow, read into the parts of Envoy's oauth2 filter config that
// do not depend on which extension it is (the feature names the filter and its SDS secrets).
//
// The endpoints: kgateway may resolve issuerURI through OIDC discovery at translation time. Waymark's
// translator does no I/O, so it needs authorizationEndpoint and tokenEndpoint given explicitly;
// issuerURI alone is an error saying so. The token endpoint is called through the IdP's Service
// (backendRef) as every backend of the waypoint is: the URL's host and path go into the request, the
// cluster decides where it goes. Tokens parsed as JWTs (spec.oauth2.jwt) are not programmed yet and
// make the extension Invalid rather than accepting a session without the checks asked for.
import type { HeaderMatcherJson, OAuth2ConfigJson } from "@waymark/envoy-proto";
import { isRecord, records, str } from "../../input/guards.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { ExtensionContext, ExtensionKind } from "../extensions/kind.ts";
import { type FeatureRead, FieldErrors } from "../feature.ts";
import { HEADER_NAME, readBool, readStrings, unknownKeys } from "../read.ts";
import { secretEntries } from "../secrets.ts";

/** What an OAuth2 extension programs, apart from the names the feature gives its filter and secrets. */
export interface OAuth2Provider {
  /** The filter config without credentials.tokenSecret / hmacSecret (named by the feature). */
  config: OAuth2ConfigJson;
  /** The client secret, from the Secret credentials.clientSecretRef names. Never into status or logs. */
  clientSecret: string;
  /** The IdP's Service, where the token endpoint is called. */
  backend: BackendTarget;
  /** Which Secret (name@resourceVersion) the client secret came from, for equality. */
  source: string;
}

/** The Secret entry holding the client secret (kgateway's key). */
export const CLIENT_SECRET_KEY = "client-secret";
const TOKEN_TIMEOUT = "5s";
const DEFAULT_REDIRECT_PATH = "/oauth2/redirect";
const DEFAULT_LOGOUT_PATH = "/logout";
const DEFAULT_SCOPES = ["openid"];
const KNOWN = [
  "issuerURI",
  "authorizationEndpoint",
  "tokenEndpoint",
  "backendRef",
  "credentials",
  "redirectURI",
  "logoutPath",
  "scopes",
  "cookies",
  "forwardAccessToken",
  "denyRedirect",
  "endSessionEndpoint",
  "jwt",
];
const SAME_SITE: Record<string, "STRICT" | "LAX" | "NONE"> = { Strict: "STRICT", Lax: "LAX", None: "NONE" };

/** An absolute http(s) URL (the CRD asks https; a file given to the watcher is not checked by it). */
function readUrl(v: unknown, path: string, errors: FieldErrors): string | undefined {
  if (v === undefined) return undefined;
  const s = str(v) ?? "";
  try {
    const u = new URL(s);
    if (u.protocol === "https:" || u.protocol === "http:") return s;
  } catch {
    // reported below
  }
  errors.at(path, "must be an absolute https URL", s);
  return undefined;
}

/**
 * The path part of a redirect URI, which may hold Envoy's %REQ(...)% formatters in its scheme and
 * host (the callback is recognised by its path).
 */
export function redirectPath(uri: string): string | undefined {
  const m = /^[^:/?#]+:\/\/[^/?#]+(\/[^?#]*)/.exec(uri);
  return m?.[1];
}

function readDenyRedirect(v: unknown, errors: FieldErrors): HeaderMatcherJson[] | undefined {
  if (v === undefined) return undefined;
  const at = "oauth2.denyRedirect.headers";
  const list = isRecord(v) ? records(v.headers) : [];
  if (!list.length) {
    errors.at(at, "needs at least one header match");
    return undefined;
  }
  return list.map((h, i): HeaderMatcherJson => {
    const name = str(h.name) ?? "";
    const value = str(h.value) ?? "";
    const type = str(h.type) ?? "Exact";
    if (!HEADER_NAME.test(name)) errors.at(`${at}[${i}].name`, "not a header name", name);
    if (value === "") errors.at(`${at}[${i}].value`, "needs a value");
    if (type === "Exact") return { name, stringMatch: { exact: value } };
    if (type === "RegularExpression") {
      try {
        new RegExp(value);
      } catch {
        errors.at(`${at}[${i}].value`, "not a regular expression", value);
      }
      return { name, stringMatch: { safeRegex: { regex: value } } };
    }
    errors.at(`${at}[${i}].type`, "must be Exact or RegularExpression", type);
    return { name };
  });
}

function readCookies(v: unknown, config: OAuth2ConfigJson, errors: FieldErrors): void {
  if (v === undefined) return;
  if (!isRecord(v)) {
    errors.at("oauth2.cookies", "must be an object");
    return;
  }
  unknownKeys(
    v,
    [
      "names",
      "domain",
      "sameSite",
      "disableAccessTokenSetCookie",
      "disableIDTokenSetCookie",
      "disableRefreshTokenSetCookie",
    ],
    "oauth2.cookies",
    errors,
  );
  const names = isRecord(v.names) ? v.names : {};
  const access = str(names.accessToken);
  const id = str(names.idToken);
  for (const [k, n] of [
    ["accessToken", access],
    ["idToken", id],
  ] as const)
    if (n !== undefined && !HEADER_NAME.test(n))
      errors.at(`oauth2.cookies.names.${k}`, "not a cookie name", n);
  if (access !== undefined || id !== undefined)
    config.credentials!.cookieNames = {
      ...(access !== undefined ? { bearerToken: access } : {}),
      ...(id !== undefined ? { idToken: id } : {}),
    };
  const domain = str(v.domain);
  if (domain !== undefined) config.credentials!.cookieDomain = domain;
  if (v.sameSite !== undefined) {
    const s = SAME_SITE[str(v.sameSite) ?? ""];
    if (!s) errors.at("oauth2.cookies.sameSite", "must be Lax, Strict or None", String(v.sameSite));
    else {
      const c = { sameSite: s };
      config.cookieConfigs = {
        bearerTokenCookieConfig: c,
        oauthHmacCookieConfig: c,
        oauthExpiresCookieConfig: c,
        idTokenCookieConfig: c,
        refreshTokenCookieConfig: c,
        oauthNonceCookieConfig: c,
        codeVerifierCookieConfig: c,
      };
    }
  }
  if (readBool(v.disableAccessTokenSetCookie, "oauth2.cookies.disableAccessTokenSetCookie", errors))
    config.disableAccessTokenSetCookie = true;
  if (readBool(v.disableIDTokenSetCookie, "oauth2.cookies.disableIDTokenSetCookie", errors))
    config.disableIdTokenSetCookie = true;
  if (readBool(v.disableRefreshTokenSetCookie, "oauth2.cookies.disableRefreshTokenSetCookie", errors))
    config.disableRefreshTokenSetCookie = true;
}

export function readOAuth2(value: unknown, ctx: ExtensionContext): FeatureRead<OAuth2Provider> {
  const errors = new FieldErrors();
  if (!isRecord(value)) return { ok: false, errors: [{ path: "oauth2", message: "must be an object" }] };
  unknownKeys(value, KNOWN, "oauth2", errors);

  readUrl(value.issuerURI, "oauth2.issuerURI", errors);
  const authorization = readUrl(value.authorizationEndpoint, "oauth2.authorizationEndpoint", errors);
  const token = readUrl(value.tokenEndpoint, "oauth2.tokenEndpoint", errors);
  const missing = (["authorizationEndpoint", "tokenEndpoint"] as const).filter((f) => value[f] === undefined);
  if (missing.length && value.issuerURI !== undefined)
    errors.at(
      "oauth2.issuerURI",
      `Waymark does not fetch the issuer's OIDC discovery document: give ${missing.join(" and ")} too (authorization_endpoint and token_endpoint of its /.well-known/openid-configuration)`,
    );
  else for (const f of missing) errors.at(`oauth2.${f}`, "is needed (Waymark does not resolve issuerURI)");
  const endSession = readUrl(value.endSessionEndpoint, "oauth2.endSessionEndpoint", errors);
  if (value.jwt !== undefined)
    errors.at(
      "oauth2.jwt",
      "validating the tokens as JWTs is not supported by Waymark yet; remove jwt, or validate the forwarded access token with jwtAuth",
    );

  // The client: its id and its secret (a Secret of the extension's namespace, entry client-secret).
  let clientSecret = "";
  let source = "";
  const creds = isRecord(value.credentials) ? value.credentials : undefined;
  const clientId = str(creds?.clientID) ?? "";
  if (!creds) errors.at("oauth2.credentials", "needs clientID and clientSecretRef");
  else {
    if (clientId === "") errors.at("oauth2.credentials.clientID", "needs the client's id");
    const secretName = isRecord(creds.clientSecretRef) ? (str(creds.clientSecretRef.name) ?? "") : "";
    if (secretName === "") errors.at("oauth2.credentials.clientSecretRef.name", "needs the Secret's name");
    else {
      const secret = ctx.secret(secretName);
      const entry = secret ? secretEntries(secret).get(CLIENT_SECRET_KEY) : undefined;
      if (!secret)
        errors.at(
          "oauth2.credentials.clientSecretRef",
          `Secret ${ctx.namespace}/${secretName} not found`,
          secretName,
        );
      else if (!entry)
        errors.at(
          "oauth2.credentials.clientSecretRef",
          `Secret ${ctx.namespace}/${secretName} has no entry ${CLIENT_SECRET_KEY} (the client secret)`,
          secretName,
        );
      else {
        clientSecret = entry;
        source = `${secretName}@${secret.metadata.resourceVersion ?? ""}`;
      }
    }
  }

  // Where Envoy sends the browser back (the callback path is recognised by the filter) and the
  // path that ends the session.
  const redirectUri =
    value.redirectURI === undefined
      ? `%REQ(x-forwarded-proto)%://%REQ(:authority)%${DEFAULT_REDIRECT_PATH}`
      : (str(value.redirectURI) ?? "");
  const callback = redirectPath(redirectUri);
  if (!callback)
    errors.at(
      "oauth2.redirectURI",
      "must be an absolute URL with a path, e.g. https://app.example.com/oauth2/redirect",
      redirectUri,
    );
  const logout = value.logoutPath === undefined ? DEFAULT_LOGOUT_PATH : (str(value.logoutPath) ?? "");
  if (!logout.startsWith("/")) errors.at("oauth2.logoutPath", "must be a path starting with /", logout);
  const scopes = readStrings(value.scopes, "oauth2.scopes", errors, 64);
  if (scopes?.some((s) => s === "" || /\s/.test(s)))
    errors.at("oauth2.scopes", "a scope is a non-empty word without spaces");
  const forward = readBool(value.forwardAccessToken, "oauth2.forwardAccessToken", errors);
  const deny = readDenyRedirect(value.denyRedirect, errors);

  const b = ctx.backend(value.backendRef);
  if (!b.ok) errors.at("oauth2.backendRef", b.message);

  const config: OAuth2ConfigJson = {
    tokenEndpoint: { uri: token ?? "", cluster: b.ok ? b.target.cluster : "", timeout: TOKEN_TIMEOUT },
    authorizationEndpoint: authorization ?? "",
    credentials: { clientId },
    redirectUri,
    redirectPathMatcher: { path: { exact: callback ?? "" } },
    signoutPath: { path: { exact: logout } },
    authScopes: scopes?.length ? scopes : DEFAULT_SCOPES,
    // The client secret in the token request's body (client_secret_post): Envoy's default.
    authType: "URL_ENCODED_BODY",
    useRefreshToken: true,
  };
  if (forward) config.forwardBearerToken = true;
  if (deny) config.denyRedirectMatcher = deny;
  if (endSession) config.endSessionEndpoint = endSession;
  readCookies(value.cookies, config, errors);

  if (errors.length || !b.ok) return { ok: false, errors: errors.list };
  return { ok: true, value: { config, clientSecret, backend: b.target, source } };
}

export const oauth2Extension: ExtensionKind<OAuth2Provider> = {
  type: "OAuth2",
  field: "oauth2",
  read: readOAuth2,
  equal: (a, b) =>
    a.source === b.source &&
    a.clientSecret === b.clientSecret &&
    a.backend.cluster === b.backend.cluster &&
    JSON.stringify(a.config) === JSON.stringify(b.config),
};
