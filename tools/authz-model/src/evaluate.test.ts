import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { evaluate, problems } from "./evaluate.ts";
import type { AuthorizationPolicy, AuthorizationPolicySpec, EvaluateOptions, Request } from "./types.ts";

let n = 0;
const policy = (spec: AuthorizationPolicySpec, namespace = "foo", annotations?: Record<string, string>) => {
  const p: AuthorizationPolicy = { metadata: { name: `p${n++}`, namespace }, spec };
  if (annotations) p.metadata.annotations = annotations;
  return p;
};
const http = (r: Partial<Request> = {}): Request => ({
  protocol: "http",
  peerPrincipal: "spiffe://cluster.local/ns/default/sa/sleep",
  sourceIp: "10.0.0.1",
  destinationIp: "10.96.0.10",
  destinationPort: 8000,
  method: "GET",
  path: "/",
  host: "httpbin.foo:8000",
  ...r,
});
const tcp = (r: Partial<Request> = {}): Request => ({
  protocol: "tcp",
  peerPrincipal: "spiffe://cluster.local/ns/default/sa/sleep",
  sourceIp: "10.0.0.1",
  destinationIp: "10.96.0.10",
  destinationPort: 9000,
  ...r,
});
const decide = (ps: AuthorizationPolicy[], r: Request, o?: EvaluateOptions) => evaluate(ps, r, o).decision;

