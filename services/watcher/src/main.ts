// The watcher process: configuration from the environment, then run until SIGTERM/SIGINT.
import { createLogger, describeError, isWaymarkError } from "@waymark/api";
import { Counter, Gauge, startServiceTelemetry } from "@waymark/telemetry";
import { loadConfig } from "./config.ts";
import { startWatcher } from "./watcher.ts";

const log = createLogger("watcher");

try {
  const config = loadConfig();
  const telemetry = await startServiceTelemetry("watcher", log);
  telemetry.setReady(false, "initial sync");
  const watcher = await startWatcher(config, log);
  const registers = [telemetry.registry];
  const total = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  total(
    "waymark_watcher_writes_total",
    "Puts and deletes written to wm-objects",
    () => watcher.publisher.writes,
  );
  total(
    "waymark_watcher_relists_total",
    "Full listings of the source (initial sync and relists)",
    () => watcher.publisher.relists,
  );
  total(
    "waymark_watcher_objects_refused_too_large_total",
    "Objects (or new versions of them) not published because they exceed the size limit",
    () => watcher.publisher.refusedTooLarge,
  );
  new Gauge({
    name: "waymark_watcher_objects_too_large",
    help: "Objects whose current version is not published because it exceeds the size limit",
    registers,
    collect() {
      this.set(watcher.publisher.tooLarge);
    },
  });
  new Gauge({
    name: "waymark_watcher_pending_writes",
    help: "Changes waiting to be written to NATS",
    registers,
    collect() {
      this.set(watcher.publisher.pending);
    },
  });
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
