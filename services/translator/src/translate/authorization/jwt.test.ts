// RequestAuthentication → jwt_authn: each field of a jwtRule, the JWKS clusters, the rules left out
// and why that fails closed, strict encoding through the envoy-proto registry, and a real Envoy in
// front of go-httpbin checking the 200s and 401s the design note (§5) promises.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromJson } from "@bufbuild/protobuf";
import {
  type ClusterJson,
  encodeResource,
  type HttpFilterJson,
  type JsonObject,
  type JwtAuthenticationJson,
  type JwtProviderJson,
  registry,
  TypeUrl,
} from "@waymark/envoy-proto";
import {
  createIssuer,
  type EnvoyProc,
  freePort,
  type Httpbin,
  type JwksServer,
  startEnvoy,
  startHttpbin,
  startJwksServer,
  type TestIssuer,
  tempDir,
  waitFor,
} from "@waymark/testing";
import fc from "fast-check";
import type { BoundPolicy, JwtAuthnBuild } from "./contract.ts";
import { JWT_FILTER_NAME, JWT_PAYLOAD_KEY } from "./contract.ts";
import { jwtAuthnFilter, REJECTED_PROVIDER } from "./jwt.ts";

const JWKS = JSON.stringify({ keys: [{ kty: "EC", crv: "P-256", x: "AA", y: "AA" }] });

function policy(spec: unknown, name = "ra", namespace = "ns"): BoundPolicy {
  return { namespace, name, spec, dryRun: false };
}
const build = (...specs: unknown[]) => jwtAuthnFilter(specs.map((s, i) => policy(s, `ra${i}`)));

function config(b: JwtAuthnBuild): JwtAuthenticationJson {
  assert.ok(b.filter, "no filter built");
  assert.equal(b.filter.name, JWT_FILTER_NAME);
  const typed = b.filter.typedConfig as Record<string, unknown> | undefined;
  assert.equal(
    typed?.["@type"],
    "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
  );
  return typed as JwtAuthenticationJson;
}
function provider(b: JwtAuthnBuild, name = "origins-0"): JwtProviderJson {
  const p = config(b).providers?.[name];
  assert.ok(p, `no provider ${name}`);
  return p;
}

/** Encodes the filter and every cluster strictly (unknown fields and wrong types throw). */
function encodeStrict(b: JwtAuthnBuild): void {
  if (b.filter) {
    const schema = registry.getMessage(
      "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
    );
    assert.ok(schema);
    fromJson(schema, b.filter as unknown as JsonObject, { registry });
  }
  for (const c of b.clusters) encodeResource(TypeUrl.cluster, c.name ?? "", c as unknown as JsonObject);
}

const rule = (extra: Record<string, unknown> = {}) => ({
  issuer: "https://issuer.example",
  jwksUri: "https://issuer.example/jwks.json",
  ...extra,
});

describe("jwtAuthnFilter: what is bound", () => {
  test("no RequestAuthentication, none with jwtRules, or empty ones: no filter, no cluster", () => {
    for (const specs of [[], [{}], [{ jwtRules: [] }], [null], ["x"], [{ jwtRules: null }]]) {
      const b = build(...specs);
      assert.deepEqual(b, { clusters: [], problems: [] }, JSON.stringify(specs));
    }
  });

  test("one rule: one provider origins-0, required when present, allowed when missing, CORS preflight bypassed", () => {
    const b = build({ jwtRules: [rule()] });
    const c = config(b);
    assert.deepEqual(Object.keys(c.providers ?? {}), ["origins-0"]);
    assert.equal(c.bypassCorsPreflight, true);
    assert.deepEqual(c.rules, [
      {
        match: { prefix: "/" },
        requires: { requiresAny: { requirements: [{ providerName: "origins-0" }, { allowMissing: {} }] } },
      },
    ]);
    assert.equal(JSON.stringify(c).includes("allowMissingOrFailed"), false);
    assert.deepEqual(b.problems, []);
    encodeStrict(b);
  });

  test("the rules of all bound policies are numbered together, in order", () => {
    const b = jwtAuthnFilter([
      policy({ jwtRules: [rule({ issuer: "a" }), rule({ issuer: "b" })] }, "first"),
      policy({ jwtRules: [rule({ issuer: "c" })] }, "second"),
    ]);
    const c = config(b);
    assert.deepEqual(
      Object.entries(c.providers ?? {}).map(([name, p]) => [name, p.issuer]),
      [
        ["origins-0", "a"],
        ["origins-1", "b"],
        ["origins-2", "c"],
      ],
    );
    const optional = (p: string) => ({
      requiresAny: { requirements: [{ providerName: p }, { allowMissing: {} }] },
    });
    assert.deepEqual(c.rules?.[0]?.requires, {
      requiresAny: {
        requirements: [
          { providerName: "origins-0" },
          { providerName: "origins-1" },
          { providerName: "origins-2" },
          { requiresAll: { requirements: ["origins-0", "origins-1", "origins-2"].map(optional) } },
        ],
      },
    });
    encodeStrict(b);
  });
});

