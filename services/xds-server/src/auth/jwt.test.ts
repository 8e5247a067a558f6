// Token verification with keys generated here: every way a token can be wrong is refused with its
// reason, and a right one is accepted. The tokens are built as the API server builds them (a JWS over
// base64url header and claims, RS256 or ES256, with a kid).
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { describe, test } from "node:test";
import type { JsonWebKeyEntry } from "@waymark/api";
import { TokenAuthenticator } from "./authenticator.ts";
import { identityOf, refusal } from "./identity.ts";
import { keysFromJwks, TokenError, type TokenProblem, verifyJwt } from "./jwt.ts";
import { staticKeys } from "./keys.ts";

const ISSUER = "https://kubernetes.default.svc";
const NOW = Date.parse("2026-03-01T12:00:00Z");
const sec = (ms: number) => Math.floor(ms / 1000);

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const other = generateKeyPairSync("rsa", { modulusLength: 2048 });

const jwk = (k: KeyObject, kid: string, extra: Record<string, unknown> = {}): JsonWebKeyEntry =>
  ({ ...k.export({ format: "jwk" }), kid, use: "sig", ...extra }) as JsonWebKeyEntry;

const jwks = {
  keys: [jwk(rsa.publicKey, "rsa-1", { alg: "RS256" }), jwk(ec.publicKey, "ec-1", { alg: "ES256" })],
};
const { keys } = keysFromJwks(jwks);

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    aud: ["waymark"],
    sub: "system:serviceaccount:httpbin:kgateway-waypoint",
    iat: sec(NOW) - 60,
    nbf: sec(NOW) - 60,
    exp: sec(NOW) + 3600,
    "kubernetes.io": {
      namespace: "httpbin",
      serviceaccount: { name: "kgateway-waypoint", uid: "u1" },
      pod: { name: "kgateway-waypoint-abc", uid: "u2" },
    },
    ...over,
  };
}

function mint(
  body: Record<string, unknown>,
  o: { alg?: string; kid?: string | null; key?: KeyObject } = {},
): string {
  const alg = o.alg ?? "RS256";
  const header: Record<string, unknown> = { alg, typ: "JWT" };
  if (o.kid !== null) header["kid"] = o.kid ?? (alg.startsWith("ES") ? "ec-1" : "rsa-1");
  const input = `${b64(header)}.${b64(body)}`;
  const key = o.key ?? (alg.startsWith("ES") ? ec.privateKey : rsa.privateKey);
  const sig = alg.startsWith("ES")
    ? sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" })
    : sign("sha256", Buffer.from(input), key);
  return `${input}.${sig.toString("base64url")}`;
}

const opts = { keys, issuer: ISSUER, audience: "waymark", now: NOW, skewSeconds: 30 };

function refused(token: string, problem: TokenProblem, o: Partial<typeof opts> = {}): void {
  assert.throws(
    () => verifyJwt(token, { ...opts, ...o }),
    (err: unknown) => {
      assert.ok(err instanceof TokenError, String(err));
      assert.equal(err.problem, problem, err.message);
      return true;
    },
  );
}

describe("verifyJwt", () => {
  test("accepts a valid RS256 token and a valid ES256 token", () => {
    assert.equal(verifyJwt(mint(claims()), opts).sub, "system:serviceaccount:httpbin:kgateway-waypoint");
    assert.equal(verifyJwt(mint(claims(), { alg: "ES256" }), opts).iss, ISSUER);
  });

  test("a single audience string is accepted as well as a list", () => {
    assert.ok(verifyJwt(mint(claims({ aud: "waymark" })), opts));
  });

  test("refuses a wrong audience", () => {
    refused(mint(claims({ aud: ["https://kubernetes.default.svc"] })), "wrong-audience");
    refused(mint(claims({ aud: undefined })), "wrong-audience");
  });

  test("refuses an expired token, tolerating the skew", () => {
    const exp = sec(NOW) - 10;
    assert.ok(verifyJwt(mint(claims({ exp })), opts), "10 s late is within the 30 s skew");
    refused(mint(claims({ exp })), "expired", { skewSeconds: 0 });
    refused(mint(claims({ exp: sec(NOW) - 3600 })), "expired");
    refused(mint(claims({ exp: undefined })), "malformed");
    refused(mint(claims({ exp: "tomorrow" })), "malformed");
  });

  test("refuses a token that is not valid yet, tolerating the skew", () => {
    assert.ok(verifyJwt(mint(claims({ nbf: sec(NOW) + 10 })), opts));
    refused(mint(claims({ nbf: sec(NOW) + 10 })), "not-yet-valid", { skewSeconds: 0 });
    refused(mint(claims({ nbf: sec(NOW) + 600 })), "not-yet-valid");
  });

  test("refuses a bad signature: another key, altered claims, truncated signature", () => {
    refused(mint(claims(), { key: other.privateKey }), "bad-signature");
    const [h, , s] = mint(claims()).split(".");
    const altered = b64(claims({ "kubernetes.io": { namespace: "other", serviceaccount: { name: "x" } } }));
    refused(`${h}.${altered}.${s}`, "bad-signature");
    refused(`${h}.${mint(claims()).split(".")[1]}.${s!.slice(0, 40)}`, "bad-signature");
    // An ES256 signature in DER form (what a careless signer emits) is not a JWS signature.
    const input = mint(claims(), { alg: "ES256" }).split(".").slice(0, 2).join(".");
    const der = sign("sha256", Buffer.from(input), ec.privateKey).toString("base64url");
    refused(`${input}.${der}`, "bad-signature");
  });

  test("refuses an unknown kid, and no kid when the issuer has several keys", () => {
    refused(mint(claims(), { kid: "rotated-away" }), "unknown-key");
    refused(mint(claims(), { kid: null }), "unknown-key");
    const one = keysFromJwks({ keys: [jwks.keys[0]!] }).keys;
    assert.ok(verifyJwt(mint(claims(), { kid: null }), { ...opts, keys: one }), "a single key needs no kid");
    refused(mint(claims()), "no-keys", { keys: new Map() });
  });

  test("refuses alg none, HMAC with the public key as secret, and an algorithm that is not the key's", () => {
    refused(`${b64({ alg: "none", typ: "JWT" })}.${b64(claims())}.`, "malformed");
    refused(`${b64({ alg: "none", typ: "JWT" })}.${b64(claims())}.AAAA`, "unsupported-algorithm");
    const input = `${b64({ alg: "HS256", kid: "rsa-1" })}.${b64(claims())}`;
    const pem = rsa.publicKey.export({ format: "pem", type: "spki" });
    const mac = createHmac("sha256", pem).update(input).digest("base64url");
    refused(`${input}.${mac}`, "unsupported-algorithm");
    // An RS256 header pointing at the EC key.
    refused(mint(claims(), { kid: "ec-1" }), "unsupported-algorithm");
    refused(
      `${b64({ alg: "RS256", kid: "rsa-1", crit: ["exp"] })}.${b64(claims())}.AAAA`,
      "unsupported-algorithm",
    );
  });

  test("refuses a wrong issuer", () => {
    refused(mint(claims({ iss: "https://evil.example" })), "wrong-issuer");
    refused(mint(claims({ iss: undefined })), "wrong-issuer");
  });

  test("refuses malformed tokens", () => {
    for (const t of ["", "abc", "a.b", "a.b.c.d", "..", "!!.e30.AAAA", `${b64(claims())}.${b64(claims())}`])
      refused(t, "malformed");
    refused(`${Buffer.from("not json").toString("base64url")}.${b64(claims())}.AAAA`, "malformed");
    refused(`${b64([1, 2])}.${b64(claims())}.AAAA`, "malformed");
    // Signed but its payload is no JSON object.
    const input = `${b64({ alg: "RS256", kid: "rsa-1" })}.${Buffer.from("[]").toString("base64url")}`;
    const sig = sign("sha256", Buffer.from(input), rsa.privateKey).toString("base64url");
    refused(`${input}.${sig}`, "malformed");
  });
});

