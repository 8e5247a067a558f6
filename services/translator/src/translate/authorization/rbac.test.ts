// AuthorizationPolicy → RBAC filters: the mapping of each field and action
// (docs/design/authorization.md §3, §4, §6), the fail-closed rules (§7), and strict encoding.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  encodeResource,
  type FilterJson,
  type HttpFilterJson,
  type JsonObject,
  type RbacConfigJson,
  type RbacPermissionJson,
  type RbacPolicyJson,
  type RbacPrincipalJson,
  TypeUrl,
} from "@waymark/envoy-proto";
import fc from "fast-check";
import type { AuthzProblem, BoundPolicy, TrustDomains } from "./contract.ts";
import {
  HTTP_RBAC_FILTER_NAMES,
  httpRbacFilters,
  NETWORK_RBAC_FILTER_NAMES,
  networkRbacFilters,
} from "./rbac.ts";

const TD: TrustDomains = { trustDomain: "cluster.local", aliases: [] };
const bp = (name: string, spec: unknown, dryRun = false, namespace = "foo"): BoundPolicy => ({
  namespace,
  name,
  spec,
  dryRun,
});

interface RbacFilterConfig {
  rules?: RbacConfigJson;
  shadowRules?: RbacConfigJson;
  shadowRulesStatPrefix?: string;
  statPrefix?: string;
  "@type"?: string;
}
const config = (f: HttpFilterJson | FilterJson) => f.typedConfig as unknown as RbacFilterConfig;

/** Strict proto3 JSON encoding: an unknown field or a wrong type throws. */
function encodeHttp(filters: readonly HttpFilterJson[]): void {
  const listener = {
    name: "l",
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typedConfig: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              statPrefix: "x",
              httpFilters: [...filters],
            },
          },
        ],
      },
    ],
  };
  assert.ok(encodeResource(TypeUrl.listener, "l", listener as unknown as JsonObject).length > 0);
}
function encodeNetwork(filters: readonly FilterJson[]): void {
  const listener = { name: "l", filterChains: [{ filters: [...filters] }] };
  assert.ok(encodeResource(TypeUrl.listener, "l", listener as unknown as JsonObject).length > 0);
}

/** Builds for both protocols, checks the encoding, and returns the HTTP and TCP results. */
function build(policies: BoundPolicy[], td = TD) {
  const http = httpRbacFilters(policies, td);
  const tcp = networkRbacFilters(policies, td);
  encodeHttp(http.filters);
  encodeNetwork(tcp.filters);
  return { http, tcp };
}

/** The single RBAC policy entry of a one-rule policy on HTTP. */
function entry(spec: unknown, protocol: "http" | "tcp" = "http"): RbacPolicyJson {
  const b = build([bp("p", spec)]);
  const filters = protocol === "http" ? b.http.filters : b.tcp.filters;
  assert.equal(filters.length, 1);
  const policies = config(filters[0]!).rules?.policies ?? {};
  const e = policies["ns[foo]-policy[p]-rule[0]"];
  assert.ok(e, `no rule[0] in ${JSON.stringify(policies)}`);
  return e;
}
/** The principal of a rule with one `from` entry holding one field (and_ids → or_ids). */
function principalOf(source: Record<string, unknown>): RbacPrincipalJson[] {
  const e = entry({ action: "DENY", rules: [{ from: [{ source }] }] });
  assert.equal(e.principals?.length, 1);
  const ids = e.principals![0]!.andIds?.ids ?? [];
  assert.equal(ids.length, 1);
  return ids[0]!.orIds?.ids ?? [];
}
function permissionOf(operation: Record<string, unknown>): RbacPermissionJson[] {
  const e = entry({ action: "DENY", rules: [{ to: [{ operation }] }] });
  assert.equal(e.permissions?.length, 1);
  const rules = e.permissions![0]!.andRules?.rules ?? [];
  assert.equal(rules.length, 1);
  return rules[0]!.orRules?.rules ?? [];
}
const peer = (stringMatch: unknown) => ({ filterState: { key: "io.istio.peer_principal", stringMatch } });

