// A small typed client for the Kubernetes API over node:https: JSON requests, server-side apply, and
// watches as a stream of events. Kubeconfig loading and authentication (tokens, client certificates,
// exec credential plugins, OIDC, in-cluster) are @kubernetes/client-node's KubeConfig, applied to
// every request. The requests and the watch protocol stay ours, because the library's ListWatch
// informer falls short of what the watcher does (see informer.ts): it stops for good on any error
// but 410 (an API server restart or a reset connection ends it), lists in one unpaginated request,
// asks for no bookmarks (so each resume after the server ends a watch risks a 410 and a relist), and
// keeps its own copy of every object where the publisher already keeps the state.
import http from "node:http";
import https from "node:https";
import { WaymarkError } from "@waymark/api";
import type { KubeConnection } from "./connection.ts";

/** An error answer of the API server (a Status object), or a transport failure (status 0). */
export class KubeApiError extends WaymarkError {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string, options?: ErrorOptions) {
    super("kube-api", message, options);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
  }
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: Record<string, unknown>;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Abort the request (default: 30 s). */
  timeoutMs?: number;
  /** The Accept header (default application/json; the JWKS endpoint serves application/jwk-set+json). */
  accept?: string;
}

export const APPLY_PATCH = "application/apply-patch+yaml";
export const MERGE_PATCH = "application/merge-patch+json";

