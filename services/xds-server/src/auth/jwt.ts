// Verification of a compact JWS token (a Kubernetes service-account token) with public keys given by
// the caller and a caller's clock: signature (RS256/384/512, ES256/384/512 over node:crypto), issuer,
// audience, expiry and not-before with a small skew. Pure: no I/O, no ambient clock.
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { type JsonWebKeyEntry, WaymarkError } from "@waymark/api";

/** Why a token was refused; stable, for logs and the rejection metric's `reason` label. */
export type TokenProblem =
  | "malformed"
  | "unsupported-algorithm"
  | "unknown-key"
  | "bad-signature"
  | "wrong-issuer"
  | "wrong-audience"
  | "expired"
  | "not-yet-valid"
  | "no-keys";

export class TokenError extends WaymarkError {
  readonly problem: TokenProblem;
  constructor(problem: TokenProblem, message: string) {
    super(`token-${problem}`, message);
    this.name = "TokenError";
    this.problem = problem;
  }
}

export type JwtClaims = Record<string, unknown> & {
  iss?: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  sub?: unknown;
};

/** Node's verify() parameters per JWS algorithm (ECDSA signatures are r‖s, not DER). */
const ALGORITHMS: Record<string, { hash: string; kty: "RSA" | "EC"; crv?: string }> = {
  RS256: { hash: "sha256", kty: "RSA" },
  RS384: { hash: "sha384", kty: "RSA" },
  RS512: { hash: "sha512", kty: "RSA" },
  ES256: { hash: "sha256", kty: "EC", crv: "P-256" },
  ES384: { hash: "sha384", kty: "EC", crv: "P-384" },
  ES512: { hash: "sha512", kty: "EC", crv: "P-521" },
};

export interface VerifyKey {
  kid: string;
  kty: "RSA" | "EC";
  /** EC curve (P-256, …); undefined for RSA. */
  crv: string | undefined;
  /** The algorithm the JWK names, if it names one. */
  alg: string | undefined;
  key: KeyObject;
}

/**
 * Public keys from a JWK set, by kid. Private material, keys of other types, keys meant for
 * encryption and keys without a kid are left out; `skipped` says why for each.
 */
export function keysFromJwks(jwks: { keys: readonly JsonWebKeyEntry[] }): {
  keys: Map<string, VerifyKey>;
  skipped: string[];
} {
  const keys = new Map<string, VerifyKey>();
  const skipped: string[] = [];
  for (const [i, jwk] of (Array.isArray(jwks?.keys) ? jwks.keys : []).entries()) {
    const kid = typeof jwk.kid === "string" ? jwk.kid : "";
    const what = kid ? `key ${kid}` : `key #${i}`;
    if (!kid) skipped.push(`${what}: no kid`);
    else if (jwk.kty !== "RSA" && jwk.kty !== "EC") skipped.push(`${what}: kty ${String(jwk.kty)}`);
    else if (jwk.use !== undefined && jwk.use !== "sig") skipped.push(`${what}: use ${String(jwk.use)}`);
    else if ("d" in jwk) skipped.push(`${what}: holds private material`);
    else {
      try {
        const key = createPublicKey({ key: jwk as import("node:crypto").JsonWebKey, format: "jwk" });
        keys.set(kid, {
          kid,
          kty: jwk.kty,
          crv: typeof jwk["crv"] === "string" ? jwk["crv"] : undefined,
          alg: typeof jwk.alg === "string" ? jwk.alg : undefined,
          key,
        });
      } catch (err) {
        skipped.push(`${what}: ${(err as Error).message}`);
      }
    }
  }
  return { keys, skipped };
}

export interface VerifyOptions {
  keys: ReadonlyMap<string, VerifyKey>;
  /** The only `iss` accepted. */
  issuer: string;
  /** `aud` must hold this one. */
  audience: string;
  /** Now, in ms since the epoch. */
  now: number;
  /** Tolerance for clocks that differ, on exp and nbf (seconds). */
  skewSeconds: number;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function part(text: string, what: string): Record<string, unknown> {
  if (!B64URL.test(text)) throw new TokenError("malformed", `the token's ${what} is not base64url`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw new TokenError("malformed", `the token's ${what} is not JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new TokenError("malformed", `the token's ${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** Verifies a compact JWS and returns its claims; throws TokenError saying what is wrong. */
export function verifyJwt(token: string, o: VerifyOptions): JwtClaims {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[0] || !parts[1] || !parts[2])
    throw new TokenError("malformed", "the token is not a signed JWT (header.payload.signature)");
  const [h, p, s] = parts as [string, string, string];
  const header = part(h, "header");
  const alg = header["alg"];
  const spec = typeof alg === "string" ? ALGORITHMS[alg] : undefined;
  if (!spec)
    throw new TokenError(
      "unsupported-algorithm",
      `the token's algorithm ${JSON.stringify(alg)} is not accepted (${Object.keys(ALGORITHMS).join(", ")})`,
    );
  if (header["crit"] !== undefined)
    throw new TokenError("unsupported-algorithm", "the token names critical header extensions");
  if (o.keys.size === 0) throw new TokenError("no-keys", "no issuer keys are known yet");
  const kid = header["kid"];
  const key =
    typeof kid === "string" ? o.keys.get(kid) : o.keys.size === 1 ? o.keys.values().next().value : undefined;
  if (!key)
    throw new TokenError("unknown-key", `the token's key ${JSON.stringify(kid ?? null)} is not the issuer's`);
  if (key.kty !== spec.kty || (spec.crv && key.crv !== spec.crv) || (key.alg && key.alg !== alg))
    throw new TokenError(
      "unsupported-algorithm",
      `the token's algorithm ${alg} does not match key ${key.kid}`,
    );
  if (!B64URL.test(s)) throw new TokenError("malformed", "the token's signature is not base64url");
  const ok = verify(
    spec.hash,
    Buffer.from(`${h}.${p}`, "ascii"),
    spec.kty === "EC" ? { key: key.key, dsaEncoding: "ieee-p1363" } : key.key,
    Buffer.from(s, "base64url"),
  );
  if (!ok) throw new TokenError("bad-signature", `the token's signature does not verify with key ${key.kid}`);

  // Only a signed token's claims are worth reading.
  const claims = part(p, "payload") as JwtClaims;
  if (claims.iss !== o.issuer)
    throw new TokenError(
      "wrong-issuer",
      `the token's issuer ${JSON.stringify(claims.iss ?? null)} is not ${JSON.stringify(o.issuer)}`,
    );
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(o.audience))
    throw new TokenError(
      "wrong-audience",
      `the token's audience ${JSON.stringify(claims.aud ?? null)} does not include ${JSON.stringify(o.audience)}`,
    );
  const now = o.now / 1000;
  if (typeof claims.exp !== "number" || !Number.isFinite(claims.exp))
    throw new TokenError("malformed", "the token has no expiry (exp)");
  if (now > claims.exp + o.skewSeconds)
    throw new TokenError("expired", `the token expired at ${new Date(claims.exp * 1000).toISOString()}`);
  if (claims.nbf !== undefined) {
    if (typeof claims.nbf !== "number" || !Number.isFinite(claims.nbf))
      throw new TokenError("malformed", "the token's nbf is not a number");
    if (now < claims.nbf - o.skewSeconds)
      throw new TokenError(
        "not-yet-valid",
        `the token is not valid before ${new Date(claims.nbf * 1000).toISOString()}`,
      );
  }
  return claims;
}
