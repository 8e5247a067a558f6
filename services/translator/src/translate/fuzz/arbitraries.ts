// Property-based generators (fast-check) of whole translation inputs: Namespaces, a GatewayClass,
// waypoint Gateways (with odd listeners), Services with ports and labels, EndpointSlices, HTTPRoutes
// with every match, filter and backendRef shape, ReferenceGrants and TrafficPolicies with
// transformation templates. Names come from small pools so that references between objects often
// resolve; every field is sometimes invalid (a wrong value, a wrong type, junk) and every string
// sometimes hostile (control characters, "%", quotes, Lua and RE2 syntax, very long).
import type { KubeObject } from "@waymark/api";
import { objectKey, refOf } from "@waymark/api";
import fc from "fast-check";

export const NAMESPACES = ["a", "b"] as const;
export const WAYPOINTS = ["wp", "wp2"] as const;
const SERVICES = ["s1", "s2", "s3", "wp"] as const;
const ROUTES = ["r1", "r2", "r3", "r4"] as const;
const POLICIES = ["p1", "p2", "p3"] as const;
const ENTRIES = ["se1", "se2"] as const;
const ENTRY_HOSTS = ["ext.example.com", "*.example.org", "localhost"] as const;
const CLASS = "kgateway-waypoint";
const CONTROLLER = "waymark.dev/waymark";

type A<T> = fc.Arbitrary<T>;

/** Values of the wrong type (or absent) for any field. */
export const junk: A<unknown> = fc.oneof(
  fc.constantFrom(null, undefined, true, 0, -1, 1.5, 65536, 2 ** 32, 2 ** 53, "", "x", [], {}, [null], {
    a: 1,
  }),
  fc.integer(),
  fc.string({ maxLength: 8 }),
);

/** Mostly `arb`, sometimes junk. */
function odd<T>(arb: A<T>, junkWeight = 1): A<T | unknown> {
  return fc.oneof({ weight: 12, arbitrary: arb }, { weight: junkWeight, arbitrary: junk });
}

/** Strings that have broken control planes before. */
export const hostileString: A<string> = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "%",
    "%%",
    "100%",
    "%REQ(:path)%",
    "%DOWNSTREAM_REMOTE_ADDRESS%",
    "a\nb",
    "a\r\nb",
    "a\0b",
    "\t",
    "é",
    "😀",
    "\\",
    '"',
    "'",
    "]]",
    "]=]",
    "--",
    '" .. os.exit() .. "',
    "]] .. os.exit() .. [[",
    "{{",
    "}}",
    "\x7f",
    "x".repeat(300),
    "y".repeat(17000),
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
);

const port: A<unknown> = odd(fc.constantFrom(80, 8000, 8080, 9000, 15088, 1, 65535, 0, 65536, -3), 1);

const headerName: A<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("x-a", "X-B", "x-c", "user-agent", "cookie") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      "host",
      "Host",
      ":path",
      ":method",
      ":authority",
      ":status",
      "content-length",
      "bad name",
      "x\0",
      "é",
      "x".repeat(300),
      "x".repeat(17000),
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
);

const path: A<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom("/", "/a", "/a/", "/a/b", "/b", "/api/v1", "//", "/a//", "/é", "/%41", "/a.b"),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      "a",
      "/a?b",
      "/a#b",
      "/a b",
      "/a\0",
      "/a\n",
      "/\\",
      `/${"p".repeat(5000)}`,
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((s) => `/${s}`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

export const regex: A<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      ".*",
      "^/a$",
      "/a/[0-9]+",
      "(a|b)*c",
      "(?i)abc",
      "[[:alpha:]]+",
      "\\d{2,3}",
      "x",
    ),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "",
      "(?=x)",
      "(?<!x)y",
      "\\1",
      "[",
      "(",
      "(?P<n>a)",
      "(?<n>a)",
      "\\q",
      "\\z",
      "\\Z",
      "a{2,1}",
      "a{,3}",
      "\\p{L}",
      "\\pL",
      "\\cA",
      "\\k<n>",
      "\\u0041",
      "\\x41",
      "\\0",
      "(?s).",
      "(?U)a*",
      "(?m)^a",
      "\\Q.\\E",
      "a**",
      "a++",
      "[a-",
      "[z-a]",
      "\\b\\B",
      "((((((((((a))))))))))",
      "(a{100}){100}",
      "a{1001}",
      "[\\d-z]",
      "\\/",
      "\\-",
      "(?#comment)",
      "[^]",
      "$^",
      "\\",
      "a\0b",
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 10 }) },
);

const matchType = (values: string[]) =>
  fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: junk });

function stringMatchOf(type: unknown): A<unknown> {
  return type === "RegularExpression" ? regex : hostileString;
}

const headerMatch: A<unknown> = matchType(["Exact", "RegularExpression", "Bogus"]).chain((type) =>
  fc.record(
    { type: fc.constant(type), name: odd(headerName), value: odd(stringMatchOf(type)) },
    { requiredKeys: ["name"] },
  ),
);

