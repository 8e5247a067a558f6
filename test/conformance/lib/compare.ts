// The suite's comparison rules, applied to one response. Every check named here fails the case when
// it fails; `applied` says which checks a case was put through (for the table).
//
// Two upstream rules make up the checks, in upstream's order, and a case must pass both:
//   - the mesh rule (conformance/utils/echo compareRequest, what the mesh client applies): status code
//     (for gRPC, OK counts as 200), request headers the backend saw (names case-insensitive, values
//     joined by ","), absent request headers, absent response headers, response headers (the last
//     value of a header, as the mesh client's parser keeps it), and the pod-name prefix (Backend);
//   - the Gateway rule (conformance/utils/http CompareRoundTrip), which the mesh rule leaves out the
//     path, method, host and namespace of, and the redirect's Location: on a 200/204 the request the
//     backend saw (host, path, method, namespace, headers, absent headers, response headers joined by
//     ",", absent response headers, pod-name prefix); on a redirect the Location's host, port, scheme
//     and path with the suite's defaults (host: as received; scheme: the request's; path: the
//     request's path without its query; port: the scheme's or none unless one is expected).
// For gRPC (Protocol "grpc") the Gateway part is the gRPC rule (conformance/utils/grpc
// compareResponse): the fully qualified method, the namespace when named and the pod-name prefix.
//
// Where the Gateway rule's model of a request differs from the mesh client's, the mesh client's is
// used, and only there:
//   - host: the Gateway rule's Request.Host is the Host header; the mesh client's is the URL's
//     authority (the Host header unless the case sets one in Headers), normalized as the suite does
//     (CalculateHost: no port when it is the scheme's);
//   - path: a case without a path sends "/" (the mesh client requests `http://echo`);
//   - namespace: mesh cases that expect a 200 do not all name a namespace (the Gateway suite's
//     always do); it is compared when the case names one.
import type { MeshResponse } from "./client.ts";
import type { ExpectedResponse } from "./suite.ts";

/** The checks, by the names the table uses. */
export type Check =
  | "status"
  | "backend"
  | "namespace"
  | "path"
  | "method"
  | "host"
  | "request-headers"
  | "absent-request-headers"
  | "response-headers"
  | "absent-response-headers"
  | "location-host"
  | "location-port"
  | "location-scheme"
  | "location-path"
  | "grpc-method"
  /** The weighted tests' distribution (lib/compare.ts checkWeights). */
  | "weights";

export const CHECK_ORDER: Check[] = [
  "status",
  "backend",
  "namespace",
  "host",
  "path",
  "method",
  "request-headers",
  "absent-request-headers",
  "response-headers",
  "absent-response-headers",
  "location-host",
  "location-port",
  "location-scheme",
  "location-path",
  "grpc-method",
  "weights",
];

export interface Verdict {
  /** undefined when the response is what the suite expects. */
  failure: string | undefined;
  /**
   * The checks the case was put through (up to and including the one that failed); a check with
   * nothing to compare (no Backend: upstream's prefix "" matches any pod) is not counted.
   */
  applied: Set<Check>;
}

/** The gRPC method the mesh client calls when a case names none (echo-basic's Echo). */
export const GRPC_ECHO_METHOD = "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo";

export function expectedStatuses(exp: ExpectedResponse): number[] {
  const codes = [...(exp.Response?.StatusCodes ?? [])];
  const one = exp.Response?.StatusCode;
  if (one && !codes.includes(one)) codes.push(one);
  return codes.length ? codes : [200];
}

export const isGrpc = (exp: ExpectedResponse) => (exp.Request.Protocol ?? "").toLowerCase() === "grpc";

const REDIRECTS = new Set([300, 301, 302, 303, 304, 305, 307, 308]);
const TIMEOUTS = new Set([408, 504]);

const lowerKeys = (h: Record<string, string[]>) => {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = [...(out[k.toLowerCase()] ?? []), ...v];
  return out;
};

/** CalculateHost: "echo:80" → "echo" for http, "x:443" → "x" for https; anything else unchanged. */
export function calculateHost(host: string, scheme: string): string {
  const m = /^(.*):(\d+)$/.exec(host);
  if (!m) return host;
  const s = scheme.toLowerCase();
  if ((s === "http" && m[2] === "80") || (s === "https" && m[2] === "443")) return m[1] ?? host;
  return host;
}

