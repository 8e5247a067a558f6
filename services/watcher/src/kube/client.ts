// A small typed client for the Kubernetes API over node:https: JSON requests, server-side apply, and
// watches as a stream of events. Written here rather than using @kubernetes/client-node because
// Waymark needs exact control of the watch protocol (bookmarks, resourceVersion, 410 Gone → relist,
// an idle watchdog, restarts on any error) where that client's informers stop for good on non-410
// errors, replay no state and cannot go silent-proof without wrapping; the rest (a few verbs on a
// handful of resources) is a page of code.
import { readFileSync, statSync } from "node:fs";
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

export class KubeClient {
  readonly #c: KubeConnection;
  readonly #url: URL;
  readonly #agent: http.Agent;
  #token: { value: string; mtimeMs: number; checkedAt: number } | undefined;

  constructor(c: KubeConnection) {
    this.#c = c;
    this.#url = new URL(c.server);
    const tls = this.#url.protocol === "https:";
    const opts = { keepAlive: true, maxSockets: 32 };
    this.#agent = tls
      ? new https.Agent({
          ...opts,
          ...(c.ca ? { ca: c.ca } : {}),
          ...(c.cert ? { cert: c.cert } : {}),
          ...(c.key ? { key: c.key } : {}),
          rejectUnauthorized: !c.insecureSkipTlsVerify,
        })
      : new http.Agent(opts);
  }

  get server(): string {
    return this.#c.server;
  }

  #bearer(): string | undefined {
    if (this.#c.token) return this.#c.token;
    const f = this.#c.tokenFile;
    if (!f) return undefined;
    const now = Date.now();
    if (this.#token && now - this.#token.checkedAt < 5000) return this.#token.value;
    const mtimeMs = statSync(f).mtimeMs;
    if (!this.#token || this.#token.mtimeMs !== mtimeMs)
      this.#token = { value: readFileSync(f, "utf8").trim(), mtimeMs, checkedAt: now };
    else this.#token.checkedAt = now;
    return this.#token.value;
  }

  #open(method: string, path: string, headers: Record<string, string>): http.ClientRequest {
    const token = this.#bearer();
    const lib = this.#url.protocol === "https:" ? https : http;
    return lib.request({
      method,
      host: this.#url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: this.#url.port || (this.#url.protocol === "https:" ? 443 : 80),
      path: `${this.#url.pathname.replace(/\/$/, "")}${path}`,
      agent: this.#agent,
      headers: {
        accept: "application/json",
        ...headers,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
  }

  /** One request; resolves with the parsed JSON answer, rejects with KubeApiError. */
  request<T = Record<string, unknown>>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const full = withQuery(path, o.query);
    const what = `${method} ${full}`;
    return new Promise<T>((resolve, reject) => {
      const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
      let req: http.ClientRequest;
      try {
        req = this.#open(method, full, {
          ...(body ? { "content-type": o.contentType ?? "application/json" } : {}),
          ...(o.accept ? { accept: o.accept } : {}),
        });
      } catch (err) {
        reject(new KubeApiError(0, "", `${what}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(new Error("request timed out")));
      req.on("error", (err) => reject(new KubeApiError(0, "", `${what}: ${err.message}`, { cause: err })));
      req.on("response", (res) => {
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
  watch(
    path: string,
    query: RequestOptions["query"],
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const full = withQuery(path, { ...query, watch: 1 });
    const what = `WATCH ${full}`;
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: unknown) => {
        if (done) return;
        done = true;
        signal.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve();
      };
      let req: http.ClientRequest;
      try {
        req = this.#open("GET", full, {});
      } catch (err) {
        finish(new KubeApiError(0, "", `${what}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      const onAbort = () => {
        req.destroy();
        finish(new KubeApiError(0, "Aborted", `${what}: aborted`));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort);
      req.on("error", (err) => finish(new KubeApiError(0, "", `${what}: ${err.message}`, { cause: err })));
      req.on("response", (res) => {
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
        res.on("aborted", () => finish(new KubeApiError(0, "", `${what}: stream aborted`)));
        res.on("error", (err) => finish(new KubeApiError(0, "", `${what}: ${err.message}`, { cause: err })));
      });
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