const queryMatch: A<unknown> = matchType(["Exact", "RegularExpression", "Bogus"]).chain((type) =>
  fc.record(
    {
      type: fc.constant(type),
      name: odd(fc.oneof(fc.constantFrom("q", "page", "", "a b", "x".repeat(2000)), hostileString)),
      value: odd(stringMatchOf(type)),
    },
    { requiredKeys: ["name"] },
  ),
);

const pathMatch: A<unknown> = matchType(["Exact", "PathPrefix", "RegularExpression", "Bogus"]).chain((type) =>
  fc.record({ type: fc.constant(type), value: odd(type === "RegularExpression" ? regex : path) }),
);

const routeMatch: A<unknown> = odd(
  fc.record({
    path: pathMatch,
    headers: odd(fc.array(headerMatch, { maxLength: 3 })),
    queryParams: odd(fc.array(queryMatch, { maxLength: 2 })),
    method: odd(fc.constantFrom("GET", "POST", "get", "PATCH", "", "G T", "CONNECT")),
  }),
);

const headerOp = fc.record(
  { name: odd(headerName), value: odd(hostileString) },
  { requiredKeys: ["name", "value"] },
);

const headerModifier: A<unknown> = odd(
  fc.record({
    set: odd(fc.array(headerOp, { maxLength: 3 })),
    add: odd(fc.array(headerOp, { maxLength: 3 })),
    remove: odd(fc.array(odd(headerName), { maxLength: 3 })),
  }),
);

const pathModifier: A<unknown> = odd(
  fc.oneof(
    fc.record({ type: fc.constant("ReplaceFullPath"), replaceFullPath: odd(path) }),
    fc.record({ type: fc.constant("ReplacePrefixMatch"), replacePrefixMatch: odd(path) }),
    fc.record({ type: fc.constantFrom("Bogus", "ReplacePrefixMatch"), replaceFullPath: odd(path) }),
  ),
);

const hostname: A<unknown> = odd(
  fc.constantFrom("example.com", "a.b.c", "Example.com", "-a", "a..b", "", "*.x", "x".repeat(300), "é.com"),
);

const backendName = fc.constantFrom(...SERVICES, "missing", ...ENTRIES, "ext.example.com");

const backendRefCore = {
  name: odd(backendName),
  namespace: odd(fc.constantFrom(...NAMESPACES, "c")),
  port,
  group: odd(fc.constantFrom("", "core", "gateway.networking.k8s.io", "x.io", "networking.istio.io")),
  kind: odd(fc.constantFrom("Service", "ServiceImport", "Pod", "ServiceEntry", "Hostname")),
};

const mirror: A<unknown> = odd(
  fc.record(
    {
      backendRef: odd(fc.record(backendRefCore, { requiredKeys: ["name", "port"] })),
      percent: odd(fc.constantFrom(0, 50, 100, 101, -1)),
      fraction: odd(
        fc.record({
          numerator: odd(fc.constantFrom(0, 1, 50, 100, 2 ** 40)),
          denominator: odd(fc.constantFrom(1, 100, 0, 1000, 2 ** 40)),
        }),
      ),
    },
    { requiredKeys: ["backendRef"] },
  ),
);

const filter: A<unknown> = fc.oneof(
  fc.record({ type: fc.constant("RequestHeaderModifier"), requestHeaderModifier: headerModifier }),
  fc.record({ type: fc.constant("ResponseHeaderModifier"), responseHeaderModifier: headerModifier }),
  fc.record({
    type: fc.constant("RequestRedirect"),
    requestRedirect: odd(
      fc.record({
        scheme: odd(fc.constantFrom("http", "https", "ftp", "")),
        hostname,
        port,
        path: pathModifier,
        statusCode: odd(fc.constantFrom(301, 302, 303, 307, 308, 200, 399)),
      }),
    ),
  }),
  fc.record({
    type: fc.constant("URLRewrite"),
    urlRewrite: odd(fc.record({ hostname, path: pathModifier })),
  }),
  fc.record({ type: fc.constant("RequestMirror"), requestMirror: mirror }),
  fc.record({ type: fc.constantFrom("CORS", "ExtensionRef", "Bogus"), extensionRef: junk }),
  junk,
);

const weight: A<unknown> = odd(
  fc.constantFrom(0, 1, 1, 50, 100, 1_000_000, 1_000_001, 2 ** 31, 2 ** 32 + 5, -5),
);

const backendRef: A<unknown> = odd(
  fc.record(
    {
      ...backendRefCore,
      weight,
      filters: odd(fc.array(filter, { maxLength: 2 })),
    },
    { requiredKeys: ["name", "port"] },
  ),
);

const duration: A<unknown> = odd(
  fc.constantFrom("1s", "500ms", "0s", "1h30m", "99999h", "1.5s", "10", "", "1m1m1m1m1m", "0ms"),
);