describe("istio.io examples", () => {
  // https://istio.io/latest/docs/reference/config/security/authorization-policy/ (introduction):
  // allow from principal sleep or namespace test, GET at /info* or POST at /data, when the JWT's
  // issuer is accounts.google.com.
  const httpbin = policy({
    action: "ALLOW",
    rules: [
      {
        from: [
          { source: { principals: ["cluster.local/ns/default/sa/sleep"] } },
          { source: { namespaces: ["test"] } },
        ],
        to: [
          { operation: { methods: ["GET"], paths: ["/info*"] } },
          { operation: { methods: ["POST"], paths: ["/data"] } },
        ],
        when: [{ key: "request.auth.claims[iss]", values: ["https://accounts.google.com"] }],
      },
    ],
  });
  const google = { iss: "https://accounts.google.com", sub: "u1" };
  it("the reference page's first ALLOW example", () => {
    assert.equal(decide([httpbin], http({ path: "/info/x", jwt: google })), "allow");
    assert.equal(decide([httpbin], http({ method: "POST", path: "/data", jwt: google })), "allow");
    assert.equal(
      decide(
        [httpbin],
        http({ peerPrincipal: "spiffe://cluster.local/ns/test/sa/any", path: "/info", jwt: google }),
      ),
      "allow",
    );
    assert.equal(decide([httpbin], http({ method: "POST", path: "/info", jwt: google })), "deny");
    assert.equal(decide([httpbin], http({ path: "/info" })), "deny", "no JWT: the when condition fails");
    assert.equal(
      decide(
        [httpbin],
        http({ peerPrincipal: "spiffe://cluster.local/ns/dev/sa/sleep", path: "/info", jwt: google }),
      ),
      "deny",
    );
  });

  // Same page: a DENY policy denying POST from the dev namespace.
  it("the reference page's DENY example", () => {
    const deny = policy({
      action: "DENY",
      rules: [{ from: [{ source: { namespaces: ["dev"] } }], to: [{ operation: { methods: ["POST"] } }] }],
    });
    assert.equal(
      decide([deny], http({ method: "POST", peerPrincipal: "spiffe://cluster.local/ns/dev/sa/x" })),
      "deny",
    );
    assert.equal(
      decide([deny], http({ method: "GET", peerPrincipal: "spiffe://cluster.local/ns/dev/sa/x" })),
      "allow",
    );
    assert.equal(decide([deny], http({ method: "POST" })), "allow");
  });

  // Same page: allow-nothing (`spec: {}`), deny-all (`DENY` with `rules: [{}]`), allow-all (`rules: [{}]`).
  it("allow-nothing, deny-all and allow-all", () => {
    const allowNothing = policy({});
    const denyAll = policy({ action: "DENY", rules: [{}] });
    const allowAll = policy({ rules: [{}] });
    assert.deepEqual(evaluate([allowNothing], http()), {
      decision: "deny",
      reason: "no-allow-match",
      audited: false,
    });
    assert.equal(decide([allowNothing], tcp()), "deny");
    assert.equal(decide([denyAll], http()), "deny");
    assert.equal(decide([allowAll], http()), "allow");
    assert.equal(decide([allowAll, allowNothing], http()), "allow", "ALLOW policies are ORed");
    assert.equal(decide([allowAll, denyAll], http()), "deny", "DENY wins over ALLOW");
    assert.equal(decide([policy({ rules: [] })], http()), "deny", "`rules: []` is `spec: {}`");
  });

  // Same page, Source.notRequestPrincipals: deny requests without a request principal.
  it("requiring a JWT with notRequestPrincipals: ['*']", () => {
    const requireJwt = policy({
      action: "DENY",
      rules: [{ from: [{ source: { notRequestPrincipals: ["*"] } }] }],
    });
    assert.equal(decide([requireJwt], http()), "deny");
    assert.equal(
      decide([requireJwt], http({ jwt: { iss: "https://issuer.example", sub: "alice" } })),
      "allow",
    );
  });

  // https://istio.io/latest/docs/reference/config/security/conditions/ (the examples column):
  // request.headers[User-Agent] in ["Mozilla/*"], source.ip in ["10.1.2.3", "10.2.0.0/16"],
  // request.auth.claims[iss] in ["*@foo.com"].
  it("the conditions page's examples", () => {
    const ua = policy({ rules: [{ when: [{ key: "request.headers[User-Agent]", values: ["Mozilla/*"] }] }] });
    assert.equal(decide([ua], http({ headers: { "user-agent": "Mozilla/5.0" } })), "allow");
    assert.equal(decide([ua], http({ headers: { "user-agent": "curl/8" } })), "deny");
    const ip = policy({ rules: [{ when: [{ key: "source.ip", values: ["10.1.2.3", "10.2.0.0/16"] }] }] });
    assert.equal(decide([ip], http({ sourceIp: "10.2.9.9" })), "allow");
    assert.equal(decide([ip], http({ sourceIp: "10.1.2.4" })), "deny");
    const iss = policy({ rules: [{ when: [{ key: "request.auth.claims[iss]", values: ["*@foo.com"] }] }] });
    assert.equal(decide([iss], http({ jwt: { iss: "me@foo.com", sub: "s" } })), "allow");
    assert.equal(decide([iss], http({ jwt: { iss: "me@bar.com", sub: "s" } })), "deny");
  });

  // https://istio.io/latest/docs/tasks/security/authorization/authz-jwt/: allow only a JWT whose
  // `groups` claim (a list in the task's token) contains group1.
  it("the JWT task's list claim", () => {
    const groups = policy({
      rules: [{ when: [{ key: "request.auth.claims[groups]", values: ["group1"] }] }],
    });
    assert.equal(
      decide([groups], http({ jwt: { iss: "i", sub: "s", claims: { groups: ["group1", "group2"] } } })),
      "allow",
    );
    assert.equal(
      decide([groups], http({ jwt: { iss: "i", sub: "s", claims: { groups: ["group2"] } } })),
      "deny",
    );
  });

  // https://istio.io/latest/docs/tasks/security/authorization/authz-tcp/: an ALLOW rule with
  // `methods` on a TCP port allows nothing; a DENY rule with `methods` denies all of the port.
  it("HTTP-only fields on TCP (the TCP traffic task)", () => {
    const allowGet = policy({ rules: [{ to: [{ operation: { methods: ["GET"], ports: ["9000"] } }] }] });
    assert.equal(decide([allowGet], tcp()), "deny");
    assert.equal(decide([allowGet], http({ destinationPort: 9000 })), "allow");
    const denyGet = policy({
      action: "DENY",
      rules: [{ to: [{ operation: { methods: ["GET"], ports: ["9000"] } }] }],
    });
    assert.equal(decide([denyGet], tcp()), "deny");
    assert.equal(decide([denyGet], tcp({ destinationPort: 9001 })), "allow", "the port condition is kept");
    assert.equal(decide([denyGet], http({ destinationPort: 9000, method: "POST" })), "allow");
  });
});

