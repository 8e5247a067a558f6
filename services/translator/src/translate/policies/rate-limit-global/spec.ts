// Reading TrafficPolicy rateLimit.global (kgateway's shape): the RateLimit GatewayExtension to ask
// (extensionRef, same namespace) and the descriptors to send it. Each descriptor is a list of entries
// Envoy fills in per request, in order: Generic (a fixed key and value), Header (the header's value
// under the header's name; no descriptor when the request lacks the header), RemoteAddress (the
// client address as remote_address), Path (the request path as `path`) — the keys kgateway uses, so a
// rate limit service configured for kgateway matches. Each descriptor is a rate limit of its own, as
// kgateway's API describes it (kgateway's own code joins all descriptors' entries into one).
import type { HttpRateLimitConfigJson } from "@waymark/envoy-proto";
import { nsName } from "../../input/objects.ts";
import { type FeatureContext, type FeatureRead, FieldErrors } from "../feature.ts";
import { HEADER_NAME, object, unknownKeys } from "../read.ts";
import { type RateLimitService, rateLimitExtension } from "./extension.ts";

export interface GlobalRateLimit {
  /** The extension, namespace/name: one ratelimit filter per extension in force on a waypoint. */
  extension: string;
  service: RateLimitService;
  /** The descriptors, as the filter's per-route rate limit actions. */
  rateLimits: HttpRateLimitConfigJson[];
}

type Action = NonNullable<HttpRateLimitConfigJson["actions"]>[number];
const TYPES = ["Generic", "Header", "RemoteAddress", "Path"];

function readEntry(raw: unknown, at: string, errors: FieldErrors): Action | undefined {
  const e = object(raw, at, errors);
  if (!e) return undefined;
  unknownKeys(e, ["type", "generic", "header"], at, errors);
  const type = e.type;
  if (typeof type !== "string" || !TYPES.includes(type)) {
    errors.at(`${at}.type`, `must be one of ${TYPES.join(", ")}`, String(type));
    return undefined;
  }
  const only = (field: "generic" | "header" | undefined): boolean => {
    let ok = true;
    for (const f of ["generic", "header"] as const)
      if (f !== field && e[f] !== undefined) {
        errors.at(`${at}.${f}`, `not allowed with type ${type}`);
        ok = false;
      }
    return ok;
  };
  switch (type) {
    case "Generic": {
      if (!only("generic")) return undefined;
      const g = object(e.generic, `${at}.generic`, errors);
      if (!g) return undefined;
      unknownKeys(g, ["key", "value"], `${at}.generic`, errors);
      const key = typeof g.key === "string" ? g.key : "";
      const value = typeof g.value === "string" ? g.value : "";
      if (key === "") errors.at(`${at}.generic.key`, "required: a non-empty descriptor key");
      if (value === "") errors.at(`${at}.generic.value`, "required: a non-empty descriptor value");
      if (key === "" || value === "") return undefined;
      return { genericKey: { descriptorKey: key, descriptorValue: value } };
    }
    case "Header": {
      if (!only("header")) return undefined;
      const h = typeof e.header === "string" ? e.header : "";
      if (!HEADER_NAME.test(h)) {
        errors.at(
          `${at}.header`,
          h === "" ? "required: the header to read" : "not a header name",
          h || undefined,
        );
        return undefined;
      }
      return { requestHeaders: { headerName: h, descriptorKey: h } };
    }
    case "RemoteAddress":
      return only(undefined) ? { remoteAddress: {} } : undefined;
    default:
      return only(undefined) ? { requestHeaders: { headerName: ":path", descriptorKey: "path" } } : undefined;
  }
}

export function readGlobalRateLimit(value: unknown, ctx: FeatureContext): FeatureRead<GlobalRateLimit> {
  const errors = new FieldErrors();
  const v = object(value, "rateLimit.global", errors);
  if (!v) return { ok: false, errors: errors.list };
  unknownKeys(v, ["descriptors", "extensionRef"], "rateLimit.global", errors);
  const rateLimits: HttpRateLimitConfigJson[] = [];
  if (!Array.isArray(v.descriptors) || v.descriptors.length === 0)
    errors.at("rateLimit.global.descriptors", "required: at least one descriptor (a list of entries)");
  else
    v.descriptors.forEach((d, i) => {
      const at = `rateLimit.global.descriptors[${i}]`;
      const desc = object(d, at, errors);
      if (!desc) return;
      unknownKeys(desc, ["entries"], at, errors);
      if (!Array.isArray(desc.entries) || desc.entries.length === 0) {
        errors.at(`${at}.entries`, "required: at least one entry");
        return;
      }
      const actions = desc.entries.map((e, j) => readEntry(e, `${at}.entries[${j}]`, errors));
      if (actions.every((a) => a !== undefined)) rateLimits.push({ actions: actions as Action[] });
    });
  let ext: { name: string; value: RateLimitService } | undefined;
  if (v.extensionRef === undefined)
    errors.at("rateLimit.global.extensionRef", "required: the RateLimit GatewayExtension to ask");
  else {
    const r = ctx.extension(rateLimitExtension, v.extensionRef, "rateLimit.global.extensionRef");
    if (r.ok) ext = r.value;
    else for (const e of r.errors) errors.list.push(e);
  }
  if (errors.length || !ext) return { ok: false, errors: errors.list };
  return {
    ok: true,
    value: { extension: nsName(ctx.namespace, ext.name), service: ext.value, rateLimits },
  };
}