describe("filters per action", () => {
  it("makes no filter without policies", () => {
    const { http, tcp } = build([]);
    assert.deepEqual(http, { filters: [], problems: [] });
    assert.deepEqual(tcp, { filters: [], problems: [] });
  });

  it("orders AUDIT, DENY, ALLOW, one filter each, with LOG/DENY/ALLOW actions", () => {
    const all = [
      bp("allow", { rules: [{}] }),
      bp("deny", { action: "DENY", rules: [{}] }),
      bp("audit", { action: "AUDIT", rules: [{}] }),
      bp("allow2", { action: "ALLOW", rules: [{}] }),
    ];
    const { http, tcp } = build(all);
    assert.deepEqual(
      http.filters.map((f) => f.name),
      [HTTP_RBAC_FILTER_NAMES.LOG, HTTP_RBAC_FILTER_NAMES.DENY, HTTP_RBAC_FILTER_NAMES.ALLOW],
    );
    assert.deepEqual(
      tcp.filters.map((f) => f.name),
      [NETWORK_RBAC_FILTER_NAMES.LOG, NETWORK_RBAC_FILTER_NAMES.DENY, NETWORK_RBAC_FILTER_NAMES.ALLOW],
    );
    assert.deepEqual(
      http.filters.map((f) => config(f).rules?.action),
      ["LOG", "DENY", "ALLOW"],
    );
    assert.equal(
      config(http.filters[0]!)["@type"],
      "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
    );
    assert.equal(
      config(tcp.filters[0]!)["@type"],
      "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
    );
    for (const f of tcp.filters) assert.equal(config(f).statPrefix, "tcp.");
    for (const f of http.filters) assert.equal(config(f).statPrefix, undefined);
    assert.deepEqual(Object.keys(config(http.filters[2]!).rules?.policies ?? {}), [
      "ns[foo]-policy[allow]-rule[0]",
      "ns[foo]-policy[allow2]-rule[0]",
    ]);
  });

  it("names each rule ns[<ns>]-policy[<name>]-rule[<i>] and skips null rules", () => {
    const { http } = build([
      bp("p", { rules: [{}, null, { to: [{ operation: { methods: ["GET"] } }] }] }, false, "bar"),
    ]);
    assert.deepEqual(Object.keys(config(http.filters[0]!).rules?.policies ?? {}), [
      "ns[bar]-policy[p]-rule[0]",
      "ns[bar]-policy[p]-rule[2]",
    ]);
  });

  it("spec {} and rules [] never match (an ALLOW filter that denies all); rules [{}] match all", () => {
    const never = { permissions: [{ notRule: { any: true } }], principals: [{ notId: { any: true } }] };
    assert.deepEqual(entry({}), never);
    assert.deepEqual(entry({ rules: [] }), never);
    assert.deepEqual(entry({ action: "DENY", rules: [{}] }), {
      permissions: [{ any: true }],
      principals: [{ any: true }],
    });
    assert.deepEqual(entry({ rules: [{ from: [], to: [], when: [] }] }), {
      permissions: [{ any: true }],
      principals: [{ any: true }],
    });
  });

  it("dry run: ALLOW and DENY policies go to shadow_rules; a filter of only dry-run policies enforces nothing", () => {
    const { http, tcp } = build([
      bp("a", { rules: [{}] }, true),
      bp("d", { action: "DENY", rules: [{}] }, true),
      bp("d2", { action: "DENY", rules: [{}] }),
    ]);
    const [deny, allow] = http.filters.map(config);
    assert.equal(allow?.rules, undefined);
    assert.deepEqual(Object.keys(allow?.shadowRules?.policies ?? {}), ["ns[foo]-policy[a]-rule[0]"]);
    assert.equal(allow?.shadowRulesStatPrefix, "istio_dry_run_allow_");
    assert.deepEqual(Object.keys(deny?.rules?.policies ?? {}), ["ns[foo]-policy[d2]-rule[0]"]);
    assert.deepEqual(Object.keys(deny?.shadowRules?.policies ?? {}), ["ns[foo]-policy[d]-rule[0]"]);
    assert.equal(deny?.shadowRulesStatPrefix, "istio_dry_run_deny_");
    assert.equal(deny?.shadowRules?.action, "DENY");
    assert.equal(config(tcp.filters[1]!).shadowRulesStatPrefix, "istio_dry_run_allow_");
  });

  it("AUDIT and CUSTOM ignore dry run: AUDIT only logs, CUSTOM (no provider) always denies", () => {
    const { http } = build([
      bp("a", { action: "AUDIT", rules: [{}] }, true),
      bp("c", { action: "CUSTOM", rules: [{}] }, true),
    ]);
    assert.deepEqual(
      http.filters.map((f) => [f.name, Object.keys(config(f).rules?.policies ?? {})]),
      [
        [HTTP_RBAC_FILTER_NAMES.LOG, ["ns[foo]-policy[a]-rule[0]"]],
        [HTTP_RBAC_FILTER_NAMES.DENY, ["ns[foo]-policy[c]-rule[0]"]],
      ],
    );
  });

  it("CUSTOM denies what its rules match, with the DENY filter, and says so", () => {
    const { http, tcp } = build([
      bp("c", {
        action: "CUSTOM",
        provider: { name: "ext" },
        rules: [{ to: [{ operation: { paths: ["/admin"], ports: ["8080"] } }] }],
      }),
    ]);
    assert.equal(http.filters.length, 1);
    assert.equal(http.filters[0]!.name, HTTP_RBAC_FILTER_NAMES.DENY);
    assert.equal(config(http.filters[0]!).rules?.action, "DENY");
    assert.deepEqual(http.problems, [
      {
        policy: "foo/c",
        rule: -1,
        field: "provider.name",
        cause:
          'extension provider "ext" is not an ext_authz provider of the mesh config (WAYMARK_MESH_CONFIG extensionProviders: none)',
        effect: "denies",
      },
    ]);
    // On TCP, as with DENY, the HTTP-only path is dropped: the rule denies the whole port.
    const ports = config(tcp.filters[0]!).rules?.policies?.["ns[foo]-policy[c]-rule[0]"];
    assert.deepEqual(ports?.permissions, [
      { andRules: { rules: [{ orRules: { rules: [{ destinationPort: 8080 }] } }] } },
    ]);
    assert.deepEqual(
      tcp.problems.map((p) => [p.field, p.effect]),
      [
        ["provider.name", "denies"],
        ["rules[0].to[0].operation.paths", "condition-ignored"],
      ],
    );
  });
});

