// The ExtAuth type of GatewayExtension (kgateway's ExtAuthProvider): an authorization server called
// over gRPC (Envoy's envoy.service.auth.v3.Authorization) or plain HTTP, and how Envoy talks to it
// (timeout, retries, which headers go to it and come back, the body, what happens when it fails).
// Read into the ext_authz filter config the extAuth feature puts into a waypoint; error paths are
// below the extension's spec (`extAuth.grpcService.backendRef`).
import { type ExtAuthzJson, StatusCodeSchema } from "@waymark/envoy-proto";
import { int, isRecord, str } from "../../input/guards.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import { gatewayDurationToProto } from "../../routes/resilience.ts";
import { readGrpcService, readRetry } from "../extensions/grpc-service.ts";
import type { ExtensionContext, ExtensionKind } from "../extensions/kind.ts";
import { type FeatureRead, FieldErrors } from "../feature.ts";

/** An ExtAuth extension as the extAuth feature programs it. */
export interface ExtAuthServer {
  /** The filter config, without filter_enabled_metadata (the feature adds it). */
  config: ExtAuthzJson;
  /** The authorization server, as a backend of the waypoint (HTTP/2 for gRPC). */
  backend: BackendTarget;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Envoy's own default for a gRPC authorization call; the HTTP call needs one given, and gets the same. */
const DEFAULT_TIMEOUT_MS = 200;
const DEFAULT_TIMEOUT = "0.200s";
const DEFAULT_STATUS_ON_ERROR = 403;
const MAX_UINT32 = 4_294_967_295;

type ListStringMatcher = NonNullable<ExtAuthzJson["allowedHeaders"]>;
type HttpService = NonNullable<ExtAuthzJson["httpService"]>;

function headerList(v: unknown, at: string, errors: FieldErrors): ListStringMatcher | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) {
    errors.at(at, "must be a list of header names");
    return undefined;
  }
  const names: string[] = [];
  v.forEach((h, i) => {
    if (typeof h !== "string" || !HEADER_NAME.test(h))
      errors.at(`${at}[${i}]`, "not a header name", String(h));
    else names.push(h);
  });
  return names.length ? { patterns: names.map((exact) => ({ exact, ignoreCase: true })) } : undefined;
}

function duration(v: unknown, at: string, errors: FieldErrors): string | undefined {
  if (v === undefined) return undefined;
  const d = gatewayDurationToProto(str(v) ?? "");
  if (!d) errors.at(at, "not a duration such as 500ms or 10s", String(v));
  return d;
}

/** The HTTP server's backendRef and requestTimeout (gRPC servers: extensions/grpc-service.ts). */
function readService(
  raw: Record<string, unknown>,
  at: string,
  errors: FieldErrors,
  ctx: ExtensionContext,
): { backend: BackendTarget; timeout: string } | undefined {
  const before = errors.length;
  const b = ctx.backend(raw.backendRef);
  if (!b.ok) errors.at(`${at}.backendRef`, b.message);
  const timeout = duration(raw.requestTimeout, `${at}.requestTimeout`, errors) ?? DEFAULT_TIMEOUT;
  if (errors.length !== before || !b.ok) return undefined;
  return { backend: b.target, timeout };
}

