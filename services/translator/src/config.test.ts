import assert from "node:assert/strict";
import { hostname } from "node:os";
import { test } from "node:test";
import { ConfigError } from "@waymark/api";
import { loadConfig } from "./config.ts";

test("defaults", () => {
  const c = loadConfig({});
  assert.deepEqual(c, {
    natsServers: ["nats://127.0.0.1:4222"],
    controllerName: "waymark.dev/waymark",
    waypointClassName: "kgateway-waypoint",
    bindAddress: "::",
    debounceQuietMs: 50,
    debounceMaxMs: 1000,
    blobGraceMs: 60000,
    leaderElection: false,
    leaderTtlMs: 5000,
    leaderId: `${hostname()}-${process.pid}`,
    rootNamespace: "istio-system",
    trustDomain: "cluster.local",
    trustDomainAliases: [],
    xffTrustedHops: 0,
  });
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.natsServers));
});

test("values from the environment", () => {
  const c = loadConfig({
    WAYMARK_NATS_URL: "nats://a:4222, tls://b:4223",
    WAYMARK_CONTROLLER_NAME: "example.com/gw",
    WAYMARK_WAYPOINT_CLASS: "my-waypoint",
    WAYMARK_BIND_ADDRESS: "127.0.0.1",
    WAYMARK_DEBOUNCE_QUIET_MS: "0",
    WAYMARK_DEBOUNCE_MAX_MS: "0",
    WAYMARK_BLOB_GRACE_MS: "5000",
  });
  assert.deepEqual(c.natsServers, ["nats://a:4222", "tls://b:4223"]);
  assert.equal(c.controllerName, "example.com/gw");
  assert.equal(c.waypointClassName, "my-waypoint");
  assert.equal(c.bindAddress, "127.0.0.1");
  assert.equal(c.debounceQuietMs, 0);
  assert.equal(c.blobGraceMs, 5000);
});

test("bad values stop start-up with a ConfigError naming the variable", () => {
  const bad: Array<[string, string]> = [
    ["WAYMARK_NATS_URL", "http://x:4222"],
    ["WAYMARK_NATS_URL", "not a url"],
    ["WAYMARK_CONTROLLER_NAME", "no-slash"],
    ["WAYMARK_WAYPOINT_CLASS", "Upper_Case"],
    ["WAYMARK_BIND_ADDRESS", "localhost"],
    ["WAYMARK_DEBOUNCE_QUIET_MS", "-1"],
    ["WAYMARK_DEBOUNCE_QUIET_MS", "1.5"],
    ["WAYMARK_DEBOUNCE_MAX_MS", "10"],
    ["WAYMARK_BLOB_GRACE_MS", "1m"],
  ];
  for (const [name, value] of bad) {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (e: unknown) => e instanceof ConfigError && e.code === "invalid-config" && e.message.includes(name),
      `${name}=${value}`,
    );
  }
});

test("leader election settings", () => {
  const c = loadConfig({
    WAYMARK_LEADER_ELECTION: "on",
    WAYMARK_LEADER_TTL_MS: "3000",
    WAYMARK_LEADER_ID: "pod-1",
  });
  assert.equal(c.leaderElection, true);
  assert.equal(c.leaderTtlMs, 3000);
  assert.equal(c.leaderId, "pod-1");
  assert.throws(() => loadConfig({ WAYMARK_LEADER_ELECTION: "yes" }), ConfigError);
  assert.throws(() => loadConfig({ WAYMARK_LEADER_TTL_MS: "500" }), ConfigError);
});

test("limits: routes per waypoint and template caps", () => {
  const none = loadConfig({});
  assert.equal(none.maxRoutesPerWaypoint, undefined); // the translation's default (5000) applies
  assert.equal(none.templateLimits, undefined);
  const c = loadConfig({
    WAYMARK_MAX_ROUTES_PER_WAYPOINT: "20000",
    WAYMARK_TEMPLATE_MAX_LENGTH: "131072",
    WAYMARK_TEMPLATE_MAX_BLOCK_DEPTH: "8",
  });
  assert.equal(c.maxRoutesPerWaypoint, 20000);
  assert.deepEqual(c.templateLimits, {
    maxLength: 131072,
    maxExpressionDepth: 32,
    maxBlockDepth: 8,
    maxLoops: 16,
    maxElements: 4000,
  });
  assert.ok(Object.isFrozen(c.templateLimits));
  for (const [name, value] of [
    ["WAYMARK_MAX_ROUTES_PER_WAYPOINT", "0"],
    ["WAYMARK_MAX_ROUTES_PER_WAYPOINT", "many"],
    ["WAYMARK_MAX_ROUTES_PER_WAYPOINT", "1.5"],
    ["WAYMARK_TEMPLATE_MAX_LENGTH", "-1"],
    ["WAYMARK_TEMPLATE_MAX_EXPRESSION_DEPTH", "1000"],
    ["WAYMARK_TEMPLATE_MAX_LOOPS", "x"],
    ["WAYMARK_TEMPLATE_MAX_ELEMENTS", "0"],
  ] as const) {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (e: unknown) => e instanceof ConfigError && e.message.includes(name),
      `${name}=${value}`,
    );
  }
});