describe("jwtAuthnFilter: the fields of a jwtRule", () => {
  test("issuer and audiences; the payload in metadata; scope and permission split on spaces", () => {
    const p = provider(build({ jwtRules: [rule({ audiences: ["a1", "a2"] })] }));
    assert.equal(p.issuer, "https://issuer.example");
    assert.deepEqual(p.audiences, ["a1", "a2"]);
    assert.equal(p.payloadInMetadata, JWT_PAYLOAD_KEY);
    assert.deepEqual(p.normalizePayloadInMetadata, { spaceDelimitedClaims: ["scope", "permission"] });
    assert.equal(provider(build({ jwtRules: [rule()] })).audiences, undefined);
  });

  test("spaceDelimitedClaims add to scope and permission, once each", () => {
    const p = provider(build({ jwtRules: [rule({ spaceDelimitedClaims: ["roles", "scope"] })] }));
    assert.deepEqual(p.normalizePayloadInMetadata, {
      spaceDelimitedClaims: ["scope", "permission", "roles"],
    });
  });

  test("jwksUri → remote_jwks on the authority's cluster, fetched asynchronously, cached, retried", () => {
    const p = provider(build({ jwtRules: [rule({ jwksUri: "https://Issuer.Example:8443/keys?x=1" })] }));
    assert.equal(p.localJwks, undefined);
    assert.deepEqual(p.remoteJwks?.httpUri, {
      uri: "https://issuer.example:8443/keys?x=1",
      cluster: "jwks|issuer.example|8443",
      timeout: "5s",
    });
    assert.deepEqual(p.remoteJwks?.asyncFetch, { fastListener: false });
    assert.ok(p.remoteJwks?.cacheDuration);
    assert.ok((p.remoteJwks?.retryPolicy?.numRetries ?? 0) > 0);
  });

  test("timeout sets the JWKS fetch timeout", () => {
    const at = (timeout: string) =>
      provider(build({ jwtRules: [rule({ timeout })] })).remoteJwks?.httpUri?.timeout;
    assert.equal(at("1500ms"), "1.5s");
    assert.equal(at("10s"), "10s");
    assert.equal(at("1m"), "60s");
  });

  test("inline jwks → local_jwks inline_string, no cluster", () => {
    const b = build({ jwtRules: [{ issuer: "i", jwks: JWKS }] });
    assert.deepEqual(provider(b).localJwks, { inlineString: JWKS });
    assert.equal(provider(b).remoteJwks, undefined);
    assert.deepEqual(b.clusters, []);
    encodeStrict(b);
  });

  test("no locations: Envoy's defaults (no from_* field); fromHeaders with and without a prefix, fromParams, fromCookies", () => {
    const none = provider(build({ jwtRules: [rule()] }));
    assert.equal(none.fromHeaders, undefined);
    assert.equal(none.fromParams, undefined);
    assert.equal(none.fromCookies, undefined);
    const p = provider(
      build({
        jwtRules: [
          rule({
            fromHeaders: [{ name: "x-jwt", prefix: "Token " }, { name: "x-raw" }],
            fromParams: ["token"],
            fromCookies: ["session"],
          }),
        ],
      }),
    );
    assert.deepEqual(p.fromHeaders, [{ name: "x-jwt", valuePrefix: "Token " }, { name: "x-raw" }]);
    assert.deepEqual(p.fromParams, ["token"]);
    assert.deepEqual(p.fromCookies, ["session"]);
    // Only params: Envoy then looks nowhere else.
    assert.equal(provider(build({ jwtRules: [rule({ fromParams: ["t"] })] })).fromHeaders, undefined);
  });

  test("outputPayloadToHeader, outputClaimToHeaders, forwardOriginalToken", () => {
    const p = provider(
      build({
        jwtRules: [
          rule({
            outputPayloadToHeader: "x-jwt-payload",
            outputClaimToHeaders: [
              { header: "x-sub", claim: "sub" },
              { header: "x-team", claim: "org.team" },
            ],
            forwardOriginalToken: true,
          }),
        ],
      }),
    );
    assert.equal(p.forwardPayloadHeader, "x-jwt-payload");
    assert.deepEqual(p.claimToHeaders, [
      { headerName: "x-sub", claimName: "sub" },
      { headerName: "x-team", claimName: "org.team" },
    ]);
    assert.equal(p.forward, true);
    const plain = provider(build({ jwtRules: [rule({ forwardOriginalToken: false })] }));
    assert.equal(plain.forward, undefined);
    assert.equal(plain.forwardPayloadHeader, undefined);
    assert.equal(plain.claimToHeaders, undefined);
  });
});

