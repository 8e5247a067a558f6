// The ExtProc type of GatewayExtension (kgateway's ExtProcProvider): the gRPC processing server (a
// port of a Service of the extension's namespace) and how Envoy's ext_proc filter talks to it —
// failure mode, processing mode, message timeouts, stat prefix, attributes and metadata sent, mode
// overrides the server may ask for, route cache action — read into the filter's config. Error paths
// are below the extension's spec (`extProc.grpcService.backendRef`).
import type { ExternalProcessorJson, ProcessingModeJson } from "@waymark/envoy-proto";
import type { BackendTarget } from "../../routes/backends.ts";
import { readGrpcService } from "../extensions/grpc-service.ts";
import type { ExtensionContext, ExtensionKind } from "../extensions/kind.ts";
import { type FeatureRead, FieldErrors } from "../feature.ts";
import {
  CONTROL_CHARS,
  durationJson,
  object,
  readBool,
  readDuration,
  readStrings,
  unknownKeys,
} from "../read.ts";

/** What an ExtProc extension programs: the filter's config (gRPC service included) and its server. */
export interface ExtProcProvider {
  filter: ExternalProcessorJson;
  /** The processing server, as a backend of the waypoint (its cluster speaks HTTP/2: gRPC). */
  backend: BackendTarget;
}

const HEADER_MODES = ["DEFAULT", "SEND", "SKIP"] as const;
const BODY_MODES = ["NONE", "STREAMED", "BUFFERED", "BUFFERED_PARTIAL", "FULL_DUPLEX_STREAMED"] as const;
type HeaderMode = (typeof HEADER_MODES)[number];
type BodyMode = (typeof BODY_MODES)[number];
const MODE_FIELDS = [
  "requestHeaderMode",
  "responseHeaderMode",
  "requestBodyMode",
  "responseBodyMode",
  "requestTrailerMode",
  "responseTrailerMode",
] as const;
/** The CRD's defaults for each field a processingMode leaves out. */
const MODE_DEFAULTS: Record<(typeof MODE_FIELDS)[number], HeaderMode | BodyMode> = {
  requestHeaderMode: "SEND",
  responseHeaderMode: "SEND",
  requestBodyMode: "NONE",
  responseBodyMode: "NONE",
  requestTrailerMode: "SKIP",
  responseTrailerMode: "SKIP",
};
/** Envoy refuses message timeouts above an hour. */
const MAX_MESSAGE_TIMEOUT_MS = 3_600_000;
const ROUTE_CACHE_ACTIONS: Record<string, ExternalProcessorJson["routeCacheAction"] | undefined> = {
  FromResponse: undefined, // Envoy's DEFAULT
  Clear: "CLEAR",
  Retain: "RETAIN",
};
const FIELDS = [
  "grpcService",
  "failOpen",
  "processingMode",
  "messageTimeout",
  "maxMessageTimeout",
  "statPrefix",
  "requestAttributes",
  "metadataOptions",
  "allowProcessingModeOverride",
  "allowedProcessingModeOverrides",
  "routeCacheAction",
  "filterStage",
];

/**
 * kgateway's ProcessingMode (TrafficPolicy extProc.processingMode and the extension's) as Envoy's,
 * each field the CRD's default when absent. Envoy refuses FULL_DUPLEX_STREAMED bodies unless the
 * trailers of that direction are sent too.
 */
export function readProcessingMode(
  v: unknown,
  path: string,
  errors: FieldErrors,
): ProcessingModeJson | undefined {
  const o = object(v, path, errors);
  if (!o) return undefined;
  unknownKeys(o, MODE_FIELDS, path, errors);
  const before = errors.length;
  const mode: Record<string, string> = {};
  for (const f of MODE_FIELDS) {
    const allowed: readonly string[] = f.endsWith("BodyMode") ? BODY_MODES : HEADER_MODES;
    const raw = o[f] ?? MODE_DEFAULTS[f];
    if (typeof raw !== "string" || !allowed.includes(raw))
      errors.at(`${path}.${f}`, `must be one of ${allowed.join(", ")}`, String(raw));
    else mode[f] = raw;
  }
  for (const dir of ["request", "response"] as const)
    if (mode[`${dir}BodyMode`] === "FULL_DUPLEX_STREAMED" && mode[`${dir}TrailerMode`] !== "SEND")
      errors.at(
        `${path}.${dir}TrailerMode`,
        `must be SEND when ${dir}BodyMode is FULL_DUPLEX_STREAMED (Envoy refuses the mode otherwise)`,
      );
  return errors.length === before ? (mode as ProcessingModeJson) : undefined;
}

function readTimeout(v: unknown, path: string, errors: FieldErrors): string | undefined {
  if (v === undefined) return undefined;
  const ms = readDuration(v, path, errors);
  if (ms === undefined) return undefined;
  if (ms < 1 || ms > MAX_MESSAGE_TIMEOUT_MS) {
    errors.at(path, "must be from 1ms to 1h (Envoy refuses longer message timeouts)", String(v));
    return undefined;
  }
  return durationJson(ms);
}

