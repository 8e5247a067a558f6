// Reading TrafficPolicy jwtAuth and the GatewayExtension it names (kgateway's model: the providers
// live in a GatewayExtension's spec.jwt; a policy either references one with extensionRef or turns
// JWT checking off where it is in force with disable). Everything a token check needs is read here,
// so an error names the field to fix, in the policy or in the extension.
import type { JwtProviderJson, JwtRequirementJson } from "@waymark/envoy-proto";
import { inlineJwksProblem } from "../../authorization/jwt.ts";
import { isRecord, records, str } from "../../input/guards.ts";
import { nsName } from "../../input/objects.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import { gatewayDurationToProto } from "../../routes/resilience.ts";
import { type FeatureContext, type FeatureRead, FieldErrors } from "../feature.ts";

/** What jwtAuth programs where it is in force. */
export type JwtAuth =
  | { kind: "disable" }
  | {
      kind: "require";
      /** `<namespace>/<extension>`: the requirement's name in the filter. */
      extension: string;
      /** Provider name in the filter (`<namespace>/<extension>/<provider>`) → provider. */
      providers: Record<string, JwtProviderJson>;
      requirement: JwtRequirementJson;
      /** The JWKS servers (remote JWKS), as backends of the waypoint. */
      backends: BackendTarget[];
      /** The extension's generation, so that an edited extension reads as a change. */
      key: string;
    };

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const JWKS_FETCH_TIMEOUT = "5s";
const DEFAULT_CACHE = "300s";

function readProvider(
  raw: Record<string, unknown>,
  at: string,
  errors: FieldErrors,
  ctx: FeatureContext,
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

export function readJwtAuth(value: unknown, ctx: FeatureContext): FeatureRead<JwtAuth> {
  const errors = new FieldErrors();
  if (!isRecord(value)) return { ok: false, errors: [{ path: "jwtAuth", message: "must be an object" }] };
  const ref = isRecord(value.extensionRef) ? value.extensionRef : undefined;
  const disable = value.disable !== undefined;
  if ((ref === undefined) === !disable) {
    errors.at("jwtAuth", "set exactly one of extensionRef and disable");
    return { ok: false, errors: errors.list };
  }
  if (disable) return { ok: true, value: { kind: "disable" } };
  const name = str(ref?.name) ?? "";
  const namespace = str(ref?.namespace);
  if (name === "") errors.at("jwtAuth.extensionRef.name", "needs the GatewayExtension's name");
  if (namespace !== undefined && namespace !== ctx.namespace)
    errors.at(
      "jwtAuth.extensionRef.namespace",
      `a policy may only use GatewayExtensions of its own namespace (${ctx.namespace})`,
      namespace,
    );
  if (errors.length) return { ok: false, errors: errors.list };
  const ext = ctx.gatewayExtension(name);
  const label = `GatewayExtension ${nsName(ctx.namespace, name)}`;
  if (!ext) {
    errors.at("jwtAuth.extensionRef", `${label} not found; create it or fix the name`);
    return { ok: false, errors: errors.list };
  }
  const spec = isRecord(ext.spec) ? ext.spec : {};
  const jwt = isRecord(spec.jwt) ? spec.jwt : undefined;
  if (!jwt) {
    errors.at("jwtAuth.extensionRef", `${label} has no spec.jwt (it is not a JWT provider extension)`);
    return { ok: false, errors: errors.list };
  }
  const mode = str(jwt.validationMode) ?? "Strict";
  if (mode !== "Strict" && mode !== "AllowMissing")
    errors.at(
      "jwtAuth.extensionRef",
      `${label}: spec.jwt.validationMode must be Strict or AllowMissing`,
      mode,
    );
  const list = records(jwt.providers);
  if (list.length === 0) errors.at("jwtAuth.extensionRef", `${label}: spec.jwt.providers is empty`);
  const providers: Record<string, JwtProviderJson> = {};
  const backends: BackendTarget[] = [];
  const extension = nsName(ctx.namespace, name);
  list.forEach((p, i) => {
    const at = `jwtAuth.extensionRef (${label} spec.jwt.providers[${i}])`;
    const pname = str(p.name) ?? "";
    if (pname === "") {
      errors.at(at, "needs a name");
      return;
    }
    const r = readProvider(p, at, errors, ctx);
    if (!r) return;
    providers[`${extension}/${pname}`] = r.provider;
    if (r.backend && !backends.some((b) => b.cluster === r.backend!.cluster)) backends.push(r.backend);
  });
  if (errors.length) return { ok: false, errors: errors.list };
  const names = Object.keys(providers);
  const any: JwtRequirementJson[] = names.map((providerName) => ({ providerName }));
  if (mode === "AllowMissing") any.push({ allowMissing: {} });
  const requirement: JwtRequirementJson =
    any.length === 1 ? (any[0] as JwtRequirementJson) : { requiresAny: { requirements: any } };
  return {
    ok: true,
    value: {
      kind: "require",
      extension,
      providers,
      requirement,
      backends,
      key: JSON.stringify([providers, requirement, backends.map((b) => b.cluster)]),
    },
  };
}