describe("jwtAuthnFilter: JWKS clusters", () => {
  const clusters = (...uris: string[]) =>
    build({ jwtRules: uris.map((jwksUri, i) => rule({ issuer: `i${i}`, jwksUri })) }).clusters;
  const byName = (cs: ClusterJson[]) => new Map(cs.map((c) => [c.name, c]));

  test("one cluster per authority, sorted by name; the port defaults by scheme", () => {
    const cs = clusters(
      "https://idp.example/a",
      "https://idp.example:443/b",
      "http://idp.example/c",
      "http://idp.example:8080/d",
    );
    assert.deepEqual(
      cs.map((c) => c.name),
      ["jwks|idp.example|443", "jwks|idp.example|80", "jwks|idp.example|8080"],
    );
    encodeStrict({ clusters: cs, problems: [] });
  });

  test("host names resolve by STRICT_DNS; IPv4 and IPv6 literals are STATIC (IPv6 without brackets)", () => {
    const cs = byName(clusters("http://idp.example/j", "http://10.1.2.3:9000/j", "http://[fd00::1]:9001/j"));
    const endpoint = (c?: ClusterJson) =>
      c?.loadAssignment?.endpoints?.[0]?.lbEndpoints?.[0]?.endpoint?.address?.socketAddress;
    assert.equal(cs.get("jwks|idp.example|80")?.type, "STRICT_DNS");
    assert.deepEqual(endpoint(cs.get("jwks|idp.example|80")), { address: "idp.example", portValue: 80 });
    assert.equal(cs.get("jwks|10.1.2.3|9000")?.type, "STATIC");
    assert.equal(cs.get("jwks|fd00::1|9001")?.type, "STATIC");
    assert.deepEqual(endpoint(cs.get("jwks|fd00::1|9001")), { address: "fd00::1", portValue: 9001 });
    for (const c of cs.values()) {
      assert.equal(c.transportSocket, undefined, `${c.name}: plain http has no TLS`);
      assert.ok(c.connectTimeout);
      assert.equal(c.loadAssignment?.clusterName, c.name);
    }
  });

  test("https → an UpstreamTlsContext with the host as SNI (none for an IP literal)", () => {
    const cs = byName(clusters("https://idp.example/j", "https://10.1.2.3/j"));
    assert.deepEqual(cs.get("jwks|idp.example|443")?.transportSocket, {
      name: "envoy.transport_sockets.tls",
      typedConfig: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        sni: "idp.example",
      },
    });
    const ip = cs.get("jwks|10.1.2.3|443")?.transportSocket?.typedConfig as
      | Record<string, unknown>
      | undefined;
    assert.equal(
      ip?.["@type"],
      "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
    );
    assert.equal(ip?.sni, undefined);
    encodeStrict({ clusters: [...cs.values()], problems: [] });
  });

  test("the same input gives the same clusters and filter (deterministic)", () => {
    const spec = {
      jwtRules: [rule({ jwksUri: "http://b.example/j" }), rule({ jwksUri: "http://a.example/j" })],
    };
    assert.deepEqual(build(spec), build(structuredClone(spec)));
    assert.deepEqual(
      build(spec).clusters.map((c) => c.name),
      ["jwks|a.example|80", "jwks|b.example|80"],
    );
  });
});

