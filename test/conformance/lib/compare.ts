// The suite's comparison rules, applied to one response.
//
// `meshCompare` is the suite's own rule for mesh tests (conformance/utils/echo compareRequest):
// status code, request headers seen by the backend (case-insensitive names, values joined by ","),
// absent request headers, response headers and absent ones, and the pod-name prefix (Backend).
//
// `strictCompare` adds what the Gateway suite's CompareRoundTrip checks on top, which the mesh rule
// does not: path, method, host (when the case names one), namespace (when the case names one) and,
// for redirects, the Location's scheme, host, port and path.
import type { MeshResponse } from "./client.ts";
import type { ExpectedResponse } from "./suite.ts";

export function expectedStatuses(exp: ExpectedResponse): number[] {
  const codes = [...(exp.Response?.StatusCodes ?? [])];
  const one = exp.Response?.StatusCode;
  if (one && !codes.includes(one)) codes.push(one);
  return codes.length ? codes : [200];
}

const lower = (h: Record<string, string[]>) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

/** undefined when the response is what the suite expects; the reason otherwise. */
export function meshCompare(exp: ExpectedResponse, res: MeshResponse): string | undefined {
  const codes = expectedStatuses(exp);
  if (!codes.includes(res.status))
    return `wanted status code to be one of [${codes.join(" ")}], got ${res.status}`;
  const reqHeaders = lower(res.echo?.headers ?? {});
  const want = exp.ExpectedRequest;
  for (const [name, value] of Object.entries(want?.Request?.Headers ?? {})) {
    const got = reqHeaders[name.toLowerCase()];
    if (!got) return `expected ${name} header to be set, actual headers: ${JSON.stringify(reqHeaders)}`;
    if (got.join(",") !== value) return `expected ${name} header to be set to ${value}, got ${got.join(",")}`;
  }
  for (const name of want?.AbsentHeaders ?? []) {
    const got = reqHeaders[name.toLowerCase()];
    if (got) return `expected ${name} header to not be set, got ${got.join(",")}`;
  }
  for (const name of exp.Response?.AbsentHeaders ?? []) {
    const got = res.responseHeaders[name.toLowerCase()];
    if (got?.length) return `expected no header "${name}", got ${got.join(",")}`;
  }
  for (const [name, value] of Object.entries(exp.Response?.Headers ?? {})) {
    const got = res.responseHeaders[name.toLowerCase()]?.[0] ?? "";
    if (got !== value) return `expected header ${name}=${value}, got ${got}`;
  }
  const pod = res.echo?.pod ?? "";
  if (!pod.startsWith(exp.Backend ?? "")) return `expected pod name to start with ${exp.Backend}, got ${pod}`;
  return undefined;
}

const REDIRECTS = new Set([300, 301, 302, 303, 304, 305, 307, 308]);

export function strictCompare(exp: ExpectedResponse, res: MeshResponse): string | undefined {
  if (res.status === 200 && res.echo) {
    const req = exp.ExpectedRequest?.Request ?? exp.Request;
    const path = req.Path || "/";
    if (res.echo.path !== path) return `expected path to be ${path}, got ${res.echo.path}`;
    const method = req.Method || "GET";
    if (res.echo.method !== method) return `expected method to be ${method}, got ${res.echo.method}`;
    const host = exp.ExpectedRequest?.Request?.Host;
    if (host && res.echo.host !== host) return `expected host to be ${host}, got ${res.echo.host}`;
    if (exp.Namespace && res.echo.namespace !== exp.Namespace)
      return `expected namespace to be ${exp.Namespace}, got ${res.echo.namespace}`;
  } else if (REDIRECTS.has(res.status) && exp.RedirectRequest) {
    const location = res.responseHeaders["location"]?.[0];
    if (!location) return "redirect without a Location header";
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      return `Location ${location} is not an absolute URL`;
    }
    const want = exp.RedirectRequest;
    const scheme = url.protocol.replace(/:$/, "");
    const wantScheme = want.Scheme || "http";
    const wantHost = want.Host || url.hostname;
    const wantPath = want.Path || (exp.Request.Path || "/").split("?")[0];
    if (url.hostname !== wantHost)
      return `expected redirected hostname to be "${wantHost}", got "${url.hostname}"`;
    if (want.Port) {
      if (url.port !== want.Port) return `expected redirected port to be "${want.Port}", got "${url.port}"`;
    } else if (
      (scheme === "http" && !["", "80"].includes(url.port)) ||
      (scheme === "https" && !["", "443"].includes(url.port))
    ) {
      return `for ${scheme} scheme, expected redirected port to be the scheme's or not set, got "${url.port}"`;
    }
    if (scheme !== wantScheme) return `expected redirected scheme to be "${wantScheme}", got "${scheme}"`;
    if (url.pathname !== wantPath)
      return `expected redirected path to be "${wantPath}", got "${url.pathname}"`;
  }
  return undefined;
}

/** Pod name → backend name: "{backend}-{hash}-{hash}" loses its last two parts (as the suite does). */
export function backendOf(pod: string): string {
  const parts = pod.split("-");
  return parts.length < 3 ? pod : parts.slice(0, -2).join("-");
}

/** The suite's weighted-distribution check: every share within ±5 percentage points. */
export function checkWeights(pods: string[], weights: Record<string, number>): string | undefined {
  const seen = new Map<string, number>();
  for (const p of pods) {
    const b = backendOf(p);
    if (!(b in weights)) return `request was handled by an unexpected pod ${JSON.stringify(p)}`;
    seen.set(b, (seen.get(b) ?? 0) + 1);
  }
  const problems: string[] = [];
  for (const [backend, want] of Object.entries(weights)) {
    const got = (seen.get(backend) ?? 0) / pods.length;
    if (Math.abs(got - want) > 0.05) problems.push(`${backend}: ${got.toFixed(3)} not within ${want}±0.05`);
  }
  return problems.length ? problems.join("; ") : undefined;
}
