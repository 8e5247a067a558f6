// TrafficPolicy on the Kubernetes path with kgateway's schema (deploy/crds): a real API server, Waymark
// running as in kubernetes.test.ts (the watcher with the RBAC of deploy/rbac.yaml), the guide's apps and
// waypoint, traffic through an Envoy bootstrapped from Waymark's ConfigMap reached by ztunnel stand-ins.
//   - the guide's transformation step, applied with kubectl from examples/: the decoded header in
//     traffic, the policy's status ancestors read back with kubectl;
//   - a kgateway manifest (a GatewayExtension and a TrafficPolicy with fields Waymark does not program)
//     applies unchanged with strict field validation: PartiallyValid names the fields, the implemented
//     part works, the GatewayExtension reaches the translator's input;
//   - every CEL rule of both CRDs rejects at the API server: one bad manifest per rule, with the rule's
//     message; the tables are checked against the rules in the CRD files, so a new rule needs a case.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey } from "@waymark/api";
import { connectBus, getJson, type NatsConnection, openBucket } from "@waymark/bus";
import { type EnvoyProc, freePort, type Proc, podNetworkProblem, tempDir, waitFor } from "@waymark/testing";
import { parse } from "yaml";
import { TRAFFIC_POLICY_FIELDS } from "../../services/translator/src/translate/policies/attachment.ts";
import { FEATURES } from "../../services/translator/src/translate/policies/features.ts";
import { type HttpResult, httpGet } from "../lib/http.ts";
import * as guide from "../lib/kube-guide.ts";
import {
  DEPLOY,
  type KubeStack,
  kubeSkip,
  REPO_ROOT,
  startHttpbinAt,
  startKubeStack,
  startWaypointEnvoy,
  startZtunnelStandin,
} from "../lib/kube-stack.ts";

const NS = "httpbin";
const WAYPOINT = "kgateway-waypoint";
const KGW = "gateway.kgateway.dev/v1alpha1";
const TP_CRD = join(DEPLOY, "crds", "trafficpolicy.yaml");
const GE_CRD = join(DEPLOY, "crds", "gatewayextension.yaml");

// ---- The CEL rules of the CRDs, one failing manifest each ----

type Obj = Record<string, unknown>;
/** One CEL rule: where it sits in the schema (`.spec.retry`, `[]` for list items), its message, a spec breaking it. */
interface CelCase {
  at: string;
  message: string;
  spec: Obj;
}

/** Every x-kubernetes-validations rule of a CRD's schema, as `<path> <message>`. */
function celRules(file: string): string[] {
  const crd = parse(readFileSync(file, "utf8")) as {
    spec: { versions: Array<{ schema: { openAPIV3Schema: Obj } }> };
  };
  const out: string[] = [];
  const walk = (n: unknown, path: string) => {
    if (typeof n !== "object" || n === null) return;
    const s = n as Obj;
    for (const v of (s["x-kubernetes-validations"] as Array<{ message: string }> | undefined) ?? [])
      out.push(`${path} ${v.message}`);
    for (const [k, v] of Object.entries((s["properties"] as Obj | undefined) ?? {})) walk(v, `${path}.${k}`);
    walk(s["items"], `${path}[]`);
    walk(s["additionalProperties"], `${path}{}`);
  };
  for (const v of crd.spec.versions) walk(v.schema.openAPIV3Schema, "");
  return out.sort();
}

const DURATION = "not a duration (use e.g. 500ms, 10s, 1m30s)";
const ROUTE = [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "httpbin2" }];
const GATEWAY = [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: WAYPOINT }];
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
/** b over a: objects merged key by key (undefined deletes), arrays item by item, anything else replaced. */
function merge(a: unknown, b: unknown): unknown {
  if (Array.isArray(a) && Array.isArray(b)) return a.map((x, i) => (i < b.length ? merge(x, b[i]) : x));
  if (isObj(a) && isObj(b)) {
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in a && v !== undefined ? merge(a[k], v) : v;
    return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
  }
  return b;
}