describe("jwtAuthnFilter: rules that cannot be programmed fail closed", () => {
  const invalid: [string, unknown, string][] = [
    ["not an object", "oops", "jwtRules[0]"],
    ["no issuer", { jwksUri: "https://x.example/j" }, "jwtRules[0].issuer"],
    ["empty issuer", { issuer: "", jwks: JWKS }, "jwtRules[0].issuer"],
    ["a jwksUri that is not a URL", rule({ jwksUri: "not a url" }), "jwtRules[0].jwksUri"],
    ["a jwksUri that is not http(s)", rule({ jwksUri: "ftp://x.example/j" }), "jwtRules[0].jwksUri"],
    ["a jwksUri with credentials", rule({ jwksUri: "https://u:p@x.example/j" }), "jwtRules[0].jwksUri"],
    ["a jwksUri that is not a string", rule({ jwksUri: 7 }), "jwtRules[0].jwksUri"],
    ["both jwks and jwksUri", rule({ jwks: JWKS }), "jwtRules[0].jwks"],
    ["neither jwks nor jwksUri", { issuer: "i" }, "jwtRules[0].jwksUri"],
    ["an inline jwks that is not JSON", { issuer: "i", jwks: "{keys" }, "jwtRules[0].jwks"],
    ["an inline jwks without keys", { issuer: "i", jwks: "{}" }, "jwtRules[0].jwks"],
    ["an inline jwks with no key", { issuer: "i", jwks: '{"keys":[]}' }, "jwtRules[0].jwks"],
    ["an inline jwks with a non-key", { issuer: "i", jwks: '{"keys":[1]}' }, "jwtRules[0].jwks.keys[0]"],
    ["audiences not strings", rule({ audiences: [1] }), "jwtRules[0].audiences[0]"],
    ["an empty audience", rule({ audiences: [""] }), "jwtRules[0].audiences[0]"],
    [
      "a header name with a space",
      rule({ fromHeaders: [{ name: "x jwt" }] }),
      "jwtRules[0].fromHeaders[0].name",
    ],
    ["a pseudo-header", rule({ fromHeaders: [{ name: ":path" }] }), "jwtRules[0].fromHeaders[0].name"],
    ["a header without a name", rule({ fromHeaders: [{ prefix: "B " }] }), "jwtRules[0].fromHeaders[0].name"],
    ["fromParams not a list", rule({ fromParams: "t" }), "jwtRules[0].fromParams"],
    ["a bad cookie name", rule({ fromCookies: ["a=b"] }), "jwtRules[0].fromCookies[0]"],
    ["a bad payload header", rule({ outputPayloadToHeader: "x y" }), "jwtRules[0].outputPayloadToHeader"],
    [
      "a bad claim header",
      rule({ outputClaimToHeaders: [{ header: "x\ny", claim: "sub" }] }),
      "jwtRules[0].outputClaimToHeaders[0].header",
    ],
    [
      "a claim header without a claim",
      rule({ outputClaimToHeaders: [{ header: "x-sub" }] }),
      "jwtRules[0].outputClaimToHeaders[0].claim",
    ],
    [
      "forwardOriginalToken not a boolean",
      rule({ forwardOriginalToken: "yes" }),
      "jwtRules[0].forwardOriginalToken",
    ],
    ["a timeout that is not a duration", rule({ timeout: "5" }), "jwtRules[0].timeout"],
  ];
  for (const [what, bad, field] of invalid) {
    test(`${what}: left out, reported as policy-ignored, tokens still fail`, () => {
      const b = jwtAuthnFilter([policy({ jwtRules: [bad, rule({ issuer: "good" })] })]);
      assert.deepEqual(
        b.problems.map((p) => [p.policy, p.rule, p.field, p.effect]),
        [["ns/ra", 0, field, "policy-ignored"]],
      );
      assert.match(b.problems[0]?.cause ?? "", /401/);
      const c = config(b);
      // The good rule keeps its number; the left-out one gets no provider of its own.
      assert.deepEqual(Object.keys(c.providers ?? {}), ["origins-0", REJECTED_PROVIDER]);
      assert.equal(c.providers?.["origins-0"]?.issuer, "good");
      encodeStrict(b);
    });
  }

  test("jwtRules that is not a list: the policy is ignored, and any token is refused", () => {
    const b = build({ jwtRules: { issuer: "i" } });
    assert.deepEqual(
      b.problems.map((p) => [p.rule, p.field, p.effect]),
      [[-1, "jwtRules", "policy-ignored"]],
    );
    assert.deepEqual(Object.keys(config(b).providers ?? {}), [REJECTED_PROVIDER]);
  });

  test("with every rule left out the filter stays: a provider no token satisfies, still allowing none", () => {
    const b = build({ jwtRules: [{ issuer: "i" }] });
    const c = config(b);
    const rejected = c.providers?.[REJECTED_PROVIDER];
    assert.ok(rejected);
    assert.equal(rejected.issuer, undefined, "it checks tokens of every issuer");
    assert.ok(rejected.localJwks?.inlineString);
    assert.equal(rejected.payloadInMetadata, undefined);
    assert.deepEqual(rejected.fromHeaders, [{ name: "Authorization", valuePrefix: "Bearer " }]);
    assert.deepEqual(rejected.fromParams, ["access_token"]);
    assert.deepEqual(c.rules?.[0]?.requires, {
      requiresAny: { requirements: [{ providerName: REJECTED_PROVIDER }, { allowMissing: {} }] },
    });
    assert.deepEqual(b.clusters, []);
    encodeStrict(b);
  });

  test("the rejecting provider looks where the left-out rules look, and is never enough alone", () => {
    const b = build({
      jwtRules: [
        rule({ issuer: "good", fromHeaders: [{ name: "x-good" }] }),
        { issuer: "a", fromHeaders: [{ name: "x-a", prefix: "T " }], fromCookies: ["ca"] },
        { issuer: "b", fromParams: ["pb"], jwks: "nope" },
        { fromHeaders: [{ name: "x-c" }, { name: "bad name" }] },
      ],
    });
    assert.equal(b.problems.length, 3);
    const c = config(b);
    const rejected = c.providers?.[REJECTED_PROVIDER];
    assert.deepEqual(rejected?.fromHeaders, [{ name: "x-a", valuePrefix: "T " }, { name: "x-c" }]);
    assert.deepEqual(rejected?.fromParams, ["pb"]);
    assert.deepEqual(rejected?.fromCookies, ["ca"]);
    const alone = c.rules?.[0]?.requires?.requiresAny?.requirements?.filter((r) => r.providerName) ?? [];
    assert.deepEqual(alone, [{ providerName: "origins-0" }]);
  });

  test("one authority over http and https: the second rule is left out (one cluster per authority)", () => {
    const b = build({
      jwtRules: [
        rule({ issuer: "a", jwksUri: "http://idp.example:8443/j" }),
        rule({ issuer: "b", jwksUri: "https://idp.example:8443/j" }),
      ],
    });
    assert.deepEqual(
      b.problems.map((p) => [p.rule, p.field]),
      [[1, "jwtRules[1].jwksUri"]],
    );
    assert.deepEqual(
      b.clusters.map((c) => [c.name, c.transportSocket]),
      [["jwks|idp.example|8443", undefined]],
    );
  });

  test("a left-out rule's cluster is not emitted", () => {
    const b = build({ jwtRules: [rule({ jwksUri: "http://idp.example/j", audiences: [3] })] });
    assert.deepEqual(b.clusters, []);
  });
});

