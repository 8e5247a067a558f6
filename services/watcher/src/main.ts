// The watcher process, wiring only: configuration from the environment, telemetry and metrics, the
// watcher, then run until SIGTERM/SIGINT.
import { flushCompileCache } from "node:module";
import { createLogger, describeError, isWaymarkError } from "@waymark/api";
import { startServiceTelemetry } from "@waymark/telemetry";
import { loadConfig } from "./config.ts";
import { WatcherMetrics } from "./metrics.ts";
import { importKubeModules, startWatcher } from "./watcher.ts";

const log = createLogger("watcher");

// Image build (deploy/docker/*.Dockerfile): with WAYMARK_WARM_COMPILE_CACHE=1 the process stops here,
// once every module it runs is loaded, so that NODE_COMPILE_CACHE holds them all with their types
// already stripped. Started from that cache, the service never loads Node's TypeScript stripper
// (amaro, swc compiled to WebAssembly): 17 MiB of RSS less per process (`pnpm bench memory`).
if (process.env["WAYMARK_WARM_COMPILE_CACHE"] === "1") {
  await importKubeModules();
  flushCompileCache();
  process.exit(0);
}

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