export const rule: A<unknown> = odd(
  fc.record(
    {
      name: odd(fc.constantFrom("one", "two", "")),
      matches: odd(fc.array(routeMatch, { maxLength: 3 })),
      filters: odd(fc.array(filter, { maxLength: 3 })),
      backendRefs: odd(fc.array(backendRef, { maxLength: 3 })),
      timeouts: odd(fc.record({ request: duration, backendRequest: duration })),
      retry: odd(
        fc.record({
          codes: odd(fc.array(odd(fc.constantFrom(500, 502, 503, 404, 200, 600)), { maxLength: 3 })),
          attempts: odd(fc.constantFrom(0, 1, 3, 2 ** 32 + 1, -1)),
          backoff: duration,
        }),
      ),
    },
    { requiredKeys: [] },
  ),
);

const parentRef: A<unknown> = odd(
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record(
        {
          group: fc.constantFrom("gateway.networking.k8s.io", undefined),
          kind: fc.constantFrom("Gateway", undefined),
          name: odd(fc.constantFrom(...WAYPOINTS, "nope")),
          namespace: odd(fc.constantFrom(...NAMESPACES, undefined)),
          sectionName: odd(fc.constantFrom("proxy", "other", "", undefined)),
          port: odd(fc.constantFrom(15088, 80, undefined)),
        },
        { requiredKeys: ["name"] },
      ),
    },
    {
      weight: 3,
      arbitrary: fc.record(
        {
          group: fc.constantFrom("", "core"),
          kind: fc.constant("Service"),
          name: odd(fc.constantFrom(...SERVICES, "missing")),
          namespace: odd(fc.constantFrom(...NAMESPACES, undefined)),
          sectionName: odd(fc.constantFrom("http", "tcp", "grpc", "tls", "", undefined)),
          port: odd(fc.constantFrom(80, 8000, 9000, undefined)),
        },
        { requiredKeys: ["group", "kind", "name"] },
      ),
    },
    {
      weight: 1,
      arbitrary: fc.record(
        {
          group: fc.constantFrom("networking.istio.io"),
          kind: fc.constantFrom("ServiceEntry", "Hostname"),
          name: odd(fc.constantFrom(...ENTRIES, ...ENTRY_HOSTS, "missing")),
          namespace: odd(fc.constantFrom(...NAMESPACES, undefined)),
          sectionName: odd(fc.constantFrom("http", "tcp", "", undefined)),
          port: odd(fc.constantFrom(80, 443, undefined)),
        },
        { requiredKeys: ["group", "kind", "name"] },
      ),
    },
  ),
);

const timestamp: A<unknown> = odd(
  fc.constantFrom(
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00Z",
    "2026-02-01T00:00:00Z",
    "2025-12-31T23:59:59Z",
    "not a date",
    undefined,
  ),
);

function meta(kind: A<string>, ns: A<string>, extra: Record<string, A<unknown>> = {}) {
  return fc.record({ name: kind, namespace: ns, ...extra }, { requiredKeys: ["name", "namespace"] });
}

const ns = fc.constantFrom(...NAMESPACES);

const labels = (entries: Record<string, A<unknown>>): A<unknown> =>
  odd(fc.record(entries, { requiredKeys: [] }));

const useWaypoint = fc.constantFrom(...WAYPOINTS, "none", "other");

export const namespaceObject: A<KubeObject> = fc.record({
  apiVersion: fc.constant("v1"),
  kind: fc.constant("Namespace"),
  metadata: fc.record(
    {
      name: ns,
      labels: labels({
        "istio.io/use-waypoint": useWaypoint,
        "istio.io/use-waypoint-namespace": fc.constantFrom(...NAMESPACES),
        team: fc.constantFrom("x", "y"),
      }),
    },
    { requiredKeys: ["name"] },
  ),
}) as A<KubeObject>;

export const gatewayClass: A<KubeObject> = fc.record({
  apiVersion: fc.constant("gateway.networking.k8s.io/v1"),
  kind: fc.constant("GatewayClass"),
  metadata: fc.record({ name: fc.constant(CLASS), generation: fc.constantFrom(1, 2) }),
  spec: fc.record({ controllerName: fc.constantFrom(CONTROLLER, CONTROLLER, "someone.else/x") }),
}) as A<KubeObject>;