/** The Host header the mesh client sends for a case: the case's own, else the URL's authority. */
export function sentHost(exp: ExpectedResponse): string {
  const own = Object.entries(exp.Request.Headers ?? {}).find(([k]) => k.toLowerCase() === "host")?.[1];
  return own ?? calculateHost(exp.Request.Host || "echo", "http");
}

/**
 * The fields of an expectation the checks above implement. A case using another (a later suite's
 * ValidHeaderValues, HTTPPort, MirroredTo, SNI…) fails with the field's name rather than pass unchecked.
 */
const KNOWN_FIELDS: Record<string, readonly string[]> = {
  "": ["TestCaseName", "Request", "ExpectedRequest", "RedirectRequest", "Response", "Backend", "Namespace"],
  Request: ["Host", "Method", "Path", "Headers", "UnfollowRedirect", "Protocol"],
  ExpectedRequest: ["Request", "AbsentHeaders"],
  "ExpectedRequest.Request": ["Host", "Method", "Path", "Headers"],
  RedirectRequest: ["Scheme", "Host", "Port", "Path"],
  Response: ["StatusCode", "StatusCodes", "Headers", "AbsentHeaders"],
};

export function unsupportedFields(exp: ExpectedResponse): string[] {
  const out: string[] = [];
  for (const [at, known] of Object.entries(KNOWN_FIELDS)) {
    let v: unknown = exp;
    for (const part of at ? at.split(".") : []) v = (v as Record<string, unknown> | undefined)?.[part];
    if (typeof v !== "object" || v === null) continue;
    for (const k of Object.keys(v)) if (!known.includes(k)) out.push(at ? `${at}.${k}` : k);
  }
  return out;
}

/** Compares one response with a case: the mesh rule, then the Gateway (or gRPC) rule. */
export function compare(exp: ExpectedResponse, res: MeshResponse): Verdict {
  const unsupported = unsupportedFields(exp);
  if (unsupported.length)
    return {
      failure: `the harness does not check ${unsupported.join(", ")} of this case`,
      applied: new Set(),
    };
  const applied = new Set<Check>();
  const check = (c: Check, why: string | undefined): string | undefined => {
    applied.add(c);
    return why;
  };
  const failure =
    meshRule(exp, res, check) ?? (isGrpc(exp) ? grpcRule(exp, res, check) : gatewayRule(exp, res, check));
  return { failure, applied };
}

type CheckFn = (c: Check, why: string | undefined) => string | undefined;

function meshRule(exp: ExpectedResponse, res: MeshResponse, check: CheckFn): string | undefined {
  const codes = expectedStatuses(exp);
  if (isGrpc(exp)) {
    const mapped = codes.map((c) => (c === 0 ? 200 : c));
    if (check("status", mapped.includes(res.status) ? undefined : "x"))
      return `wanted gRPC status code to be one of [${codes.join(" ")}] (mapped to HTTP), got ${res.status}`;
  } else if (check("status", codes.includes(res.status) ? undefined : "x")) {
    return `wanted status code to be one of [${codes.join(" ")}], got ${res.status}`;
  }
  const reqHeaders = lowerKeys(res.echo?.headers ?? {});
  const want = exp.ExpectedRequest;
  for (const [name, value] of Object.entries(want?.Request?.Headers ?? {})) {
    const got = reqHeaders[name.toLowerCase()];
    if (check("request-headers", got ? undefined : "x"))
      return `expected ${name} header to be set, actual headers: ${JSON.stringify(reqHeaders)}`;
    if (check("request-headers", got?.join(",") === value ? undefined : "x"))
      return `expected ${name} header to be set to ${value}, got ${got?.join(",")}`;
  }
  for (const name of want?.AbsentHeaders ?? []) {
    const got = reqHeaders[name.toLowerCase()];
    if (check("absent-request-headers", got ? "x" : undefined))
      return `expected ${name} header to not be set, got ${got?.join(",")}`;
  }
  const resHeaders = lowerKeys(res.responseHeaders);
  for (const name of exp.Response?.AbsentHeaders ?? []) {
    const got = resHeaders[name.toLowerCase()];
    if (check("absent-response-headers", got?.length ? "x" : undefined))
      return `expected no header "${name}", got ${got?.join(",")}`;
  }
  for (const [name, value] of Object.entries(exp.Response?.Headers ?? {})) {
    const got = resHeaders[name.toLowerCase()]?.at(-1) ?? "";
    if (check("response-headers", got === value ? undefined : "x"))
      return `expected header ${name}=${value}, got ${got}`;
  }
  const pod = res.echo?.pod ?? "";
  if (exp.Backend && check("backend", pod.startsWith(exp.Backend) ? undefined : "x"))
    return `expected pod name to start with ${exp.Backend}, got ${pod}`;
  return undefined;
}