describe("precedence (istio.io concepts/security: CUSTOM, DENY, ALLOW)", () => {
  const custom = policy({
    action: "CUSTOM",
    provider: { name: "ext" },
    rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }],
  });
  it("CUSTOM asks its provider only for what it matches, and a deny is final", () => {
    const allowAll = policy({ rules: [{}] });
    assert.equal(
      decide([custom, allowAll], http({ path: "/admin" }), { customVerdicts: { ext: "deny" } }),
      "deny",
    );
    assert.equal(
      decide([custom, allowAll], http({ path: "/admin" }), { customVerdicts: { ext: "allow" } }),
      "allow",
    );
    assert.equal(decide([custom], http({ path: "/public" }), { customVerdicts: { ext: "deny" } }), "allow");
    const denyAll = policy({ action: "DENY", rules: [{}] });
    assert.equal(
      decide([custom, denyAll], http({ path: "/admin" }), { customVerdicts: { ext: "allow" } }),
      "deny",
    );
  });
  it("a CUSTOM provider without a verdict (istiod: unknown provider) denies what it matches", () => {
    assert.equal(decide([custom], http({ path: "/admin" })), "deny");
    assert.equal(decide([custom], http({ path: "/x" })), "allow");
  });
  it("a CUSTOM policy is not an ALLOW policy: it does not switch on deny-by-default", () => {
    assert.equal(
      evaluate([custom], http({ path: "/x" }), { customVerdicts: { ext: "allow" } }).reason,
      "no-allow-policy",
    );
  });
  it("AUDIT never decides, it is only reported", () => {
    const audit = policy({ action: "AUDIT", rules: [{ to: [{ operation: { methods: ["GET"] } }] }] });
    assert.deepEqual(evaluate([audit], http()), {
      decision: "allow",
      reason: "no-allow-policy",
      audited: true,
    });
    assert.equal(evaluate([audit], http({ method: "POST" })).audited, false);
    assert.equal(decide([audit, policy({})], http()), "deny", "AUDIT does not count as an ALLOW policy");
  });
  it("names the policy and rule that decided", () => {
    const a = policy({
      rules: [{ to: [{ operation: { methods: ["POST"] } }] }, { to: [{ operation: { methods: ["GET"] } }] }],
    });
    assert.deepEqual(evaluate([a], http()), {
      decision: "allow",
      reason: "allow",
      policy: a.metadata.namespace + "/" + a.metadata.name,
      rule: 1,
      audited: false,
    });
  });
  it("a dry-run ALLOW or DENY policy is shadowed: it neither denies nor turns on deny-by-default", () => {
    const dry = { "istio.io/dry-run": "true" };
    assert.equal(decide([policy({ action: "DENY", rules: [{}] }, "foo", dry)], http()), "allow");
    assert.equal(decide([policy({}, "foo", dry)], http()), "allow");
    assert.equal(
      decide([policy({}, "foo", { "istio.io/dry-run": "yes" })], http()),
      "deny",
      "not a Go bool: enforced",
    );
  });
});

