// The translator process: wiring only. Reads its configuration, connects to NATS, opens the buckets,
// runs the service until SIGTERM/SIGINT, then stops gracefully (the current build finishes first).
import { hostname } from "node:os";
import { Bucket, ConfigError, createLogger } from "@waymark/api";
import { connectBus, openBucket } from "@waymark/bus";
import { loadConfig } from "./config.ts";
import { startTranslator } from "./service/translator.ts";
import { translate } from "./translate/index.ts";

const log = createLogger("translator");

async function main(): Promise<void> {
  const config = loadConfig();
  const nc = await connectBus({ servers: [...config.natsServers], name: `translator/${hostname()}`, log });
  const [objects, xds, status] = await Promise.all([
    openBucket(nc, Bucket.objects, log),
    openBucket(nc, Bucket.xds, log),
    openBucket(nc, Bucket.status, log),
  ]);
  const translator = await startTranslator({ config, log, buckets: { objects, xds, status }, translate });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    try {
      await translator.stop();
      await nc.drain();
      process.exit(0);
    } catch (err) {
      log.error("unclean stop", { err });
      process.exit(1);
    }
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  log.error(err instanceof ConfigError ? "invalid configuration" : "translator failed to start", { err });
  process.exit(err instanceof ConfigError ? 2 : 1);
});
