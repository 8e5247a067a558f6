// Istio's MeshConfig, the part Waymark reads: `extensionProviders[]` with an envoyExtAuthzGrpc or
// envoyExtAuthzHttp provider, which an AuthorizationPolicy with `action: CUSTOM` names in
// `provider.name`. Read as istiod reads it: the ConfigMap `istio` in the Istio root namespace, key
// `mesh` (the watcher forwards that one ConfigMap), parsed on each translation it changes in; while
// there is no such ConfigMap, the translator setting WAYMARK_MESH_CONFIG (the same YAML, parsed at
// start-up, where an entry that cannot be read stops the start) is the fallback. The ConfigMap wins
// when both are there, as it does for istiod. A ConfigMap that cannot be read blocks nothing: the
// CUSTOM policies' statuses name it and the error, and they deny what they match (fail closed).
// Other kinds of providers (tracing, logging) are skipped: they are not authorization providers.
import { parse } from "yaml";
import { int, isRecord, str } from "../input/guards.ts";
import { nsName, type ObjectIndex } from "../input/objects.ts";
import { gatewayDurationToProto } from "../routes/resilience.ts";
import { DEFAULT_ROOT_NAMESPACE, type TranslatorSettings } from "../types.ts";

/** One ext_authz provider of the mesh config, validated. */
export interface ExtAuthzProvider {
  name: string;
  kind: "grpc" | "http";
  /** The provider's Service. */
  service: { namespace: string; name: string };
  port: number;
  /** A protobuf duration, e.g. "0.5s" (default 600s, as Istio). */
  timeout?: string;
  failOpen?: boolean;
  /** The status Envoy answers with when the provider cannot be reached (default 403). */
  statusOnError?: number;
  /** HTTP only: the path prefix of the check request. */
  pathPrefix?: string;
  /** Request headers sent to the provider (HTTP: in the check request; `x-*` style prefixes end in `*`). */
  includeRequestHeadersInCheck?: string[];
  /** HTTP only: headers added to the check request. */
  includeAdditionalHeadersInCheck?: Record<string, string>;
  /** HTTP only: the provider's response headers copied onto the allowed request. */
  headersToUpstreamOnAllow?: string[];
  /** HTTP only: the provider's response headers sent to the client on deny. */
  headersToDownstreamOnDeny?: string[];
  /** Send the request body (up to maxRequestBytes) to the provider. */
  includeRequestBodyInCheck?: {
    maxRequestBytes: number;
    allowPartialMessage?: boolean;
    packAsBytes?: boolean;
  };
}

const HEADER = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\*?$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const PROTO_DURATION = /^\d+(\.\d{1,9})?s$/;

class MeshConfigError extends Error {}

function fail(at: string, why: string): never {
  throw new MeshConfigError(`${at}: ${why}`);
}

/** `<name>.<ns>.svc.<domain>` or `<ns>/<name>`. */
function readService(v: unknown, at: string): { namespace: string; name: string } {
  const s = str(v);
  if (!s) fail(at, "is required (e.g. ext-authz.foo.svc.cluster.local or foo/ext-authz)");
  const slash = s.split("/");
  if (slash.length === 2 && LABEL.test(slash[0]!) && LABEL.test(slash[1]!))
    return { namespace: slash[0]!, name: slash[1]! };
  const dots = s.split(".");
  if (dots.length >= 3 && dots[2] === "svc" && LABEL.test(dots[0]!) && LABEL.test(dots[1]!))
    return { namespace: dots[1]!, name: dots[0]! };
  fail(
    at,
    `${JSON.stringify(s)} is not a Service (expected <name>.<namespace>.svc.cluster.local or <namespace>/<name>)`,
  );
}

function headers(v: unknown, at: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) fail(at, "must be a list of header names");
  return v.map((h, i) => {
    if (typeof h !== "string" || !HEADER.test(h))
      fail(`${at}[${i}]`, `${JSON.stringify(h)} is not a header name`);
    return h;
  });
}

function duration(v: unknown, at: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  const s = str(v) ?? "";
  if (PROTO_DURATION.test(s)) return s;
  const d = gatewayDurationToProto(s);
  if (!d) fail(at, `${JSON.stringify(v)} is not a duration such as 0.5s or 500ms`);
  return d;
}