describe("from.source", () => {
  const allowFrom = (
    source: NonNullable<NonNullable<AuthorizationPolicySpec["rules"]>[number]["from"]>[number]["source"],
  ) => policy({ rules: [{ from: [{ source: source! }] }] });
  const as = (p: string | undefined) =>
    http(p === undefined ? { peerPrincipal: undefined } : { peerPrincipal: p });

  it("principals: exact, prefix, suffix, presence; no identity matches none, notPrincipals then matches", () => {
    assert.equal(
      decide(
        [allowFrom({ principals: ["cluster.local/ns/default/sa/sleep"] })],
        as("spiffe://cluster.local/ns/default/sa/sleep"),
      ),
      "allow",
    );
    assert.equal(
      decide(
        [allowFrom({ principals: ["cluster.local/ns/default/*"] })],
        as("spiffe://cluster.local/ns/default/sa/x"),
      ),
      "allow",
    );
    assert.equal(
      decide([allowFrom({ principals: ["*/sa/sleep"] })], as("spiffe://other.td/ns/x/sa/sleep")),
      "allow",
    );
    assert.equal(decide([allowFrom({ principals: ["*"] })], as("spiffe://a/ns/b/sa/c")), "allow");
    assert.equal(decide([allowFrom({ principals: ["*"] })], as(undefined)), "deny");
    assert.equal(decide([allowFrom({ notPrincipals: ["*"] })], as(undefined)), "allow");
  });
  it("a principal written with spiffe:// never matches (istiod prefixes it again)", () => {
    assert.equal(
      decide(
        [allowFrom({ principals: ["spiffe://cluster.local/ns/default/sa/sleep"] })],
        as("spiffe://cluster.local/ns/default/sa/sleep"),
      ),
      "deny",
    );
  });
  it("trust domain aliases: cluster.local and every alias stand for the whole bundle (trustdomain/bundle.go)", () => {
    const p = allowFrom({ principals: ["cluster.local/ns/default/sa/sleep"] });
    const o = { trustDomain: "new.td", trustDomainAliases: ["old.td"] };
    assert.equal(decide([p], as("spiffe://new.td/ns/default/sa/sleep"), o), "allow");
    assert.equal(decide([p], as("spiffe://old.td/ns/default/sa/sleep"), o), "allow");
    assert.equal(
      decide([p], as("spiffe://cluster.local/ns/default/sa/sleep"), o),
      "deny",
      "cluster.local was replaced",
    );
    assert.equal(
      decide(
        [allowFrom({ principals: ["old.td/ns/default/sa/sleep"] })],
        as("spiffe://new.td/ns/default/sa/sleep"),
        o,
      ),
      "allow",
    );
    assert.equal(
      decide(
        [allowFrom({ principals: ["other.td/ns/default/sa/sleep"] })],
        as("spiffe://new.td/ns/default/sa/sleep"),
        o,
      ),
      "deny",
    );
    // Without aliases a cluster.local principal means the mesh's own trust domain.
    assert.equal(decide([p], as("spiffe://new.td/ns/default/sa/sleep"), { trustDomain: "new.td" }), "allow");
  });
  it("namespaces are read from /ns/<ns>/ of the principal; `*` may sit anywhere", () => {
    assert.equal(
      decide([allowFrom({ namespaces: ["default"] })], as("spiffe://cluster.local/ns/default/sa/x")),
      "allow",
    );
    assert.equal(
      decide([allowFrom({ namespaces: ["default"] })], as("spiffe://cluster.local/ns/default2/sa/x")),
      "deny",
    );
    assert.equal(
      decide([allowFrom({ namespaces: ["d*t"] })], as("spiffe://cluster.local/ns/default/sa/x")),
      "allow",
    );
    assert.equal(decide([allowFrom({ namespaces: ["default"] })], as(undefined)), "deny");
    assert.equal(decide([allowFrom({ notNamespaces: ["default"] })], as(undefined)), "allow");
  });
  it("serviceAccounts default to the policy's namespace; trustDomains", () => {
    assert.equal(
      decide([allowFrom({ serviceAccounts: ["sleep"] })], as("spiffe://cluster.local/ns/foo/sa/sleep")),
      "allow",
    );
    assert.equal(
      decide([allowFrom({ serviceAccounts: ["sleep"] })], as("spiffe://cluster.local/ns/default/sa/sleep")),
      "deny",
    );
    assert.equal(
      decide(
        [allowFrom({ serviceAccounts: ["default/sleep"] })],
        as("spiffe://cluster.local/ns/default/sa/sleep"),
      ),
      "allow",
    );
    assert.equal(
      decide(
        [allowFrom({ serviceAccounts: ["default/sleep"] })],
        as("spiffe://cluster.local/ns/default/sa/sleeper"),
      ),
      "deny",
    );
    assert.equal(
      decide([allowFrom({ trustDomains: ["*.local"] })], as("spiffe://cluster.local/ns/a/sa/b")),
      "allow",
    );
    assert.equal(
      decide([allowFrom({ trustDomains: ["cluster"] })], as("spiffe://cluster.local/ns/a/sa/b")),
      "deny",
    );
  });
  it("ipBlocks read the PROXY source, remoteIpBlocks X-Forwarded-For (the source when absent, and on TCP)", () => {
    assert.equal(
      decide([allowFrom({ ipBlocks: ["10.0.0.0/24"] })], http({ remoteIp: "192.168.0.1" })),
      "allow",
    );
    assert.equal(
      decide([allowFrom({ remoteIpBlocks: ["10.0.0.0/24"] })], http({ remoteIp: "192.168.0.1" })),
      "deny",
    );
    assert.equal(decide([allowFrom({ remoteIpBlocks: ["10.0.0.0/24"] })], http()), "allow");
    assert.equal(
      decide([allowFrom({ remoteIpBlocks: ["10.0.0.0/24"] })], tcp({ remoteIp: "192.168.0.1" })),
      "allow",
    );
    assert.equal(decide([allowFrom({ notIpBlocks: ["10.0.0.1"] })], http()), "deny");
  });
  it("requestPrincipals are <iss>/<sub>, split at the last /", () => {
    const jwt = { iss: "https://issuer.example/realm", sub: "alice" };
    const rp = (v: string) => decide([allowFrom({ requestPrincipals: [v] })], http({ jwt }));
    assert.equal(rp("https://issuer.example/realm/alice"), "allow");
    assert.equal(rp("https://issuer.example/realm/*"), "allow");
    assert.equal(rp("*/alice"), "allow");
    assert.equal(rp("*realm/alice"), "allow");
    assert.equal(rp("*ice"), "allow", "no / after the wildcard: a subject suffix");
    // The last `/` of `https://issuer*` is inside the scheme: exact issuer `https:/`, subject `issuer*`.
    assert.equal(rp("https://issuer*"), "deny");
    assert.equal(rp("https://issuer.example/alice"), "deny");
    assert.equal(rp("*"), "allow");
    assert.equal(decide([allowFrom({ requestPrincipals: ["*"] })], http()), "deny", "no JWT");
  });
  it("each from entry is ORed, fields within one entry ANDed, `from: [{}]` matches anything", () => {
    const p = policy({
      rules: [
        {
          from: [
            { source: { namespaces: ["a"], ipBlocks: ["10.0.0.1"] } },
            { source: { namespaces: ["default"] } },
          ],
        },
      ],
    });
    assert.equal(decide([p], http()), "allow");
    const q = policy({
      rules: [{ from: [{ source: { namespaces: ["default"], ipBlocks: ["10.9.9.9"] } }] }],
    });
    assert.equal(decide([q], http()), "deny");
    assert.equal(decide([policy({ rules: [{ from: [{}] }] })], http()), "allow");
  });
});