const hm = (dir: "request" | "response", op: "set" | "add") => [
  {
    at: `.spec.headerModifiers.${dir}.${op}[]`,
    message: "a header with an inline value needs a name",
    spec: { headerModifiers: { [dir]: { [op]: [{ value: "v" }] } } },
  },
  {
    at: `.spec.headerModifiers.${dir}.${op}[]`,
    message: "set exactly one of: value, secretRef",
    spec: { headerModifiers: { [dir]: { [op]: [{ name: "x-a", value: "v", secretRef: { name: "s" } }] } } },
  },
];
const dm = (dir: "request" | "response") => ({
  at: `.spec.transformation.${dir}.dynamicMetadata[].value`,
  message: "stringValue is required",
  spec: { transformation: { [dir]: { dynamicMetadata: [{ namespace: "waymark", key: "k", value: {} }] } } },
});
const extRef = { extensionRef: { name: "ext" } };
/** TrafficPolicy: each spec is merged over targetRefs = the httpbin2 HTTPRoute. */
const TP_CASES: CelCase[] = [
  {
    at: ".spec",
    message: "autoHostRewrite applies to HTTPRoute targets only",
    spec: { targetRefs: GATEWAY, autoHostRewrite: true },
  },
  {
    at: ".spec",
    message: "urlRewrite applies to HTTPRoute targets only",
    spec: { targetRefs: GATEWAY, urlRewrite: { pathRegex: { pattern: "^/a", substitution: "/b" } } },
  },
  {
    at: ".spec",
    message: "tracing applies to HTTPRoute and GRPCRoute targets only",
    spec: { targetRefs: GATEWAY, tracing: { randomSampling: 10 } },
  },
  {
    at: ".spec",
    message: "statPrefix applies to HTTPRoute and GRPCRoute targets only",
    spec: { targetRefs: GATEWAY, statPrefix: "{{route_name}}" },
  },
  {
    at: ".spec",
    message: "retry.perTryTimeout must be shorter than timeouts.request",
    spec: { retry: { retryOn: ["5xx"], perTryTimeout: "5s" }, timeouts: { request: "1s" } },
  },
  {
    at: ".spec.acl.denyResponse",
    message: "set at least one of: statusCode, headers, blockedByHeaderName",
    spec: { acl: { defaultAction: "deny", denyResponse: {} } },
  },
  {
    at: ".spec.apiKeyAuth",
    message: "set exactly one of: secretRef, secretSelector, disable",
    spec: { apiKeyAuth: { secretRef: { name: "keys" }, disable: {} } },
  },
  {
    at: ".spec.apiKeyAuth.keySources[]",
    message: "set at least one of: header, query, cookie",
    spec: { apiKeyAuth: { secretRef: { name: "keys" }, keySources: [{}] } },
  },
  {
    at: ".spec.basicAuth",
    message: "set exactly one of: users, secretRef, disable",
    spec: { basicAuth: { users: ["u:{SHA}x"], disable: {} } },
  },
  {
    at: ".spec.buffer",
    message: "set exactly one of: maxRequestSize, disable",
    spec: { buffer: { maxRequestSize: "1Mi", disable: {} } },
  },
  {
    at: ".spec.buffer.maxRequestSize",
    message: "maxRequestSize must be above 0 and below 4Gi",
    spec: { buffer: { maxRequestSize: "5Gi" } },
  },
  {
    at: ".spec.compression",
    message: "set at least one of: responseCompression, requestDecompression",
    spec: { compression: {} },
  },
  {
    at: ".spec.compression.requestDecompression.libraries",
    message: "list each library once",
    spec: { compression: { requestDecompression: { libraries: ["Gzip", "Gzip"] } } },
  },
  {
    at: ".spec.compression.responseCompression.libraries",
    message: "list each library once",
    spec: { compression: { responseCompression: { libraries: ["Zstd", "Zstd"] } } },
  },
  {
    at: ".spec.cors.allowHeaders",
    message: "allowHeaders: '*' must be the only entry",
    spec: { cors: { allowHeaders: ["*", "x-a"] } },
  },
  {
    at: ".spec.cors.allowMethods",
    message: "allowMethods: '*' must be the only entry",
    spec: { cors: { allowMethods: ["*", "GET"] } },
  },
  {
    at: ".spec.cors.allowOrigins",
    message: "allowOrigins: '*' must be the only entry",
    spec: { cors: { allowOrigins: ["*", "https://a.example"] } },
  },
  {
    at: ".spec.csrf",
    message: "set at most one of: percentageEnabled, percentageShadowed",
    spec: { csrf: { percentageEnabled: 10, percentageShadowed: 10 } },
  },
  {
    at: ".spec.csrf.additionalOrigins[]",
    message: "set exactly one of: exact, prefix, suffix, contains, safeRegex",
    spec: { csrf: { additionalOrigins: [{ exact: "a.example", prefix: "b" }] } },
  },
  {
    at: ".spec.extAuth",
    message: "set exactly one of: extensionRef, disable",
    spec: { extAuth: { ...extRef, disable: {} } },
  },
  { at: ".spec.extProc", message: "set exactly one of: extensionRef, disable", spec: { extProc: {} } },
  {
    at: ".spec.faultInjection",
    message: "set at least one of: delay, abort, responseRateLimit, disable",
    spec: { faultInjection: { maxActiveFaults: 1 } },
  },
  {
    at: ".spec.faultInjection.abort",
    message: "set exactly one of: httpStatus, grpcStatus",
    spec: { faultInjection: { abort: { httpStatus: 503, grpcStatus: 14 } } },
  },
  {
    at: ".spec.faultInjection.delay.fixedDelay",
    message: DURATION,
    spec: { faultInjection: { delay: { fixedDelay: "1d" } } },
  },
  {
    at: ".spec.faultInjection.delay.fixedDelay",
    message: "the duration must be 1ms or more",
    spec: { faultInjection: { delay: { fixedDelay: "0s" } } },
  },
  {
    at: ".spec.faultInjection.delay.fixedDelay",
    message: "the duration must be 1h or less",
    spec: { faultInjection: { delay: { fixedDelay: "61m" } } },
  },
  {
    at: ".spec.headerModifiers",
    message: "set at least one of: request, response",
    spec: { headerModifiers: {} },
  },
  {
    at: ".spec.headerModifiers.request",
    message: "set at least one of: set, add, remove",
    spec: { headerModifiers: { request: {} } },
  },
  ...hm("request", "add"),
  ...hm("request", "set"),
  {
    at: ".spec.headerModifiers.response",
    message: "set at least one of: set, add, remove",
    spec: { headerModifiers: { response: {} } },
  },
  ...hm("response", "add"),
  ...hm("response", "set"),
  {
    at: ".spec.internalRedirect.redirectResponseCodes",
    message: "list each redirect response code once",
    spec: { internalRedirect: { redirectResponseCodes: [302, 302] } },
  },
  {
    at: ".spec.internalRedirect.responseHeadersToCopy",
    message: "list each header to copy once",
    spec: { internalRedirect: { responseHeadersToCopy: ["x-a", "x-a"] } },
  },
  { at: ".spec.jwtAuth", message: "set exactly one of: extensionRef, disable", spec: { jwtAuth: {} } },
  {
    at: ".spec.rateLimit.global.descriptors[].entries[]",
    message:
      "the entry's type must match the one field it sets (generic for Generic, header for Header, neither for RemoteAddress and Path)",
    spec: { rateLimit: { global: { ...extRef, descriptors: [{ entries: [{ type: "Header" }] }] } } },
  },
  {
    at: ".spec.rateLimit.local.tokenBucket.fillInterval",
    message: DURATION,
    spec: { rateLimit: { local: { tokenBucket: { maxTokens: 10, fillInterval: "1 second" } } } },
  },
  {
    at: ".spec.rateLimit.local.tokenBucket.fillInterval",
    message: "the duration must be 50ms or more",
    spec: { rateLimit: { local: { tokenBucket: { maxTokens: 10, fillInterval: "10ms" } } } },
  },
  { at: ".spec.retry", message: "retry needs retryOn or statusCodes", spec: { retry: { attempts: 2 } } },
  {
    at: ".spec.retry.backoffBaseInterval",
    message: DURATION,
    spec: { retry: { retryOn: ["5xx"], backoffBaseInterval: "25" } },
  },
  {
    at: ".spec.retry.backoffBaseInterval",
    message: "retry.backoffBaseInterval must be 1ms or more",
    spec: { retry: { retryOn: ["5xx"], backoffBaseInterval: "0ms" } },
  },
  {
    at: ".spec.retry.perTryTimeout",
    message: DURATION,
    spec: { retry: { retryOn: ["5xx"], perTryTimeout: "1.5s" } },
  },
  {
    at: ".spec.retry.perTryTimeout",
    message: "retry.perTryTimeout must be 1ms or more",
    spec: { retry: { retryOn: ["5xx"], perTryTimeout: "0s" } },
  },
  {
    at: ".spec.targetRefs",
    message: "a targetRefs entry must be a Gateway, HTTPRoute, GRPCRoute or ListenerSet",
    spec: { targetRefs: [{ group: "", kind: "Service", name: "httpbin2" }] },
  },
  {
    at: ".spec.targetSelectors",
    message: "a targetSelectors entry must select Gateways, HTTPRoutes, GRPCRoutes or ListenerSets",
    spec: {
      targetRefs: undefined,
      targetSelectors: [{ group: "", kind: "Service", matchLabels: { app: "httpbin2" } }],
    },
  },
  { at: ".spec.timeouts.request", message: DURATION, spec: { timeouts: { request: "10" } } },
  { at: ".spec.timeouts.streamIdle", message: DURATION, spec: { timeouts: { streamIdle: "1m30" } } },
  {
    at: ".spec.tracing",
    message: "tracing.disable cannot be combined with other tracing fields",
    spec: { tracing: { disable: {}, randomSampling: 10 } },
  },
  dm("request"),
  dm("response"),
  { at: ".spec.urlRewrite", message: "pathRegex is required", spec: { urlRewrite: {} } },
];