function readExtAuth(value: unknown, ctx: ExtensionContext): FeatureRead<ExtAuthServer> {
  if (!isRecord(value)) return { ok: false, errors: [{ path: "extAuth", message: "must be an object" }] };
  const errors = new FieldErrors();
  const grpcRaw = value.grpcService;
  const httpRaw = value.httpService;
  if ((grpcRaw === undefined) === (httpRaw === undefined)) {
    errors.at("extAuth", "set exactly one of grpcService and httpService");
    return { ok: false, errors: errors.list };
  }
  const config: ExtAuthzJson = { transportApiVersion: "V3" };
  let backend: BackendTarget | undefined;
  if (grpcRaw !== undefined) {
    const g = readGrpcService(grpcRaw, "extAuth.grpcService", errors, ctx, DEFAULT_TIMEOUT_MS);
    if (g) {
      backend = g.backend;
      config.grpcService = g.grpcService;
    }
  } else {
    const at = "extAuth.httpService";
    const h = isRecord(httpRaw) ? httpRaw : {};
    const s = readService(h, at, errors, ctx);
    const service: HttpService = {};
    const prefix = str(h.pathPrefix);
    if (prefix !== undefined) {
      if (!prefix.startsWith("/")) errors.at(`${at}.pathPrefix`, "must start with /", prefix);
      else service.pathPrefix = prefix;
    }
    const req = isRecord(h.authorizationRequest) ? h.authorizationRequest : {};
    if (isRecord(req.headersToAdd)) {
      const add = Object.entries(req.headersToAdd);
      for (const [k, v] of add) {
        if (!HEADER_NAME.test(k))
          errors.at(`${at}.authorizationRequest.headersToAdd`, "not a header name", k);
        if (typeof v !== "string")
          errors.at(`${at}.authorizationRequest.headersToAdd`, "values must be strings", k);
      }
      if (add.length)
        service.authorizationRequest = {
          headersToAdd: add.map(([key, v]) => ({ key, value: String(v) })),
        };
    }
    const res = isRecord(h.authorizationResponse) ? h.authorizationResponse : {};
    const response: NonNullable<HttpService["authorizationResponse"]> = {};
    const upstream = headerList(res.headersToBackend, `${at}.authorizationResponse.headersToBackend`, errors);
    if (upstream) response.allowedUpstreamHeaders = upstream;
    const client = headerList(res.headersToClient, `${at}.authorizationResponse.headersToClient`, errors);
    if (client) response.allowedClientHeaders = client;
    const onSuccess = headerList(
      res.headersToClientOnSuccess,
      `${at}.authorizationResponse.headersToClientOnSuccess`,
      errors,
    );
    if (onSuccess) response.allowedClientHeadersOnSuccess = onSuccess;
    if (Object.keys(response).length) service.authorizationResponse = response;
    // Envoy retries an HTTP server's call only on the conditions it is given: those of a call that
    // failed rather than answered (a 5xx, no connection, a reset), never a denial.
    const retry = readRetry(h.retry, `${at}.retry`, errors);
    if (retry) service.retryPolicy = { ...retry, retryOn: "5xx,gateway-error,connect-failure,reset" };
    if (s) {
      backend = s.backend;
      const svc = s.backend.service;
      service.serverUri = {
        uri: `http://${svc.name}.${svc.namespace}.svc.cluster.local:${s.backend.port.port}`,
        cluster: s.backend.cluster,
        timeout: s.timeout,
      };
      config.httpService = service;
    }
  }
  const forward = headerList(value.headersToForward, "extAuth.headersToForward", errors);
  if (forward) config.allowedHeaders = forward;
  if (value.failOpen === true) config.failureModeAllow = true;
  if (value.clearRouteCache === true) config.clearRouteCache = true;
  const statPrefix = str(value.statPrefix);
  if (statPrefix) config.statPrefix = statPrefix;
  const code = value.statusOnError === undefined ? DEFAULT_STATUS_ON_ERROR : int(value.statusOnError);
  const known = code === undefined ? undefined : StatusCodeSchema.values.find((v) => v.number === code);
  if (!known || code === undefined || code < 100 || code > 511)
    errors.at(
      "extAuth.statusOnError",
      "not an HTTP status Envoy can answer with",
      String(value.statusOnError),
    );
  else config.statusOnError = { code: known.name as NonNullable<ExtAuthzJson["statusOnError"]>["code"] };
  if (value.withRequestBody !== undefined) {
    const body = readBody(value.withRequestBody, "extAuth.withRequestBody", errors);
    if (body) config.withRequestBody = body;
  }
  if (errors.length || !backend) return { ok: false, errors: errors.list };
  return { ok: true, value: { config, backend } };
}

/** kgateway's BufferSettings (also the policy's withRequestBody). */
export function readBody(
  v: unknown,
  at: string,
  errors: FieldErrors,
): NonNullable<ExtAuthzJson["withRequestBody"]> | undefined {
  if (!isRecord(v)) {
    errors.at(at, "must be an object");
    return undefined;
  }
  const max = int(v.maxRequestBytes);
  if (max === undefined || max < 1 || max > MAX_UINT32) {
    errors.at(`${at}.maxRequestBytes`, "must be a number of bytes, 1 or more");
    return undefined;
  }
  const body: NonNullable<ExtAuthzJson["withRequestBody"]> = { maxRequestBytes: max };
  if (v.allowPartialMessage === true) body.allowPartialMessage = true;
  if (v.packAsBytes === true) body.packAsBytes = true;
  return body;
}

export const extAuthExtension: ExtensionKind<ExtAuthServer> = {
  type: "ExtAuth",
  field: "extAuth",
  read: readExtAuth,
  equal: (a, b) => JSON.stringify(a) === JSON.stringify(b),
};
