// How a GatewayExtension calls its gRPC server (kgateway's ExtGrpcService, the same for ExtAuth,
// ExtProc and RateLimit): read once here so the three types agree on every field and default.
import type { GrpcServiceJson } from "@waymark/envoy-proto";
import { isHttp2Port } from "../../input/protocol.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { FieldErrors } from "../feature.ts";
import { CONTROL_CHARS, durationJson, object, readDuration, readInt, unknownKeys } from "../read.ts";
import type { ExtensionContext } from "./kind.ts";

const INT32 = 2 ** 31 - 1;

/**
 * spec.<field>.grpcService of kgateway's ExtGrpcService (ExtAuth, ExtProc and RateLimit share it):
 * backendRef, authority, requestTimeout (defaultTimeoutMs when not given), retry (attempts, backoff).
 */
export function readGrpcService(
  value: unknown,
  at: string,
  errors: FieldErrors,
  ctx: ExtensionContext,
  defaultTimeoutMs?: number,
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
    else backend = b.target;
  }
  // gRPC needs HTTP/2 to the server. A port that says so (appProtocol grpc / http2, or its name) has
  // such a cluster already; any other gets a cluster of its own with HTTP/2, so a route that sends
  // HTTP/1 to the same port keeps its cluster.
  if (backend && !isHttp2Port(backend.port))
    backend = {
      ...backend,
      port: { ...backend.port, appProtocol: "grpc" },
      cluster: `${backend.cluster}_grpc`,
    };
  const grpcService: GrpcServiceJson = { envoyGrpc: { clusterName: backend?.cluster ?? "" } };
  if (g.authority !== undefined) {
    if (typeof g.authority !== "string" || g.authority === "" || CONTROL_CHARS.test(g.authority))
      errors.at(`${at}.authority`, "must be a host name (the :authority of the calls)");
    else grpcService.envoyGrpc!.authority = g.authority;
  }
  if (g.requestTimeout === undefined) {
    if (defaultTimeoutMs !== undefined) grpcService.timeout = durationJson(defaultTimeoutMs);
  } else {
    const ms = readDuration(g.requestTimeout, `${at}.requestTimeout`, errors);
    if (ms !== undefined && ms < 1) errors.at(`${at}.requestTimeout`, "must be 1ms or more");
    else if (ms !== undefined) grpcService.timeout = durationJson(ms);
  }
  const retry = readRetry(g.retry, `${at}.retry`, errors);
  if (retry) grpcService.retryPolicy = retry;
  if (errors.length !== before || !backend) return undefined;
  return { grpcService, backend };
}

/**
 * A call-out's `retry` (attempts, backoff) as Envoy's RetryPolicy: the gRPC services' and an HTTP
 * authorization server's, which kgateway models alike. Undefined when not given or invalid.
 */
export function readRetry(
  raw: unknown,
  at: string,
  errors: FieldErrors,
): NonNullable<GrpcServiceJson["retryPolicy"]> | undefined {
  if (raw === undefined) return undefined;
  const r = object(raw, at, errors);
  if (!r) return undefined;
  unknownKeys(r, ["attempts", "backoff"], at, errors);
  // The CRD's default: one retry.
  const attempts = readInt(r.attempts, `${at}.attempts`, errors, 0, INT32) ?? 1;
  const policy: NonNullable<GrpcServiceJson["retryPolicy"]> = { numRetries: attempts };
  if (r.backoff === undefined) return policy;
  const b = object(r.backoff, `${at}.backoff`, errors);
  if (!b) return policy;
  unknownKeys(b, ["baseInterval", "maxInterval"], `${at}.backoff`, errors);
  if (b.baseInterval === undefined) errors.at(`${at}.backoff.baseInterval`, "required");
  const base =
    b.baseInterval === undefined
      ? undefined
      : readDuration(b.baseInterval, `${at}.backoff.baseInterval`, errors);
  const max =
    b.maxInterval === undefined
      ? undefined
      : readDuration(b.maxInterval, `${at}.backoff.maxInterval`, errors);
  if (base !== undefined && base < 1) errors.at(`${at}.backoff.baseInterval`, "must be 1ms or more");
  else if (base !== undefined && max !== undefined && max < base)
    errors.at(`${at}.backoff.maxInterval`, "must not be below baseInterval");
  else if (base !== undefined)
    policy.retryBackOff = {
      baseInterval: durationJson(base),
      ...(max === undefined ? {} : { maxInterval: durationJson(max) }),
    };
  return policy;
}
