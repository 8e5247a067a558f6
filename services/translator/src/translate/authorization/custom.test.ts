// Which CUSTOM policies of a chain call their provider (one provider per chain, HTTP only, its
// Service found), and the ext_authz config of a provider.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ObjectIndex, ServiceInfo } from "../input/objects.ts";
import type { BoundPolicy } from "./contract.ts";
import { customFilters, extAuthzConfig, splitCustom } from "./custom.ts";
import type { ExtAuthzProvider } from "./mesh-config.ts";

const svc: ServiceInfo = {
  object: { apiVersion: "v1", kind: "Service", metadata: { name: "authz", namespace: "auth" } },
  namespace: "auth",
  name: "authz",
  labels: {},
  vips: ["10.0.0.1"],
  ports: [
    { name: "grpc", port: 9000 },
    { name: "check", port: 9001 },
    { name: "http", port: 8000 },
  ],
};
const index = {
  service: (ns: string, name: string) => (ns === "auth" && name === "authz" ? svc : undefined),
} as unknown as ObjectIndex;
const grpc: ExtAuthzProvider = {
  name: "g",
  kind: "grpc",
  service: { namespace: "auth", name: "authz" },
  port: 9000,
};
const plain: ExtAuthzProvider = { ...grpc, name: "plain", port: 9001 };
const http: ExtAuthzProvider = {
  name: "h",
  kind: "http",
  service: { namespace: "auth", name: "authz" },
  port: 8000,
};
const missing: ExtAuthzProvider = { ...grpc, name: "m", service: { namespace: "auth", name: "gone" } };
const noPort: ExtAuthzProvider = { ...grpc, name: "p", port: 1 };
const providers = { providers: [grpc, plain, http, missing, noPort], source: "WAYMARK_MESH_CONFIG" };

const custom = (name: string, provider?: string, dryRun = false): BoundPolicy => ({
  namespace: "ns",
  name,
  dryRun,
  spec: {
    action: "CUSTOM",
    ...(provider ? { provider: { name: provider } } : {}),
    rules: [{ to: [{ operation: { paths: ["/x"] } }] }],
  },
});

test("the first provider is called; another, unknown, none or a missing Service: the rules deny", () => {
  const s = splitCustom(
    [
      custom("a", "g"),
      { namespace: "ns", name: "deny", dryRun: false, spec: { action: "DENY" } },
      custom("b", "h"),
      custom("c", "nope"),
      custom("d"),
      custom("e", "g", true),
    ],
    "http",
    providers,
    index,
  );
  assert.deepEqual(
    s.called.map((p) => p.name),
    ["a", "e"],
    "a dry-run CUSTOM policy calls its provider too",
  );
  assert.equal(s.provider?.backend.cluster, "kube_auth_authz_9000", "a grpc port keeps its cluster");
  const why = Object.fromEntries(s.rest.map((p) => [p.name, p.customFallback]));
  assert.equal(why.deny, undefined);
  assert.match(why.b!, /only one provider can be used per waypoint: "g" is in use, not "h"/);
  assert.match(why.c!, /extension provider "nope" is not an ext_authz provider .*"g", "plain"/);
  assert.match(why.d!, /no provider named/);

  for (const [p, cause] of [
    [missing, /Service auth\/gone was not found/],
    [noPort, /Service auth\/authz has no port 1/],
  ] as const) {
    const r = splitCustom([custom("x", p.name)], "http", providers, index);
    assert.equal(r.called.length, 0);
    assert.match(r.rest[0]!.customFallback!, cause);
  }
  const tcp = splitCustom([custom("x", "g")], "tcp", providers, index);
  assert.match(tcp.rest[0]!.customFallback!, /not served on TCP chains/);
  const broken = splitCustom(
    [custom("x", "g")],
    "http",
    { ...providers, error: "mesh config ConfigMap istio-system/istio (key mesh): not YAML" },
    index,
  );
  assert.equal(broken.called.length, 0, "a mesh config that does not parse calls no provider");
  assert.match(broken.rest[0]!.customFallback!, /ConfigMap istio-system\/istio \(key mesh\): not YAML/);
});

test("gRPC to a port not named for HTTP/2 gets a cluster of its own; the filters", () => {
  const s = splitCustom([custom("a", "plain")], "http", providers, index);
  assert.equal(s.provider?.backend.cluster, "kube_auth_authz_9001_grpc");
  assert.equal(s.provider?.backend.port.appProtocol, "grpc");
  const { filters, problems } = customFilters(s, { trustDomain: "cluster.local", aliases: [] });
  assert.deepEqual(problems, [], "a called CUSTOM policy has no problem to report");
  assert.deepEqual(
    filters.map((f) => f.name),
    ["envoy.filters.http.rbac", "envoy.filters.http.ext_authz"],
  );
  const rbac = filters[0]!.typedConfig as { shadowRules: { action: string; policies: object } };
  assert.equal(rbac.shadowRules.action, "DENY");
  assert.deepEqual(Object.keys(rbac.shadowRules.policies), ["istio-ext-authz-ns[ns]-policy[a]-rule[0]"]);
});

test("the ext_authz config: defaults as Istio, enabled only by the shadow rules' metadata", () => {
  const c = extAuthzConfig(http, {
    service: svc,
    port: svc.ports[2]!,
    cluster: "kube_auth_authz_8000",
  });
  assert.equal(c.httpService?.serverUri?.timeout, "600s");
  assert.equal(c.httpService?.serverUri?.uri, "http://authz.auth.svc.cluster.local:8000");
  assert.deepEqual(c.statusOnError, { code: "Forbidden" });
  assert.equal(c.failureModeAllow, undefined);
  assert.deepEqual(c.filterEnabledMetadata, {
    filter: "envoy.filters.http.rbac",
    path: [{ key: "istio_ext_authz_shadow_effective_policy_id" }],
    value: { stringMatch: { prefix: "istio-ext-authz" } },
  });
});