test("authorization settings: root namespace, trust domain and aliases, trusted X-Forwarded-For hops", () => {
  const c = loadConfig({
    WAYMARK_ROOT_NAMESPACE: "mesh-root",
    WAYMARK_TRUST_DOMAIN: "prod.example",
    WAYMARK_TRUST_DOMAIN_ALIASES: " old.example, ,cluster.local,old.example,prod.example",
    WAYMARK_XFF_TRUSTED_HOPS: "1",
  });
  assert.equal(c.rootNamespace, "mesh-root");
  assert.equal(c.trustDomain, "prod.example");
  assert.deepEqual(
    c.trustDomainAliases,
    ["old.example", "cluster.local"],
    "blanks, repeats and the domain itself dropped",
  );
  assert.ok(Object.isFrozen(c.trustDomainAliases));
  assert.equal(c.xffTrustedHops, 1);
  const bad: Array<[string, string]> = [
    ["WAYMARK_ROOT_NAMESPACE", "Istio_System"],
    ["WAYMARK_ROOT_NAMESPACE", "a.b"],
    ["WAYMARK_TRUST_DOMAIN", "spiffe://cluster.local"],
    ["WAYMARK_TRUST_DOMAIN", "Cluster.Local"],
    ["WAYMARK_TRUST_DOMAIN_ALIASES", "ok.example,bad/one"],
    ["WAYMARK_XFF_TRUSTED_HOPS", "-1"],
    ["WAYMARK_XFF_TRUSTED_HOPS", "1.5"],
    ["WAYMARK_XFF_TRUSTED_HOPS", "65"],
  ];
  for (const [name, value] of bad) {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith(name),
      `${name}=${value}`,
    );
  }
});