const svc = (port: number) => ({ backendRef: { name: "ext-server", port } });
/** A valid GatewayExtension spec of each kind (each applies: checked below); the cases break one rule of one. */
const GE_BASES: Record<string, Obj> = {
  extAuth: { extAuth: { grpcService: svc(9000) } },
  extAuthHttp: { extAuth: { httpService: svc(9000) } },
  extProc: { extProc: { grpcService: svc(9000) } },
  rateLimit: { rateLimit: { domain: "waymark", grpcService: svc(8081) } },
  jwt: { jwt: { providers: [{ name: "p", jwks: { local: { inline: "{}" } } }] } },
  jwtRemote: {
    jwt: { providers: [{ name: "p", jwks: { remote: { url: "https://idp.example/jwks", ...svc(443) } } }] },
  },
  oauth2: {
    oauth2: {
      ...svc(443),
      credentials: { clientID: "c", clientSecretRef: { name: "s" } },
      issuerURI: "https://idp.example",
    },
  },
};
const on = (base: string, patch: Obj) => merge(GE_BASES[base], patch) as Obj;
/** The rules every gRPC/HTTP service block carries (backendRef port, timeout, retry backoff). */
function service(
  base: string,
  at: string,
  patch: (inner: Obj) => Obj,
  timeout: "requestTimeout" | false = "requestTimeout",
): CelCase[] {
  const cases: CelCase[] = [
    {
      at: `${at}.backendRef`,
      message: "a Service backendRef needs a port",
      spec: on(base, patch({ backendRef: { name: "ext-server", port: undefined } })),
    },
    {
      at: `${at}.retry.backoff`,
      message: "maxInterval must not be below baseInterval",
      spec: on(base, patch({ retry: { backoff: { baseInterval: "1s", maxInterval: "100ms" } } })),
    },
    {
      at: `${at}.retry.backoff.baseInterval`,
      message: DURATION,
      spec: on(base, patch({ retry: { backoff: { baseInterval: "1 s" } } })),
    },
    {
      at: `${at}.retry.backoff.baseInterval`,
      message: "baseInterval must be 1ms or more",
      spec: on(base, patch({ retry: { backoff: { baseInterval: "0s" } } })),
    },
    {
      at: `${at}.retry.backoff.maxInterval`,
      message: DURATION,
      spec: on(base, patch({ retry: { backoff: { baseInterval: "1s", maxInterval: "2 s" } } })),
    },
  ];
  if (timeout)
    cases.push(
      { at: `${at}.requestTimeout`, message: DURATION, spec: on(base, patch({ requestTimeout: "1.5s" })) },
      {
        at: `${at}.requestTimeout`,
        message: "the timeout must be 1ms or more",
        spec: on(base, patch({ requestTimeout: "0ms" })),
      },
    );
  return cases;
}
const provider = (p: Obj) => ({ jwt: { providers: [p] } });
const remote = (r: Obj) => provider({ jwks: { remote: r } });
const GE_CASES: CelCase[] = [
  { at: ".spec", message: "type ExtAuth needs extAuth", spec: { type: "ExtAuth", ...GE_BASES.extProc } },
  { at: ".spec", message: "type ExtProc needs extProc", spec: { type: "ExtProc", ...GE_BASES.extAuth } },
  {
    at: ".spec",
    message: "type RateLimit needs rateLimit",
    spec: { type: "RateLimit", ...GE_BASES.extAuth },
  },
  { at: ".spec", message: "type JWT needs jwt", spec: { type: "JWT", ...GE_BASES.extAuth } },
  { at: ".spec", message: "type OAuth2 needs oauth2", spec: { type: "OAuth2", ...GE_BASES.extAuth } },
  {
    at: ".spec",
    message: "set exactly one of: extAuth, extProc, rateLimit, jwt, oauth2",
    spec: { ...GE_BASES.extAuth, ...GE_BASES.extProc },
  },
  {
    at: ".spec.extAuth",
    message: "set exactly one of: grpcService, httpService",
    spec: { extAuth: { grpcService: svc(9000), httpService: svc(9001) } },
  },
  ...service("extAuth", ".spec.extAuth.grpcService", (x) => ({ extAuth: { grpcService: x } })),
  ...service("extAuthHttp", ".spec.extAuth.httpService", (x) => ({ extAuth: { httpService: x } })),
  ...service("extProc", ".spec.extProc.grpcService", (x) => ({ extProc: { grpcService: x } })),
  {
    at: ".spec.extProc.maxMessageTimeout",
    message: DURATION,
    spec: on("extProc", { extProc: { maxMessageTimeout: "1d" } }),
  },
  {
    at: ".spec.extProc.maxMessageTimeout",
    message: "the timeout must be 1ms or more",
    spec: on("extProc", { extProc: { maxMessageTimeout: "0s" } }),
  },
  {
    at: ".spec.extProc.messageTimeout",
    message: DURATION,
    spec: on("extProc", { extProc: { messageTimeout: "200" } }),
  },
  {
    at: ".spec.extProc.messageTimeout",
    message: "the timeout must be 1ms or more",
    spec: on("extProc", { extProc: { messageTimeout: "0ms" } }),
  },
  {
    at: ".spec.jwt.providers[].jwks",
    message: "set exactly one of: local, remote",
    spec: merge(
      GE_BASES.jwt,
      provider({ jwks: { remote: { url: "https://idp.example/jwks", ...svc(443) } } }),
    ) as Obj,
  },
  {
    at: ".spec.jwt.providers[].jwks.local",
    message: "set exactly one of: inline, configMapRef",
    spec: merge(GE_BASES.jwt, provider({ jwks: { local: { configMapRef: { name: "jwks" } } } })) as Obj,
  },
  {
    at: ".spec.jwt.providers[].jwks.remote.asyncFetch.failedRefetchDuration",
    message: DURATION,
    spec: on("jwtRemote", remote({ asyncFetch: { failedRefetchDuration: "1 m" } })),
  },
  {
    at: ".spec.jwt.providers[].jwks.remote.asyncFetch.failedRefetchDuration",
    message: "failedRefetchDuration must be 1ms or more",
    spec: on("jwtRemote", remote({ asyncFetch: { failedRefetchDuration: "0s" } })),
  },
  {
    at: ".spec.jwt.providers[].jwks.remote.backendRef",
    message: "a Service backendRef needs a port",
    spec: on("jwtRemote", remote({ backendRef: { name: "ext-server", port: undefined } })),
  },
  {
    at: ".spec.jwt.providers[].jwks.remote.cacheDuration",
    message: DURATION,
    spec: on("jwtRemote", remote({ cacheDuration: "5 minutes" })),
  },
  {
    at: ".spec.jwt.providers[].jwks.remote.cacheDuration",
    message: "cacheDuration must be 1ms or more",
    spec: on("jwtRemote", remote({ cacheDuration: "0m" })),
  },
  {
    at: ".spec.jwt.providers[].jwks.remote.retryPolicy.backOff",
    message: "maxInterval must not be below baseInterval",
    spec: on("jwtRemote", remote({ retryPolicy: { backOff: { baseInterval: "2s", maxInterval: "1s" } } })),
  },
  {
    at: ".spec.jwt.providers[].jwks.remote.retryPolicy.backOff.baseInterval",
    message: DURATION,
    spec: on("jwtRemote", remote({ retryPolicy: { backOff: { baseInterval: "2" } } })),
  },
  {
    at: ".spec.jwt.providers[].jwks.remote.retryPolicy.backOff.baseInterval",
    message: "baseInterval must be 1ms or more",
    spec: on("jwtRemote", remote({ retryPolicy: { backOff: { baseInterval: "0s" } } })),
  },
  {
    at: ".spec.jwt.providers[].jwks.remote.retryPolicy.backOff.maxInterval",
    message: DURATION,
    spec: on("jwtRemote", remote({ retryPolicy: { backOff: { baseInterval: "1s", maxInterval: "3" } } })),
  },
  {
    at: ".spec.jwt.providers[].jwks.remote.retryPolicy.backOff.maxInterval",
    message: "maxInterval must be 1ms or more",
    spec: on("jwtRemote", remote({ retryPolicy: { backOff: { baseInterval: "0s", maxInterval: "0s" } } })),
  },
  {
    at: ".spec.jwt.providers[].tokenSource",
    message: "set exactly one of: header, queryParameter",
    spec: merge(
      GE_BASES.jwt,
      provider({ tokenSource: { header: { header: "authorization" }, queryParameter: "token" } }),
    ) as Obj,
  },
  {
    at: ".spec.oauth2",
    message: "oauth2 needs issuerURI, or both authorizationEndpoint and tokenEndpoint",
    spec: on("oauth2", { oauth2: { issuerURI: undefined, tokenEndpoint: "https://idp.example/token" } }),
  },
  {
    at: ".spec.oauth2",
    message: "parsing tokens as JWTs needs issuerURI or jwt.jwksURI",
    spec: on("oauth2", {
      oauth2: {
        issuerURI: undefined,
        authorizationEndpoint: "https://idp.example/auth",
        tokenEndpoint: "https://idp.example/token",
        jwt: { accessToken: {} },
      },
    }),
  },
  {
    at: ".spec.oauth2",
    message:
      "jwt.accessToken needs the access token cookie (cookies.disableAccessTokenSetCookie must not be true)",
    spec: on("oauth2", {
      oauth2: { jwt: { accessToken: {} }, cookies: { disableAccessTokenSetCookie: true } },
    }),
  },
  {
    at: ".spec.oauth2",
    message: "jwt.idToken needs the ID token cookie (cookies.disableIDTokenSetCookie must not be true)",
    spec: on("oauth2", { oauth2: { jwt: { idToken: {} }, cookies: { disableIDTokenSetCookie: true } } }),
  },
  {
    at: ".spec.oauth2.backendRef",
    message: "a Service backendRef needs a port",
    spec: on("oauth2", { oauth2: { backendRef: { name: "idp", port: undefined } } }),
  },
  {
    at: ".spec.oauth2.jwt.jwksBackendRef",
    message: "a Service backendRef needs a port",
    spec: on("oauth2", { oauth2: { jwt: { jwksBackendRef: { name: "idp" } } } }),
  },
  ...service("rateLimit", ".spec.rateLimit.grpcService", (x) => ({ rateLimit: { grpcService: x } })),
  {
    at: ".spec.rateLimit.timeout",
    message: DURATION,
    spec: on("rateLimit", { rateLimit: { timeout: "100" } }),
  },
];

