// Reading TrafficPolicy oauth2 (kgateway's shape: extensionRef to a GatewayExtension of type OAuth2)
// into one oauth2 filter per extension: its config with the SDS secrets it reads (the client secret,
// and the HMAC secret that signs the session cookies), named after the extension.
//
// The HMAC secret is derived from the client secret (HKDF-SHA256, salted with the extension's name),
// so it is the same in every translation and on every waypoint — a session cookie stays valid across
// translations, restarts and replicas — and changes when the client secret is rotated (which ends the
// sessions signed with the old one). Neither value ever goes into status, errors or logs.
import { hkdfSync } from "node:crypto";
import type { OAuth2Json, SecretJson } from "@waymark/envoy-proto";
import { isRecord } from "../../input/guards.ts";
import { nsName } from "../../input/objects.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { FeatureContext, FeatureRead } from "../feature.ts";
import { type OAuth2Provider, oauth2Extension } from "./extension.ts";

/** What one OAuth2 extension programs: its filter, with the SDS secrets it reads. */
export interface OAuth2Filter {
  /** `<namespace>/<extension>`. */
  extension: string;
  /** The filter's name in the connection manager: one filter per extension. */
  filterName: string;
  filter: OAuth2Json;
  /** The SDS secrets the filter reads (client secret, HMAC secret), served with the waypoint's xDS. */
  secrets: SecretJson[];
  backend: BackendTarget;
  /** What it programs, so that an edited extension or Secret reads as a change. */
  key: string;
}

/**
 * What oauth2 programs where it is in force: its extension's filter turned on, every other OAuth2
 * extension's of the namespace turned off (a route-level policy replaces a Gateway-level one), and
 * all of them in the listener (so moving a route to another extension changes its route table only).
 */
export interface OAuth2 extends OAuth2Filter {
  all: OAuth2Filter[];
}

const HMAC_BYTES = 32;
const HMAC_SALT = "waymark oauth2 cookie hmac v1";

/** The HMAC secret of an extension: stable for the same client secret, extension and client. */
export function deriveHmacSecret(clientSecret: string, extension: string, clientId: string): string {
  return Buffer.from(
    hkdfSync("sha256", clientSecret, HMAC_SALT, `${extension}\u0000${clientId}`, HMAC_BYTES),
  ).toString("base64");
}

/** The SDS names of an extension's secrets. */
export function secretNames(extension: string): { token: string; hmac: string } {
  return { token: `oauth2/${extension}/client-secret`, hmac: `oauth2/${extension}/hmac` };
}

function programmed(extension: string, p: OAuth2Provider): OAuth2Filter {
  const names = secretNames(extension);
  // SDS over the waypoint's ADS stream: the secrets are xDS resources of the waypoint.
  const sds = (name: string) => ({ name, sdsConfig: { ads: {}, resourceApiVersion: "V3" as const } });
  const filter: OAuth2Json = {
    config: {
      ...p.config,
      credentials: { ...p.config.credentials, tokenSecret: sds(names.token), hmacSecret: sds(names.hmac) },
    },
  };
  const hmac = deriveHmacSecret(p.clientSecret, extension, p.config.credentials?.clientId ?? "");
  const secrets: SecretJson[] = [
    { name: names.hmac, genericSecret: { secret: { inlineString: hmac } } },
    { name: names.token, genericSecret: { secret: { inlineString: p.clientSecret } } },
  ];
  return {
    extension,
    filterName: `waymark.oauth2/${extension}`,
    filter,
    secrets,
    backend: p.backend,
    key: JSON.stringify([filter, p.source, p.backend.cluster, secrets]),
  };
}

export function readOAuth2Policy(value: unknown, ctx: FeatureContext): FeatureRead<OAuth2> {
  if (!isRecord(value)) return { ok: false, errors: [{ path: "oauth2", message: "must be an object" }] };
  for (const k of Object.keys(value))
    if (k !== "extensionRef")
      return { ok: false, errors: [{ path: `oauth2.${k}`, message: "unknown field (known: extensionRef)" }] };
  const r = ctx.extension(oauth2Extension, value.extensionRef, "oauth2.extensionRef");
  if (!r.ok) return r;
  const own = programmed(nsName(ctx.namespace, r.value.name), r.value.value);
  const all = (ctx.extensionsOfKind?.(oauth2Extension) ?? []).map((e) => programmed(e.name, e.value));
  if (!all.some((f) => f.extension === own.extension)) all.push(own);
  return { ok: true, value: { ...own, all } };
}