function readExtProcProvider(value: unknown, ctx: ExtensionContext): FeatureRead<ExtProcProvider> {
  const errors = new FieldErrors();
  const o = object(value, "extProc", errors);
  if (!o) return { ok: false, errors: errors.list };
  unknownKeys(o, FIELDS, "extProc", errors);
  const grpc = readGrpcService(o.grpcService, "extProc.grpcService", errors, ctx);
  // kgateway's default: requests go on when the processing server cannot be reached.
  const failOpen = readBool(o.failOpen, "extProc.failOpen", errors) ?? true;
  const filter: ExternalProcessorJson = { failureModeAllow: failOpen };
  if (o.processingMode !== undefined) {
    const mode = readProcessingMode(o.processingMode, "extProc.processingMode", errors);
    if (mode) filter.processingMode = mode;
  }
  const messageTimeout = readTimeout(o.messageTimeout, "extProc.messageTimeout", errors);
  if (messageTimeout) filter.messageTimeout = messageTimeout;
  const maxMessageTimeout = readTimeout(o.maxMessageTimeout, "extProc.maxMessageTimeout", errors);
  if (maxMessageTimeout) filter.maxMessageTimeout = maxMessageTimeout;
  if (o.statPrefix !== undefined) {
    if (typeof o.statPrefix !== "string" || o.statPrefix === "" || CONTROL_CHARS.test(o.statPrefix))
      errors.at("extProc.statPrefix", "must be a non-empty name without control characters");
    else filter.statPrefix = o.statPrefix;
  }
  const attributes = readStrings(o.requestAttributes, "extProc.requestAttributes", errors, 64);
  if (attributes?.length) filter.requestAttributes = attributes;
  if (o.metadataOptions !== undefined) {
    const m = object(o.metadataOptions, "extProc.metadataOptions", errors);
    if (m) {
      unknownKeys(m, ["forwarding"], "extProc.metadataOptions", errors);
      if (m.forwarding !== undefined) {
        const at = "extProc.metadataOptions.forwarding";
        const f = object(m.forwarding, at, errors);
        if (f) {
          unknownKeys(f, ["typed", "untyped"], at, errors);
          const typed = readStrings(f.typed, `${at}.typed`, errors, 64);
          const untyped = readStrings(f.untyped, `${at}.untyped`, errors, 64);
          filter.metadataOptions = {
            forwardingNamespaces: {
              ...(typed?.length ? { typed } : {}),
              ...(untyped?.length ? { untyped } : {}),
            },
          };
        }
      }
    }
  }
  const allowOverride = readBool(
    o.allowProcessingModeOverride,
    "extProc.allowProcessingModeOverride",
    errors,
  );
  if (allowOverride) filter.allowModeOverride = true;
  if (o.allowedProcessingModeOverrides !== undefined) {
    const at = "extProc.allowedProcessingModeOverrides";
    if (!Array.isArray(o.allowedProcessingModeOverrides)) errors.at(at, "must be a list of processing modes");
    else {
      const modes = o.allowedProcessingModeOverrides.map((m, i) =>
        readProcessingMode(m, `${at}[${i}]`, errors),
      );
      if (modes.length && !allowOverride)
        errors.at(at, "takes effect only with allowProcessingModeOverride: true; set it or remove the list");
      if (modes.every((m) => m !== undefined) && modes.length)
        filter.allowedOverrideModes = modes as ProcessingModeJson[];
    }
  }
  if (o.routeCacheAction !== undefined) {
    const a = o.routeCacheAction;
    if (typeof a !== "string" || !(a in ROUTE_CACHE_ACTIONS))
      errors.at("extProc.routeCacheAction", "must be FromResponse, Clear or Retain", String(a));
    else if (ROUTE_CACHE_ACTIONS[a]) filter.routeCacheAction = ROUTE_CACHE_ACTIONS[a];
  }
  if (o.filterStage !== undefined) {
    // Waymark places every filter in one fixed order (ir/filter-order.ts): ext_proc after
    // authorization and the rate limits. A stage that says the same is accepted; another is refused
    // rather than silently run elsewhere.
    const s = object(o.filterStage, "extProc.filterStage", errors);
    if (s && !(s.stage === "AuthZ" && (s.predicate ?? "During") === "After"))
      errors.at(
        "extProc.filterStage",
        "Waymark runs ext_proc at a fixed place, after authorization and rate limiting (stage AuthZ, predicate After); remove filterStage or say that",
      );
  }
  if (errors.length || !grpc) return { ok: false, errors: errors.list };
  filter.grpcService = grpc.grpcService;
  // Key order as Envoy's proto lists the fields, so goldens read naturally.
  return { ok: true, value: { filter: { grpcService: grpc.grpcService, ...filter }, backend: grpc.backend } };
}

export const extProcExtension: ExtensionKind<ExtProcProvider> = {
  type: "ExtProc",
  field: "extProc",
  read: readExtProcProvider,
  equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
};