describe("from.source", () => {
  it("principals: spiffe:// on the peer identity filter state, with Istio's wildcards", () => {
    assert.deepEqual(principalOf({ principals: ["cluster.local/ns/a/sa/b", "*", "*/sa/b", "spiffe-x*"] }), [
      peer({ exact: "spiffe://cluster.local/ns/a/sa/b" }),
      peer({ safeRegex: { regex: ".+" } }),
      peer({ safeRegex: { regex: "spiffe://.*/sa/b" } }),
      peer({ prefix: "spiffe://spiffe-x" }),
    ]);
    // A suffix is literal: its regex metacharacters are escaped.
    assert.deepEqual(principalOf({ principals: ["*.local/ns/a+b/sa/c"] }), [
      peer({ safeRegex: { regex: "spiffe://.*\\.local/ns/a\\+b/sa/c" } }),
    ]);
  });

  it("notPrincipals (and every not* field) is not_id of the same OR, ANDed with the positive one", () => {
    const e = entry({
      action: "DENY",
      rules: [{ from: [{ source: { principals: ["*"], notPrincipals: ["cluster.local/ns/a/sa/b"] } }] }],
    });
    assert.deepEqual(e.principals, [
      {
        andIds: {
          ids: [
            { orIds: { ids: [peer({ safeRegex: { regex: ".+" } })] } },
            { notId: { orIds: { ids: [peer({ exact: "spiffe://cluster.local/ns/a/sa/b" })] } } },
          ],
        },
      },
    ]);
  });

  it("namespaces: a regex on the identity, each * a .*", () => {
    assert.deepEqual(principalOf({ namespaces: ["foo", "team-*", "a.b"] }), [
      peer({ safeRegex: { regex: ".*/ns/foo/.*" } }),
      peer({ safeRegex: { regex: ".*/ns/team-.*/.*" } }),
      peer({ safeRegex: { regex: ".*/ns/a\\.b/.*" } }),
    ]);
  });

  it("serviceAccounts: ns/sa or sa in the policy's namespace", () => {
    assert.deepEqual(principalOf({ serviceAccounts: ["bar/sleep", "curl"] }), [
      peer({ safeRegex: { regex: "spiffe://.+/ns/bar/(.+/|)sa/sleep(/.+)?" } }),
      peer({ safeRegex: { regex: "spiffe://.+/ns/foo/(.+/|)sa/curl(/.+)?" } }),
    ]);
  });

  it("trustDomains: * any SPIFFE id, a name its prefix, a wildcard [^/]* inside the trust domain", () => {
    assert.deepEqual(principalOf({ trustDomains: ["*", "example.com", "*.corp", "td-*"] }), [
      peer({ prefix: "spiffe://" }),
      peer({ prefix: "spiffe://example.com/" }),
      peer({ safeRegex: { regex: "spiffe://[^/]*\\.corp/.*" } }),
      peer({ safeRegex: { regex: "spiffe://td-[^/]*/.*" } }),
    ]);
  });

  it("ipBlocks → source_ip (the PROXY source), remoteIpBlocks → remote_ip; a bare address is a /32 or /128", () => {
    assert.deepEqual(principalOf({ ipBlocks: ["10.0.0.0/8", "10.1.2.3", "fd00::/8", "::1"] }), [
      { sourceIp: { addressPrefix: "10.0.0.0", prefixLen: 8 } },
      { sourceIp: { addressPrefix: "10.1.2.3", prefixLen: 32 } },
      { sourceIp: { addressPrefix: "fd00::", prefixLen: 8 } },
      { sourceIp: { addressPrefix: "::1", prefixLen: 128 } },
    ]);
    assert.deepEqual(principalOf({ remoteIpBlocks: ["1.2.3.4/32"] }), [
      { remoteIp: { addressPrefix: "1.2.3.4", prefixLen: 32 } },
    ]);
  });

  it("requestPrincipals: iss and sub of the JWT payload, split at the last /", () => {
    const m = (iss: unknown, sub: unknown) => ({
      andIds: {
        ids: [
          {
            metadata: {
              filter: "envoy.filters.http.jwt_authn",
              path: [{ key: "payload" }, { key: "iss" }],
              value: { stringMatch: iss },
            },
          },
          {
            metadata: {
              filter: "envoy.filters.http.jwt_authn",
              path: [{ key: "payload" }, { key: "sub" }],
              value: { stringMatch: sub },
            },
          },
        ],
      },
    });
    const any = { safeRegex: { regex: ".+" } };
    const cases: [string, unknown][] = [
      ["https://issuer.example/alice", m({ exact: "https://issuer.example" }, { exact: "alice" })],
      ["*", m(any, any)],
      ["*/alice", m(any, { exact: "alice" })],
      ["*.example/alice", m({ suffix: ".example" }, { exact: "alice" })],
      ["*bob", m(any, { suffix: "bob" })],
      ["iss/*", m({ exact: "iss" }, any)],
      ["iss/al*", m({ exact: "iss" }, { prefix: "al" })],
      ["iss*", m({ prefix: "iss" }, any)],
      // The last / of https://issuer* is in the scheme.
      ["https://issuer*", m({ exact: "https:/" }, { prefix: "issuer" })],
    ];
    for (const [v, want] of cases) assert.deepEqual(principalOf({ requestPrincipals: [v] }), [want], v);
  });
});