const listener: A<unknown> = odd(
  fc.record(
    {
      name: odd(fc.constantFrom("proxy", "mesh", "", "other")),
      port: odd(fc.constantFrom(15088, 15088, 15088, 15088, 15089, 0, 70000)),
      protocol: odd(
        fc.constantFrom("istio.io/PROXY", "istio.io/PROXY", "istio.io/PROXY", "HTTP", "TCP", "HBONE", ""),
      ),
      allowedRoutes: odd(
        fc.record({
          namespaces: odd(
            fc.record({
              from: odd(fc.constantFrom("All", "Same", "Selector", "Bogus")),
              selector: odd(
                fc.record({
                  matchLabels: odd(fc.record({ team: fc.constantFrom("x", "y") })),
                  matchExpressions: odd(
                    fc.array(
                      fc.record({
                        key: fc.constantFrom("team", "zone"),
                        operator: fc.constantFrom("In", "NotIn", "Exists", "DoesNotExist", "Bogus"),
                        values: odd(fc.array(fc.constantFrom("x", "y"), { maxLength: 2 })),
                      }),
                      { maxLength: 2 },
                    ),
                  ),
                }),
              ),
            }),
          ),
          kinds: odd(
            fc.array(
              fc.record({
                group: fc.constantFrom("gateway.networking.k8s.io", "", "x.io"),
                kind: fc.constantFrom("HTTPRoute", "GRPCRoute", "TCPRoute"),
              }),
              { maxLength: 2 },
            ),
          ),
        }),
      ),
    },
    { requiredKeys: ["name", "port", "protocol"] },
  ),
);

export const gateway: A<KubeObject> = fc.record({
  apiVersion: fc.constant("gateway.networking.k8s.io/v1"),
  kind: fc.constant("Gateway"),
  metadata: meta(fc.constantFrom(...WAYPOINTS), ns, {
    generation: odd(fc.constantFrom(1, 2, 3)),
    labels: labels({ "istio.io/waypoint-for": fc.constantFrom("service", "all", "workload", "none") }),
  }),
  spec: odd(
    fc.record({
      gatewayClassName: odd(fc.constantFrom(CLASS, CLASS, CLASS, "istio-waypoint")),
      listeners: odd(fc.array(listener, { minLength: 0, maxLength: 3 })),
    }),
  ),
}) as A<KubeObject>;

const vip: A<unknown> = odd(
  fc.constantFrom(
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "fd00::1",
    "fd00::2",
    "::ffff:10.0.0.9",
    "fe80::1%eth0",
    "None",
    "",
    "10.0.0.256",
    "0.0.0.0",
  ),
);

const servicePort: A<unknown> = odd(
  fc.record(
    {
      name: odd(
        fc.constantFrom(
          "http",
          "http-web",
          "http2",
          "grpc",
          "tcp",
          "",
          "HTTP",
          "mongo",
          "http_proxy",
          "tls",
          "https-x",
        ),
      ),
      port,
      protocol: odd(fc.constantFrom("TCP", "UDP", "SCTP", "", "tcp")),
      appProtocol: odd(fc.constantFrom("http", "kubernetes.io/h2c", "grpc", "", "tcp")),
      targetPort: odd(fc.constantFrom(8080, "http")),
    },
    { requiredKeys: ["port"] },
  ),
);

export const service: A<KubeObject> = fc.record({
  apiVersion: fc.constant("v1"),
  kind: fc.constant("Service"),
  metadata: meta(fc.constantFrom(...SERVICES), ns, {
    labels: labels({
      "istio.io/use-waypoint": useWaypoint,
      "istio.io/use-waypoint-namespace": fc.constantFrom(...NAMESPACES),
      app: fc.constantFrom("x", "y"),
    }),
  }),
  spec: odd(
    fc.record(
      {
        clusterIP: vip,
        clusterIPs: odd(fc.array(vip, { maxLength: 3 })),
        ports: odd(fc.array(servicePort, { maxLength: 4 })),
      },
      { requiredKeys: ["ports"] },
    ),
  ),
}) as A<KubeObject>;

