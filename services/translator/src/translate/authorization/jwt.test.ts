// RequestAuthentication → jwt_authn: each field of a jwtRule, the JWKS clusters, the rules left out
// and why that fails closed, strict encoding through the envoy-proto registry, and a real Envoy in
// front of go-httpbin checking the 200s and 401s the design note (§5) promises.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
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

const ANY = (type: string, body: object) => ({ "@type": `type.googleapis.com/${type}`, ...body });
const jwk = (type: "ec" | "rsa" | "ed25519") => {
  const { publicKey } =
    type === "ec"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : type === "rsa"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 })
        : generateKeyPairSync("ed25519");
  return publicKey.export({ format: "jwk" }) as Record<string, unknown>;
};
const EC = jwk("ec");
const RSA = jwk("rsa");
const OKP = jwk("ed25519");
const JWKS = JSON.stringify({ keys: [EC] });
const jwksOf = (...keys: unknown[]) => JSON.stringify({ keys });
/** A key of each kind Envoy's JWKS reader takes. */
const USABLE_KEYS = [
  EC,
  { ...EC, alg: "ES256" },
  { ...EC, crv: undefined, alg: "ES256" },
  { ...EC, crv: undefined },
  RSA,
  { ...RSA, alg: "PS256" },
  { kty: "oct", k: "c2VjcmV0", alg: "HS256" },
  OKP,
  { ...OKP, alg: "EdDSA" },
];

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

  test("inline jwks: every key type Envoy reads; one usable key is enough (Envoy skips the others)", () => {
    for (const key of USABLE_KEYS) {
      const b = build({ jwtRules: [{ issuer: "i", jwks: jwksOf(key) }] });
      assert.deepEqual(b.problems, [], JSON.stringify(key));
    }
    const mixed = jwksOf({ kty: "DSA" }, 7, { ...EC, y: EC.x }, RSA);
    const b = build({ jwtRules: [{ issuer: "i", jwks: mixed }] });
    assert.deepEqual(b.problems, []);
    assert.deepEqual(provider(b).localJwks, { inlineString: mixed });
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
    assert.equal(p.clearRouteCache, true, "routes matching on the claim headers see them");
    const plain = provider(build({ jwtRules: [rule({ forwardOriginalToken: false })] }));
    assert.equal(plain.forward, undefined);
    assert.equal(plain.forwardPayloadHeader, undefined);
    assert.equal(plain.claimToHeaders, undefined);
    assert.equal(plain.clearRouteCache, undefined);
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
    assert.equal(cs.get("jwks|idp.example|80")?.dnsLookupFamily, "V4_PREFERRED");
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

/** Rules that cannot be programmed: what is wrong, the rule, the field its problem names. */
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
  ["an inline jwks with a non-key", { issuer: "i", jwks: '{"keys":[1]}' }, "jwtRules[0].jwks"],
  [
    "an X.509 map instead of keys",
    { issuer: "i", jwks: '{"kid":"-----BEGIN CERTIFICATE-----"}' },
    "jwtRules[0].jwks",
  ],
  ...(
    [
      ["an EC point off its curve", { ...EC, y: EC.x }],
      ["an EC key without y", { ...EC, y: undefined }],
      ["an EC key with an RSA alg", { ...EC, alg: "RS256" }],
      ["an EC key whose alg and curve differ", { ...EC, alg: "ES384" }],
      ["an EC key on an unsupported curve", { ...EC, crv: "secp256k1" }],
      ["an RSA key with exponent 17", { ...RSA, e: "EQ" }],
      ["an RSA key with an empty exponent", { ...RSA, e: "A" }],
      ["an RSA key with a short modulus", { ...RSA, n: "AQ" }],
      ["an RSA key with an even modulus", { ...RSA, n: `${String(RSA.n).slice(0, -1)}A` }],
      ["an RSA key with an EC alg", { ...RSA, alg: "ES256" }],
      ["an oct key without k", { kty: "oct" }],
      ["an oct key with an RSA alg", { kty: "oct", k: "c2VjcmV0", alg: "RS256" }],
      ["an OKP key that is not Ed25519", { ...OKP, crv: "X25519" }],
      ["an OKP key of the wrong length", { ...OKP, x: "AAAA" }],
      ["a kty Envoy does not read", { kty: "DSA" }],
    ] as const
  ).map(([what, key]): [string, unknown, string] => [
    `an inline jwks with only ${what}`,
    { issuer: "i", jwks: jwksOf(key) },
    "jwtRules[0].jwks",
  ]),
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
  ["a timeout of zero", rule({ timeout: "0.0000000001s" }), "jwtRules[0].timeout"],
  ["a timeout beyond a day", rule({ timeout: "999999999999999h" }), "jwtRules[0].timeout"],
  [
    "a prefix with a line break",
    rule({ fromHeaders: [{ name: "x", prefix: "a\nb" }] }),
    "jwtRules[0].fromHeaders[0].prefix",
  ],
  ["a jwksUri on port 0", rule({ jwksUri: "http://x.example:0/j" }), "jwtRules[0].jwksUri"],
];

describe("jwtAuthnFilter: rules that cannot be programmed fail closed", () => {
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

  test("damaged inline keys never throw: the rule is programmed or reported", () => {
    fc.assert(
      fc.property(damagedJwks, (jwks) => {
        const b = build({ jwtRules: [{ issuer: "i", jwks }] });
        assert.equal(b.problems.length + (config(b).providers?.["origins-0"] ? 1 : 0), 1);
      }),
      { numRuns: 500 },
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

/** JWKS of real keys with fields replaced, dropped or mixed up: some usable, most not. */
const damagedJwks = fc
  .array(
    fc
      .tuple(
        fc.constantFrom<Record<string, unknown>>(EC, RSA, OKP, { kty: "oct", k: "c2VjcmV0" }),
        fc.dictionary(
          fc.constantFrom("kty", "alg", "crv", "x", "y", "n", "e", "k"),
          fc.oneof(
            fc.constantFrom("EC", "RSA", "oct", "OKP", "ES256", "ES384", "RS256", "PS384", "HS256", "EdDSA"),
            fc.constantFrom("P-256", "P-384", "P-521", "Ed25519", "AQAB", "AQ", "A", "", EC.x, EC.y, RSA.n),
            fc.base64String().map((b) => b.replace(/\+/g, "-").replace(/\//g, "_")),
            fc.constant(undefined),
            fc.integer(),
          ),
          { maxKeys: 3 },
        ),
      )
      .map(([key, changes]) => ({ ...key, ...changes })),
    { minLength: 1, maxLength: 3 },
  )
  .map((keys) => JSON.stringify({ keys }));

describe("jwtAuthnFilter: Envoy accepts what it builds", () => {
  test("envoy --mode validate takes the filter and clusters of every shape built here", async () => {
    const builds: JwtAuthnBuild[] = [
      build({ jwtRules: [rule()] }),
      build({ jwtRules: [{ issuer: "i", jwks: JWKS }] }),
      build({ jwtRules: [{ issuer: "i" }] }),
      build({ jwtRules: "nope" }),
      // The same issuer twice, across policies, at the same location.
      build({ jwtRules: [rule()] }, { jwtRules: [rule({ audiences: ["x"] })] }),
      build({
        jwtRules: [
          rule({
            jwksUri: "https://[fd00::1]:8443/j",
            audiences: ["a"],
            fromHeaders: [
              { name: "x-jwt", prefix: "Token " },
              { name: "Authorization", prefix: "Bearer " },
            ],
            fromParams: ["t"],
            fromCookies: ["c"],
            outputPayloadToHeader: "x-payload",
            outputClaimToHeaders: [{ header: "x-sub", claim: "sub" }],
            forwardOriginalToken: true,
            spaceDelimitedClaims: ["roles"],
            timeout: "250ms",
          }),
          rule({ issuer: "b", jwksUri: "http://10.0.0.1:8080/j" }),
          rule({ issuer: "c", jwksUri: "https://10.0.0.2/j" }),
          rule({ issuer: "d", jwksUri: "http://idp.example/j" }),
        ],
      }),
      ...invalid.map(([, bad]) => build({ jwtRules: [bad, rule({ issuer: "good" })] })),
      ...USABLE_KEYS.map((key) => build({ jwtRules: [{ issuer: "i", jwks: jwksOf(key) }] })),
      build({ jwtRules: [{ issuer: "i", jwks: jwksOf({ kty: "DSA" }, { ...EC, y: EC.x }, RSA) }] }),
      // Damaged keys: whichever the builder keeps, Envoy must take (a fixed seed: the same every run).
      ...fc
        .sample(damagedJwks, { seed: 13, numRuns: 150 })
        .map((jwks) => build({ jwtRules: [{ issuer: "i", jwks }, rule({ issuer: "good" })] })),
    ];
    const clusters = new Map<string, ClusterJson>();
    for (const b of builds) for (const c of b.clusters) clusters.set(c.name ?? "", c);
    const listeners = builds.map((b, i) => ({
      name: `l${i}`,
      address: { socketAddress: { address: "127.0.0.1", portValue: 20000 + i } },
      filterChains: [
        {
          filters: [
            {
              name: "envoy.filters.network.http_connection_manager",
              typedConfig: ANY(
                "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                {
                  statPrefix: `l${i}`,
                  routeConfig: {
                    virtualHosts: [
                      {
                        name: "all",
                        domains: ["*"],
                        routes: [{ match: { prefix: "/" }, directResponse: { status: 200 } }],
                      },
                    ],
                  },
                  httpFilters: [
                    b.filter,
                    {
                      name: "envoy.filters.http.router",
                      typedConfig: ANY("envoy.extensions.filters.http.router.v3.Router", {}),
                    },
                  ],
                },
              ),
            },
          ],
        },
      ],
    }));
    assert.ok(builds.every((b) => b.filter));
    const dir = tempDir("jwt-validate");
    const file = join(dir, "bootstrap.json");
    writeFileSync(file, JSON.stringify({ staticResources: { listeners, clusters: [...clusters.values()] } }));
    const envoyBin = process.env.WAYMARK_ENVOY;
    assert.ok(envoyBin, "WAYMARK_ENVOY is not set: source env.sh");
    const r = spawnSync(
      envoyBin,
      ["--mode", "validate", "-c", file, "--disable-hot-restart", "--log-level", "error"],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    assert.equal(r.status, 0, `Envoy rejected it: ${r.stderr || r.stdout}`);
    // The harness is honest, and the reason inline keys are checked: an inline JWKS without one
    // usable key (here a point off its curve) makes Envoy refuse the whole configuration.
    const bad = jwksOf({ ...EC, y: EC.x });
    const text = JSON.stringify({ staticResources: { listeners, clusters: [...clusters.values()] } });
    writeFileSync(file, text.replace(JSON.stringify(JWKS).slice(1, -1), JSON.stringify(bad).slice(1, -1)));
    const refused = spawnSync(
      envoyBin,
      ["--mode", "validate", "-c", file, "--disable-hot-restart", "--log-level", "error"],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    assert.notEqual(refused.status, 0, "Envoy accepted an inline JWKS without a usable key");
    assert.match(refused.stderr + refused.stdout, /invalid local jwks/);
  });
});

// ---------------------------------------------------------------------------------------------
// A real Envoy: the built filter and clusters in a static bootstrap, in front of go-httpbin, whose
// /headers shows what reached the route.

describe("jwtAuthnFilter on a real Envoy", () => {
  const dir = tempDir("jwt-authn");
  const issuers: Record<string, TestIssuer> = {};
  let rs: TestIssuer;
  let es: TestIssuer;
  let late: TestIssuer;
  let tls: TestIssuer;
  let tlsServer: HttpsServer;
  const sniSeen: string[] = [];
  let forger: TestIssuer;
  let jwks: JwksServer;
  let httpbin: Httpbin;
  let envoy: EnvoyProc;
  let base = "";
  let built: JwtAuthnBuild;
  let onlyIgnored: JwtAuthnBuild;
  let ignoredBase = "";

  before(async () => {
    rs = await createIssuer("https://rs.example", "RS256");
    es = await createIssuer("https://es.example", "ES256");
    late = await createIssuer("https://late.example", "RS256");
    // Same issuer and kid as rs, another key: its tokens have a bad signature.
    forger = await createIssuer("https://rs.example", "RS256", rs.kid);
    issuers.rs = rs; // late is served only once the test says so
    jwks = await startJwksServer(issuers);
    httpbin = await startHttpbin({ name: "jwt-httpbin", logDir: dir });
    // An https JWKS under a host name, with a self-signed certificate (Envoy does not verify it).
    tls = await createIssuer("https://tls.example", "ES256");
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]
        .concat(["-keyout", "tls.key", "-out", "tls.crt", "-subj", "/CN=localhost"])
        .concat(["-addext", "subjectAltName=DNS:localhost"]),
      { cwd: dir, stdio: "pipe" },
    );
    tlsServer = createHttpsServer(
      { key: readFileSync(join(dir, "tls.key")), cert: readFileSync(join(dir, "tls.crt")) },
      (req, res) => {
        sniSeen.push(String((req.socket as { servername?: unknown }).servername));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(tls.jwks));
      },
    );
    await new Promise<void>((resolve) => tlsServer.listen(0, "127.0.0.1", resolve));
    const tlsPort = (tlsServer.address() as AddressInfo).port;
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
              spaceDelimitedClaims: ["roles"],
            },
          ],
        },
        "tokens",
      ),
      policy(
        {
          jwtRules: [
            { issuer: late.issuer, jwksUri: jwks.jwksUri("late"), fromHeaders: [{ name: "x-late-token" }] },
            {
              issuer: "https://ignored.example",
              jwksUri: "ftp://ignored.example/jwks",
              fromHeaders: [{ name: "x-ignored-token" }],
            },
            {
              issuer: tls.issuer,
              jwksUri: `https://localhost:${tlsPort}/jwks.json`,
              fromHeaders: [{ name: "x-tls-token" }],
            },
          ],
        },
        "more",
      ),
    ]);
    assert.equal(built.problems.length, 1, JSON.stringify(built.problems));
    // A second listener whose only rule is left out (rs's issuer, but no JWKS).
    onlyIgnored = jwtAuthnFilter([policy({ jwtRules: [{ issuer: rs.issuer }] }, "broken")]);
    assert.equal(onlyIgnored.problems.length, 1);
    const port = await freePort();
    const ignoredPort = await freePort();
    const hcmWith = (statPrefix: string, filter: HttpFilterJson | undefined) => ({
      ...hcm,
      statPrefix,
      httpFilters: [filter as HttpFilterJson, ...hcm.httpFilters.slice(1)],
    });
    const listener = (name: string, portValue: number, config: object) => ({
      name,
      address: { socketAddress: { address: "127.0.0.1", portValue } },
      filterChains: [
        {
          filters: [
            {
              name: "envoy.filters.network.http_connection_manager",
              typedConfig: ANY(
                "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                config,
              ),
            },
          ],
        },
      ],
    });
    const hcm = {
      statPrefix: "jwt",
      routeConfig: {
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              // A route on a claim header (clear_route_cache: chosen again once the header is set).
              {
                match: {
                  path: "/by-claim",
                  headers: [{ name: "x-jwt-sub", stringMatch: { exact: "alice" } }],
                },
                directResponse: { status: 299 },
              },
              { match: { prefix: "/" }, route: { cluster: "httpbin" } },
            ],
            // What RBAC will read: the payload jwt_authn leaves in dynamic metadata.
            requestHeadersToAdd: ["sub", "scope", "roles"].map((claim) => ({
              header: {
                key: `x-meta-${claim}`,
                value: `%DYNAMIC_METADATA(${JWT_FILTER_NAME}:${JWT_PAYLOAD_KEY}:${claim})%`,
              },
            })),
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
            listener("http", port, hcm),
            listener("only-ignored", ignoredPort, hcmWith("ignored", onlyIgnored.filter)),
          ],
          clusters: [httpbinCluster, ...built.clusters],
        },
      },
    });
    base = `http://127.0.0.1:${port}`;
    ignoredBase = `http://127.0.0.1:${ignoredPort}`;
    // The listener is up once its JWKS fetch at start is done (fast_listener: false).
    await waitFor("the jwt listener", async () => (await fetch(`${envoy.adminUrl}/ready`)).status === 200);
    await waitFor("the listener answering", async () => (await fetch(`${base}/status/204`)).status === 204);
  });

  after(async () => {
    await envoy?.stop();
    await httpbin?.stop();
    await jwks?.stop();
    await new Promise((resolve) => (tlsServer ? tlsServer.close(resolve) : resolve(undefined)));
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
    assert.deepEqual(built.clusters.map((c) => c.name).sort(), [
      `jwks|127.0.0.1|${jwks.port}`,
      `jwks|localhost|${(tlsServer.address() as AddressInfo).port}`,
    ]);
  });

  test("an https JWKS on a host name: fetched over TLS with the host as SNI, its tokens verify", async () => {
    const r = await send("/headers", { "x-tls-token": await tls.sign({ sub: "frank" }) });
    assert.equal(r.status, 200, r.body);
    assert.ok(sniSeen.length > 0, "the https JWKS server was asked");
    assert.deepEqual([...new Set(sniSeen)], ["localhost"]);
    const forged = await createIssuer(tls.issuer, "ES256", tls.kid);
    assert.equal((await send("/headers", { "x-tls-token": await forged.sign() })).status, 401);
  });

  test("no token: 200, and no payload or claim header reaches the route, not even a client's own", async () => {
    const r = await send("/headers");
    assert.equal(r.status, 200);
    assert.equal(r.seen.has("x-jwt-payload"), false);
    assert.equal(r.seen.has("x-jwt-sub"), false);
    assert.equal(r.seen.has("x-meta-sub"), false, "no payload in metadata");
    const spoofed = await send("/headers", {
      "x-jwt-payload": "e30",
      "x-jwt-sub": "mallory",
      "x-es-sub": "m",
    });
    // Envoy strips the output headers a client sends itself, so the route can trust them.
    assert.equal(spoofed.status, 200);
    for (const h of ["x-jwt-payload", "x-jwt-sub", "x-es-sub"]) assert.equal(spoofed.seen.has(h), false, h);
  });

  test("a valid RS256 token (remote JWKS): 200, claim and payload headers forwarded, token removed", async () => {
    const token = await rs.sign({ aud: "waymark", sub: "alice", scope: "read write" });
    const r = await send("/headers", bearer(token));
    assert.equal(r.status, 200, r.body);
    // The payload in metadata, scope split on spaces: what request.auth.* and requestPrincipals read.
    assert.equal(r.seen.get("x-meta-sub"), "alice");
    assert.equal(r.seen.get("x-meta-scope"), '["read","write"]');
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
    const token = await es.sign({ sub: "bob", roles: "admin dev" });
    const r = await send("/headers", bearer(token));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.seen.get("x-meta-roles"), '["admin","dev"]', "spaceDelimitedClaims");
    assert.equal(r.seen.get("x-es-sub"), "bob");
    assert.equal(r.seen.get("authorization"), `Bearer ${token}`);
    assert.equal(r.seen.has("x-jwt-sub"), false);
  });

  test("a route matching on a claim header sees the verified claim", async () => {
    const alice = await send("/by-claim", bearer(await rs.sign({ aud: "waymark", sub: "alice" })));
    assert.equal(alice.status, 299);
    const bob = await send("/by-claim", bearer(await rs.sign({ aud: "waymark", sub: "bob" })));
    assert.equal(bob.status, 404, "httpbin has no /by-claim");
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

  test("a token of a rule left out gets 401, as its problem says, also where only that rule looks", async () => {
    const ignored = await createIssuer("https://ignored.example", "RS256");
    const r = await send("/headers", bearer(await ignored.sign()));
    assert.equal(r.status, 401, r.body);
    // x-ignored-token is read by the rejecting provider alone: even a valid rs token there fails.
    const there = await send("/headers", { "x-ignored-token": await ignored.sign() });
    assert.equal(there.status, 401, there.body);
    const rsThere = await send("/headers", { "x-ignored-token": await rs.sign({ aud: "waymark" }) });
    assert.equal(rsThere.status, 401, rsThere.body);
  });

  test("every rule left out: tokens still get 401, requests without one pass", async () => {
    const at = (headers: Record<string, string>) => fetch(`${ignoredBase}/status/200`, { headers });
    assert.equal((await at({})).status, 200);
    assert.equal((await at(bearer(await rs.sign({ aud: "waymark" })))).status, 401);
    assert.equal((await at(bearer("not.a.jwt"))).status, 401);
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
