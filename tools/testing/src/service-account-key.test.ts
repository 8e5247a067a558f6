// The test's own service-account keys: a token signed with one verifies (jose) against the key's
// public JWK under the key's kid, and carries the claims kube-apiserver puts in a projected token.
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createLocalJWKSet, type JWK, jwtVerify } from "jose";
import { makeServiceAccountKey, signServiceAccountToken } from "./kube.ts";

test("a token signed with a test key verifies under its kid, with the service-account claims", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sa-key-test-"));
  try {
    const key = makeServiceAccountKey(dir, "k");
    const other = makeServiceAccountKey(dir, "other");
    assert.match(key.kid, /^[A-Za-z0-9_-]{43}$/, "base64url of a SHA-256");
    assert.notEqual(key.kid, other.kid);
    const token = signServiceAccountToken(key, {
      audience: "waymark",
      namespace: "httpbin",
      serviceAccount: "kgateway-waypoint",
      uid: "u1",
      seconds: 600,
    });
    const jwk = (k: typeof key) =>
      ({ ...createPublicKey(readFileSync(k.publicKeyFile)).export({ format: "jwk" }), kid: k.kid }) as JWK;
    const { payload, protectedHeader } = await jwtVerify(
      token,
      createLocalJWKSet({ keys: [jwk(other), jwk(key)] }),
      {
        issuer: "https://kubernetes.default.svc",
        audience: "waymark",
      },
    );
    assert.equal(protectedHeader.kid, key.kid);
    assert.equal(payload.sub, "system:serviceaccount:httpbin:kgateway-waypoint");
    assert.deepEqual(payload["kubernetes.io"], {
      namespace: "httpbin",
      serviceaccount: { name: "kgateway-waypoint", uid: "u1" },
    });
    assert.equal(payload.exp! - payload.iat!, 600);
    await assert.rejects(jwtVerify(token, createLocalJWKSet({ keys: [{ ...jwk(other), kid: key.kid }] })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
