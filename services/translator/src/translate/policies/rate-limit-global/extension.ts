// The RateLimit type of GatewayExtension (kgateway's RateLimitProvider): the rate limit service Envoy
// asks (a gRPC Service of the extension's namespace, Envoy's rls.proto), the domain its limits are
// kept under, how long Envoy waits for an answer (timeout, 100ms when not given, as kgateway's CRD),
// whether a request passes when the service cannot answer (failOpen, true when not given, as
// kgateway), and whether responses tell the client its budget (xRateLimitHeaders). Error paths are
// below the extension's spec.
import type { GrpcServiceJson } from "@waymark/envoy-proto";
import { isHttp2Port } from "../../input/protocol.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { ExtensionContext, ExtensionKind } from "../extensions/kind.ts";
import { type FeatureRead, FieldErrors } from "../feature.ts";
import { durationJson, object, readBool, readDuration, readInt, unknownKeys } from "../read.ts";

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
const INT32 = 2 ** 31 - 1;

/** spec.<field>.grpcService of kgateway's ExtGrpcService: backendRef, authority, requestTimeout, retry. */
export function readGrpcService(
  value: unknown,
  at: string,
  errors: FieldErrors,
  ctx: ExtensionContext,
): { grpcService: GrpcServiceJson; backend: BackendTarget } | undefined {
  const before = errors.length;
  const g = object(value, at, errors);
  if (!g) return undefined;
  unknownKeys(g, ["backendRef", "authority", "requestTimeout", "retry"], at, errors);
  let backend: BackendTarget | undefined;
  if (g.backendRef === undefined) errors.at(`${at}.backendRef`, "required: the Service (and port) to call");
  else {
    const b = ctx.backend(g.backendRef);
    if (!b.ok) errors.at(`${at}.backendRef`, b.message);
    else if (!isHttp2Port(b.target.port))
      errors.at(
        `${at}.backendRef`,
        `Service ${b.target.service.name} port ${b.target.port.port} is not declared gRPC: Envoy calls it over HTTP/2 only when the port has appProtocol grpc (or http2), or is named so`,
      );
    else backend = b.target;
  }
  const grpcService: GrpcServiceJson = { envoyGrpc: { clusterName: backend?.cluster ?? "" } };
  if (g.authority !== undefined) {
    if (typeof g.authority !== "string" || g.authority === "")
      errors.at(`${at}.authority`, "must be a non-empty string (the :authority of the calls)");
    else grpcService.envoyGrpc!.authority = g.authority;
  }
  if (g.requestTimeout !== undefined) {
    const ms = readDuration(g.requestTimeout, `${at}.requestTimeout`, errors);
    if (ms !== undefined && ms < 1) errors.at(`${at}.requestTimeout`, "must be 1ms or more");
    else if (ms !== undefined) grpcService.timeout = durationJson(ms);
  }
  if (g.retry !== undefined) {
    const r = object(g.retry, `${at}.retry`, errors);
    if (r) {
      unknownKeys(r, ["attempts", "backoff"], `${at}.retry`, errors);
      // The CRD's default: one retry.
      const attempts = readInt(r.attempts, `${at}.retry.attempts`, errors, 0, INT32) ?? 1;
      const policy: NonNullable<GrpcServiceJson["retryPolicy"]> = { numRetries: attempts };
      if (r.backoff !== undefined) {
        const b = object(r.backoff, `${at}.retry.backoff`, errors);
        if (b) {
          unknownKeys(b, ["baseInterval", "maxInterval"], `${at}.retry.backoff`, errors);
          if (b.baseInterval === undefined) errors.at(`${at}.retry.backoff.baseInterval`, "required");
          const base =
            b.baseInterval === undefined
              ? undefined
              : readDuration(b.baseInterval, `${at}.retry.backoff.baseInterval`, errors);
          const max =
            b.maxInterval === undefined
              ? undefined
              : readDuration(b.maxInterval, `${at}.retry.backoff.maxInterval`, errors);
          if (base !== undefined && base < 1)
            errors.at(`${at}.retry.backoff.baseInterval`, "must be 1ms or more");
          else if (base !== undefined && max !== undefined && max < base)
            errors.at(`${at}.retry.backoff.maxInterval`, "must not be below baseInterval");
          else if (base !== undefined)
            policy.retryBackOff = {
              baseInterval: durationJson(base),
              ...(max === undefined ? {} : { maxInterval: durationJson(max) }),
            };
        }
      }
      grpcService.retryPolicy = policy;
    }
  }
  if (errors.length !== before || !backend) return undefined;
  return { grpcService, backend };
}

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