function provider(raw: unknown, at: string): ExtAuthzProvider | undefined {
  if (!isRecord(raw)) fail(at, "must be an object");
  const name = str(raw.name);
  if (!name) fail(`${at}.name`, "is required");
  const grpc = raw.envoyExtAuthzGrpc;
  const http = raw.envoyExtAuthzHttp;
  if (grpc === undefined && http === undefined) return undefined;
  const kind = grpc !== undefined ? "grpc" : "http";
  const field = kind === "grpc" ? "envoyExtAuthzGrpc" : "envoyExtAuthzHttp";
  const p = grpc ?? http;
  const here = `${at}.${field}`;
  if (!isRecord(p)) fail(here, "must be an object");
  // Proto JSON takes a number as a string too.
  const port = int(typeof p.port === "string" && /^\d+$/.test(p.port) ? Number(p.port) : p.port);
  if (port === undefined || port < 1 || port > 65535) fail(`${here}.port`, "must be a port from 1 to 65535");
  const out: ExtAuthzProvider = { name, kind, service: readService(p.service, `${here}.service`), port };
  const timeout = duration(p.timeout, `${here}.timeout`);
  if (timeout) out.timeout = timeout;
  if (p.failOpen !== undefined) {
    if (typeof p.failOpen !== "boolean") fail(`${here}.failOpen`, "must be true or false");
    out.failOpen = p.failOpen;
  }
  if (p.statusOnError !== undefined && p.statusOnError !== "") {
    const code = int(Number(p.statusOnError));
    if (code === undefined || code < 100 || code > 599)
      fail(`${here}.statusOnError`, "must be an HTTP status code");
    out.statusOnError = code;
  }
  const include = headers(p.includeRequestHeadersInCheck, `${here}.includeRequestHeadersInCheck`);
  if (include) out.includeRequestHeadersInCheck = include;
  if (p.includeRequestBodyInCheck !== undefined && p.includeRequestBodyInCheck !== null) {
    const b = p.includeRequestBodyInCheck;
    if (!isRecord(b)) fail(`${here}.includeRequestBodyInCheck`, "must be an object");
    const max = int(b.maxRequestBytes);
    if (max === undefined || max < 1)
      fail(`${here}.includeRequestBodyInCheck.maxRequestBytes`, "must be a number of bytes, 1 or more");
    out.includeRequestBodyInCheck = { maxRequestBytes: max };
    if (b.allowPartialMessage === true) out.includeRequestBodyInCheck.allowPartialMessage = true;
    if (b.packAsBytes === true) out.includeRequestBodyInCheck.packAsBytes = true;
  }
  if (kind === "http") {
    const prefix = str(p.pathPrefix);
    if (prefix !== undefined) {
      if (!prefix.startsWith("/")) fail(`${here}.pathPrefix`, "must start with /");
      out.pathPrefix = prefix;
    }
    const up = headers(p.headersToUpstreamOnAllow, `${here}.headersToUpstreamOnAllow`);
    if (up) out.headersToUpstreamOnAllow = up;
    const down = headers(p.headersToDownstreamOnDeny, `${here}.headersToDownstreamOnDeny`);
    if (down) out.headersToDownstreamOnDeny = down;
    const add = p.includeAdditionalHeadersInCheck;
    if (add !== undefined && add !== null) {
      if (!isRecord(add))
        fail(`${here}.includeAdditionalHeadersInCheck`, "must be a map of header names to values");
      const m: Record<string, string> = {};
      for (const [k, v] of Object.entries(add)) {
        if (!HEADER.test(k) || k.endsWith("*"))
          fail(`${here}.includeAdditionalHeadersInCheck`, `${JSON.stringify(k)} is not a header name`);
        if (typeof v !== "string") fail(`${here}.includeAdditionalHeadersInCheck.${k}`, "must be a string");
        m[k] = v;
      }
      out.includeAdditionalHeadersInCheck = m;
    }
  }
  return out;
}

/**
 * The ext_authz providers of a mesh config (YAML); throws an Error whose message names the path of
 * the first entry that cannot be read.
 */
export function parseMeshConfig(text: string): ExtAuthzProvider[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new MeshConfigError(`not YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return [];
  if (!isRecord(doc))
    fail("(root)", "must be a mapping (the mesh config, as in the istio ConfigMap's mesh key)");
  const list = doc.extensionProviders;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) fail("extensionProviders", "must be a list");
  const out: ExtAuthzProvider[] = [];
  const names = new Set<string>();
  list.forEach((raw, i) => {
    const at = `extensionProviders[${i}]`;
    const name = isRecord(raw) ? str(raw.name) : undefined;
    if (name && names.has(name)) fail(`${at}.name`, `${JSON.stringify(name)} is named twice`);
    if (name) names.add(name);
    const p = provider(raw, at);
    if (p) out.push(p);
  });
  return out;
}

/** The mesh config ConfigMap's name and key, as istiod's. */
export const MESH_CONFIGMAP_NAME = "istio";
export const MESH_CONFIGMAP_KEY = "mesh";

/** The ext_authz providers in force, where they come from, and why none can be used (error). */
export interface MeshProviders {
  providers: readonly ExtAuthzProvider[];
  /** For statuses: `ConfigMap istio-system/istio (key mesh)` or `WAYMARK_MESH_CONFIG`. */
  source: string;
  /** The ConfigMap does not parse: every CUSTOM policy falls back to denying, with this cause. */
  error?: string;
}

let lastParsed: { text: string; result: { providers: ExtAuthzProvider[] } | { error: string } } | undefined;

function parseCached(text: string): { providers: ExtAuthzProvider[] } | { error: string } {
  if (lastParsed?.text === text) return lastParsed.result;
  let result: { providers: ExtAuthzProvider[] } | { error: string };
  try {
    result = { providers: parseMeshConfig(text) };
  } catch (e) {
    result = { error: (e as Error).message };
  }
  lastParsed = { text, result };
  return result;
}

/** The mesh config's providers: the root namespace's `istio` ConfigMap, else the setting. */
export function meshProviders(
  index: ObjectIndex,
  settings: Pick<TranslatorSettings, "rootNamespace" | "extensionProviders">,
): MeshProviders {
  const ns = settings.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const cm = index.configMaps.get(nsName(ns, MESH_CONFIGMAP_NAME));
  if (!cm) return { providers: settings.extensionProviders ?? [], source: "WAYMARK_MESH_CONFIG" };
  const source = `ConfigMap ${ns}/${MESH_CONFIGMAP_NAME} (key ${MESH_CONFIGMAP_KEY})`;
  const data = (cm as { data?: unknown }).data;
  const text = isRecord(data) ? data[MESH_CONFIGMAP_KEY] : undefined;
  if (typeof text !== "string")
    return { providers: [], source, error: `mesh config ${source}: the key is missing` };
  const r = parseCached(text);
  if ("error" in r) return { providers: [], source, error: `mesh config ${source}: ${r.error}` };
  return { providers: r.providers, source };
}
