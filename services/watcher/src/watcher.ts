// Builds a running watcher from its configuration: NATS connection, buckets, publisher, source.
import { hostname } from "node:os";
import { Bucket, type Logger } from "@waymark/api";
import { connectBus, type NatsConnection, openBucket } from "@waymark/bus";
import type { WatcherConfig } from "./config.ts";
import { DirectorySource } from "./directory-source.ts";
import { Publisher } from "./publisher.ts";
import type { Source } from "./source.ts";

export interface RunningWatcher {
  source: Source;
  publisher: Publisher;
  nc: NatsConnection;
  /** Stops watching, writes what is pending (bounded), closes the connection. */
  stop(): Promise<void>;
}

export function createSource(config: WatcherConfig, log: Logger): Source {
  switch (config.source.type) {
    case "dir":
      return new DirectorySource({ dir: config.source.path, log });
  }
}

export async function startWatcher(config: WatcherConfig, log: Logger): Promise<RunningWatcher> {
  const source = createSource(config, log);
  const nc = await connectBus({ servers: config.natsUrl, name: `waymark-watcher/${hostname()}`, log });
  try {
    const objects = await openBucket(nc, Bucket.objects, log);
    const status = await openBucket(nc, Bucket.status, log);
    const publisher = new Publisher({ objects, status, log, stampMetadata: source.needsMetadata });
    await publisher.load();
    await source.start(publisher);
    log.info("watcher started", { source: source.description, nats: config.natsUrl });
    return {
      source,
      publisher,
      nc,
      async stop() {
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
