import assert from "node:assert/strict";
import { test } from "node:test";
import { issuerKeysOf } from "./issuer-keys.ts";

const when = new Date("2026-03-01T12:00:00Z");
const rsa = { kty: "RSA", kid: "k1", alg: "RS256", use: "sig", n: "AQAB", e: "AQAB" };

test("the published entry holds the issuer and the public RSA and EC keys only", () => {
  const got = issuerKeysOf(
    { issuer: "https://kubernetes.default.svc", jwks_uri: "https://x/openid/v1/jwks" },
    {
      keys: [
        rsa,
        { kty: "EC", kid: "k2", crv: "P-256", x: "AA", y: "AA", d: "secret" },
        { kty: "oct", kid: "k3", k: "secret" },
        "junk",
      ],
    },
    "https://127.0.0.1:6443",
    when,
  );
  assert.deepEqual(got, {
    issuer: "https://kubernetes.default.svc",
    jwks: { keys: [rsa, { kty: "EC", kid: "k2", crv: "P-256", x: "AA", y: "AA" }] },
    fetchedAt: "2026-03-01T12:00:00.000Z",
    source: "https://127.0.0.1:6443",
  });
});

test("documents that are not an issuer's are refused with a reason", () => {
  assert.throws(() => issuerKeysOf({}, { keys: [rsa] }, "s", when), /names no issuer/);
  assert.throws(() => issuerKeysOf({ issuer: "i" }, { keys: "x" }, "s", when), /not a JSON Web Key Set/);
  assert.throws(() => issuerKeysOf({ issuer: "i" }, { keys: [{ kty: "oct" }] }, "s", when), /no RSA or EC/);
});
