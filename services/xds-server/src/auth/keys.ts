// The token issuer's public keys, as the watcher publishes them into wm-issuer: watched, so a key
// rotation reaches every replica within moments, and held parsed for verification.
import type { IssuerKeys, Logger } from "@waymark/api";
import { buckets, type KV, type Watch, watchBucket } from "@waymark/bus";
import { keysFromJwks, type VerifyKey } from "./jwt.ts";

export interface IssuerKeySet {
  issuer: string;
  keys: ReadonlyMap<string, VerifyKey>;
  fetchedAt: string;
}

/** Where an authenticator reads the current keys from. */
export interface KeySource {
  readonly current: IssuerKeySet | undefined;
}

/** A fixed key set (tests, or keys from a file). */
export function staticKeys(issuer: string, jwks: IssuerKeys["jwks"]): KeySource {
  const current = { issuer, keys: keysFromJwks(jwks).keys, fetchedAt: new Date().toISOString() };
  return { current };
}

export class NatsKeySource implements KeySource {
  readonly #kv: KV;
  readonly #log: Logger;
  #watch: Watch | undefined;
  #current: IssuerKeySet | undefined;

  constructor(kv: KV, log: Logger) {
    this.#kv = kv;
    this.#log = log.child({ component: "issuer-keys" });
  }

  get current(): IssuerKeySet | undefined {
    return this.#current;
  }

  /** Resolves once the bucket's current entry (if any) is loaded. */
  async start(): Promise<void> {
    this.#watch = watchBucket(
      this.#kv,
      buckets.issuer.key(),
      {
        onEntry: (e) => {
          if (e.operation !== "PUT") {
            this.#current = undefined;
            this.#log.warn("issuer keys removed: every proxy token is refused until they come back");
            return;
          }
          let v: IssuerKeys;
          try {
            v = e.json<IssuerKeys>();
          } catch (err) {
            this.#log.error("issuer keys are not JSON; keeping the previous ones", { err });
            return;
          }
          if (typeof v?.issuer !== "string" || !v.issuer || !Array.isArray(v.jwks?.keys)) {
            this.#log.error("issuer keys entry is malformed; keeping the previous ones");
            return;
          }
          const { keys, skipped } = keysFromJwks(v.jwks);
          if (skipped.length) this.#log.warn("issuer keys skipped", { skipped });
          this.#current = { issuer: v.issuer, keys, fetchedAt: v.fetchedAt };
          this.#log.info("issuer keys loaded", {
            issuer: v.issuer,
            kids: [...keys.keys()],
            fetchedAt: v.fetchedAt,
          });
        },
      },
      this.#log,
    );
    await this.#watch.ready;
    if (!this.#current)
      this.#log.warn(
        "no issuer keys in NATS yet (the watcher publishes them): proxy tokens are refused until then",
      );
  }

  stop(): void {
    this.#watch?.stop();
  }
}
