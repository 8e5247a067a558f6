// Test JWT issuers for RequestAuthentication: real signing keys (RS256 and ES256, from jose), a JWKS
// served over plain HTTP on a free loopback port (what a jwksUri points at), and tokens signed with
// chosen claims, including expired, not-yet-valid, wrong-issuer and wrongly signed ones.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

export type JwtAlg = "RS256" | "ES256";

export interface TestIssuer {
  /** The `iss` claim this issuer signs by default. */
  issuer: string;
  alg: JwtAlg;
  kid: string;
  /** The public JWKS (`{"keys":[...]}`), as a RequestAuthentication's inline `jwks` or at a jwksUri. */
  jwks: { keys: JWK[] };
  /**
   * A signed token. `claims` overrides the defaults (iss, sub "tester", iat now, exp in an hour);
   * set a claim to undefined to leave it out. `expired` puts exp an hour in the past, `notYetValid`
   * puts nbf an hour ahead.
   */
  sign(
    claims?: Record<string, unknown>,
    opts?: { expired?: boolean; notYetValid?: boolean },
  ): Promise<string>;
}

/** An issuer with a fresh key pair. */
export async function createIssuer(issuer: string, alg: JwtAlg = "RS256", kid = `${alg.toLowerCase()}-1`) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  const result: TestIssuer = {
    issuer,
    alg,
    kid,
    jwks: { keys: [jwk] },
    async sign(claims = {}, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload: JWTPayload = { iss: issuer, sub: "tester", iat: now, exp: now + 3600 };
      if (opts.expired) payload.exp = now - 3600;
      if (opts.notYetValid) payload.nbf = now + 3600;
      for (const [k, v] of Object.entries(claims)) {
        if (v === undefined) delete payload[k];
        else payload[k] = v;
      }
      return new SignJWT(payload).setProtectedHeader({ alg, kid, typ: "JWT" }).sign(privateKey);
    },
  };
  return result;
}

export interface JwksServer {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** The URL serving `issuer`'s JWKS (`<url>/<name>/jwks.json`). */
  jwksUri(name: string): string;
  /** How many times each path was fetched. */
  fetches: Map<string, number>;
  stop(): Promise<void>;
}

/** Serves each issuer's JWKS at `/<name>/jwks.json`; anything else is 404. */
export async function startJwksServer(issuers: Record<string, TestIssuer>): Promise<JwksServer> {
  const fetches = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    fetches.set(path, (fetches.get(path) ?? 0) + 1);
    const name = /^\/([^/]+)\/jwks\.json$/.exec(path)?.[1];
    const issuer = name === undefined ? undefined : issuers[name];
    if (!issuer) {
      res.writeHead(404, { "content-type": "text/plain" }).end("no such JWKS\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(issuer.jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    jwksUri: (name) => `${url}/${name}/jwks.json`,
    fetches,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