describe("to.operation", () => {
  const allowTo = (operation: Record<string, string[]>) => policy({ rules: [{ to: [{ operation }] }] });
  it("hosts are case-insensitive and include the port as sent", () => {
    assert.equal(decide([allowTo({ hosts: ["HTTPBIN.foo:8000"] })], http()), "allow");
    assert.equal(decide([allowTo({ hosts: ["httpbin.foo"] })], http()), "deny");
    assert.equal(decide([allowTo({ hosts: ["httpbin.*"] })], http()), "allow");
    assert.equal(decide([allowTo({ hosts: ["*:8000"] })], http()), "allow");
  });
  it("methods are case-sensitive", () => {
    assert.equal(decide([allowTo({ methods: ["get"] })], http()), "deny");
    assert.equal(decide([allowTo({ notMethods: ["POST"] })], http()), "allow");
  });
  it("paths ignore the query string; templates", () => {
    assert.equal(decide([allowTo({ paths: ["/admin"] })], http({ path: "/admin?x=1" })), "allow");
    assert.equal(decide([allowTo({ paths: ["/api/{*}/users"] })], http({ path: "/api/v1/users" })), "allow");
    assert.equal(decide([allowTo({ paths: ["/api/{*}/users"] })], http({ path: "/api/v1/x/users" })), "deny");
    assert.equal(decide([allowTo({ paths: ["/api/{**}"] })], http({ path: "/api/v1/x/users" })), "allow");
    assert.equal(decide([allowTo({ notPaths: ["/api/{**}"] })], http({ path: "/other" })), "allow");
  });
  it("ports match the PROXY header's destination port, on HTTP and TCP", () => {
    assert.equal(decide([allowTo({ ports: ["9000"] })], tcp()), "allow");
    assert.equal(decide([allowTo({ ports: ["8000"] })], tcp()), "deny");
    assert.equal(decide([allowTo({ notPorts: ["8000"] })], http()), "deny");
  });
});