function gatewayRule(exp: ExpectedResponse, res: MeshResponse, check: CheckFn): string | undefined {
  const codes = expectedStatuses(exp);
  if (TIMEOUTS.has(res.status) && codes.some((c) => TIMEOUTS.has(c))) return undefined;
  if (res.status === 200 || res.status === 204) {
    const echo = res.echo;
    const wantReq = exp.ExpectedRequest?.Request ?? exp.Request;
    const wantHost = exp.ExpectedRequest ? (exp.ExpectedRequest.Request?.Host ?? "") : sentHost(exp);
    if (wantHost && check("host", echo?.host === wantHost ? undefined : "x"))
      return `expected host to be ${wantHost}, got ${echo?.host}`;
    const wantPath = exp.ExpectedRequest ? (wantReq.Path ?? "") : exp.Request.Path || "/";
    if (check("path", echo?.path === wantPath ? undefined : "x"))
      return `expected path to be ${wantPath}, got ${echo?.path}`;
    const wantMethod = wantReq.Method || "GET";
    if (check("method", echo?.method === wantMethod ? undefined : "x"))
      return `expected method to be ${wantMethod}, got ${echo?.method}`;
    if (exp.Namespace && check("namespace", echo?.namespace === exp.Namespace ? undefined : "x"))
      return `expected namespace to be ${exp.Namespace}, got ${echo?.namespace}`;
    const reqHeaders = lowerKeys(echo?.headers ?? {});
    // Without an ExpectedRequest the request itself is expected, its headers too (the Host header
    // is the host check's: a backend does not see it among the headers).
    const wantHeaders = Object.entries(wantReq.Headers ?? {}).filter(
      ([k]) => exp.ExpectedRequest || k.toLowerCase() !== "host",
    );
    for (const [name, value] of wantHeaders) {
      const got = reqHeaders[name.toLowerCase()];
      if (check("request-headers", got?.join(",") === value ? undefined : "x"))
        return got
          ? `expected ${name} header to be set to ${value}, got ${got.join(",")}`
          : `expected ${name} header to be set, actual headers: ${JSON.stringify(reqHeaders)}`;
    }
    const resHeaders = lowerKeys(res.responseHeaders);
    for (const [name, value] of Object.entries(exp.Response?.Headers ?? {})) {
      const got = resHeaders[name.toLowerCase()];
      if (check("response-headers", got?.join(",") === value ? undefined : "x"))
        return got
          ? `expected ${name} header to be set to ${value}, got ${got.join(",")}`
          : `expected ${name} header to be set, actual headers: ${JSON.stringify(resHeaders)}`;
    }
    for (const name of exp.Response?.AbsentHeaders ?? []) {
      const got = resHeaders[name.toLowerCase()];
      if (check("absent-response-headers", got ? "x" : undefined))
        return `expected ${name} header to not be set, got ${got?.join(",")}`;
    }
    for (const name of exp.ExpectedRequest?.AbsentHeaders ?? []) {
      const got = reqHeaders[name.toLowerCase()];
      if (check("absent-request-headers", got ? "x" : undefined))
        return `expected ${name} header to not be set, got ${got?.join(",")}`;
    }
    const pod = echo?.pod ?? "";
    if (exp.Backend && check("backend", pod.startsWith(exp.Backend) ? undefined : "x"))
      return `expected pod name to start with ${exp.Backend}, got ${pod}`;
  } else if (REDIRECTS.has(res.status)) {
    const want = exp.RedirectRequest;
    if (!want) return undefined;
    const location = lowerKeys(res.responseHeaders)["location"]?.[0];
    const reqPath = (exp.Request.Path || "/").split("?")[0] ?? "/";
    let url: URL | undefined;
    try {
      // A relative Location resolves against the request's URL, as Go's Response.Location does.
      url = location ? new URL(location, `http://${exp.Request.Host || "echo"}${reqPath}`) : undefined;
    } catch {
      url = undefined;
    }
    if (check("location-host", url ? undefined : "x"))
      return location
        ? `Location ${JSON.stringify(location)} is not a URL`
        : "redirect without a Location header";
    if (!url) return undefined;
    const got = {
      scheme: url.protocol.replace(/:$/, ""),
      host: url.hostname,
      port: url.port,
      path: url.pathname,
    };
    const wantHost = want.Host || got.host;
    const wantScheme = want.Scheme || "http";
    const wantPath = want.Path || reqPath;
    if (check("location-host", got.host === wantHost ? undefined : "x"))
      return `expected redirected hostname to be "${wantHost}", got "${got.host}"`;
    if (want.Port) {
      if (check("location-port", got.port === want.Port ? undefined : "x"))
        return `expected redirected port to be "${want.Port}", got "${got.port}"`;
    } else {
      const s = got.scheme.toLowerCase();
      if (check("location-port", s === "http" && !["", "80"].includes(got.port) ? "x" : undefined))
        return `for http scheme, expected redirected port to be 80 or not set, got "${got.port}"`;
      if (check("location-port", s === "https" && !["", "443"].includes(got.port) ? "x" : undefined))
        return `for https scheme, expected redirected port to be 443 or not set, got "${got.port}"`;
    }
    if (check("location-scheme", got.scheme === wantScheme ? undefined : "x"))
      return `expected redirected scheme to be "${wantScheme}", got "${got.scheme}"`;
    if (check("location-path", got.path === wantPath ? undefined : "x"))
      return `expected redirected path to be "${wantPath}", got "${got.path}"`;
  }
  return undefined;
}

