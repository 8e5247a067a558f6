// Reading TrafficPolicy extAuth (kgateway's model: the authorization server lives in a GatewayExtension
// of type ExtAuth, read by extension.ts; a policy either names one with extensionRef, with what to
// tell the server for its routes, or turns external authorization off where it is in force). Each
// extension has a filter of its own, so where a policy is in force every other extension's filter is
// turned off: a route-level policy replaces a Gateway-level one instead of adding a second check.
import type { ExtAuthzPerRouteJson } from "@waymark/envoy-proto";
import { isRecord } from "../../input/guards.ts";
import { nsName } from "../../input/objects.ts";
import { type FeatureContext, type FeatureRead, FieldErrors } from "../feature.ts";
import { type ExtAuthServer, extAuthExtension, readBody } from "./extension.ts";

export type CheckSettings = NonNullable<ExtAuthzPerRouteJson["checkSettings"]>;

/** What extAuth programs where it is in force. */
export type ExtAuth =
  | {
      kind: "disable";
      /** Every usable ExtAuth extension (`<namespace>/<name>`): their filters are off here. */
      all: string[];
      /** Every usable ExtAuth extension of the namespace, with its server (each has a filter). */
      servers: Servers;
    }
  | {
      kind: "check";
      /** `<namespace>/<extension>`: one ext_authz filter per extension, named after it. */
      extension: string;
      server: ExtAuthServer;
      /** The route's check settings (context extensions, body); {} when none. */
      checkSettings: CheckSettings;
      /** The other usable ExtAuth extensions: off here (a Gateway-level one is overridden). */
      others: string[];
      /** Every usable ExtAuth extension of the namespace, with its server (each has a filter). */
      servers: Servers;
    };

type Servers = Array<{ name: string; value: ExtAuthServer }>;

export function readExtAuth(value: unknown, ctx: FeatureContext): FeatureRead<ExtAuth> {
  if (!isRecord(value)) return { ok: false, errors: [{ path: "extAuth", message: "must be an object" }] };
  const disable = value.disable !== undefined;
  if ((value.extensionRef === undefined) === !disable)
    return {
      ok: false,
      errors: [{ path: "extAuth", message: "set exactly one of extensionRef and disable" }],
    };
  if (disable) {
    if (value.contextExtensions !== undefined || value.withRequestBody !== undefined)
      return {
        ok: false,
        errors: [
          {
            path: "extAuth.disable",
            message: "disables the check: contextExtensions and withRequestBody have nothing to apply to",
          },
        ],
      };
    const servers = ctx.extensionsOfKind?.(extAuthExtension) ?? [];
    return { ok: true, value: { kind: "disable", all: servers.map((s) => s.name), servers } };
  }
  const errors = new FieldErrors();
  const checkSettings: CheckSettings = {};
  if (value.contextExtensions !== undefined) {
    if (!isRecord(value.contextExtensions))
      errors.at("extAuth.contextExtensions", "must be a map of strings");
    else {
      const ext: Record<string, string> = {};
      for (const [k, v] of Object.entries(value.contextExtensions)) {
        if (typeof v !== "string") errors.at(`extAuth.contextExtensions.${k}`, "must be a string");
        else ext[k] = v;
      }
      if (Object.keys(ext).length) checkSettings.contextExtensions = ext;
    }
  }
  if (value.withRequestBody !== undefined) {
    const body = readBody(value.withRequestBody, "extAuth.withRequestBody", errors);
    if (body) checkSettings.withRequestBody = body;
  }
  const r = ctx.extension(extAuthExtension, value.extensionRef, "extAuth.extensionRef");
  if (!r.ok) errors.list.push(...r.errors);
  if (errors.length || !r.ok) return { ok: false, errors: errors.list };
  const extension = nsName(ctx.namespace, r.value.name);
  const servers = ctx.extensionsOfKind?.(extAuthExtension) ?? [];
  const others = servers.map((s) => s.name).filter((e) => e !== extension);
  return {
    ok: true,
    value: { kind: "check", extension, server: r.value.value, checkSettings, others, servers },
  };
}
