// xds-server entry point: configuration, start, graceful shutdown on SIGTERM / SIGINT.
import { createLogger } from "@waymark/api";
import { loadConfig } from "./config.ts";
import { startXdsServer } from "./service.ts";

const log = createLogger("xds-server");
try {
  const config = loadConfig();
  const server = await startXdsServer(config, log);
  let exiting = false;
  const shutdown = (signal: string) => {
    if (exiting) return;
    exiting = true;
    log.info("shutting down", { signal });
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    server.stop().then(
      () => process.exit(0),
      (err) => {
        log.error("shutdown failed", { err });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
} catch (err) {
  log.error("xds-server failed to start", { err });
  process.exit(1);
}
