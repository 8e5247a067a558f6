// Builds a running watcher from its configuration: NATS connection, buckets, publisher, source.
import { hostname } from "node:os";
import { Bucket, type Logger } from "@waymark/api";
import {
  connectBus,
  maxValueBytes,
  NATS_PUT_OVERHEAD,
  type NatsConnection,
  openBucket,
  redactUrl,
} from "@waymark/bus";
import { DEFAULT_MAX_OBJECT_BYTES, type WatcherConfig } from "./config.ts";
import { DirectorySource } from "./directory-source.ts";
import type { IssuerKeysPublisher } from "./kube/issuer-keys.ts";
import type { KubeSource } from "./kube/source.ts";
import { DEFAULT_ISTIO_NAMESPACE } from "./mesh-config.ts";
import { ObjectPublisher } from "./publisher.ts";
import type { Source } from "./source.ts";
import type { Writeback } from "./writeback/index.ts";

// The Kubernetes side (the source, the write-back, the issuer keys, and @kubernetes/client-node under
// them) is imported only when the source is Kubernetes: in standalone mode it is 868 modules and
// 16.5 MiB of JavaScript source that would sit in the heap unused (55 MiB of RSS at idle: 169 -> 114
// MiB with Node's default flags, `pnpm bench memory nodeOptions=none compileCache=0`).

export interface RunningWatcher {
  source: Source;
  publisher: ObjectPublisher;
  nc: NatsConnection;
  /** Kubernetes source only: status and infra write-back. */
  writeback?: Writeback;
  /** Stops watching, writes what is pending (bounded), closes the connection. */
  stop(): Promise<void>;
}

/** Loads the Kubernetes side now (for the compile-cache warm-up of the image build, see main.ts). */
export async function importKubeModules(): Promise<void> {
  await Promise.all([
    import("./kube/client.ts"),
    import("./kube/connection.ts"),
    import("./kube/source.ts"),
    import("./kube/issuer-keys.ts"),
    import("./writeback/index.ts"),
  ]);
}

export async function createSource(config: WatcherConfig, log: Logger): Promise<Source> {
  switch (config.source.type) {
    case "dir":
      return new DirectorySource({
        dir: config.source.path,
        log,
        ...(config.istioNamespace ? { istioNamespace: config.istioNamespace } : {}),
      });
    case "kube": {
      const s = config.source;
      const [{ KubeClient }, { fromKubeconfig, inCluster }, { KubeSource }] = await Promise.all([
        import("./kube/client.ts"),
        import("./kube/connection.ts"),
        import("./kube/source.ts"),
      ]);
      const conn = s.kubeconfig ? fromKubeconfig(s.kubeconfig, s.context) : inCluster();
      log.info("connecting to Kubernetes", { via: conn.description, server: conn.server });
      return new KubeSource({
        client: new KubeClient(conn),
        log,
        watchTimeoutSec: s.watchTimeoutSec,
        secretRefreshMs: s.secretRefreshMs,
        istioNamespace: config.istioNamespace ?? DEFAULT_ISTIO_NAMESPACE,
      });
    }
  }
}

/** The configured object size limit, lowered to what the NATS server accepts in one message. */
export function effectiveMaxObjectBytes(configured: number, nc: NatsConnection, log: Logger): number {
  const serverMax = nc.info?.max_payload;
  if (!serverMax || serverMax - NATS_PUT_OVERHEAD >= configured) return configured;
  const limit = maxValueBytes(serverMax);
  log.warn("the NATS server's max_payload is below WAYMARK_MAX_OBJECT_BYTES; using it", {
    configured,
    maxPayload: serverMax,
    limit,
  });
  return limit;
}

export async function startWatcher(config: WatcherConfig, log: Logger): Promise<RunningWatcher> {
  const source = await createSource(config, log);
  const nc = await connectBus({ servers: config.natsUrl, name: `waymark-watcher/${hostname()}`, log });
  try {
    const objects = await openBucket(nc, Bucket.objects, log, { writer: true });
    const status = await openBucket(nc, Bucket.status, log, { writer: true });
    const publisher = new ObjectPublisher({
      objects,
      status,
      log,
      stampMetadata: source.needsMetadata,
      maxObjectBytes: effectiveMaxObjectBytes(config.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES, nc, log),
    });
    await publisher.load();
    await source.start(publisher);
    let writeback: Writeback | undefined;
    let issuerKeys: IssuerKeysPublisher | undefined;
    if (config.source.type === "kube") {
      const kube = source as KubeSource;
      const [{ IssuerKeysPublisher }, { startWriteback }] = await Promise.all([
        import("./kube/issuer-keys.ts"),
        import("./writeback/index.ts"),
      ]);
      // The token issuer's public keys, for the xds-server to verify proxy tokens with.
      issuerKeys = new IssuerKeysPublisher({
        client: kube.client,
        kv: await openBucket(nc, Bucket.issuer, log, { writer: true }),
        log,
      });
      await issuerKeys.start();
      writeback = await startWriteback({
        config: config.source,
        client: kube.client,
        source: kube,
        status,
        infra: await openBucket(nc, Bucket.infra, log),
        log,
      });
    }
    log.info("watcher started", { source: source.description, nats: redactUrl(config.natsUrl) });
    return {
      source,
      publisher,
      nc,
      ...(writeback ? { writeback } : {}),
      async stop() {
        issuerKeys?.stop();
        await writeback?.stop();
        await source.stop();
        await publisher.close();
        await nc.close();
        log.info("watcher stopped");
      },
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}