/** An Istio ServiceEntry: every resolution, addresses from spec or status (or none), odd ports. */
export const serviceEntry: A<KubeObject> = fc.record({
  apiVersion: fc.constantFrom("networking.istio.io/v1", "networking.istio.io/v1beta1"),
  kind: fc.constant("ServiceEntry"),
  // Mostly enrolled in the base world's waypoint a/wp, so that most of them reach the xDS.
  metadata: meta(fc.constantFrom(...ENTRIES), ns, {
    labels: odd(
      fc.record(
        {
          "istio.io/use-waypoint": fc.constantFrom("wp", "wp", "wp", "wp2", "none"),
          "istio.io/use-waypoint-namespace": fc.constantFrom("a", "a", "b"),
        },
        { requiredKeys: ["istio.io/use-waypoint", "istio.io/use-waypoint-namespace"] },
      ),
    ),
  }),
  spec: odd(
    fc.record(
      {
        hosts: odd(
          fc.array(fc.constantFrom(...ENTRY_HOSTS, ...ENTRY_HOSTS, ""), { minLength: 1, maxLength: 2 }),
        ),
        addresses: odd(
          fc.oneof(
            {
              weight: 3,
              arbitrary: fc.array(
                fc.constantFrom(
                  "240.0.0.1",
                  "10.0.0.1",
                  "10.0.0.0/8",
                  "10.9.9.9/8",
                  "fd00::/64",
                  "FD00::1",
                  "x/3",
                ),
                { minLength: 1, maxLength: 2 },
              ),
            },
            { weight: 1, arbitrary: fc.constant([]) },
          ),
        ),
        resolution: odd(fc.constantFrom("STATIC", "DNS", "DNS_ROUND_ROBIN", "NONE", "BOGUS")),
        ports: odd(
          fc.array(
            odd(
              fc.record({
                number: port,
                name: odd(fc.constantFrom("http", "tcp", "grpc", "")),
                protocol: odd(fc.constantFrom("HTTP", "TCP", "TLS", "GRPC", "HTTP2", "", "bogus")),
                targetPort: odd(fc.constantFrom(8080, 0, 70000)),
              }),
            ),
            { minLength: 1, maxLength: 3 },
          ),
        ),
        endpoints: odd(
          fc.array(
            odd(
              fc.record({
                address: odd(fc.constantFrom("10.1.0.1", "fd01::1", "backend.example.com", "localhost", "")),
                ports: odd(fc.record({ http: odd(fc.constantFrom(9090, 0, 70000)) })),
              }),
            ),
            { maxLength: 2 },
          ),
        ),
        workloadSelector: fc.constantFrom(undefined, undefined, undefined, { labels: { app: "vm" } }),
      },
      { requiredKeys: ["hosts", "ports", "addresses", "resolution", "workloadSelector"] },
    ),
  ),
  status: fc.option(
    odd(
      fc.record({
        addresses: odd(
          fc.array(odd(fc.record({ value: odd(fc.constantFrom("240.240.0.1", "2001:2::1", "bogus")) })), {
            maxLength: 2,
          }),
        ),
      }),
    ),
    { nil: undefined },
  ),
}) as A<KubeObject>;

const endpointAddress: A<unknown> = odd(
  fc.constantFrom("10.1.0.1", "10.1.0.2", "fd01::1", "fe80::2%lo", "::", "256.1.1.1", "", "host.example"),
);

export const endpointSlice: A<KubeObject> = fc.record({
  apiVersion: fc.constant("discovery.k8s.io/v1"),
  kind: fc.constant("EndpointSlice"),
  metadata: meta(fc.constantFrom("e1", "e2", "e3"), ns, {
    labels: labels({ "kubernetes.io/service-name": fc.constantFrom(...SERVICES) }),
  }),
  addressType: odd(fc.constantFrom("IPv4", "IPv6", "FQDN")),
  ports: odd(
    fc.array(
      odd(
        fc.record({
          name: odd(fc.constantFrom("http", "http-web", "http2", "grpc", "tcp", "")),
          port: odd(fc.constantFrom(8080, 9090, 0, 70000, 1)),
        }),
      ),
      { maxLength: 3 },
    ),
  ),
  endpoints: odd(
    fc.array(
      odd(
        fc.record({
          addresses: odd(fc.array(endpointAddress, { maxLength: 3 })),
          conditions: odd(fc.record({ ready: odd(fc.boolean()) })),
        }),
      ),
      { maxLength: 3 },
    ),
  ),
}) as A<KubeObject>;

export const httpRoute: A<KubeObject> = fc.record({
  apiVersion: fc.constant("gateway.networking.k8s.io/v1"),
  kind: fc.constant("HTTPRoute"),
  metadata: meta(fc.constantFrom(...ROUTES), ns, {
    generation: odd(fc.constantFrom(1, 2)),
    creationTimestamp: timestamp,
    labels: labels({ app: fc.constantFrom("x", "y") }),
  }),
  spec: odd(
    fc.record({
      parentRefs: odd(fc.array(parentRef, { maxLength: 3 })),
      hostnames: odd(fc.array(fc.constantFrom("a.example", "*.example"), { maxLength: 2 })),
      rules: odd(fc.array(rule, { maxLength: 4 })),
    }),
  ),
}) as A<KubeObject>;

/** A TCPRoute or TLSRoute that the base's `a/s1` (its TLS port 8443) accepts: SNI chains reach Envoy. */
const plausibleStreamRoute: A<KubeObject> = fc
  .record({
    kind: fc.constantFrom("TCPRoute", "TLSRoute"),
    name: fc.constantFrom(...ROUTES),
    port: fc.constantFrom(8443, undefined),
    hostnames: fc.uniqueArray(fc.constantFrom("a.example", "*.example", "*.a.example", "b.a.example"), {
      minLength: 1,
      maxLength: 3,
    }),
    backends: fc.array(
      fc.record({ name: fc.constantFrom("s1", "missing"), port: fc.constantFrom(8443, 8000), weight }),
      { minLength: 1, maxLength: 3 },
    ),
    creationTimestamp: timestamp,
  })
  .map(
    (r): KubeObject => ({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: r.kind,
      metadata: { name: r.name, namespace: "a", creationTimestamp: r.creationTimestamp as string },
      spec: {
        parentRefs: [{ group: "", kind: "Service", name: "s1", ...(r.port ? { port: r.port } : {}) }],
        ...(r.kind === "TLSRoute" ? { hostnames: r.hostnames } : {}),
        rules: [{ backendRefs: r.backends }],
      },
    }),
  );