function withQuery(path: string, query: RequestOptions["query"]): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}${path.includes("?") ? "&" : "?"}${s}` : path;
}

function errorOf(status: number, text: string, what: string): KubeApiError {
  let reason = "";
  let message = text.trim().slice(0, 500);
  try {
    const st = JSON.parse(text) as { reason?: string; message?: string };
    reason = st.reason ?? "";
    message = st.message ?? message;
  } catch {
    // not a Status object
  }
  return new KubeApiError(status, reason, `${what}: ${status} ${reason} ${message}`.trim());
}

type AuthOptions = https.RequestOptions;

export class KubeClient {
  readonly #c: KubeConnection;
  readonly #url: URL;
  readonly #tls: boolean;
  /** Our keep-alive agent, remade when the TLS material changes (an exec plugin's new certificate). */
  #agent: { agent: http.Agent; key: readonly unknown[] } | undefined;
  readonly #agents = new Set<http.Agent>();
  /** One credential look-up at a time: concurrent requests share it (an exec plugin runs once). */
  #auth: Promise<AuthOptions> | undefined;
  /** A request could not reach the API server (refused, reset, cut off) and none has been answered since. */
  #unreachable = false;
  readonly #reachableAgain = new Set<() => void>();

  constructor(c: KubeConnection) {
    this.#c = c;
    this.#url = new URL(c.server);
    this.#tls = this.#url.protocol === "https:";
  }

  get server(): string {
    return this.#c.server;
  }

  /**
   * Calls `l` each time the API server answers (any HTTP status) after a request could not reach it:
   * it was restarted or replaced, and may have come back with other settings (its service-account
   * signing keys are read only at its start). Returns the unsubscribe.
   */
  onReachableAgain(l: () => void): () => void {
    this.#reachableAgain.add(l);
    return () => this.#reachableAgain.delete(l);
  }

  #unreached(): void {
    this.#unreachable = true;
  }

  #answered(): void {
    if (!this.#unreachable) return;
    this.#unreachable = false;
    for (const l of this.#reachableAgain) l();
  }

  #credentials(): Promise<AuthOptions> {
    this.#auth ??= (async () => {
      const o: AuthOptions = {};
      try {
        await this.#c.config.applyToHTTPSOptions(o);
      } finally {
        this.#auth = undefined;
      }
      return o;
    })();
    return this.#auth;
  }

  // The library's own agent (o.agent) is a new https.Agent without keep-alive, so every request and
  // every watch would pay a TLS handshake; we pool connections ourselves from the same TLS settings.
  // Only an HTTP or SOCKS proxy (the cluster's proxy-url) needs the library's agent.
  #agentFor(o: AuthOptions): http.Agent {
    if (this.#c.config.getCurrentCluster()?.proxyUrl && o.agent instanceof http.Agent) return o.agent;
    const key = [o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername];
    // By content: the library reads the CA and certificate files again for each request.
    const same = (a: unknown, b: unknown) =>
      a === b || (Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b)) || String(a) === String(b);
    if (this.#agent?.key.every((v, i) => same(v, key[i]))) return this.#agent.agent;
    const opts = { keepAlive: true, maxSockets: 32 };
    const agent = this.#tls
      ? new https.Agent({
          ...opts,
          ...(o.ca ? { ca: o.ca } : {}),
          ...(o.cert ? { cert: o.cert } : {}),
          ...(o.key ? { key: o.key } : {}),
          ...(o.pfx ? { pfx: o.pfx } : {}),
          ...(o.passphrase ? { passphrase: o.passphrase } : {}),
          ...(o.servername ? { servername: o.servername } : {}),
          rejectUnauthorized: o.rejectUnauthorized !== false,
        })
      : new http.Agent(opts);
    // The previous agent's open connections (a running watch) finish on their own.
    this.#agent = { agent, key };
    this.#agents.add(agent);
    return agent;
  }

  /** #open, with a failure to get credentials (an exec plugin that fails) as a KubeApiError. */
  async #openOrFail(
    what: string,
    method: string,
    path: string,
    headers: Record<string, string>,
  ): Promise<http.ClientRequest> {
    try {
      return await this.#open(method, path, headers);
    } catch (err) {
      throw new KubeApiError(0, "", `${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  async #open(method: string, path: string, headers: Record<string, string>): Promise<http.ClientRequest> {
    const o = await this.#credentials();
    const lib = this.#tls ? https : http;
    const auth: Record<string, string> = {};
    // Trimmed: a token file that ends in a newline would make an invalid header.
    for (const [k, v] of Object.entries(o.headers ?? {}))
      if (v !== undefined) auth[k.toLowerCase()] = (Array.isArray(v) ? v.join(", ") : String(v)).trim();
    return lib.request({
      method,
      host: this.#url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: this.#url.port || (this.#tls ? 443 : 80),
      path: `${this.#url.pathname.replace(/\/$/, "")}${path}`,
      agent: this.#agentFor(o),
      ...(o.auth ? { auth: o.auth } : {}),
      headers: { accept: "application/json", ...headers, ...auth },
    });
  }

  /** One request; resolves with the parsed JSON answer, rejects with KubeApiError. */
  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    o: RequestOptions = {},
  ): Promise<T> {
    const full = withQuery(path, o.query);
    const what = `${method} ${full}`;
    const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const req = await this.#openOrFail(what, method, full, {
      ...(body ? { "content-type": o.contentType ?? "application/json" } : {}),
      ...(o.accept ? { accept: o.accept } : {}),
    });
    return new Promise<T>((resolve, reject) => {
      req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(new Error("request timed out")));
      req.on("error", (err) => {
        this.#unreached();
        reject(new KubeApiError(0, "", `${what}: ${err.message}`, { cause: err }));
      });
      req.on("response", (res) => {
        this.#answered();
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("error", (err) => reject(new KubeApiError(0, "", `${what}: ${err.message}`, { cause: err })));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            reject(errorOf(status, text, what));
            return;
          }
          try {
            resolve((text ? JSON.parse(text) : {}) as T);
          } catch (err) {
            reject(new KubeApiError(status, "", `${what}: answer is not JSON`, { cause: err }));
          }
        });
      });
      req.end(body);
    });
  }

  /**
   * A watch: calls onEvent for each event until the server ends the stream (resolves) or something
   * fails (rejects: KubeApiError; status 410 means the resourceVersion is too old). `signal` aborts.
   */
  async watch(
    path: string,
    query: RequestOptions["query"],
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const full = withQuery(path, { ...query, watch: 1 });
    const what = `WATCH ${full}`;
    const req = await this.#openOrFail(what, "GET", full, {});
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: unknown) => {
        if (done) return;
        done = true;
        signal.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => {
        req.destroy();
        finish(new KubeApiError(0, "Aborted", `${what}: aborted`));
      };
      req.on("error", (err) => {
        if (!done) this.#unreached();
        finish(new KubeApiError(0, "", `${what}: ${err.message}`, { cause: err }));
      });
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort);
      req.on("response", (res) => {
        this.#answered();
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on("data", (d: Buffer) => chunks.push(d));
          res.on("end", () => finish(errorOf(status, Buffer.concat(chunks).toString("utf8"), what)));
          res.on("error", (err) => finish(err));
          return;
        }
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          buf += d;
          let nl = buf.indexOf("\n");
          while (nl >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            nl = buf.indexOf("\n");
            if (!line) continue;
            let ev: WatchEvent;
            try {
              ev = JSON.parse(line) as WatchEvent;
            } catch (err) {
              req.destroy();
              finish(new KubeApiError(0, "", `${what}: malformed event`, { cause: err }));
              return;
            }
            try {
              onEvent(ev);
            } catch (err) {
              req.destroy();
              finish(err);
              return;
            }
          }
        });
        res.on("end", () => finish());
        res.on("aborted", () => {
          if (!done) this.#unreached();
          finish(new KubeApiError(0, "", `${what}: stream aborted`));
        });
        res.on("error", (err) => finish(new KubeApiError(0, "", `${what}: ${err.message}`, { cause: err })));
      });
      req.end();
    });
  }

  close(): void {
    for (const a of this.#agents) a.destroy();
    this.#agents.clear();
    this.#agent = undefined;
  }
}
