// Composition of one xds-server replica: NATS, the snapshot store, the proxy tracker, the ADS server.
import { Bucket, type Logger } from "@waymark/api";
import { connectBus, KvWriter, openBucket } from "@waymark/bus";
import { XDS_TOKEN_AUDIENCE } from "@waymark/waypoint";
import { TokenAuthenticator } from "./auth/authenticator.ts";
import { NatsKeySource } from "./auth/keys.ts";
import type { XdsServerConfig } from "./config.ts";
import { XdsMetrics } from "./metrics.ts";
import { ProxyTracker } from "./proxies.ts";
import { ReplicaLiveness } from "./replicas.ts";
import { AdsServer } from "./server.ts";
import { SnapshotStore } from "./snapshots.ts";

export interface XdsServer {
  /** The port the ADS server listens on. */
  port: number;
  replica: string;
  store: SnapshotStore;
  ads: AdsServer;
  tracker: ProxyTracker;
  liveness: ReplicaLiveness;
  /** Ends every stream, removes this replica's proxy records, closes NATS. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Coalescing window of wm-proxies writes (ms). */
  proxyFlushMs?: number;
  /** Where to count pushes, ACKs, NACKs and propagation (default: a private registry). */
  metrics?: XdsMetrics;
  /** The clock proxy tokens are checked against (ms since the epoch; tests move it). */
  clock?: () => number;
}

/** Starts a replica; it listens only once every current manifest is loaded. */
export async function startXdsServer(
  config: Pick<XdsServerConfig, "natsUrl" | "address" | "replica"> & Partial<XdsServerConfig>,
  log: Logger,
  opts: StartOptions = {},
): Promise<XdsServer> {
  const nc = await connectBus({ servers: config.natsUrl, name: `xds-server/${config.replica}`, log });
  try {
    const [xdsKv, proxiesKv, replicasKv] = await Promise.all([
      openBucket(nc, Bucket.xds, log),
      openBucket(nc, Bucket.proxies, log, { writer: true }),
      openBucket(nc, Bucket.replicas, log, { writer: true }),
    ]);
    const store = new SnapshotStore(xdsKv, log);
    await store.start();
    log.info("snapshots loaded", { waypoints: store.size, blobs: store.blobCount });
    // Records are written on every ACK; puts go through a KvWriter, deletes through the bucket.
    const writer = new KvWriter(nc, Bucket.proxies);
    const records = {
      put: (k: string, v: string) => writer.put(k, v),
      delete: (k: string) => proxiesKv.delete(k),
    };
    const tracker = new ProxyTracker(records, log, {
      replica: config.replica,
      ...(opts.proxyFlushMs !== undefined ? { flushMs: opts.proxyFlushMs } : {}),
    });
    const liveness = new ReplicaLiveness(replicasKv, proxiesKv, log, {
      replica: config.replica,
      ttlMs: config.proxyRecordTtlMs ?? 30_000,
      onIncarnation: (i) => tracker.setIncarnation(i),
    });
    await liveness.start();
    let keys: NatsKeySource | undefined;
    if (config.auth === "kubernetes") {
      keys = new NatsKeySource(await openBucket(nc, Bucket.issuer, log), log);
      await keys.start();
    }
    const auth = keys
      ? new TokenAuthenticator({
          keys,
          audience: config.tokenAudience ?? XDS_TOKEN_AUDIENCE,
          ...(config.tokenIssuer ? { issuer: config.tokenIssuer } : {}),
          skewSeconds: config.tokenSkewSeconds ?? 30,
          ...(opts.clock ? { now: opts.clock } : {}),
        })
      : undefined;
    log.info("proxy authentication", {
      mode: config.auth ?? "none",
      ...(auth
        ? { audience: config.tokenAudience ?? XDS_TOKEN_AUDIENCE, issuer: config.tokenIssuer ?? "published" }
        : {}),
    });
    const metrics = opts.metrics ?? new XdsMetrics();
    metrics.countConnected(() => tracker.counts());
    const ads = new AdsServer(store, tracker, log, {
      maxConnectionAgeMs: config.maxConnectionAgeMs ?? 1_800_000,
      ...(config.keepaliveMs !== undefined ? { keepaliveMs: config.keepaliveMs } : {}),
      replica: config.replica,
      metrics,
      ...(auth ? { auth } : {}),
      ...(config.maxSendBytes !== undefined ? { maxSendBytes: config.maxSendBytes } : {}),
    });
    const port = await ads.bind(config.address);
    log.info("ads listening", { address: config.address, port, replica: config.replica });
    let stopping: Promise<void> | undefined;
    return {
      port,
      replica: config.replica,
      store,
      ads,
      tracker,
      liveness,
      stop() {
        stopping ??= (async () => {
          await ads.stop();
          await tracker.stop();
          writer.close();
          await liveness.stop();
          store.stop();
          keys?.stop();
          await nc.drain().catch(() => nc.close());
        })();
        return stopping;
      },
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}