/** TCPRoutes and TLSRoutes (v1 and the experimental versions), hostnames sometimes invalid. */
const anyStreamRoute: A<KubeObject> = fc
  .record({
    kind: fc.constantFrom("TCPRoute", "TLSRoute"),
    apiVersion: fc.constantFrom("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1alpha2"),
    metadata: meta(fc.constantFrom(...ROUTES), ns, { creationTimestamp: timestamp }),
    spec: odd(
      fc.record({
        parentRefs: odd(fc.array(parentRef, { maxLength: 3 })),
        hostnames: odd(
          fc.array(fc.oneof(hostname, fc.constantFrom("a.example", "*.example", "*.a.example")), {
            maxLength: 3,
          }),
        ),
        rules: odd(
          fc.array(
            odd(
              fc.record({
                name: odd(fc.constantFrom("one", "")),
                backendRefs: odd(fc.array(backendRef, { maxLength: 3 })),
              }),
            ),
            { maxLength: 2 },
          ),
        ),
      }),
    ),
  })
  .map((o) => o as KubeObject);

export const streamRoute: A<KubeObject> = fc.oneof(plausibleStreamRoute, anyStreamRoute);
const grpcMethodMatch: A<unknown> = matchType(["Exact", "RegularExpression", "Bogus"]).chain((type) =>
  fc.record({
    type: fc.constant(type),
    service: odd(
      type === "RegularExpression"
        ? regex
        : fc.constantFrom("pkg.Svc", "", "a/b", ".x.Y", "grpc.health.v1.Health", "9bad"),
    ),
    method: odd(type === "RegularExpression" ? regex : fc.constantFrom("Echo", "", "Echo-Two", "_m")),
  }),
);

const grpcRule: A<unknown> = odd(
  fc.record(
    {
      name: odd(fc.constantFrom("one", "two", "")),
      matches: odd(
        fc.array(
          odd(fc.record({ method: grpcMethodMatch, headers: odd(fc.array(headerMatch, { maxLength: 2 })) })),
          { maxLength: 3 },
        ),
      ),
      filters: odd(fc.array(filter, { maxLength: 3 })),
      backendRefs: odd(fc.array(backendRef, { maxLength: 3 })),
    },
    { requiredKeys: [] },
  ),
);

export const grpcRoute: A<KubeObject> = fc.record({
  apiVersion: fc.constant("gateway.networking.k8s.io/v1"),
  kind: fc.constant("GRPCRoute"),
  metadata: meta(fc.constantFrom(...ROUTES), ns, {
    generation: odd(fc.constantFrom(1, 2)),
    creationTimestamp: timestamp,
    labels: labels({ app: fc.constantFrom("x", "y") }),
  }),
  spec: odd(
    fc.record({
      parentRefs: odd(fc.array(parentRef, { maxLength: 3 })),
      hostnames: odd(fc.array(fc.constantFrom("a.example", "*.example"), { maxLength: 2 })),
      rules: odd(fc.array(grpcRule, { maxLength: 4 })),
    }),
  ),
}) as A<KubeObject>;

export const referenceGrant: A<KubeObject> = fc.record({
  apiVersion: fc.constant("gateway.networking.k8s.io/v1beta1"),
  kind: fc.constant("ReferenceGrant"),
  metadata: meta(fc.constantFrom("g1", "g2"), ns),
  spec: odd(
    fc.record({
      from: odd(
        fc.array(
          fc.record({
            group: fc.constantFrom("gateway.networking.k8s.io", ""),
            kind: fc.constantFrom("HTTPRoute", "GRPCRoute"),
            namespace: fc.constantFrom(...NAMESPACES),
          }),
          { maxLength: 2 },
        ),
      ),
      to: odd(
        fc.array(
          fc.record(
            {
              group: fc.constantFrom("", "core"),
              kind: fc.constantFrom("Service", "Secret"),
              name: fc.constantFrom(...SERVICES, ""),
            },
            { requiredKeys: ["group", "kind"] },
          ),
          { maxLength: 2 },
        ),
      ),
    }),
  ),
}) as A<KubeObject>;