test("the waypoints' tracing provider: otlp-grpc://host:port, sampling 1% unless set", () => {
  assert.equal(loadConfig({}).waypointTracing, undefined, "off when unset");
  assert.deepEqual(
    loadConfig({ WAYMARK_WAYPOINT_TRACING: "otlp-grpc://Otel.Observability:4317" }).waypointTracing,
    {
      host: "otel.observability",
      port: 4317,
      randomSampling: 1,
    },
  );
  assert.deepEqual(
    loadConfig({
      WAYMARK_WAYPOINT_TRACING: "otlp-grpc://[fd00::7]",
      WAYMARK_WAYPOINT_TRACING_SAMPLING: "0.25",
    }).waypointTracing,
    { host: "fd00::7", port: 4317, randomSampling: 0.25 },
    "IPv6 unbracketed, the OTLP/gRPC port by default",
  );
  assert.equal(
    loadConfig({
      WAYMARK_WAYPOINT_TRACING: "otlp-grpc://10.0.0.5:55680",
      WAYMARK_WAYPOINT_TRACING_SAMPLING: "100",
    }).waypointTracing?.randomSampling,
    100,
  );
  const bad: Array<[Record<string, string>, RegExp]> = [
    [
      { WAYMARK_WAYPOINT_TRACING: "http://otel:4318" },
      /^WAYMARK_WAYPOINT_TRACING=.*the scheme must be otlp-grpc/,
    ],
    [{ WAYMARK_WAYPOINT_TRACING: "otlp-grpc://otel:4317/v1/traces" }, /only a host and a port/],
    [{ WAYMARK_WAYPOINT_TRACING: "otlp-grpc://user:pw@otel:4317" }, /only a host and a port/],
    [{ WAYMARK_WAYPOINT_TRACING: "otlp-grpc://otel_collector:4317" }, /DNS name or an IP address/],
    [{ WAYMARK_WAYPOINT_TRACING: "otlp-grpc://otel:0" }, /the port must be 1 to 65535/],
    [{ WAYMARK_WAYPOINT_TRACING: "otel:4317" }, /the scheme must be otlp-grpc/],
    [
      { WAYMARK_WAYPOINT_TRACING: "otlp-grpc://otel", WAYMARK_WAYPOINT_TRACING_SAMPLING: "101" },
      /^WAYMARK_WAYPOINT_TRACING_SAMPLING="101": expected a percentage from 0 to 100/,
    ],
    [
      { WAYMARK_WAYPOINT_TRACING: "otlp-grpc://otel", WAYMARK_WAYPOINT_TRACING_SAMPLING: "0.001" },
      /two decimals/,
    ],
    [
      { WAYMARK_WAYPOINT_TRACING: "otlp-grpc://otel", WAYMARK_WAYPOINT_TRACING_SAMPLING: "-1" },
      /two decimals/,
    ],
    [{ WAYMARK_WAYPOINT_TRACING_SAMPLING: "5" }, /WAYMARK_WAYPOINT_TRACING \(the collector\) is not/],
  ];
  for (const [env, message] of bad)
    assert.throws(
      () => loadConfig(env),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
});

test("WAYMARK_MESH_CONFIG: the mesh config's ext_authz extensionProviders", () => {
  assert.equal(loadConfig({}).extensionProviders, undefined);
  const c = loadConfig({
    WAYMARK_MESH_CONFIG: `
defaultConfig: {discoveryAddress: istiod.istio-system.svc:15012}
extensionProviders:
- name: otel
  opentelemetry: {service: otel.observability.svc.cluster.local, port: 4317}
- name: ext-authz-grpc
  envoyExtAuthzGrpc:
    service: ext-authz.foo.svc.cluster.local
    port: 9000
    timeout: 0.5s
    failOpen: true
- name: ext-authz-http
  envoyExtAuthzHttp:
    service: foo/ext-authz
    port: "8000"
    timeout: 250ms
    statusOnError: "503"
    pathPrefix: /check
    includeRequestHeadersInCheck: [x-ext-authz, "x-b3-*"]
    headersToUpstreamOnAllow: [x-ext-authz-check-result]
    includeAdditionalHeadersInCheck: {x-extra: "1"}
`,
  });
  assert.deepEqual(c.extensionProviders, [
    {
      name: "ext-authz-grpc",
      kind: "grpc",
      service: { namespace: "foo", name: "ext-authz" },
      port: 9000,
      timeout: "0.5s",
      failOpen: true,
    },
    {
      name: "ext-authz-http",
      kind: "http",
      service: { namespace: "foo", name: "ext-authz" },
      port: 8000,
      timeout: "0.250s",
      statusOnError: 503,
      includeRequestHeadersInCheck: ["x-ext-authz", "x-b3-*"],
      pathPrefix: "/check",
      headersToUpstreamOnAllow: ["x-ext-authz-check-result"],
      includeAdditionalHeadersInCheck: { "x-extra": "1" },
    },
  ]);
  const bad: Array<[string, string]> = [
    ["{not: [yaml", "not YAML"],
    ["- a list", "(root)"],
    ["extensionProviders: {}", "extensionProviders: must be a list"],
    [
      "extensionProviders: [{envoyExtAuthzGrpc: {service: a.b.svc.cluster.local, port: 1}}]",
      "extensionProviders[0].name",
    ],
    [
      "extensionProviders: [{name: x, envoyExtAuthzGrpc: {service: a.b.svc.cluster.local}}]",
      "extensionProviders[0].envoyExtAuthzGrpc.port",
    ],
    [
      "extensionProviders: [{name: x, envoyExtAuthzGrpc: {service: nope, port: 9000}}]",
      "extensionProviders[0].envoyExtAuthzGrpc.service",
    ],
    [
      "extensionProviders: [{name: x, envoyExtAuthzHttp: {service: a/b, port: 80, timeout: soon}}]",
      "envoyExtAuthzHttp.timeout",
    ],
    [
      "extensionProviders: [{name: x, envoyExtAuthzHttp: {service: a/b, port: 80, pathPrefix: check}}]",
      "envoyExtAuthzHttp.pathPrefix",
    ],
    [
      "extensionProviders: [{name: x, envoyExtAuthzHttp: {service: a/b, port: 80, failOpen: maybe}}]",
      "envoyExtAuthzHttp.failOpen",
    ],
    [
      "extensionProviders: [{name: x, envoyExtAuthzHttp: {service: a/b, port: 80, statusOnError: 42}}]",
      "envoyExtAuthzHttp.statusOnError",
    ],
    [
      "extensionProviders: [{name: x, envoyExtAuthzHttp: {service: a/b, port: 80, headersToUpstreamOnAllow: ['a b']}}]",
      "headersToUpstreamOnAllow[0]",
    ],
    [
      "extensionProviders: [{name: x, envoyExtAuthzGrpc: {service: a/b, port: 80}}, {name: x, envoyExtAuthzGrpc: {service: a/b, port: 81}}]",
      "extensionProviders[1].name",
    ],
  ];
  for (const [value, path] of bad)
    assert.throws(
      () => loadConfig({ WAYMARK_MESH_CONFIG: value }),
      (e: unknown) =>
        e instanceof ConfigError && e.message.startsWith("WAYMARK_MESH_CONFIG: ") && e.message.includes(path),
      value,
    );
});
