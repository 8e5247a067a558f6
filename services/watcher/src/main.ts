// The watcher process, wiring only: configuration from the environment, telemetry and metrics, the
// watcher, then run until SIGTERM/SIGINT.
import { createLogger, describeError, isWaymarkError } from "@waymark/api";
import { startServiceTelemetry } from "@waymark/telemetry";
import { loadConfig } from "./config.ts";
import { WatcherMetrics } from "./metrics.ts";
import { startWatcher } from "./watcher.ts";

const log = createLogger("watcher");

try {
  const config = loadConfig();
  const telemetry = await startServiceTelemetry("watcher", log);
  telemetry.setReady(false, "initial sync");
  const watcher = await startWatcher(config, log);
  new WatcherMetrics(telemetry.registry).readFrom(watcher.publisher);
  void watcher.publisher.idle().then(() => telemetry.setReady(true, "initial sync written"));
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    telemetry.setReady(false, "stopping");
    watcher
      .stop()
      .then(() => telemetry.stop())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error("shutdown failed", { err });
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
} catch (err) {
  // A WaymarkError (a bad setting, an unreadable source, ...) is the user's to fix: the line says what to do.
  log.error(isWaymarkError(err) ? describeError(err) : "watcher failed to start", { err });
  process.exit(1);
}