function grpcRule(exp: ExpectedResponse, res: MeshResponse, check: CheckFn): string | undefined {
  if (res.status !== 200) return undefined;
  const want = exp.Request.Path || GRPC_ECHO_METHOD;
  if (check("grpc-method", res.echo?.path === want ? undefined : "x"))
    return `expected path to be ${want}, got ${res.echo?.path}`;
  if (exp.Namespace && check("namespace", res.echo?.namespace === exp.Namespace ? undefined : "x"))
    return `expected namespace to be ${exp.Namespace}, got ${res.echo?.namespace}`;
  const pod = res.echo?.pod ?? "";
  if (exp.Backend && check("backend", pod.startsWith(exp.Backend) ? undefined : "x"))
    return `expected pod name to start with ${exp.Backend}, got ${pod}`;
  return undefined;
}

/** Pod name → backend name: "{backend}-{hash}-{hash}" loses its last two parts (as the suite does). */
export function backendOf(pod: string): string {
  const parts = pod.split("-");
  return parts.length < 3 ? pod : parts.slice(0, -2).join("-");
}

/**
 * The suite's weighted-distribution check (weight.TestWeightedDistributionBatch): every pod one of the
 * weighted backends, as many backends seen as have a weight above 0, every share within ±5 points.
 */
export function checkWeights(pods: string[], weights: Record<string, number>): string | undefined {
  const seen = new Map<string, number>();
  for (const p of pods) {
    const b = backendOf(p);
    if (!(b in weights)) return `request was handled by an unexpected pod ${JSON.stringify(p)}`;
    seen.set(b, (seen.get(b) ?? 0) + 1);
  }
  const problems: string[] = [];
  const active = Object.values(weights).filter((w) => w > 0).length;
  if (seen.size !== active)
    problems.push(`expected ${active} backends to receive traffic, but got ${seen.size}`);
  for (const [backend, want] of Object.entries(weights)) {
    const n = seen.get(backend);
    if (n === undefined && want !== 0) {
      problems.push(`expect traffic to hit backend ${JSON.stringify(backend)} - but none was received`);
      continue;
    }
    const got = (n ?? 0) / pods.length;
    if (Math.abs(got - want) > 0.05) problems.push(`${backend}: ${got.toFixed(3)} not within ${want}±0.05`);
  }
  problems.sort();
  return problems.length ? problems.join("; ") : undefined;
}
