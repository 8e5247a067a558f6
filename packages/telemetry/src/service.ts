// What a service's main.ts starts for observability, in one call: tracing (if configured), its
// Prometheus registry, and the /metrics, /healthz, /readyz endpoint (if WAYMARK_METRICS_ADDRESS is
// set). Readiness starts false; the service says when it is ready, and why not.
import type { Logger } from "@waymark/api";
import { loadTelemetryConfig, type TelemetryConfig } from "./config.ts";
import { type OpsServer, type Readiness, startOpsServer } from "./http.ts";
import { createRegistry, type Registry } from "./metrics.ts";
import { startTracing, type Tracing } from "./tracing.ts";

export interface ServiceTelemetry {
  config: TelemetryConfig;
  tracing: Tracing;
  registry: Registry;
  /** The ops endpoint, when configured. */
  ops: OpsServer | undefined;
  /** Sets what /readyz answers. */
  setReady(ready: boolean, reason?: string): void;
  /** Adds a JSON debug route to the ops endpoint (e.g. `/debug/proxies`). */
  route(path: string, fn: (url: URL) => unknown | Promise<unknown>): void;
  /** Flushes spans and closes the endpoint. */
  stop(): Promise<void>;
}

export async function startServiceTelemetry(
  service: string,
  log: Logger,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<ServiceTelemetry> {
  const config = loadTelemetryConfig(service, env);
  const tracing = startTracing(config, log);
  const registry = createRegistry(service);
  let readiness: Readiness = { ready: false, reason: "starting" };
  const routes: Record<string, (url: URL) => unknown> = {};
  const ops = config.metricsAddress
    ? await startOpsServer({
        address: config.metricsAddress,
        registry,
        readiness: () => readiness,
        routes,
        log,
      })
    : undefined;
  return {
    config,
    tracing,
    registry,
    ops,
    setReady(ready, reason) {
      readiness = reason === undefined ? { ready } : { ready, reason };
    },
    route(path, fn) {
      routes[path] = fn;
    },
    async stop() {
      readiness = { ready: false, reason: "stopping" };
      await tracing.shutdown();
      await ops?.close();
    },
  };
}