describe("to.operation", () => {
  it("hosts: :authority ignoring case; * is presence", () => {
    assert.deepEqual(permissionOf({ hosts: ["httpbin:8000", "*.example.com", "api.*", "*"] }), [
      { header: { name: ":authority", stringMatch: { exact: "httpbin:8000", ignoreCase: true } } },
      { header: { name: ":authority", stringMatch: { suffix: ".example.com", ignoreCase: true } } },
      { header: { name: ":authority", stringMatch: { prefix: "api.", ignoreCase: true } } },
      { header: { name: ":authority", presentMatch: true } },
    ]);
  });

  it("methods: :method, case-sensitive", () => {
    assert.deepEqual(permissionOf({ methods: ["GET", "P*"] }), [
      { header: { name: ":method", stringMatch: { exact: "GET" } } },
      { header: { name: ":method", stringMatch: { prefix: "P" } } },
    ]);
  });

  it("paths: url_path string forms; a * in the middle is literal", () => {
    assert.deepEqual(permissionOf({ paths: ["/admin", "/api/*", "*.png", "*", "/a*b"] }), [
      { urlPath: { path: { exact: "/admin" } } },
      { urlPath: { path: { prefix: "/api/" } } },
      { urlPath: { path: { suffix: ".png" } } },
      { urlPath: { path: { safeRegex: { regex: ".+" } } } },
      { urlPath: { path: { exact: "/a*b" } } },
    ]);
  });

  it("paths with {*} and {**} → uri_template", () => {
    const t = (pathTemplate: string) => ({
      uriTemplate: {
        name: "envoy.path.match.uri_template.uri_template_matcher",
        typedConfig: {
          "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig",
          pathTemplate,
        },
      },
    });
    assert.deepEqual(permissionOf({ paths: ["/api/{*}/items", "/files/{**}", "/{*}/x/{**}"] }), [
      t("/api/*/items"),
      t("/files/**"),
      t("/*/x/**"),
    ]);
  });

  it("ports → destination_port", () => {
    assert.deepEqual(permissionOf({ ports: ["8000", "0", "65535"] }), [
      { destinationPort: 8000 },
      { destinationPort: 0 },
      { destinationPort: 65535 },
    ]);
  });

  it("each to entry is one permission, each from entry one principal", () => {
    const e = entry({
      rules: [
        {
          from: [{ source: { namespaces: ["a"] } }, { source: { namespaces: ["b"] } }],
          to: [{ operation: { methods: ["GET"] } }, { operation: { ports: ["80"] } }, {}],
        },
      ],
    });
    assert.equal(e.principals?.length, 2);
    assert.equal(e.permissions?.length, 3);
    assert.deepEqual(e.permissions?.[2], { any: true });
  });
});

