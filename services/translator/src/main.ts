// The translator process: wiring only. Reads its configuration, connects to NATS, opens the buckets,
// builds the metrics and the translator (under leader election when configured), runs until
// SIGTERM/SIGINT, then stops gracefully (the current build finishes first).
import { flushCompileCache } from "node:module";
import { hostname } from "node:os";
import { Bucket, ConfigError, createLogger, describeError, isWaymarkError } from "@waymark/api";
import { connectBus, openBucket } from "@waymark/bus";
import { startServiceTelemetry } from "@waymark/telemetry";
import { loadConfig } from "./config.ts";
import { loadInfraSettings } from "./infra/config.ts";
import { TranslatorMetrics } from "./metrics.ts";
import { openLeaseBucket } from "./service/leader.ts";
import { startTranslatorRole } from "./service/role.ts";
import { startTranslator } from "./service/translator.ts";
import { TranslationMemo, translate } from "./translate/index.ts";

const log = createLogger("translator");

// Image build (deploy/docker/*.Dockerfile): with WAYMARK_WARM_COMPILE_CACHE=1 the process stops here,
// once every module it runs is loaded, so that NODE_COMPILE_CACHE holds them all with their types
// already stripped. Started from that cache, the service never loads Node's TypeScript stripper
// (amaro, swc compiled to WebAssembly): 17 MiB of RSS less per process (`pnpm bench memory`).
if (process.env["WAYMARK_WARM_COMPILE_CACHE"] === "1") {
  flushCompileCache();
  process.exit(0);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const infraSettings = loadInfraSettings();
  const telemetry = await startServiceTelemetry("translator", log);
  telemetry.setReady(false, "loading wm-objects");
  const nc = await connectBus({ servers: [...config.natsServers], name: `translator/${hostname()}`, log });
  const [objects, xds, status, infra] = await Promise.all([
    openBucket(nc, Bucket.objects, log),
    openBucket(nc, Bucket.xds, log, { writer: true }),
    openBucket(nc, Bucket.status, log, { writer: true }),
    openBucket(nc, Bucket.infra, log, { writer: true }),
  ]);
  const metrics = new TranslatorMetrics(telemetry.registry);
  // With leader election, only the leader runs the translator (and publishes); standbys wait.
  const role = await startTranslatorRole({
    start: (canPublish) =>
      startTranslator({
        config,
        log,
        buckets: { objects, xds, status, infra },
        translate: metrics.countedTranslate(new TranslationMemo(), translate),
        infra: infraSettings,
        canPublish,
        ...(nc.info?.max_payload ? { maxPayload: nc.info.max_payload } : {}),
      }),
    ...(config.leaderElection
      ? {
          election: {
            kv: await openLeaseBucket(nc, config.leaderTtlMs, log),
            key: "translator",
            id: config.leaderId,
            ttlMs: config.leaderTtlMs,
          },
        }
      : {}),
    log,
    onStarted(translator) {
      translator.events.on("built", (r) => metrics.observeBuild(r));
      void translator.ready.then(() => telemetry.setReady(true, "initial build done"));
    },
    // A standby is ready: it does its job, which is to wait. The leader is ready after its first build.
    onStandby: () => telemetry.setReady(true, "standby"),
  });
  metrics.countPending(() => role.translator?.objectsPending ?? 0);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    try {
      telemetry.setReady(false, "stopping");
      await role.stop();
      await nc.drain();
      await telemetry.stop();
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
  // A WaymarkError (a bad setting, ...) is the user's to fix: the line says what to do.
  log.error(isWaymarkError(err) ? describeError(err) : "translator failed to start", { err });
  process.exit(err instanceof ConfigError ? 2 : 1);
});