/** Templates: valid ones of every construct, broken ones, and hostile text. */
export const template: A<string> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      "plain",
      "",
      "{{ header('x-a') }}",
      '{{ request_header("x-b") }}',
      "{{ header(\"x-a\") ~ '-' ~ header('x-c') }}",
      "{{ base64_encode(body()) }}",
      "{{ base64_decode(header('x-a')) }}",
      "{% if header('x-a') == 'b' %}yes{% elif header('x-c') %}c{% else %}no{% endif %}",
      "{% for x in [1, 2, 3] %}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
      "{{ substring(header('x-a'), 1, 2) }}",
      "{{ replace_with_string(header('x-a'), 'a', 'b') }}",
      "{{ raw_string(header('x-a')) }}",
      "{{ get_cookie('session') }}",
      "{{ env('HOME') }}",
      "{{ 1 + 2 * 3 }}",
      "{{ 1 / 0 }}",
      "{{ context() }}",
      "{{ user.name }}",
      "{{ items[0] }}",
      "{# comment #}x",
      "{{- header('x-a') -}}",
      "%REQ(x)% {{ header('x-a') }}",
    ),
  },
  {
    weight: 3,
    arbitrary: fc
      .array(
        fc.constantFrom(
          "{{",
          "}}",
          "{%",
          "%}",
          "'",
          '"',
          "\\",
          "]]",
          "[[",
          "--",
          "if ",
          "endif",
          "for x in ",
          "endfor",
          "header('a')",
          "(",
          ")",
          " ",
          "\n",
          "\0",
          "end",
          "os.exit()",
          "%",
        ),
        { maxLength: 14 },
      )
      .map((a) => a.join("")),
  },
  { weight: 2, arbitrary: hostileString.map((s) => `{{ header(${JSON.stringify(s)}) }}${s}`) },
  { weight: 1, arbitrary: fc.constantFrom("x".repeat(70_000), `{{ ${"(".repeat(40)}1${")".repeat(40)} }}`) },
);

const headerTemplate = fc.record(
  { name: odd(headerName), value: odd(template) },
  { requiredKeys: ["name", "value"] },
);

const side: A<unknown> = odd(
  fc.record(
    {
      set: odd(fc.array(headerTemplate, { maxLength: 3 })),
      add: odd(fc.array(headerTemplate, { maxLength: 2 })),
      remove: odd(fc.array(odd(headerName), { maxLength: 2 })),
      body: odd(
        fc.record({
          parseAs: odd(fc.constantFrom("AsString", "AsJson", "None", "Bogus")),
          value: odd(template),
        }),
      ),
      dynamicMetadata: odd(
        fc.array(
          fc.record({
            namespace: odd(fc.constantFrom("io.solo.transformation", "x", "")),
            key: odd(fc.constantFrom("k", "", "k2")),
            value: odd(fc.record({ stringValue: odd(template) })),
          }),
          { maxLength: 2 },
        ),
      ),
      bogus: junk,
    },
    { requiredKeys: [] },
  ),
);

const targetRef: A<unknown> = fc.record(
  {
    group: odd(fc.constantFrom("gateway.networking.k8s.io", "", "x.io")),
    kind: odd(fc.constantFrom("HTTPRoute", "Gateway", "Service", "GRPCRoute")),
    name: odd(fc.constantFrom(...ROUTES, ...WAYPOINTS, "")),
    sectionName: odd(fc.constantFrom("one", "two", "proxy", undefined)),
  },
  { requiredKeys: ["group", "kind", "name"] },
);

const validTemplate = fc.constantFrom(
  "plain",
  "{{ header('x-a') }}",
  '{{ request_header("x-b") }}',
  "{{ base64_encode(body()) }}",
  "{% if header('x-a') == 'b' %}yes{% else %}no{% endif %}",
  "{% for x in [1, 2] %}{{ x }}{% endfor %}",
  "{{ substring(header('x-a'), 1, 2) }}",
  "100% {{ header('x-c') }}",
);

/** A policy most likely valid: a transformation on a waypoint or a route, with hostile template text. */
const plausiblePolicy: A<KubeObject> = fc.record({
  apiVersion: fc.constant("gateway.kgateway.dev/v1alpha1"),
  kind: fc.constant("TrafficPolicy"),
  metadata: meta(fc.constantFrom(...POLICIES), ns, { creationTimestamp: timestamp }),
  spec: fc.record({
    targetRefs: fc.array(
      fc.oneof(
        fc.record({
          group: fc.constant("gateway.networking.k8s.io"),
          kind: fc.constant("Gateway"),
          name: fc.constant("wp"),
        }),
        fc.record({
          group: fc.constant("gateway.networking.k8s.io"),
          kind: fc.constant("HTTPRoute"),
          name: fc.constantFrom(...ROUTES),
        }),
      ),
      { minLength: 1, maxLength: 2 },
    ),
    transformation: fc.record(
      {
        request: fc.record({
          set: fc.array(
            fc.record({
              name: fc.constantFrom("x-a", "x-out", "x-z"),
              value: fc.oneof(
                validTemplate,
                hostileString.map((h) => `{{ header(${JSON.stringify(h)}) }}${h.replace(/[{}%#]/g, "")}`),
              ),
            }),
            { maxLength: 2 },
          ),
          remove: fc.array(fc.constantFrom("x-drop", "x-c"), { maxLength: 1 }),
        }),
        response: fc.record({
          add: fc.array(fc.record({ name: fc.constantFrom("x-r", "x-s"), value: validTemplate }), {
            maxLength: 2,
          }),
        }),
      },
      { requiredKeys: [] },
    ),
  }),
}) as A<KubeObject>;