describe("when", () => {
  /** The principal-side and permission-side matchers a single condition adds. */
  function cond(key: string, values: string[], notValues?: string[]) {
    const c: Record<string, unknown> = { key, values };
    if (notValues) c["notValues"] = notValues;
    const e = entry({ action: "DENY", rules: [{ when: [c] }] });
    const principal = e.principals?.[0]?.andIds?.ids ?? [];
    const permission = e.permissions?.[0]?.andRules?.rules ?? [];
    return { principal, permission };
  }
  const jwt =
    (...path: string[]) =>
    (v: unknown) => ({
      metadata: {
        filter: "envoy.filters.http.jwt_authn",
        path: ["payload", ...path].map((key) => ({ key })),
        value: {
          orMatch: { valueMatchers: [{ listMatch: { oneOf: { stringMatch: v } } }, { stringMatch: v }] },
        },
      },
    });

  it("source-side keys become principals", () => {
    const cases: [string, string, unknown][] = [
      ["request.headers[x-tier]", "gold", { header: { name: "x-tier", stringMatch: { exact: "gold" } } }],
      ["request.headers[x-tier]", "*", { header: { name: "x-tier", presentMatch: true } }],
      ["source.ip", "10.0.0.1", { sourceIp: { addressPrefix: "10.0.0.1", prefixLen: 32 } }],
      ["remote.ip", "1.2.3.0/24", { remoteIp: { addressPrefix: "1.2.3.0", prefixLen: 24 } }],
      ["source.namespace", "foo", peer({ safeRegex: { regex: ".*/ns/foo/.*" } })],
      ["source.principal", "cluster.local/ns/a/sa/b", peer({ exact: "spiffe://cluster.local/ns/a/sa/b" })],
      ["source.serviceAccount", "a/b", peer({ safeRegex: { regex: "spiffe://.+/ns/a/(.+/|)sa/b(/.+)?" } })],
      ["source.trustDomain", "cluster.local", peer({ prefix: "spiffe://cluster.local/" })],
      ["request.auth.audiences", "api", jwt("aud")({ exact: "api" })],
      ["request.auth.presenter", "web*", jwt("azp")({ prefix: "web" })],
      ["request.auth.claims[groups]", "admin", jwt("groups")({ exact: "admin" })],
      ["request.auth.claims[nested][key]", "*", jwt("nested", "key")({ safeRegex: { regex: ".+" } })],
    ];
    for (const [key, v, want] of cases) {
      const { principal, permission } = cond(key, [v]);
      assert.deepEqual(principal, [{ orIds: { ids: [want] } }], key);
      assert.deepEqual(permission, [], key);
    }
    const rp = cond("request.auth.principal", ["iss/sub"]).principal;
    assert.equal(rp.length, 1);
    assert.equal(rp[0]?.orIds?.ids?.[0]?.andIds?.ids?.length, 2);
  });

  it("destination-side keys become permissions", () => {
    const cases: [string, string, unknown][] = [
      ["destination.ip", "10.96.0.0/16", { destinationIp: { addressPrefix: "10.96.0.0", prefixLen: 16 } }],
      ["destination.port", "8080", { destinationPort: 8080 }],
      ["connection.sni", "*.example.com", { requestedServerName: { suffix: ".example.com" } }],
    ];
    for (const [key, v, want] of cases) {
      const { principal, permission } = cond(key, [v]);
      assert.deepEqual(permission, [{ orRules: { rules: [want] } }], key);
      assert.deepEqual(principal, [], key);
    }
  });

  it("notValues is not_id of the OR; values and notValues together are ANDed", () => {
    const { principal } = cond("request.headers[x]", ["a"], ["b", "c"]);
    assert.deepEqual(principal, [
      { orIds: { ids: [{ header: { name: "x", stringMatch: { exact: "a" } } }] } },
      {
        notId: {
          orIds: {
            ids: [
              { header: { name: "x", stringMatch: { exact: "b" } } },
              { header: { name: "x", stringMatch: { exact: "c" } } },
            ],
          },
        },
      },
    ]);
  });

  it("conditions are appended to every principal and every permission", () => {
    const e = entry({
      rules: [
        {
          from: [{ source: { namespaces: ["a"] } }, { source: { namespaces: ["b"] } }],
          to: [{ operation: { methods: ["GET"] } }, { operation: { methods: ["POST"] } }],
          when: [
            { key: "source.ip", values: ["10.0.0.1"] },
            { key: "destination.port", values: ["80"] },
          ],
        },
      ],
    });
    for (const p of e.principals ?? []) {
      assert.deepEqual(p.andIds?.ids?.at(-1), {
        orIds: { ids: [{ sourceIp: { addressPrefix: "10.0.0.1", prefixLen: 32 } }] },
      });
    }
    for (const p of e.permissions ?? []) {
      assert.deepEqual(p.andRules?.rules?.at(-1), { orRules: { rules: [{ destinationPort: 80 }] } });
    }
  });
});

describe("trust-domain aliases", () => {
  const td: TrustDomains = { trustDomain: "new.td", aliases: ["old.td"] };
  const principalsWith = (values: string[], domains = td) => {
    const { http } = build(
      [bp("p", { action: "DENY", rules: [{ from: [{ source: { principals: values } }] }] })],
      domains,
    );
    const e = config(http.filters[0]!).rules?.policies?.["ns[foo]-policy[p]-rule[0]"];
    return e?.principals?.[0]?.andIds?.ids?.[0]?.orIds?.ids?.map((id) => id.filterState?.stringMatch);
  };

  it("cluster.local and every member of the bundle stand for all of its members", () => {
    const both = [{ exact: "spiffe://new.td/ns/a/sa/b" }, { exact: "spiffe://old.td/ns/a/sa/b" }];
    assert.deepEqual(principalsWith(["cluster.local/ns/a/sa/b"]), both);
    assert.deepEqual(principalsWith(["old.td/ns/a/sa/b"]), both);
    assert.deepEqual(principalsWith(["new.td/ns/a/sa/b"]), both);
  });

  it("a foreign trust domain, a * trust domain, and other shapes are kept as written", () => {
    assert.deepEqual(principalsWith(["other.td/ns/a/sa/b"]), [{ exact: "spiffe://other.td/ns/a/sa/b" }]);
    assert.deepEqual(principalsWith(["*/ns/a/sa/b"]), [{ safeRegex: { regex: "spiffe://.*/ns/a/sa/b" } }]);
    assert.deepEqual(principalsWith(["cluster.local/ns/a"]), [{ exact: "spiffe://cluster.local/ns/a" }]);
  });

  it("without aliases, cluster.local means the mesh trust domain", () => {
    assert.deepEqual(principalsWith(["cluster.local/ns/a/sa/b"], { trustDomain: "mesh.td", aliases: [] }), [
      { exact: "spiffe://mesh.td/ns/a/sa/b" },
    ]);
  });

  it("a trustDomains value in the bundle covers the whole bundle", () => {
    const { http } = build(
      [bp("p", { action: "DENY", rules: [{ from: [{ source: { trustDomains: ["old.td"] } }] }] })],
      td,
    );
    const e = config(http.filters[0]!).rules?.policies?.["ns[foo]-policy[p]-rule[0]"];
    assert.deepEqual(e?.principals?.[0]?.andIds?.ids?.[0]?.orIds?.ids, [
      peer({ prefix: "spiffe://new.td/" }),
      peer({ prefix: "spiffe://old.td/" }),
    ]);
  });
});

