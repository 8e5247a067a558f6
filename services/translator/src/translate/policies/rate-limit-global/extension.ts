// The RateLimit type of GatewayExtension (kgateway's RateLimitProvider): the rate limit service Envoy
// asks (a gRPC Service of the extension's namespace, Envoy's rls.proto), the domain its limits are
// kept under, how long Envoy waits for an answer (timeout, 100ms when not given, as kgateway's CRD),
// whether a request passes when the service cannot answer (failOpen, true when not given, as
// kgateway), and whether responses tell the client its budget (xRateLimitHeaders). Error paths are
// below the extension's spec.
import type { GrpcServiceJson } from "@waymark/envoy-proto";
import type { BackendTarget } from "../../routes/backends.ts";
import { readGrpcService } from "../extensions/grpc-service.ts";
import type { ExtensionContext, ExtensionKind } from "../extensions/kind.ts";
import { type FeatureRead, FieldErrors } from "../feature.ts";
import { durationJson, object, readBool, readDuration, unknownKeys } from "../read.ts";

export interface RateLimitService {
  domain: string;
  failOpen: boolean;
  /** Envoy's wait for the service's answer, a protobuf Duration. */
  timeout: string;
  xRateLimitHeaders: boolean;
  /** How Envoy calls the service (its cluster, authority, per-call timeout and retries). */
  grpcService: GrpcServiceJson;
  /** The service as a backend of the waypoint (an HTTP/2 EDS cluster). */
  backend: BackendTarget;
}

const DEFAULT_TIMEOUT_MS = 100;
const _INT32 = 2 ** 31 - 1;

function readRateLimitExtension(value: unknown, ctx: ExtensionContext): FeatureRead<RateLimitService> {
  const errors = new FieldErrors();
  const v = object(value, "rateLimit", errors);
  if (!v) return { ok: false, errors: errors.list };
  unknownKeys(v, ["domain", "grpcService", "timeout", "failOpen", "xRateLimitHeaders"], "rateLimit", errors);
  const domain = typeof v.domain === "string" ? v.domain : "";
  if (domain === "")
    errors.at("rateLimit.domain", "required: the domain the rate limit service keeps these limits under");
  const failOpen = readBool(v.failOpen, "rateLimit.failOpen", errors) ?? true;
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (v.timeout !== undefined) {
    const ms = readDuration(v.timeout, "rateLimit.timeout", errors);
    if (ms !== undefined && ms < 1) errors.at("rateLimit.timeout", "must be 1ms or more");
    else if (ms !== undefined) timeoutMs = ms;
  }
  const headers = v.xRateLimitHeaders ?? "Off";
  if (headers !== "Off" && headers !== "DraftVersion03")
    errors.at("rateLimit.xRateLimitHeaders", "must be Off or DraftVersion03", String(headers));
  if (v.grpcService === undefined)
    errors.at("rateLimit.grpcService", "required: the rate limit service to call");
  const grpc =
    v.grpcService === undefined
      ? undefined
      : readGrpcService(v.grpcService, "rateLimit.grpcService", errors, ctx);
  if (errors.length || !grpc) return { ok: false, errors: errors.list };
  return {
    ok: true,
    value: {
      domain,
      failOpen,
      timeout: durationJson(timeoutMs),
      xRateLimitHeaders: headers === "DraftVersion03",
      grpcService: grpc.grpcService,
      backend: grpc.backend,
    },
  };
}

export const rateLimitExtension: ExtensionKind<RateLimitService> = {
  type: "RateLimit",
  field: "rateLimit",
  read: readRateLimitExtension,
  equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
};