const tpManifest = (name: string, spec: Obj) => ({
  apiVersion: KGW,
  kind: "TrafficPolicy",
  metadata: { name, namespace: NS },
  spec: merge({ targetRefs: ROUTE }, spec),
});
const geManifest = (name: string, spec: Obj) => ({
  apiVersion: KGW,
  kind: "GatewayExtension",
  metadata: { name, namespace: NS },
  spec,
});
const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/**
 * The API server's line for this rule failing: `<field>: Invalid value: ["<value>": ]<message>`, not a
 * rule that could not be evaluated (`… evaluating rule: <message>`, another rule's side effect).
 */
const rejection = (message: string) =>
  new RegExp(`Invalid value: (?:"[^"]*": )?${reEscape(message)}\\s*$`, "m");

// ---- A kgateway manifest: fields Waymark programs (transformation) and fields it does not ----

const KGATEWAY_MANIFEST = `apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata:
  name: ext-authz
  namespace: httpbin
spec:
  type: ExtAuth
  extAuth:
    grpcService:
      backendRef:
        name: ext-authz
        port: 4444
      requestTimeout: 200ms
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata:
  name: kgateway-kitchen-sink
  namespace: httpbin
spec:
  targetRefs:
  - group: gateway.networking.k8s.io
    kind: HTTPRoute
    name: httpbin3
  transformation:
    response:
      set:
      - name: x-kgateway-manifest
        value: 'applied unchanged'
  timeouts:
    request: 30s
  retry:
    retryOn:
    - 5xx
    - connect-failure
    attempts: 2
    perTryTimeout: 10s
  statPrefix: '{{route_namespace}}.{{route_name}}'
  tracing:
    randomSampling: 50
  csrf:
    percentageShadowed: 100
    additionalOrigins:
    - suffix: example.com
  internalRedirect:
    maxRedirects: 2
    redirectResponseCodes:
    - 302
  compression:
    responseCompression:
      libraries:
      - Gzip
  buffer:
    maxRequestSize: 1Mi
`;
const KITCHEN_FIELDS = [
  "transformation",
  "timeouts",
  "retry",
  "statPrefix",
  "tracing",
  "csrf",
  "internalRedirect",
  "compression",
  "buffer",
];

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}
interface Ancestor {
  ancestorRef: { group?: string; kind?: string; name: string; namespace?: string };
  controllerName: string;
  conditions: Cond[];
}
interface PolicyObj {
  metadata: { generation?: number };
  status?: { ancestors?: Ancestor[] };
}