describe("failing closed (§7)", () => {
  const policiesOf = (f: HttpFilterJson | FilterJson | undefined) =>
    f ? (config(f).rules?.policies ?? {}) : {};

  it("ALLOW with an HTTP-only field on TCP: the rule is dropped, the ALLOW filter stays (denies all)", () => {
    const { http, tcp } = build([bp("p", { rules: [{ to: [{ operation: { methods: ["GET"] } }] }] })]);
    assert.equal(Object.keys(policiesOf(http.filters[0])).length, 1);
    assert.equal(tcp.filters.length, 1);
    assert.equal(tcp.filters[0]!.name, NETWORK_RBAC_FILTER_NAMES.ALLOW);
    assert.equal(config(tcp.filters[0]!).rules?.action, "ALLOW");
    assert.deepEqual(policiesOf(tcp.filters[0]), {});
    assert.deepEqual(http.problems, []);
    assert.deepEqual(tcp.problems, [
      {
        policy: "foo/p",
        rule: 0,
        field: "rules[0].to[0].operation.methods",
        cause: "HTTP only, the chain is TCP",
        effect: "rule-ignored",
      },
    ]);
  });

  it("ALLOW on TCP keeps the rules that are fine", () => {
    const { tcp } = build([
      bp("p", {
        rules: [
          { when: [{ key: "request.auth.claims[g]", values: ["x"] }] },
          { to: [{ operation: { ports: ["9000"] } }] },
          { from: [{ source: { notRequestPrincipals: ["*"] } }] },
        ],
      }),
    ]);
    assert.deepEqual(Object.keys(policiesOf(tcp.filters[0])), ["ns[foo]-policy[p]-rule[1]"]);
    assert.deepEqual(
      tcp.problems.map((p) => [p.rule, p.field, p.effect]),
      [
        [0, "rules[0].when[0] (request.auth.claims[g])", "rule-ignored"],
        [2, "rules[2].from[0].source.notRequestPrincipals", "rule-ignored"],
      ],
    );
  });

  it("DENY with an HTTP-only field on TCP: only that condition is dropped (it matches more)", () => {
    const spec = {
      action: "DENY",
      rules: [
        {
          to: [{ operation: { methods: ["GET"], ports: ["8080"] } }],
          when: [{ key: "request.headers[x]", values: ["y"] }],
        },
      ],
    };
    const e = entry(spec, "tcp");
    assert.deepEqual(e, {
      permissions: [{ andRules: { rules: [{ orRules: { rules: [{ destinationPort: 8080 }] } }] } }],
      principals: [{ any: true }],
    });
    const { tcp } = build([bp("p", spec)]);
    assert.deepEqual(
      tcp.problems.map((p) => [p.field, p.effect]),
      [
        ["rules[0].to[0].operation.methods", "condition-ignored"],
        ["rules[0].when[0] (request.headers[x])", "condition-ignored"],
      ],
    );
    // A DENY whose only condition is HTTP-only denies the whole TCP port.
    assert.deepEqual(
      entry({ action: "DENY", rules: [{ to: [{ operation: { methods: ["GET"] } }] }] }, "tcp"),
      {
        permissions: [{ any: true }],
        principals: [{ any: true }],
      },
    );
  });

  it("AUDIT drops the condition like DENY", () => {
    const { tcp } = build([
      bp("p", { action: "AUDIT", rules: [{ to: [{ operation: { paths: ["/x"] } }] }] }),
    ]);
    assert.deepEqual(
      tcp.problems.map((p) => p.effect),
      ["condition-ignored"],
    );
    assert.deepEqual(Object.keys(policiesOf(tcp.filters[0])), ["ns[foo]-policy[p]-rule[0]"]);
  });

  it("an unknown when key, experimental.envoy.filters.*, and a malformed key are problems; DENY keeps the rest", () => {
    const when = [
      { key: "request.foo", values: ["x"] },
      { key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"] },
      { key: "request.headers", values: ["x"] },
      { key: "request.headers[]", values: ["x"] },
      { key: "source.ip", values: ["10.0.0.1"] },
    ];
    const d = entry({ action: "DENY", rules: [{ when }] });
    assert.deepEqual(d.principals, [
      { andIds: { ids: [{ orIds: { ids: [{ sourceIp: { addressPrefix: "10.0.0.1", prefixLen: 32 } }] } }] } },
    ]);
    const { http } = build([bp("p", { action: "DENY", rules: [{ when }] }), bp("q", { rules: [{ when }] })]);
    assert.deepEqual(
      http.problems.map((p) => [p.policy, p.field, p.effect]),
      [
        ["foo/p", "rules[0].when[0] (request.foo)", "condition-ignored"],
        [
          "foo/p",
          "rules[0].when[1] (experimental.envoy.filters.network.mysql_proxy[db.table])",
          "condition-ignored",
        ],
        ["foo/p", "rules[0].when[2] (request.headers)", "condition-ignored"],
        ["foo/p", "rules[0].when[3] (request.headers[])", "condition-ignored"],
        ["foo/q", "rules[0].when[0] (request.foo)", "rule-ignored"],
        [
          "foo/q",
          "rules[0].when[1] (experimental.envoy.filters.network.mysql_proxy[db.table])",
          "rule-ignored",
        ],
        ["foo/q", "rules[0].when[2] (request.headers)", "rule-ignored"],
        ["foo/q", "rules[0].when[3] (request.headers[])", "rule-ignored"],
      ],
    );
    assert.deepEqual(policiesOf(http.filters[1]), {});
  });

  it("an unknown when key is a problem even without values", () => {
    const { http } = build([bp("q", { rules: [{ when: [{ key: "request.foo" }] }] })]);
    assert.deepEqual(
      http.problems.map((p) => p.field),
      ["rules[0].when[0] (request.foo)"],
    );
    assert.deepEqual(policiesOf(http.filters[0]), {});
  });

  it("invalid values: the whole values list is dropped in DENY, the rule in ALLOW", () => {
    const bad: [string, Record<string, unknown>, string][] = [
      ["ipBlocks", { ipBlocks: ["10.0.0.0/8", "10.0.0.0/33"] }, "not an IP address or CIDR: 10.0.0.0/33"],
      ["ipBlocks", { ipBlocks: ["010.0.0.1"] }, "not an IP address or CIDR: 010.0.0.1"],
      ["remoteIpBlocks", { remoteIpBlocks: ["fe80::1%eth0"] }, "not an IP address or CIDR: fe80::1%eth0"],
      ["principals", { principals: [""] }, "empty value"],
      ["serviceAccounts", { serviceAccounts: ["ns/*"] }, "a service account has no wildcards: ns/*"],
      ["serviceAccounts", { serviceAccounts: ["a/b/c"] }, "not <namespace>/<name> or <name>: a/b/c"],
      ["trustDomains", { trustDomains: ["a*b*"] }, "only one * at the start or end is allowed: a*b*"],
      ["trustDomains", { trustDomains: ["a/b"] }, "a trust domain has no /: a/b"],
      ["principals", { principals: [7] }, "not a string: 7"],
      ["principals", { principals: "cluster.local/ns/a/sa/b" }, "not a list"],
    ];
    for (const [field, source, cause] of bad) {
      const d = entry({ action: "DENY", rules: [{ from: [{ source: { ...source, namespaces: ["ok"] } }] }] });
      assert.deepEqual(d.principals, [
        { andIds: { ids: [{ orIds: { ids: [peer({ safeRegex: { regex: ".*/ns/ok/.*" } })] } }] } },
      ]);
      const { http } = build([bp("p", { rules: [{ from: [{ source }] }] })]);
      assert.deepEqual(policiesOf(http.filters[0]), {}, field);
      assert.deepEqual(http.problems, [
        {
          policy: "foo/p",
          rule: 0,
          field: `rules[0].from[0].source.${field}`,
          cause,
          effect: "rule-ignored",
        },
      ]);
    }
    const ops: [string, Record<string, unknown>][] = [
      ["ports", { ports: ["65536"] }],
      ["ports", { ports: ["-1"] }],
      ["ports", { ports: ["http"] }],
      ["paths", { paths: [""] }],
      ["paths", { paths: ["/a/{x}"] }],
      ["paths", { paths: ["/a/{**}/{*}"] }],
      ["notPaths", { notPaths: ["/a/{**}/{**}"] }],
      ["hosts", { hosts: [""] }],
    ];
    for (const [field, operation] of ops) {
      const { http } = build([bp("p", { rules: [{ to: [{ operation }] }] })]);
      assert.deepEqual(policiesOf(http.filters[0]), {}, field);
      assert.deepEqual(
        http.problems.map((p) => p.field),
        [`rules[0].to[0].operation.${field}`],
      );
    }
  });

  it("path templates Envoy would refuse (or crash on) are invalid, though istiod admits some of them", () => {
    for (const p of ["/a=b/{*}", "a/{*}", "/a//{*}", "//{*}", "/{*}//", "/a/b*c/{*}", "/a/{*}x"]) {
      const { http } = build([bp("p", { rules: [{ to: [{ operation: { paths: [p] } }] }] })]);
      assert.deepEqual(policiesOf(http.filters[0]), {}, p);
      assert.equal(http.problems.length, 1, p);
      assert.equal(http.problems[0]?.effect, "rule-ignored", p);
    }
    // Allowed: trailing slash, pchar literals, {**} as the last operator followed by literals.
    for (const p of ["/a/{*}/", "/a;b,c@:/{**}", "/{**}/x", "/%20/{*}"]) {
      const { http } = build([bp("p", { rules: [{ to: [{ operation: { paths: [p] } }] }] })]);
      assert.deepEqual(http.problems, [], p);
    }
  });

  it("a regex past Envoy's RE2 program size limit is an invalid value", () => {
    const long = `*${"a".repeat(5000)}`;
    const { http } = build([bp("p", { rules: [{ from: [{ source: { principals: [long] } }] }] })]);
    assert.deepEqual(policiesOf(http.filters[0]), {});
    assert.match(http.problems[0]?.cause ?? "", /RE2 program size/);
  });

  it("a spec that is not an object is an ALLOW that allows nothing", () => {
    for (const spec of [null, "x", 3, []]) {
      const { http, tcp } = build([bp("p", spec)]);
      assert.equal(http.filters.length, 1);
      assert.equal(http.filters[0]!.name, HTTP_RBAC_FILTER_NAMES.ALLOW);
      assert.deepEqual(policiesOf(http.filters[0]), {});
      assert.equal(tcp.filters.length, 1);
      assert.deepEqual<AuthzProblem[]>(http.problems, [
        { policy: "foo/p", rule: -1, field: "spec", cause: "not an object", effect: "rule-ignored" },
      ]);
    }
  });

  it("an unknown action is read as DENY", () => {
    const { http } = build([bp("p", { action: "deny", rules: [{}] })]);
    assert.equal(http.filters[0]!.name, HTTP_RBAC_FILTER_NAMES.DENY);
    assert.deepEqual(
      http.problems.map((p) => [p.field, p.effect]),
      [["action", "condition-ignored"]],
    );
  });

  it("rules that are not a list: ALLOW allows nothing, DENY denies all", () => {
    const a = build([bp("p", { rules: { x: 1 } })]).http;
    assert.deepEqual(policiesOf(a.filters[0]), {});
    assert.equal(a.problems[0]?.effect, "rule-ignored");
    const d = build([bp("p", { action: "DENY", rules: "all" })]).http;
    assert.deepEqual(policiesOf(d.filters[0]), {
      "ns[foo]-policy[p]-rule[0]": { permissions: [{ any: true }], principals: [{ any: true }] },
    });
    assert.equal(d.problems[0]?.effect, "condition-ignored");
  });

  it("malformed rule parts: ALLOW drops the rule, DENY reads them as matching anything", () => {
    const shapes = [
      "rule",
      { from: "x" },
      { from: [7] },
      { from: [{ source: "x" }] },
      { to: {} },
      { to: [{ operation: [] }] },
      { when: {} },
      { when: [{ values: ["x"] }] },
      { when: [{ key: "source.ip", values: "10.0.0.1" }] },
    ];
    for (const rule of shapes) {
      const a = build([bp("p", { rules: [rule] })]).http;
      assert.deepEqual(policiesOf(a.filters[0]), {}, JSON.stringify(rule));
      assert.equal(a.problems.length, 1, JSON.stringify(rule));
      const d = build([bp("p", { action: "DENY", rules: [rule] })]).http;
      assert.deepEqual(
        policiesOf(d.filters[0]),
        { "ns[foo]-policy[p]-rule[0]": { permissions: [{ any: true }], principals: [{ any: true }] } },
        JSON.stringify(rule),
      );
    }
  });

  it("never throws, always encodes, and on TCP never allows more than on HTTP (random raw specs)", () => {
    const str = fc.constantFrom(
      "*",
      "GET",
      "/a/{*}",
      "/a/{**}/{*}",
      "10.0.0.0/8",
      "10.0.0.0/99",
      "8080",
      "x",
      "",
      "cluster.local/ns/a/sa/b",
      "iss/sub",
      "a*b*",
    );
    const values = fc.oneof(fc.array(str, { maxLength: 3 }), fc.anything());
    const source = fc.dictionary(
      fc.constantFrom(
        "principals",
        "notNamespaces",
        "ipBlocks",
        "requestPrincipals",
        "trustDomains",
        "serviceAccounts",
      ),
      values,
    );
    const operation = fc.dictionary(
      fc.constantFrom("hosts", "ports", "methods", "notPaths", "paths"),
      values,
    );
    const key = fc.constantFrom(
      "source.ip",
      "request.headers[x]",
      "request.auth.claims[a][b]",
      "destination.port",
      "nope",
      "connection.sni",
    );
    const rule = fc.oneof(
      fc.record(
        {
          from: fc.oneof(fc.array(fc.record({ source }, { requiredKeys: [] })), fc.anything()),
          to: fc.array(fc.record({ operation }, { requiredKeys: [] })),
          when: fc.array(fc.record({ key, values, notValues: values }, { requiredKeys: ["key"] })),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    const spec = fc.oneof(
      fc.record(
        {
          action: fc.constantFrom("ALLOW", "DENY", "AUDIT", "CUSTOM", "bogus", undefined),
          rules: fc.oneof(fc.array(rule, { maxLength: 3 }), fc.anything()),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(spec, fc.boolean()), { maxLength: 4 }), (specs) => {
        const policies = specs.map(([s, dry], i) => bp(`p${i}`, s, dry));
        const { http, tcp } = build(policies);
        // Each ALLOW rule a TCP chain keeps is one the HTTP chain keeps too, with the same
        // non-HTTP matchers (the TCP rule is never a superset: no HTTP-only field was dropped).
        const allowHttp = http.filters.find((f) => f.name === HTTP_RBAC_FILTER_NAMES.ALLOW);
        const allowTcp = tcp.filters.find((f) => f.name === NETWORK_RBAC_FILTER_NAMES.ALLOW);
        assert.equal(allowHttp === undefined, allowTcp === undefined);
        for (const [name, p] of Object.entries(policiesOf(allowTcp))) {
          assert.deepEqual(policiesOf(allowHttp)[name], p);
        }
        // Every DENY policy of the HTTP chain has a counterpart on the TCP chain.
        const denyHttp = http.filters.find((f) => f.name === HTTP_RBAC_FILTER_NAMES.DENY);
        const denyTcp = tcp.filters.find((f) => f.name === NETWORK_RBAC_FILTER_NAMES.DENY);
        for (const name of Object.keys(policiesOf(denyHttp))) assert.ok(policiesOf(denyTcp)[name], name);
      }),
      { numRuns: 300 },
    );
  });
});
