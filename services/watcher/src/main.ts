// The watcher process: configuration from the environment, then run until SIGTERM/SIGINT.
import { createLogger, WaymarkError } from "@waymark/api";
import { loadConfig } from "./config.ts";
import { startWatcher } from "./watcher.ts";

const log = createLogger("watcher");

try {
  const watcher = await startWatcher(loadConfig(), log);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    watcher.stop().then(
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
  log.error(err instanceof WaymarkError ? err.message : "watcher failed to start", { err });
  process.exit(1);
}