describe("when", () => {
  const allowWhen = (key: string, values?: string[], notValues?: string[]) =>
    policy({
      rules: [{ when: [{ key, ...(values ? { values } : {}), ...(notValues ? { notValues } : {}) }] }],
    });
  it("request.auth.audiences / presenter / nested claims / space-delimited scope", () => {
    const jwt = {
      iss: "i",
      sub: "s",
      aud: ["web", "api"],
      azp: "cli",
      claims: { role: { level: "high" }, scope: "read write", admin: true },
    };
    assert.equal(decide([allowWhen("request.auth.audiences", ["api"])], http({ jwt })), "allow");
    assert.equal(decide([allowWhen("request.auth.presenter", ["c*"])], http({ jwt })), "allow");
    assert.equal(decide([allowWhen("request.auth.claims[role][level]", ["high"])], http({ jwt })), "allow");
    assert.equal(decide([allowWhen("request.auth.claims[scope]", ["write"])], http({ jwt })), "allow");
    assert.equal(
      decide([allowWhen("request.auth.claims[admin]", ["true"])], http({ jwt })),
      "deny",
      "a boolean claim matches no string",
    );
    assert.equal(
      decide([allowWhen("request.auth.claims[role]", ["*"])], http({ jwt })),
      "deny",
      "an object claim matches nothing",
    );
  });
  it("destination.ip, destination.port and connection.sni work on TCP", () => {
    assert.equal(decide([allowWhen("destination.ip", ["10.96.0.0/16"])], tcp()), "allow");
    assert.equal(decide([allowWhen("destination.port", ["9000"])], tcp()), "allow");
    assert.equal(decide([allowWhen("connection.sni", ["*.example"])], tcp({ sni: "a.example" })), "allow");
    assert.equal(decide([allowWhen("connection.sni", ["*"])], tcp()), "deny", "no SNI is the empty name");
    assert.equal(decide([allowWhen("connection.sni", undefined, ["*"])], tcp()), "allow");
  });
  it("source.principal / source.namespace / remote.ip in when", () => {
    assert.equal(
      decide([allowWhen("source.principal", ["cluster.local/ns/default/sa/sleep"])], tcp()),
      "allow",
    );
    assert.equal(decide([allowWhen("source.namespace", undefined, ["default"])], tcp()), "deny");
    assert.equal(
      decide([allowWhen("remote.ip", ["192.168.0.0/16"])], http({ remoteIp: "192.168.3.3" })),
      "allow",
    );
  });
  it("values and notValues together: one value must match and no notValue", () => {
    const p = allowWhen("request.headers[x-user]", ["*"], ["admin"]);
    assert.equal(decide([p], http({ headers: { "x-user": "alice" } })), "allow");
    assert.equal(decide([p], http({ headers: { "x-user": "admin" } })), "deny");
    assert.equal(decide([p], http()), "deny");
  });
  it("a condition with no values imposes nothing", () => {
    assert.equal(decide([allowWhen("request.headers[x-user]", [], [])], http()), "allow");
  });
  it("request.headers[host] and [:authority] read the Host header", () => {
    assert.equal(decide([allowWhen("request.headers[host]", ["httpbin.*"])], http()), "allow");
    assert.equal(decide([allowWhen("request.headers[:authority]", ["other"])], http()), "deny");
  });
  it("a header sent several times matches if one of its values does (as Envoy 1.40 does)", () => {
    const twice = http({ headers: { "x-tier": ["gold", "silver"] } });
    assert.equal(decide([allowWhen("request.headers[x-tier]", ["silver"])], twice), "allow");
    assert.equal(decide([allowWhen("request.headers[x-tier]", ["gold,silver"])], twice), "deny");
    assert.equal(decide([allowWhen("request.headers[x-tier]", undefined, ["gold"])], twice), "deny");
    assert.equal(
      decide(
        [allowWhen("request.headers[x-tier]", ["gold,silver"])],
        http({ headers: { "x-tier": "gold,silver" } }),
      ),
      "allow",
    );
  });
});

