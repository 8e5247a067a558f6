// xds-server entry point: configuration, start, graceful shutdown on SIGTERM / SIGINT.
import { flushCompileCache } from "node:module";
import { createLogger, describeError, isWaymarkError } from "@waymark/api";
import { startServiceTelemetry } from "@waymark/telemetry";
import { loadConfig } from "./config.ts";
import { XdsMetrics } from "./metrics.ts";
import { startXdsServer } from "./service.ts";

const log = createLogger("xds-server");

// Image build (deploy/docker/*.Dockerfile): with WAYMARK_WARM_COMPILE_CACHE=1 the process stops here,
// once every module it runs is loaded, so that NODE_COMPILE_CACHE holds them all with their types
// already stripped. Started from that cache, the service never loads Node's TypeScript stripper
// (amaro, swc compiled to WebAssembly): 17 MiB of RSS less per process (`pnpm bench memory`).
if (process.env["WAYMARK_WARM_COMPILE_CACHE"] === "1") {
  flushCompileCache();
  process.exit(0);
}
try {
  const config = loadConfig();
  // The ops endpoint answers from the start; /readyz says ready only once every current snapshot is held.
  const telemetry = await startServiceTelemetry("xds-server", log);
  telemetry.registry.setDefaultLabels({ service: "xds-server", replica: config.replica });
  telemetry.setReady(false, "loading snapshots");
  const server = await startXdsServer(config, log, { metrics: new XdsMetrics(telemetry.registry) });
  telemetry.setReady(true, `holding ${server.store.size} waypoint snapshots`);
  telemetry.route("/debug/proxies", () => ({
    replica: server.replica,
    proxies: server.tracker.records().sort((a, b) => a.nodeId.localeCompare(b.nodeId)),
  }));
  let exiting = false;
  const shutdown = (signal: string) => {
    if (exiting) return;
    exiting = true;
    log.info("shutting down", { signal });
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    telemetry.setReady(false, "stopping");
    server
      .stop()
      .then(() => telemetry.stop())
      .then(
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
  // A WaymarkError (a bad setting, ...) is the user's to fix: the line says what to do.
  log.error(isWaymarkError(err) ? describeError(err) : "xds-server failed to start", { err });
  process.exit(1);
}
