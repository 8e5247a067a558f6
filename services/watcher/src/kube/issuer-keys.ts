// The service-account token issuer and its public keys, read from the API server
// (`/.well-known/openid-configuration`, `/openid/v1/jwks`; RBAC: a nonResourceURLs get) and published
// into wm-issuer, so that the xds-server verifies proxy tokens without Kubernetes credentials of its
// own. Written only when they change. Read again every refreshMs, and at once whenever the API server
// answers again after it could not be reached: kube-apiserver reads its signing and verification keys
// (--service-account-signing-key-file, --service-account-key-file) only at its start, so a key change
// comes with a restart, and the new keys are published as soon as the restarted server answers.
import { ISSUER_KEY, type IssuerKeys, type JsonWebKeyEntry, type Logger, WaymarkError } from "@waymark/api";
import { getJson, type KV, putJson } from "@waymark/bus";
import type { KubeClient } from "./client.ts";

export const DISCOVERY_PATH = "/.well-known/openid-configuration";
export const JWKS_PATH = "/openid/v1/jwks";

const isRec = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Private JWK members: never published, whatever the server answered. */
const PRIVATE = new Set(["d", "p", "q", "dp", "dq", "qi", "oth", "k"]);

/**
 * The entry to publish from the two documents; throws a WaymarkError (code `issuer-keys`) when they
 * are not what an issuer serves. Only public RSA and EC keys are kept.
 */
export function issuerKeysOf(discovery: unknown, jwks: unknown, source: string, now: Date): IssuerKeys {
  const bad = (m: string) => new WaymarkError("issuer-keys", m);
  if (!isRec(discovery) || typeof discovery["issuer"] !== "string" || !discovery["issuer"])
    throw bad(`${DISCOVERY_PATH} names no issuer`);
  if (!isRec(jwks) || !Array.isArray(jwks["keys"])) throw bad(`${JWKS_PATH} is not a JSON Web Key Set`);
  const keys: JsonWebKeyEntry[] = [];
  for (const k of jwks["keys"]) {
    if (!isRec(k) || (k["kty"] !== "RSA" && k["kty"] !== "EC")) continue;
    keys.push(Object.fromEntries(Object.entries(k).filter(([f]) => !PRIVATE.has(f))) as JsonWebKeyEntry);
  }
  if (keys.length === 0) throw bad(`${JWKS_PATH} holds no RSA or EC public key`);
  return { issuer: discovery["issuer"], jwks: { keys }, fetchedAt: now.toISOString(), source };
}

const sameKeys = (a: IssuerKeys | undefined, b: IssuerKeys) =>
  a !== undefined && a.issuer === b.issuer && JSON.stringify(a.jwks) === JSON.stringify(b.jwks);

export interface IssuerKeysOptions {
  client: KubeClient;
  kv: KV;
  log: Logger;
  /** How often the keys are read again (ms). */
  refreshMs?: number;
}

export class IssuerKeysPublisher {
  readonly #o: IssuerKeysOptions;
  readonly #log: Logger;
  readonly #refreshMs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failures = 0;
  /** The read under way (a timed one or an early one), if any. */
  #running: Promise<void> | undefined;
  /** Asked to read again while a read was under way. */
  #again = false;
  #unsubscribe: (() => void) | undefined;

  constructor(o: IssuerKeysOptions) {
    this.#o = o;
    this.#log = o.log.child({ component: "issuer-keys" });
    this.#refreshMs = o.refreshMs ?? 60_000;
  }

  /** Reads and publishes once (resolves true when published or unchanged), then keeps refreshing. */
  async start(): Promise<boolean> {
    const ok = await this.refresh();
    this.#schedule(ok);
    this.#unsubscribe = this.#o.client.onReachableAgain(() =>
      this.refreshSoon("the API server answers again (restarted, perhaps with other keys)"),
    );
    return ok;
  }

  /** Reads again now (or right after the read under way), then every refreshMs from then. */
  refreshSoon(why: string): void {
    if (this.#stopped) return;
    this.#log.info("reading the issuer keys again", { why });
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#cycle();
  }

  #cycle(): void {
    this.#running = (async () => {
      let ok: boolean;
      do {
        this.#again = false;
        ok = await this.refresh();
      } while (this.#again && !this.#stopped);
      this.#running = undefined;
      this.#schedule(ok);
    })();
  }

  /** One read-and-publish; false (and logged) when the API server or NATS failed. */
  async refresh(): Promise<boolean> {
    const { client, kv } = this.#o;
    try {
      const [discovery, jwks] = await Promise.all([
        client.request<unknown>("GET", DISCOVERY_PATH),
        client.request<unknown>("GET", JWKS_PATH, { accept: "application/jwk-set+json, application/json" }),
      ]);
      const next = issuerKeysOf(discovery, jwks, client.server, new Date());
      const prev = await getJson<IssuerKeys>(kv, ISSUER_KEY);
      if (!sameKeys(prev, next)) {
        await putJson(kv, ISSUER_KEY, next);
        this.#log.info("issuer keys published", {
          issuer: next.issuer,
          kids: next.jwks.keys.map((k) => k.kid ?? null),
        });
      }
      this.#failures = 0;
      return true;
    } catch (err) {
      this.#failures++;
      this.#log.warn("cannot read or publish the issuer keys; proxies keep the last published ones", {
        err,
        failures: this.#failures,
      });
      return false;
    }
  }

  #schedule(lastOk: boolean): void {
    if (this.#stopped) return;
    const wait = lastOk
      ? this.#refreshMs
      : Math.min(this.#refreshMs, 1000 * 2 ** Math.min(this.#failures, 5));
    this.#timer = setTimeout(() => this.#cycle(), wait);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    clearTimeout(this.#timer);
  }
}