describe("fail closed", () => {
  it("HTTP-only when keys on TCP: ALLOW matches nothing, DENY drops the condition", () => {
    for (const key of [
      "request.headers[x]",
      "request.auth.principal",
      "request.auth.audiences",
      "request.auth.presenter",
      "request.auth.claims[c]",
    ]) {
      const w = [{ key, values: ["v"] }];
      assert.equal(decide([policy({ rules: [{ when: w }] })], tcp()), "deny", key);
      assert.equal(decide([policy({ action: "DENY", rules: [{ when: w }] })], tcp()), "deny", key);
      assert.equal(
        decide([policy({ action: "DENY", rules: [{ when: [{ key, notValues: ["v"] }] }] })], tcp()),
        "deny",
        key,
      );
    }
  });
  it("an ALLOW rule with an HTTP-only field is dropped whole, other rules still allow", () => {
    const p = policy({
      rules: [{ to: [{ operation: { paths: ["/x"] } }] }, { to: [{ operation: { ports: ["9000"] } }] }],
    });
    assert.equal(decide([p], tcp()), "allow");
    assert.equal(evaluate([p], tcp()).rule, 1);
  });
  it("HTTP-only source fields (requestPrincipals) follow the same rule", () => {
    const allow = policy({
      rules: [{ from: [{ source: { requestPrincipals: ["*"], namespaces: ["default"] } }] }],
    });
    assert.equal(decide([allow], tcp()), "deny");
    const deny = policy({
      action: "DENY",
      rules: [{ from: [{ source: { notRequestPrincipals: ["*"], namespaces: ["other"] } }] }],
    });
    assert.equal(
      decide([deny], tcp()),
      "allow",
      "only the HTTP-only condition is dropped; the namespace still must match",
    );
  });
  it("unknown keys and experimental.envoy.filters.*", () => {
    for (const key of [
      "request.time",
      "experimental.envoy.filters.http.foo[bar]",
      "request.headers",
      "request.headersx[a]",
    ]) {
      assert.equal(decide([policy({ rules: [{ when: [{ key, values: ["v"] }] }] })], http()), "deny", key);
      assert.equal(
        decide([policy({ action: "DENY", rules: [{ when: [{ key, values: ["v"] }] }] })], http()),
        "deny",
        key,
      );
    }
  });
  it("values admission rejects: bad CIDR, port, template", () => {
    const cases: AuthorizationPolicySpec["rules"][] = [
      [{ from: [{ source: { ipBlocks: ["10.0.0.0/33"] } }] }],
      [{ from: [{ source: { notIpBlocks: ["nope"] } }] }],
      [{ to: [{ operation: { ports: ["70000"] } }] }],
      [{ to: [{ operation: { notPaths: ["/a/{**}/{*}"] } }] }],
      [{ when: [{ key: "destination.port", values: ["http"] }] }],
      [{ when: [{ key: "source.ip", values: [""] }] }],
    ];
    for (const rules of cases) {
      assert.equal(decide([policy({ rules })], http()), "deny", JSON.stringify(rules));
      assert.equal(decide([policy({ action: "DENY", rules })], http()), "deny", JSON.stringify(rules));
    }
    // A DENY list with one bad value is dropped whole (the builder would keep the good values).
    const mixed = policy({
      action: "DENY",
      rules: [{ from: [{ source: { ipBlocks: ["192.168.0.0/16", "bad"] } }] }],
    });
    assert.equal(decide([mixed], http()), "deny");
  });
  it("fields the translator declares untranslatable", () => {
    const o = { untranslatable: ["paths", "request.headers[x-a]"] };
    assert.equal(decide([policy({ rules: [{ to: [{ operation: { paths: ["/"] } }] }] })], http(), o), "deny");
    assert.equal(
      decide([policy({ action: "DENY", rules: [{ to: [{ operation: { paths: ["/nope"] } }] }] })], http(), o),
      "deny",
    );
    assert.equal(
      decide(
        [policy({ rules: [{ when: [{ key: "request.headers[x-a]", values: ["*"] }] }] })],
        http({ headers: { "x-a": "1" } }),
        o,
      ),
      "deny",
    );
  });
  it("an action outside the enum is read as DENY", () => {
    const odd = policy({ action: "REJECT" as never, rules: [{ to: [{ operation: { methods: ["GET"] } }] }] });
    assert.equal(decide([odd], http()), "deny");
    assert.equal(decide([odd], http({ method: "POST" })), "allow");
  });
  it("null entries and non-string values from hand-written YAML", () => {
    const nullFrom = [
      { from: [null, { source: { namespaces: ["other"] } }] },
    ] as unknown as AuthorizationPolicySpec["rules"];
    assert.equal(decide([policy({ rules: nullFrom })], http()), "deny", "ALLOW: the rule matches nothing");
    assert.equal(
      decide([policy({ action: "DENY", rules: nullFrom })], http()),
      "deny",
      "DENY: the null entry matches anything",
    );
    const nullWhen = [{ when: [null] }] as unknown as AuthorizationPolicySpec["rules"];
    assert.equal(decide([policy({ rules: nullWhen })], http()), "deny");
    assert.equal(decide([policy({ action: "DENY", rules: nullWhen })], http()), "deny");
    const numericPort = [
      { to: [{ operation: { ports: [8000] } }] },
    ] as unknown as AuthorizationPolicySpec["rules"];
    assert.equal(decide([policy({ rules: numericPort })], http()), "deny");
    assert.equal(
      decide([policy({ action: "DENY", rules: numericPort })], http({ destinationPort: 1 })),
      "deny",
    );
  });
  it("a null rule matches nothing whatever the action", () => {
    const rules = [null] as unknown as AuthorizationPolicySpec["rules"];
    assert.equal(decide([policy({ rules })], http()), "deny");
    assert.equal(decide([policy({ action: "DENY", rules })], http()), "allow");
  });
  it("problems() names every field left out, and what it did", () => {
    const allow = policy({ rules: [{ to: [{ operation: { methods: ["GET"] } }] }] });
    const deny = policy({
      action: "DENY",
      rules: [{ when: [{ key: "request.headers[x]", notValues: ["1"] }] }],
    });
    assert.deepEqual(
      problems([allow, deny], "tcp").map((p) => [p.field, p.cause, p.effect]),
      [
        ["methods", "http-only", "rule-matches-nothing"],
        ["request.headers[x]", "http-only", "condition-dropped"],
      ],
    );
    assert.deepEqual(problems([allow, deny], "http"), []);
  });
});
