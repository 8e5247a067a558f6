// The gRPC side: an ADS server (SotW and delta) whose streams are served from the snapshot store.
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "@waymark/api";
import type { TokenAuthenticator } from "./auth/authenticator.ts";
import { DEFAULT_MAX_SEND_BYTES } from "./config.ts";
import { adsWireService } from "./grpc-frames.ts";
import { XdsMetrics } from "./metrics.ts";
import type { ProxyTracker } from "./proxies.ts";
import { PushQueue } from "./push-queue.ts";
import type { SnapshotStore } from "./snapshots.ts";
import { type AdsCall, AdsStream, type Protocol } from "./stream.ts";

export interface AdsServerOptions {
  /** Streams are ended after this age (±10% jitter by grpc-js) so proxies rebalance; 0 = never. */
  maxConnectionAgeMs: number;
  /** HTTP/2 PING to each connection after this long (answer within 10 s or it is closed); 0 = never. */
  keepaliveMs?: number;
  /** This replica's name (span attributes); default "xds". */
  replica?: string;
  /** Where pushes, ACKs, NACKs and propagation are counted (default: a private registry). */
  metrics?: XdsMetrics;
  /** Verifies proxy tokens; undefined = every proxy may fetch any waypoint (standalone). */
  auth?: TokenAuthenticator;
  /** The largest response sent (bytes); default DEFAULT_MAX_SEND_BYTES. */
  maxSendBytes?: number;
}

const MiB = 1024 * 1024;

export function grpcServerOptions(o: AdsServerOptions): grpc.ServerOptions {
  return {
    // A delta reconnect echoes every name and version the proxy holds.
    "grpc.max_receive_message_length": 32 * MiB,
    // The streams refuse larger responses themselves (logged and recorded): this is a backstop.
    "grpc.max_send_message_length": o.maxSendBytes ?? DEFAULT_MAX_SEND_BYTES,
    ...((o.keepaliveMs ?? 30_000) > 0
      ? { "grpc.keepalive_time_ms": o.keepaliveMs ?? 30_000, "grpc.keepalive_timeout_ms": 10_000 }
      : {}),
    ...(o.maxConnectionAgeMs > 0
      ? { "grpc.max_connection_age_ms": o.maxConnectionAgeMs, "grpc.max_connection_age_grace_ms": 60_000 }
      : {}),
  };
}

export class AdsServer {
  readonly grpc: grpc.Server;
  readonly #store: SnapshotStore;
  readonly #tracker: ProxyTracker;
  readonly #log: Logger;
  readonly #queue: PushQueue;
  readonly #byKey = new Map<string, Set<AdsStream>>();
  readonly #streams = new Set<AdsStream>();
  readonly #unwatch: () => void;
  readonly #prefix = randomBytes(4).toString("hex");
  #seq = 0;
  readonly metrics: XdsMetrics;

  constructor(store: SnapshotStore, tracker: ProxyTracker, log: Logger, opts: AdsServerOptions) {
    this.#store = store;
    this.#tracker = tracker;
    this.#log = log;
    this.#queue = new PushQueue((err) => log.error("push failed", { err }));
    this.metrics = opts.metrics ?? new XdsMetrics();
    const metrics = this.metrics;
    const replica = opts.replica ?? "xds";
    this.grpc = new grpc.Server(grpcServerOptions(opts));
    const open = (protocol: Protocol) => (call: AdsCall) => {
      const s = new AdsStream(`${this.#prefix}${(++this.#seq).toString(36)}`, protocol, call, {
        store: this.#store,
        tracker: this.#tracker,
        queue: this.#queue,
        log: this.#log,
        metrics,
        replica,
        auth: opts.auth,
        maxSendBytes: opts.maxSendBytes ?? DEFAULT_MAX_SEND_BYTES,
        attach: (st, key) => {
          let set = this.#byKey.get(key);
          if (!set) {
            set = new Set();
            this.#byKey.set(key, set);
          }
          set.add(st);
        },
        detach: (st) => {
          this.#streams.delete(st);
          const set = st.key ? this.#byKey.get(st.key) : undefined;
          set?.delete(st);
          if (set?.size === 0) this.#byKey.delete(st.key!);
        },
      });
      this.#streams.add(s);
    };
    this.grpc.addService(adsWireService, {
      StreamAggregatedResources: open("sotw"),
      DeltaAggregatedResources: open("delta"),
    });
    this.#unwatch = store.onChange((key) => {
      for (const s of this.#byKey.get(key) ?? []) this.#queue.schedule(s);
    });
  }

  /** Open streams. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Binds `host:port` (port 0 = any free port) and returns the port. */
  bind(address: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.grpc.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      );
    });
  }

  /** Ends every stream with OK (proxies reconnect elsewhere), then stops within graceMs. */
  async stop(graceMs = 5_000): Promise<void> {
    this.#unwatch();
    for (const s of [...this.#streams]) s.end();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.grpc.forceShutdown();
        resolve();
      }, graceMs);
      this.grpc.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
