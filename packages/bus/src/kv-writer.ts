// KV puts for a hot path (an xds-server records every proxy's ACKs: thousands of puts a second). A
// KV put is a JetStream publish: a message to `$KV.<bucket>.<key>` whose reply is the stream's ack.
// The client library's put makes a request object per put, with an error (and its stack trace) made
// up front for a possible failure and a timer for its timeout: about a tenth of a busy xds-server's
// CPU. Here one inbox subscription receives every ack, and one timer expires the puts that got none.
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { createInbox } from "@nats-io/transport-node";
import { WaymarkError } from "@waymark/api";

/** A put that failed: JetStream refused it, nothing answered, or no ack came in time. */
export class KvPutError extends WaymarkError {
  readonly subject: string;
  constructor(subject: string, message: string) {
    super("kv-put-failed", `put ${subject}: ${message}`);
    this.name = "KvPutError";
    this.subject = subject;
  }
}

interface Pending {
  subject: string;
  deadline: number;
  resolve: (seq: number) => void;
  reject: (err: Error) => void;
}

const dec = new TextDecoder();

export class KvWriter {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #inbox = createInbox();
  readonly #sub: Subscription;
  readonly #pending = new Map<string, Pending>();
  #seq = 0;
  #sweep: NodeJS.Timeout | undefined;

  constructor(nc: NatsConnection, bucket: string, timeoutMs = 5000) {
    this.#nc = nc;
    this.#prefix = `$KV.${bucket}.`;
    this.#timeoutMs = timeoutMs;
    this.#sub = nc.subscribe(`${this.#inbox}.*`, { callback: (_err, msg) => this.#onAck(msg) });
  }

  /** Puts `value` under `key`; resolves with the entry's revision once JetStream stored it. */
  put(key: string, value: string | Uint8Array): Promise<number> {
    const subject = this.#prefix + key;
    const id = (++this.#seq).toString(36);
    return new Promise<number>((resolve, reject) => {
      if (this.#sub.isClosed()) return reject(new KvPutError(subject, "the writer is closed"));
      this.#pending.set(id, { subject, deadline: Date.now() + this.#timeoutMs, resolve, reject });
      try {
        // A short string encodes into Node's shared buffer pool, not into an allocation of its own.
        const payload = typeof value === "string" ? Buffer.from(value, "utf8") : value;
        this.#nc.publish(subject, payload, { reply: `${this.#inbox}.${id}` });
      } catch (err) {
        this.#pending.delete(id);
        return reject(err instanceof Error ? err : new KvPutError(subject, String(err)));
      }
      this.#sweep ??= setInterval(() => this.#expire(), Math.min(this.#timeoutMs, 1000)).unref();
    });
  }

  /** Stops receiving acks; puts still waiting fail. */
  close(): void {
    this.#sub.unsubscribe();
    for (const [id, p] of this.#pending) this.#fail(id, p, "the writer is closed");
  }

  #onAck(msg: Msg): void {
    const id = msg.subject.slice(this.#inbox.length + 1);
    const p = this.#pending.get(id);
    if (!p) return; // expired already
    this.#pending.delete(id);
    // A status message instead of an ack: no stream listens on the subject (503), or another status.
    if (msg.headers?.hasError) {
      p.reject(
        new KvPutError(p.subject, `${msg.headers.code} ${msg.headers.description || "no stream answered"}`),
      );
      return;
    }
    let ack: { seq?: unknown; error?: { description?: unknown; code?: unknown } };
    try {
      ack = JSON.parse(dec.decode(msg.data)) as typeof ack;
    } catch {
      p.reject(new KvPutError(p.subject, "the ack is not JSON"));
      return;
    }
    if (ack.error) p.reject(new KvPutError(p.subject, String(ack.error.description ?? ack.error.code)));
    else if (typeof ack.seq === "number") p.resolve(ack.seq);
    else p.reject(new KvPutError(p.subject, "the ack has no sequence"));
  }

  #expire(): void {
    const now = Date.now();
    for (const [id, p] of this.#pending) if (p.deadline <= now) this.#fail(id, p, "no ack in time");
    if (this.#pending.size === 0 && this.#sweep) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  #fail(id: string, p: Pending, why: string): void {
    this.#pending.delete(id);
    p.reject(new KvPutError(p.subject, why));
  }
}