describe("kubernetes: TrafficPolicy with kgateway's CRD", { timeout: 300_000, skip: kubeSkip }, () => {
  let s: KubeStack;
  let logDir: string;
  let nc: NatsConnection;
  const extra: Array<Proc | EnvoyProc> = [];
  /** The local port of the ztunnel stand-in routed to each Service's VIP. */
  const port: Record<string, number> = {};
  const kubectl = (args: string[], input?: string) =>
    s.cluster.kubectl(args, input === undefined ? {} : { input });
  const applyJson = (...objs: unknown[]) =>
    kubectl(["apply", "--validate=strict", "-f", "-"], objs.map((o) => JSON.stringify(o)).join("\n---\n"));
  const getPolicy = async (name: string) =>
    JSON.parse(await kubectl(["-n", NS, "get", "trafficpolicy", name, "-o", "json"])) as PolicyObj;
  /** A GET through the waypoint to svc, on a new connection. */
  const get = (svc: string, path: string, headers: Record<string, string> = {}) =>
    httpGet(port[svc]!, `${svc}:8000`, path, { connection: "close", ...headers });
  /** The policy's status once Waymark has written an Accepted condition for its generation. */
  const acceptedStatus = (name: string) =>
    waitFor(
      `${name} status ancestors`,
      async () => {
        const p = await getPolicy(name);
        const a = p.status?.ancestors?.[0];
        const accepted = a?.conditions.find((c) => c.type === "Accepted");
        return accepted?.observedGeneration === p.metadata.generation && p;
      },
      30_000,
      200,
    );

  before(async () => {
    const problem = await podNetworkProblem();
    if (problem) throw new Error(problem);
    logDir = tempDir("e2e-kube-trafficpolicy");
    console.log(`logs: ${logDir}`);
    // Referenced Secrets are read again every 200 ms here (30 s by default), so a rotation shows soon.
    s = await startKubeStack({ logDir, watcherEnv: { WAYMARK_KUBE_SECRET_REFRESH_MS: "200" } });
    nc = await connectBus({ servers: s.nats.url, name: "e2e-kube-tp", log: createLogger("e2e") });
    // The guide's apps, waypoint and routes (both Services enrolled).
    await s.sh(guide.createNamespace);
    await s.sh(guide.deployHttpbin2);
    await s.sh(guide.deployHttpbin3);
    await kubectl(["label", "ns", NS, "istio.io/dataplane-mode=ambient"]);
    await s.sh(guide.createWaypoint);
    await waitFor(
      "the waypoint Deployment",
      () => kubectl(["-n", NS, "get", "deployment", WAYPOINT, "-o", "name"]).then(() => true),
      20_000,
      100,
    );
    await s.sh(`timeout 90 ${guide.rolloutStatus.trim()}`);
    await s.sh(guide.labelServices);
    await s.sh(guide.routeHttpbin2);
    await s.sh(guide.routeHttpbin3);
    for (const app of ["httpbin2", "httpbin3"]) {
      const ip = await waitFor(
        `${app} pod IP`,
        async () =>
          (
            await kubectl([
              "-n",
              NS,
              "get",
              "pods",
              "-l",
              `app=${app}`,
              "-o",
              "jsonpath={.items[0].status.podIP}",
            ])
          ).trim() || undefined,
        30_000,
        200,
      );
      extra.push(await startHttpbinAt({ name: app, host: ip, port: 8080, logDir }));
    }
    const { envoy } = await startWaypointEnvoy({ cluster: s.cluster, namespace: NS, name: WAYPOINT, logDir });
    extra.push(envoy);
    const routes: Array<{ port: number; vip: string; servicePort: number }> = [];
    for (const svc of ["httpbin2", "httpbin3"]) {
      port[svc] = await freePort();
      routes.push({
        port: port[svc],
        vip: JSON.parse(await kubectl(["-n", NS, "get", "service", svc, "-o", "json"])).spec
          .clusterIP as string,
        servicePort: 8000,
      });
    }
    extra.push(startZtunnelStandin({ waypoint: `${s.bindAddress}:15088`, routes, logDir }));
    for (const svc of ["httpbin2", "httpbin3"])
      await waitFor(
        `${svc} through the waypoint`,
        async () => (await get(svc, "/status/200").catch(() => undefined))?.status === 200,
        30_000,
        200,
      );
  });

  after(async () => {
    for (const p of extra.reverse()) await p.stop().catch(() => {});
    await nc?.close();
    await s?.stop();
  });

  test("the CRD's spec fields are kgateway's: targetRefs, targetSelectors and TRAFFIC_POLICY_FIELDS", () => {
    const crd = parse(readFileSync(TP_CRD, "utf8")) as {
      spec: {
        versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: { properties: Obj } } } } }>;
      };
    };
    const fields = Object.keys(
      crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties,
    ).sort();
    assert.deepEqual(fields, ["targetRefs", "targetSelectors", ...TRAFFIC_POLICY_FIELDS].sort());
  });

  test("the guide's transformation, kubectl apply -f examples/: x-base64-decoded in traffic, Accepted ancestor", async () => {
    const request = () => get("httpbin2", "/headers", { "x-base64-encoded": "dHJhbnNmb3JtYXRpb24gdGVzdA==" });
    assert.equal((await request()).headers["x-base64-decoded"], undefined, "no policy yet");
    await kubectl(["apply", "-f", join(REPO_ROOT, "examples", "transformation", "50-transformation.yaml")]);
    const r = await waitFor(
      "x-base64-decoded on httpbin2",
      async () => {
        const res = await request().catch(() => undefined);
        return res?.headers["x-base64-decoded"] !== undefined && res;
      },
      30_000,
      200,
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-base64-decoded"], "ion test");
    const other = await get("httpbin3", "/headers", { "x-base64-encoded": "dHJhbnNmb3JtYXRpb24gdGVzdA==" });
    assert.equal(other.headers["x-base64-decoded"], undefined, "httpbin3's route has no policy");

    const p = await acceptedStatus("transformation");
    const ancestors = p.status?.ancestors ?? [];
    assert.equal(ancestors.length, 1);
    const a = ancestors[0]!;
    assert.deepEqual(
      [a.ancestorRef.group, a.ancestorRef.kind, a.ancestorRef.name, a.controllerName],
      ["gateway.networking.k8s.io", "Gateway", WAYPOINT, "waymark.dev/waymark"],
    );
    const c = Object.fromEntries(a.conditions.map((x) => [x.type, x]));
    assert.deepEqual([c["Accepted"]?.status, c["Accepted"]?.reason], ["True", "Valid"]);
    assert.deepEqual([c["Attached"]?.status, c["Attached"]?.reason], ["True", "Attached"]);
    // kubectl's columns (the CRD's additionalPrinterColumns, kgateway's: no AGE) say the same.
    const table = await kubectl(["-n", NS, "get", "trafficpolicy", "transformation"]);
    assert.match(table, /^NAME\s+ACCEPTED\s+ATTACHED\ntransformation\s+True\s+True\n$/);
  });

  test("a kgateway manifest applies unchanged (strict validation): PartiallyValid names what Waymark ignores, if anything", async () => {
    // Strict field validation is on: an unknown field is refused, so acceptance below means every field is known.
    await assert.rejects(
      applyJson(tpManifest("typo", { transformation: { response: { sett: [] } } })),
      /unknown field "spec.transformation.response.sett"/,
    );
    const out = await kubectl(["apply", "--validate=strict", "-f", "-"], KGATEWAY_MANIFEST);
    assert.match(out, /gatewayextension.gateway.kgateway.dev\/ext-authz created/);
    assert.match(out, /trafficpolicy.gateway.kgateway.dev\/kgateway-kitchen-sink created/);
    // What the API server stored is what was written, with kgateway's defaults filled in.
    const stored = JSON.parse(
      await kubectl(["-n", NS, "get", "trafficpolicy", "kgateway-kitchen-sink", "-o", "json"]),
    ) as { spec: Obj };
    assert.deepEqual(Object.keys(stored.spec).sort(), ["targetRefs", ...KITCHEN_FIELDS].sort());
    assert.equal((stored.spec["retry"] as Obj)["backoffBaseInterval"], "25ms", "kgateway's default");

    // The watcher forwards the GatewayExtension to the translator's input as it is.
    const ge = await waitFor("the GatewayExtension in wm-objects", () =>
      openBucket(nc, Bucket.objects).then((kv) =>
        getJson<{ spec?: Obj }>(
          kv,
          objectKey({
            group: "gateway.kgateway.dev",
            kind: "GatewayExtension",
            namespace: NS,
            name: "ext-authz",
          }),
        ),
      ),
    );
    assert.equal(JSON.stringify(ge).includes('"requestTimeout":"200ms"'), true, JSON.stringify(ge));
    // Its own status, written to the API server: the Service it calls does not exist, and it says so.
    const geStatus = await waitFor("the GatewayExtension's status", async () => {
      const o = JSON.parse(
        await kubectl(["-n", NS, "get", "gatewayextension", "ext-authz", "-o", "json"]),
      ) as {
        status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
      };
      return o.status?.conditions?.find((c) => c.type === "Accepted");
    });
    assert.deepEqual([geStatus.status, geStatus.reason], ["False", "BackendNotFound"], geStatus.message);
    assert.match(geStatus.message, /extAuth\.grpcService\.backendRef: Service ext-authz not found/);

    const implemented = new Set(FEATURES.map((f) => f.field));
    const ignored = KITCHEN_FIELDS.filter((f) => !implemented.has(f));
    const p = await acceptedStatus("kgateway-kitchen-sink");
    const a = p.status?.ancestors?.[0];
    assert.equal(a?.ancestorRef.name, WAYPOINT);
    const accepted = a?.conditions.find((c) => c.type === "Accepted");
    // PartiallyValid naming exactly the fields Waymark does not implement; Valid once it implements all.
    if (ignored.length) {
      assert.deepEqual([accepted?.status, accepted?.reason], ["True", "PartiallyValid"], accepted?.message);
      const named = /ignored: (.*)$/.exec(accepted?.message ?? "")?.[1]?.split(", ") ?? [];
      assert.deepEqual(named.sort(), ignored.sort(), accepted?.message);
    } else {
      assert.deepEqual([accepted?.status, accepted?.reason], ["True", "Valid"], accepted?.message);
    }
    // The part Waymark implements is in force on httpbin3's route.
    const r: HttpResult = await waitFor(
      "x-kgateway-manifest on httpbin3",
      async () => {
        const res = await get("httpbin3", "/get").catch(() => undefined);
        return res?.headers["x-kgateway-manifest"] !== undefined && res;
      },
      30_000,
      200,
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-kgateway-manifest"], "applied unchanged");
  });

  test("apiKeyAuth with a Secret: the watcher reads only referenced Secrets (get by name), keys in traffic, rotation", async () => {
    const secret = (name: string, data: Record<string, string>) => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: NS },
      stringData: data,
    });
    await applyJson(secret("api-keys", { alice: "k-alice-1" }), secret("unrelated", { token: "k-not-read" }));
    await applyJson({
      ...tpManifest("api-keys", {}),
      spec: {
        targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "httpbin2" }],
        apiKeyAuth: { secretRef: { name: "api-keys" }, clientIdHeader: "x-client" },
      },
    });
    await waitFor(
      "httpbin2 asks for a key",
      async () => (await get("httpbin2", "/headers").catch(() => undefined))?.status === 401,
      30_000,
      200,
    );
    const ok = await get("httpbin2", "/headers", { "api-key": "k-alice-1" });
    assert.equal(ok.status, 200, ok.body);
    assert.match(ok.body, /"X-Client":\s*\[\s*"alice"/);
    const p = await acceptedStatus("api-keys");
    assert.equal(p.status?.ancestors?.[0]?.conditions.find((c) => c.type === "Accepted")?.reason, "Valid");
    // Only the referenced Secret reached NATS; the other one was never read.
    const objects = await openBucket(nc, Bucket.objects);
    const key = (name: string) => objectKey({ group: "", kind: "Secret", namespace: NS, name });
    assert.ok(await getJson(objects, key("api-keys")), "the referenced Secret is published");
    assert.equal(await getJson(objects, key("unrelated")), undefined, "an unreferenced Secret is not read");
    // The RBAC behind it: the watcher may get a Secret by name, never list or watch them.
    const as = ["--as", "system:serviceaccount:waymark-system:waymark-watcher"];
    assert.equal((await kubectl(["auth", "can-i", "get", "secrets", "-n", NS, ...as])).trim(), "yes");
    await assert.rejects(kubectl(["auth", "can-i", "list", "secrets", "-n", NS, ...as]), /no/);
    await assert.rejects(kubectl(["auth", "can-i", "watch", "secrets", "-n", NS, ...as]), /no/);
    // A rotated key: the new one works, the old one stops.
    await applyJson(secret("api-keys", { alice: "k-alice-2" }));
    await waitFor(
      "the rotated key in force",
      async () =>
        (await get("httpbin2", "/headers", { "api-key": "k-alice-2" }).catch(() => undefined))?.status ===
        200,
      30_000,
      200,
    );
    assert.equal((await get("httpbin2", "/headers", { "api-key": "k-alice-1" })).status, 401);
    await kubectl(["-n", NS, "delete", "trafficpolicy", "api-keys"]);
    await waitFor(
      "no key needed again",
      async () => (await get("httpbin2", "/headers").catch(() => undefined))?.status === 200,
      30_000,
      200,
    );
    await waitFor(
      "the Secret unpublished",
      async () => (await getJson(objects, key("api-keys"))) === undefined,
      30_000,
      200,
    );
  });

  test("every CEL rule of the TrafficPolicy CRD rejects at the API server, with its message", async (t) => {
    assert.deepEqual(
      TP_CASES.map((c) => `${c.at} ${c.message}`).sort(),
      celRules(TP_CRD),
      "one case per rule of deploy/crds/trafficpolicy.yaml",
    );
    // The starting point is valid: each rejection below is its case's doing.
    await kubectl(["apply", "--dry-run=server", "-f", "-"], JSON.stringify(tpManifest("base", {})));
    for (const [i, c] of TP_CASES.entries())
      await t.test(`${c.at}: ${c.message}`, async () => {
        await assert.rejects(applyJson(tpManifest(`cel-${i}`, c.spec)), rejection(c.message));
      });
  });

  test("every CEL rule of the GatewayExtension CRD rejects at the API server, with its message", async (t) => {
    assert.deepEqual(
      GE_CASES.map((c) => `${c.at} ${c.message}`).sort(),
      celRules(GE_CRD),
      "one case per rule of deploy/crds/gatewayextension.yaml",
    );
    for (const [kind, spec] of Object.entries(GE_BASES))
      await kubectl(
        ["apply", "--dry-run=server", "-f", "-"],
        JSON.stringify(geManifest(`base-${kind.toLowerCase()}`, spec)),
      );
    for (const [i, c] of GE_CASES.entries())
      await t.test(`${c.at}: ${c.message}`, async () => {
        await assert.rejects(applyJson(geManifest(`cel-${i}`, c.spec)), rejection(c.message));
      });
  });
});
