// The translator process: wiring only. Reads its configuration, connects to NATS, opens the buckets,
// runs the service until SIGTERM/SIGINT, then stops gracefully (the current build finishes first).
import { hostname } from "node:os";
import { Bucket, ConfigError, createLogger, describeError, isWaymarkError } from "@waymark/api";
import { connectBus, openBucket } from "@waymark/bus";
import { Counter, Gauge, Histogram, startServiceTelemetry } from "@waymark/telemetry";
import { loadConfig } from "./config.ts";
import { loadInfraSettings } from "./infra/config.ts";
import { type LeaderElection, openLeaseBucket, startLeaderElection } from "./service/leader.ts";
import { startTranslator, type Translator } from "./service/translator.ts";
import { TranslationMemo, translate } from "./translate/index.ts";

const log = createLogger("translator");

async function main(): Promise<void> {
  const config = loadConfig();
  const infraSettings = loadInfraSettings();
  const telemetry = await startServiceTelemetry("translator", log);
  telemetry.setReady(false, "loading wm-objects");
  const nc = await connectBus({ servers: [...config.natsServers], name: `translator/${hostname()}`, log });
  const [objects, xds, status, infra] = await Promise.all([
    openBucket(nc, Bucket.objects, log),
    openBucket(nc, Bucket.xds, log),
    openBucket(nc, Bucket.status, log),
    openBucket(nc, Bucket.infra, log),
  ]);
  // With leader election, only the leader runs the translator (and publishes); standbys wait.
  let translator: Translator | undefined;
  let election: LeaderElection | undefined;
  const run = async () => {
    const memo = new TranslationMemo();
    translator = await startTranslator({
      config,
      log,
      buckets: { objects, xds, status, infra },
      translate: (input, settings) => {
        const before = memo.incremental;
        const output = translate(input, settings, memo);
        translations.inc({ path: memo.incremental > before ? "incremental" : "full" });
        return output;
      },
      infra: infraSettings,
      canPublish: () => election?.isLeader ?? true,
      ...(nc.info?.max_payload ? { maxPayload: nc.info.max_payload } : {}),
    });
    translator.events.on("built", (r) => {
      duration.observe({ result: r.ok ? "ok" : "failed" }, r.durationMs / 1000);
      manifests.inc(r.published?.manifestsWritten.length ?? 0);
    });
    void translator.ready.then(() => telemetry.setReady(true, "initial build done"));
  };
  const registers = [telemetry.registry];
  const duration = new Histogram({
    name: "waymark_translator_build_duration_seconds",
    help: "One build: translate, encode, publish",
    labelNames: ["result"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const translations = new Counter({
    name: "waymark_translator_translations_total",
    help: "Translations, by path: incremental (only changed routes and endpoints redone) or full",
    labelNames: ["path"],
    registers,
  });
  const manifests = new Counter({
    name: "waymark_translator_manifests_written_total",
    help: "Waypoint manifests written to wm-xds",
    registers,
  });
  new Gauge({
    name: "waymark_translator_objects_watch_pending",
    help: "wm-objects changes NATS has not yet delivered to the translator (lag)",
    registers,
    collect() {
      this.set(translator?.objectsPending ?? 0);
    },
  });
  if (config.leaderElection) {
    const leases = await openLeaseBucket(nc, config.leaderTtlMs, log);
    // A standby is ready: it does its job, which is to wait. The leader is ready after its first build.
    telemetry.setReady(true, "standby");
    election = startLeaderElection({
      kv: leases,
      key: "translator",
      id: config.leaderId,
      ttlMs: config.leaderTtlMs,
      log,
      onElected: run,
      async onDeposed() {
        telemetry.setReady(true, "standby");
        const t = translator;
        translator = undefined;
        await t?.stop();
      },
    });
  } else {
    await run();
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    try {
      telemetry.setReady(false, "stopping");
      await election?.stop();
      await translator?.stop();
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
