// A proxy's credentials → its identity: the bearer token of the ADS stream's `authorization` metadata,
// verified with the issuer's published keys, the configured audience and the given clock.
import { identityOf, type ProxyIdentity } from "./identity.ts";
import { TokenError, verifyJwt } from "./jwt.ts";
import type { KeySource } from "./keys.ts";

export interface AuthenticatorOptions {
  keys: KeySource;
  audience: string;
  /** The issuer tokens must name; default: the issuer the keys were published for. */
  issuer?: string;
  skewSeconds: number;
  /** ms since the epoch (injected in tests). */
  now?: () => number;
}

export class TokenAuthenticator {
  readonly #o: AuthenticatorOptions;
  readonly #now: () => number;

  constructor(o: AuthenticatorOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** Now, on the clock tokens are checked against (ms since the epoch). */
  now(): number {
    return this.#now();
  }

  /**
   * When a stream this identity opened must end (ms since the epoch): the first instant at which
   * authenticate() refuses its token (expiry plus the tolerated skew), so a proxy that reconnects
   * with the same token is refused rather than served again.
   */
  deadline(id: ProxyIdentity): number {
    return id.expiresAt + this.#o.skewSeconds * 1000 + 1;
  }

  /** The identity of an `authorization` header's value; throws TokenError when it proves none. */
  authenticate(authorization: string | undefined): ProxyIdentity {
    if (!authorization)
      throw new TokenError("malformed", "no bearer token: the proxy sent no authorization metadata");
    const m = /^Bearer +(\S+)\s*$/i.exec(authorization);
    if (!m) throw new TokenError("malformed", "the authorization metadata is not `Bearer <token>`");
    const set = this.#o.keys.current;
    if (!set)
      throw new TokenError("no-keys", "the issuer's keys are not known yet (the watcher publishes them)");
    if (this.#o.issuer !== undefined && set.issuer !== this.#o.issuer)
      throw new TokenError(
        "wrong-issuer",
        `the published keys are issuer ${JSON.stringify(set.issuer)}'s, not the configured ${JSON.stringify(this.#o.issuer)}`,
      );
    const claims = verifyJwt(m[1]!, {
      keys: set.keys,
      issuer: set.issuer,
      audience: this.#o.audience,
      now: this.#now(),
      skewSeconds: this.#o.skewSeconds,
    });
    return identityOf(claims);
  }
}