describe("keysFromJwks", () => {
  test("keeps public signing keys with a kid and says why it skips the others", () => {
    const priv = rsa.privateKey.export({ format: "jwk" });
    const { keys: k, skipped } = keysFromJwks({
      keys: [
        jwks.keys[0]!,
        { ...(priv as JsonWebKeyEntry), kid: "private" },
        { ...jwks.keys[1]!, kid: undefined } as unknown as JsonWebKeyEntry,
        { ...jwks.keys[1]!, kid: "enc", use: "enc" },
        { kty: "oct", kid: "hmac", k: "c2VjcmV0" },
        { kty: "EC", kid: "broken", crv: "P-256", x: "AQAB", y: "AQAB" },
      ],
    });
    assert.deepEqual([...k.keys()], ["rsa-1"]);
    assert.equal(skipped.length, 5, skipped.join("\n"));
    assert.match(skipped.join("\n"), /private material/);
  });
});

describe("identity", () => {
  test("names the service account of a Kubernetes token and the waypoint it may fetch", () => {
    const id = identityOf(verifyJwt(mint(claims()), opts));
    assert.deepEqual(id, {
      namespace: "httpbin",
      serviceAccount: "kgateway-waypoint",
      pod: "kgateway-waypoint-abc",
      expiresAt: (sec(NOW) + 3600) * 1000,
    });
    assert.equal(refusal(id, { namespace: "httpbin", name: "kgateway-waypoint" }), undefined);
    assert.match(refusal(id, { namespace: "other", name: "kgateway-waypoint" })!, /may only fetch/);
    assert.match(refusal(id, { namespace: "httpbin", name: "another-waypoint" })!, /may only fetch/);
  });

  test("refuses tokens without the kubernetes.io claim or whose subject disagrees", () => {
    assert.throws(() => identityOf(claims({ "kubernetes.io": undefined })), TokenError);
    assert.throws(
      () => identityOf(claims({ sub: "system:serviceaccount:other:kgateway-waypoint" })),
      TokenError,
    );
  });
});

describe("TokenAuthenticator", () => {
  const auth = (issuer?: string) =>
    new TokenAuthenticator({
      keys: staticKeys(ISSUER, jwks),
      audience: "waymark",
      skewSeconds: 30,
      now: () => NOW,
      ...(issuer ? { issuer } : {}),
    });

  test("reads `Bearer <token>` and returns the identity", () => {
    assert.equal(auth().authenticate(`Bearer ${mint(claims())}`).namespace, "httpbin");
    assert.equal(auth(ISSUER).authenticate(`bearer ${mint(claims())}`).serviceAccount, "kgateway-waypoint");
  });

  test("refuses a missing or malformed header, unknown keys, and keys of another issuer", () => {
    const problem = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as TokenError).problem;
      }
      return "accepted";
    };
    assert.equal(
      problem(() => auth().authenticate(undefined)),
      "malformed",
    );
    assert.equal(
      problem(() => auth().authenticate(`Basic ${mint(claims())}`)),
      "malformed",
    );
    assert.equal(
      problem(() => auth("https://other").authenticate(`Bearer ${mint(claims())}`)),
      "wrong-issuer",
    );
    const none = new TokenAuthenticator({
      keys: { current: undefined },
      audience: "waymark",
      skewSeconds: 0,
    });
    assert.equal(
      problem(() => none.authenticate(`Bearer ${mint(claims())}`)),
      "no-keys",
    );
  });
});