describe("jwtAuthnFilter: defensive reading", () => {
  const ruleArb = fc.record(
    {
      issuer: fc.oneof(fc.string(), fc.constant("https://i.example"), fc.anything()),
      audiences: fc.oneof(fc.array(fc.string()), fc.anything()),
      jwksUri: fc.oneof(
        fc.constantFrom("https://i.example/j", "http://10.0.0.1:81/j", "http://[::1]/j", "ftp://x", "x"),
        fc.webUrl(),
        fc.anything(),
      ),
      jwks: fc.oneof(fc.constant(JWKS), fc.json(), fc.anything()),
      fromHeaders: fc.oneof(
        fc.array(
          fc.record(
            { name: fc.oneof(fc.string(), fc.constant("x-jwt")), prefix: fc.string() },
            { requiredKeys: [] },
          ),
        ),
        fc.anything(),
      ),
      fromParams: fc.oneof(fc.array(fc.string()), fc.anything()),
      fromCookies: fc.oneof(fc.array(fc.string()), fc.anything()),
      outputPayloadToHeader: fc.oneof(fc.string(), fc.anything()),
      outputClaimToHeaders: fc.oneof(
        fc.array(fc.record({ header: fc.string(), claim: fc.string() })),
        fc.anything(),
      ),
      forwardOriginalToken: fc.oneof(fc.boolean(), fc.anything()),
      spaceDelimitedClaims: fc.oneof(fc.array(fc.string()), fc.anything()),
      timeout: fc.oneof(fc.constantFrom("1s", "250ms", "2m", "0s", "-1s"), fc.anything()),
    },
    { requiredKeys: [] },
  );
  const specArb = fc.oneof(
    fc.record({ jwtRules: fc.array(fc.oneof(ruleArb, fc.anything()), { maxLength: 4 }) }),
    fc.anything(),
  );

  test("never throws; whatever it builds encodes strictly; every rule is programmed or reported", () => {
    fc.assert(
      fc.property(fc.array(specArb, { maxLength: 3 }), (specs) => {
        const b = build(...specs);
        encodeStrict(b);
        const rules = specs.flatMap((s) =>
          s !== null && typeof s === "object" && Array.isArray((s as { jwtRules?: unknown }).jwtRules)
            ? (s as { jwtRules: unknown[] }).jwtRules
            : [],
        );
        const providers = Object.keys(b.filter ? (config(b).providers ?? {}) : {});
        const programmed = providers.filter((p) => p !== REJECTED_PROVIDER).length;
        const perRule = b.problems.filter((p) => p.rule >= 0).length;
        assert.equal(programmed + perRule, rules.length);
        // Something left out always leaves the rejecting provider in place.
        assert.equal(providers.includes(REJECTED_PROVIDER), b.problems.length > 0);
        for (const c of b.clusters) assert.match(c.name ?? "", /^jwks\|[^|]+\|\d+$/);
      }),
      { numRuns: 300 },
    );
  });

  test("the strict encoding is not vacuous: an unknown field is caught", () => {
    const b = build({ jwtRules: [rule()] });
    const broken = structuredClone(b);
    const typed = broken.filter?.typedConfig as Record<string, unknown>;
    (typed.providers as Record<string, Record<string, unknown>>)["origins-0"] = {
      ...provider(b),
      fromHeader: [{ name: "x" }],
    };
    assert.throws(() => encodeStrict(broken), /fromHeader/);
    const cluster = structuredClone(b.clusters);
    (cluster[0] as Record<string, unknown>).connect_timeouts = "1s";
    assert.throws(() => encodeStrict({ clusters: cluster, problems: [] }), /connect_timeouts/);
  });
});

