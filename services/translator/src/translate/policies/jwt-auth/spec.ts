// Reading TrafficPolicy jwtAuth (kgateway's model: the providers live in a GatewayExtension of type
// JWT, read by extension.ts; a policy either references one with extensionRef or turns JWT checking
// off where it is in force with disable).
import type { JwtProviderJson, JwtRequirementJson } from "@waymark/envoy-proto";
import { isRecord } from "../../input/guards.ts";
import { nsName } from "../../input/objects.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { FeatureContext, FeatureRead } from "../feature.ts";
import { jwtExtension } from "./extension.ts";

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
      /** What the extension programs, so that an edited extension reads as a change. */
      key: string;
    };

export function readJwtAuth(value: unknown, ctx: FeatureContext): FeatureRead<JwtAuth> {
  if (!isRecord(value)) return { ok: false, errors: [{ path: "jwtAuth", message: "must be an object" }] };
  const disable = value.disable !== undefined;
  if ((value.extensionRef === undefined) === !disable)
    return {
      ok: false,
      errors: [{ path: "jwtAuth", message: "set exactly one of extensionRef and disable" }],
    };
  if (disable) return { ok: true, value: { kind: "disable" } };
  const r = ctx.extension(jwtExtension, value.extensionRef, "jwtAuth.extensionRef");
  if (!r.ok) return r;
  const extension = nsName(ctx.namespace, r.value.name);
  const providers: Record<string, JwtProviderJson> = {};
  for (const p of r.value.value.providers) providers[`${extension}/${p.name}`] = p.provider;
  const any: JwtRequirementJson[] = Object.keys(providers).map((providerName) => ({ providerName }));
  if (r.value.value.allowMissing) any.push({ allowMissing: {} });
  const requirement: JwtRequirementJson =
    any.length === 1 ? (any[0] as JwtRequirementJson) : { requiresAny: { requirements: any } };
  const backends = r.value.value.backends;
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