const anyTrafficPolicy: A<KubeObject> = fc.record({
  apiVersion: fc.constant("gateway.kgateway.dev/v1alpha1"),
  kind: fc.constant("TrafficPolicy"),
  metadata: meta(fc.constantFrom(...POLICIES), ns, {
    generation: odd(fc.constantFrom(1, 2)),
    creationTimestamp: timestamp,
    annotations: labels({ "kgateway.dev/policy-weight": fc.constantFrom("1", "10", "-1", "x") }),
  }),
  spec: odd(
    fc.record(
      {
        targetRefs: odd(fc.array(targetRef, { maxLength: 2 })),
        targetSelectors: odd(
          fc.array(
            fc.record({
              group: fc.constant("gateway.networking.k8s.io"),
              kind: fc.constantFrom("HTTPRoute", "Gateway"),
              matchLabels: odd(fc.record({ app: fc.constantFrom("x", "y") })),
            }),
            { maxLength: 1 },
          ),
        ),
        transformation: odd(fc.record({ request: side, response: side }, { requiredKeys: [] })),
        cors: odd(fc.constant({ allowOrigins: ["*"] })),
        bogusField: odd(fc.constant(1)),
      },
      { requiredKeys: [] },
    ),
  ),
}) as A<KubeObject>;

export const trafficPolicy: A<KubeObject> = fc.oneof(
  { weight: 2, arbitrary: plausiblePolicy },
  { weight: 1, arbitrary: anyTrafficPolicy },
);

/** A usable waypoint `a/wp` and a Service `a/s1` using it, so most inputs reach Envoy. */
const base: A<KubeObject[]> = fc
  .tuple(
    fc.option(listener, { nil: undefined }),
    fc.constantFrom("http", "http2", "grpc", "tcp", "http-x", "tls"),
    fc.array(fc.constantFrom("10.0.0.1", "fd00::1", "10.0.0.7"), { minLength: 1, maxLength: 2 }),
  )
  .map(([extraListener, portName, vips]): KubeObject[] => [
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "wp", namespace: "a", generation: 1 },
      spec: {
        gatewayClassName: CLASS,
        listeners: [
          {
            name: "proxy",
            port: 15088,
            protocol: "istio.io/PROXY",
            allowedRoutes: { namespaces: { from: "All" } },
          },
          ...(extraListener === undefined ? [] : [extraListener]),
        ],
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s1", namespace: "a", labels: { "istio.io/use-waypoint": "wp" } },
      spec: {
        clusterIP: vips[0],
        clusterIPs: [...new Set(vips)],
        ports: [
          { name: portName, port: 8000 },
          { name: "http-alt", port: 8080 },
          { name: "tls", port: 8443 },
        ],
      },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "s1-base", namespace: "a", labels: { "kubernetes.io/service-name": "s1" } },
      addressType: "IPv4",
      ports: [
        { name: portName, port: 8000 },
        { name: "http-alt", port: 8081 },
        { name: "tls", port: 8444 },
      ],
      endpoints: [{ addresses: ["10.1.0.9"] }],
    },
  ]);

/** A whole input: every kind of object, keyed as the watcher keys them (duplicates: last wins). */
export const world: A<Map<string, KubeObject>> = fc
  .tuple(
    fc.oneof({ weight: 4, arbitrary: base }, { weight: 1, arbitrary: fc.constant([]) }),
    fc.array(namespaceObject, { maxLength: 2 }),
    fc.option(gatewayClass, { nil: undefined }),
    fc.array(gateway, { maxLength: 2 }),
    fc.array(service, { maxLength: 4 }),
    fc.array(endpointSlice, { maxLength: 3 }),
    fc.array(httpRoute, { maxLength: 4 }),
    fc.array(referenceGrant, { maxLength: 2 }),
    fc.array(trafficPolicy, { maxLength: 3 }),
    fc.array(junk, { maxLength: 1 }),
    fc.array(streamRoute, { maxLength: 3 }),
    fc.array(grpcRoute, { maxLength: 2 }),
    fc.array(serviceEntry, { maxLength: 2 }),
  )
  .map(
    ([
      baseObjects,
      namespaces,
      cls,
      gateways,
      services,
      slices,
      routes,
      grants,
      policies,
      malformed,
      streams,
      grpc,
      entries,
    ]) => {
      const objects = new Map<string, KubeObject>();
      const all = [
        ...namespaces,
        ...(cls ? [cls] : []),
        ...gateways,
        ...services,
        ...slices,
        ...baseObjects,
        ...routes,
        ...streams,
        ...grpc,
      ];
      for (const o of [...all, ...grants, ...policies, ...entries]) objects.set(objectKey(refOf(o)), o);
      malformed.forEach((m, i) => {
        objects.set(`malformed.${i}`, m as KubeObject);
      });
      return objects;
    },
  );