// ---------------------------------------------------------------------------------------------
// A real Envoy: the built filter and clusters in a static bootstrap, in front of go-httpbin, whose
// /headers shows what reached the route.

const ANY = (type: string, body: object) => ({ "@type": `type.googleapis.com/${type}`, ...body });

describe("jwtAuthnFilter on a real Envoy", () => {
  const dir = tempDir("jwt-authn");
  const issuers: Record<string, TestIssuer> = {};
  let rs: TestIssuer;
  let es: TestIssuer;
  let late: TestIssuer;
  let forger: TestIssuer;
  let jwks: JwksServer;
  let httpbin: Httpbin;
  let envoy: EnvoyProc;
  let base = "";
  let built: JwtAuthnBuild;

  before(async () => {
    rs = await createIssuer("https://rs.example", "RS256");
    es = await createIssuer("https://es.example", "ES256");
    late = await createIssuer("https://late.example", "RS256");
    // Same issuer and kid as rs, another key: its tokens have a bad signature.
    forger = await createIssuer("https://rs.example", "RS256", rs.kid);
    issuers.rs = rs; // late is served only once the test says so
    jwks = await startJwksServer(issuers);
    httpbin = await startHttpbin({ name: "jwt-httpbin", logDir: dir });
    built = jwtAuthnFilter([
      policy(
        {
          jwtRules: [
            {
              issuer: rs.issuer,
              jwksUri: jwks.jwksUri("rs"),
              audiences: ["waymark"],
              outputPayloadToHeader: "x-jwt-payload",
              outputClaimToHeaders: [{ header: "x-jwt-sub", claim: "sub" }],
            },
            {
              issuer: es.issuer,
              jwks: JSON.stringify(es.jwks),
              fromHeaders: [{ name: "Authorization", prefix: "Bearer " }],
              fromCookies: ["es_token"],
              outputClaimToHeaders: [{ header: "x-es-sub", claim: "sub" }],
              forwardOriginalToken: true,
            },
          ],
        },
        "tokens",
      ),
      policy(
        {
          jwtRules: [
            { issuer: late.issuer, jwksUri: jwks.jwksUri("late"), fromHeaders: [{ name: "x-late-token" }] },
            { issuer: "https://ignored.example", jwksUri: "ftp://ignored.example/jwks" },
          ],
        },
        "more",
      ),
    ]);
    assert.equal(built.problems.length, 1, JSON.stringify(built.problems));
    const port = await freePort();
    const hcm = {
      statPrefix: "jwt",
      routeConfig: {
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [{ match: { prefix: "/" }, route: { cluster: "httpbin" } }],
          },
        ],
      },
      httpFilters: [
        built.filter as HttpFilterJson,
        {
          name: "envoy.filters.http.router",
          typedConfig: ANY("envoy.extensions.filters.http.router.v3.Router", {}),
        },
      ],
    };
    const httpbinCluster: ClusterJson = {
      name: "httpbin",
      type: "STATIC",
      connectTimeout: "1s",
      loadAssignment: {
        clusterName: "httpbin",
        endpoints: [
          {
            lbEndpoints: [
              { endpoint: { address: { socketAddress: { address: "127.0.0.1", portValue: httpbin.port } } } },
            ],
          },
        ],
      },
    };
    envoy = await startEnvoy({
      name: "jwt-authn",
      logDir: dir,
      bootstrap: {
        node: { id: "jwt-authn", cluster: "jwt-authn" },
        staticResources: {
          listeners: [
            {
              name: "http",
              address: { socketAddress: { address: "127.0.0.1", portValue: port } },
              filterChains: [
                {
                  filters: [
                    {
                      name: "envoy.filters.network.http_connection_manager",
                      typedConfig: ANY(
                        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        hcm,
                      ),
                    },
                  ],
                },
              ],
            },
          ],
          clusters: [httpbinCluster, ...built.clusters],
        },
      },
    });
    base = `http://127.0.0.1:${port}`;
    // The listener is up once its JWKS fetch at start is done (fast_listener: false).
    await waitFor("the jwt listener", async () => (await fetch(`${envoy.adminUrl}/ready`)).status === 200);
    await waitFor("the listener answering", async () => (await fetch(`${base}/status/204`)).status === 204);
  });

  after(async () => {
    await envoy?.stop();
    await httpbin?.stop();
    await jwks?.stop();
  });

  /** The request headers httpbin saw (names lower-cased, repeated values joined). */
  async function send(
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: string; seen: Map<string, string> }> {
    const r = await fetch(`${base}${path}`, { headers });
    const body = await r.text();
    const seen = new Map<string, string>();
    if (r.status === 200 && path.startsWith("/headers")) {
      const parsed = JSON.parse(body) as { headers: Record<string, string[] | string> };
      for (const [k, v] of Object.entries(parsed.headers)) seen.set(k.toLowerCase(), [v].flat().join(","));
    }
    return { status: r.status, body, seen };
  }
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  test("the JWKS cluster was used: the server was asked for the rs JWKS", () => {
    assert.ok((jwks.fetches.get("/rs/jwks.json") ?? 0) > 0);
    assert.deepEqual(
      built.clusters.map((c) => c.name),
      [`jwks|127.0.0.1|${jwks.port}`],
    );
  });

  test("no token: 200, and nothing from jwt_authn reaches the route", async () => {
    const r = await send("/headers");
    assert.equal(r.status, 200);
    assert.equal(r.seen.has("x-jwt-payload"), false);
    assert.equal(r.seen.has("x-jwt-sub"), false);
  });

  test("a valid RS256 token (remote JWKS): 200, claim and payload headers forwarded, token removed", async () => {
    const token = await rs.sign({ aud: "waymark", sub: "alice" });
    const r = await send("/headers", bearer(token));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.seen.get("x-jwt-sub"), "alice");
    const payload = JSON.parse(Buffer.from(r.seen.get("x-jwt-payload") ?? "", "base64url").toString()) as {
      iss?: string;
      sub?: string;
    };
    assert.equal(payload.iss, rs.issuer);
    assert.equal(payload.sub, "alice");
    assert.equal(
      r.seen.has("authorization"),
      false,
      "forwardOriginalToken is off: the token is not forwarded",
    );
  });

  test("a valid ES256 token (inline JWKS) sharing the Authorization header: 200, forwarded as is", async () => {
    const token = await es.sign({ sub: "bob" });
    const r = await send("/headers", bearer(token));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.seen.get("x-es-sub"), "bob");
    assert.equal(r.seen.get("authorization"), `Bearer ${token}`);
    assert.equal(r.seen.has("x-jwt-sub"), false);
  });

  test("tokens in the default query parameter and in a cookie", async () => {
    const q = await send(`/headers?access_token=${await rs.sign({ aud: "waymark", sub: "carol" })}`);
    assert.equal(q.status, 200, q.body);
    assert.equal(q.seen.get("x-jwt-sub"), "carol");
    const c = await send("/headers", { cookie: `other=1; es_token=${await es.sign({ sub: "dave" })}` });
    assert.equal(c.status, 200, c.body);
    assert.equal(c.seen.get("x-es-sub"), "dave");
  });

  test("bad tokens are refused: 401 when expired, not yet valid, of another issuer, badly signed or garbage; 403 for the audience", async () => {
    const other = await createIssuer("https://other.example", "ES256");
    const cases: [string, string][] = [
      ["expired", await rs.sign({ aud: "waymark" }, { expired: true })],
      ["not yet valid", await es.sign({}, { notYetValid: true })],
      ["wrong issuer", await other.sign({ aud: "waymark" })],
      ["bad signature", await forger.sign({ aud: "waymark" })],
      ["not a JWT", "not.a.jwt"],
    ];
    for (const [what, token] of cases) {
      const r = await send("/headers", bearer(token));
      assert.equal(r.status, 401, `${what}: ${r.status} ${r.body}`);
    }
    // Envoy answers an audience it does not allow with 403 ("Audiences in Jwt are not allowed"),
    // not 401, as on Istio's proxies: still refused before any route.
    for (const [what, token] of [
      ["wrong audience", await rs.sign({ aud: "someone-else" })],
      ["no audience", await rs.sign({})],
    ] as const) {
      const r = await send("/headers", bearer(token));
      assert.equal(r.status, 403, `${what}: ${r.status} ${r.body}`);
      assert.match(r.body, /Audiences in Jwt are not allowed/);
    }
    // A token in the cookie only the ES256 rule reads, from the RS256 issuer: not that rule's issuer.
    const wrongPlace = await send("/headers", { cookie: `es_token=${await rs.sign({ aud: "waymark" })}` });
    assert.equal(wrongPlace.status, 401);
  });

  test("a token of a rule left out gets 401, as its problem says", async () => {
    const ignored = await createIssuer("https://ignored.example", "RS256");
    const r = await send("/headers", bearer(await ignored.sign()));
    assert.equal(r.status, 401, r.body);
  });

  test("a JWKS that is down at start is fetched again: 401 until it is served, then 200", async () => {
    const token = await late.sign({ sub: "erin" });
    const down = await send("/headers", { "x-late-token": token });
    assert.equal(down.status, 401, down.body);
    const before = jwks.fetches.get("/late/jwks.json") ?? 0;
    assert.ok(before > 0, "Envoy asked for the late JWKS at start");
    issuers.late = late;
    const up = await waitFor("the late JWKS to be fetched and used", async () => {
      const r = await send("/headers", { "x-late-token": token });
      return r.status === 200 ? r : undefined;
    });
    assert.ok((jwks.fetches.get("/late/jwks.json") ?? 0) > before);
    assert.equal(up.status, 200);
  });
});
