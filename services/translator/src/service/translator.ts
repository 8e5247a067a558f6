// The translator service: mirrors wm-objects in memory, coalesces changes, translates, encodes and
// publishes. One build or sweep runs at a time. A failed translation or encoding never replaces a
// good snapshot: the last good one stays published and the service keeps running. The parts live
// beside this file: object-mirror.ts, debounce.ts, work-queue.ts, build-run.ts, publisher.ts, and
// role.ts for leader handling.
import { EventEmitter } from "node:events";
import { Bucket, type Logger } from "@waymark/api";
import type { KV } from "@waymark/bus";
import type { TranslatorConfig } from "../config.ts";
import type { InfraSettings } from "../infra/objects.ts";
import type { TranslationInput, TranslationOutput, TranslatorSettings } from "../translate/types.ts";
import { EncodeCache } from "./build.ts";
import { type BuildContext, runBuild } from "./build-run.ts";
import { createDebouncer } from "./debounce.ts";
import { ObjectMirror } from "./object-mirror.ts";
import { type PublishReport, SnapshotPublisher } from "./publisher.ts";
import { WorkQueue } from "./work-queue.ts";

export type TranslateFn = (input: TranslationInput, settings: TranslatorSettings) => TranslationOutput;

export interface TranslatorBuckets {
  objects: KV;
  xds: KV;
  status: KV;
  /** wm-infra: written when `infra` settings are given. */
  infra?: KV;
}

export interface TranslatorOptions {
  config: Omit<TranslatorConfig, "natsServers">;
  log: Logger;
  buckets: TranslatorBuckets;
  translate: TranslateFn;
  /** Waypoint deployment settings: with them, each build also publishes the waypoints' objects. */
  infra?: InfraSettings;
  /** Wall clock in ms (injectable for tests). */
  now?: () => number;
  /** How often unreferenced blobs are looked for (default: a quarter of the grace, 50 ms … 10 s). */
  sweepIntervalMs?: number;
  /** False while this replica is not the elected leader: nothing is written then (default: always). */
  canPublish?: () => boolean;
  /**
   * The NATS server's max_payload: a waypoint with a resource (or manifest) that cannot fit in one
   * message fails alone and keeps its last good snapshot, instead of failing every publish.
   */
  maxPayload?: number;
}

export interface BuildReport {
  /** 1 for the initial build, then one more per build. */
  seq: number;
  /** False when translate() threw or publishing failed: nothing was replaced. */
  ok: boolean;
  /** The newest wm-objects revision the build saw: every change up to it is included. */
  revision: number;
  objects: number;
  waypoints: number;
  /** Waypoints whose snapshot failed to build (their last good manifest stays). */
  failed: string[];
  published?: PublishReport;
  error?: unknown;
  durationMs: number;
}

export interface TranslatorEvents {
  built: [BuildReport];
  swept: [string[]];
}

export interface Translator {
  /** Resolves after the first build (the initial load) finished. */
  ready: Promise<void>;
  /** Emits `built` after every build and `swept` after every sweep that deleted blobs. */
  events: EventEmitter<TranslatorEvents>;
  /** Builds run so far. */
  readonly builds: number;
  /** The report of the last finished build. */
  readonly lastBuild: BuildReport | undefined;
  /** wm-objects changes delivered to the watch but not yet applied (NATS lag), as last seen. */
  readonly objectsPending: number;
  stop(): Promise<void>;
}

const RETRY_MS = 1000;

/** The translation settings of a translator's configuration. */
export function translatorSettings(
  config: TranslatorOptions["config"],
  infra: InfraSettings | undefined,
): TranslatorSettings {
  return {
    controllerName: config.controllerName,
    waypointClassName: config.waypointClassName,
    bindAddress: config.bindAddress,
    ...(infra ? { infra } : {}),
    ...(config.maxRoutesPerWaypoint === undefined
      ? {}
      : { maxRoutesPerWaypoint: config.maxRoutesPerWaypoint }),
    ...(config.templateLimits === undefined ? {} : { templateLimits: config.templateLimits }),
    rootNamespace: config.rootNamespace,
    trustDomain: config.trustDomain,
    trustDomainAliases: config.trustDomainAliases,
    xffTrustedHops: config.xffTrustedHops,
    ...(config.waypointTracing === undefined ? {} : { waypointTracing: config.waypointTracing }),
    ...(config.extensionProviders === undefined ? {} : { extensionProviders: config.extensionProviders }),
  };
}

/** How often unreferenced blobs are looked for by default: a quarter of the grace, 50 ms … 10 s. */
export const defaultSweepIntervalMs = (blobGraceMs: number) =>
  Math.min(10_000, Math.max(50, Math.floor(blobGraceMs / 4)));

/**
 * The translator: the object mirror (object-mirror.ts) feeds the debouncer, whose bursts become
 * builds (build-run.ts) on the work queue (work-queue.ts), with the blob sweeps between them; the
 * SnapshotPublisher writes. This function only puts the parts together.
 */
export async function startTranslator(o: TranslatorOptions): Promise<Translator> {
  const log = o.log;
  const now = o.now ?? Date.now;
  const events = new EventEmitter<TranslatorEvents>();
  const mirror = new ObjectMirror();
  const publisher = new SnapshotPublisher({
    xds: o.buckets.xds,
    status: o.buckets.status,
    log,
    blobGraceMs: o.config.blobGraceMs,
    ...(o.buckets.infra ? { infra: o.buckets.infra } : {}),
  });
  await publisher.load(now());

  const context: BuildContext = {
    index: mirror.index,
    cache: new EncodeCache(),
    publisher,
    translate: o.translate,
    settings: translatorSettings(o.config, o.infra),
    log,
    now,
    retryMs: RETRY_MS,
    ...(o.canPublish ? { canPublish: o.canPublish } : {}),
    ...(o.maxPayload ? { maxPayload: o.maxPayload } : {}),
  };
  let builds = 0;
  let lastBuild: BuildReport | undefined;
  const work: WorkQueue = new WorkQueue(log, async () => {
    await runBuild(context, ++builds, ({ report, retry }) => {
      if (retry) work.retryIn(RETRY_MS);
      lastBuild = report;
      events.emit("built", report);
    });
  });

  const debouncer = createDebouncer({
    quietMs: o.config.debounceQuietMs,
    maxMs: o.config.debounceMaxMs,
    fire: () => work.requestBuild(),
  });

  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });
  mirror.start({
    objects: o.buckets.objects,
    log,
    onChange: () => debouncer.poke(),
    onLoaded() {
      work.requestBuild();
      work.enqueue("initial build", async () => resolveReady());
    },
  });

  const sweeper = setInterval(() => {
    work.enqueue("blob sweep", async () => {
      if (work.stopped || (o.canPublish && !o.canPublish())) return;
      const deleted = await publisher.sweep(now());
      if (deleted.length) events.emit("swept", deleted);
    });
  }, o.sweepIntervalMs ?? defaultSweepIntervalMs(o.config.blobGraceMs));

  log.info("translator started", { bucket: Bucket.objects, ...o.config });
  let stopped = false;
  return {
    ready,
    events,
    get builds() {
      return builds;
    },
    get lastBuild() {
      return lastBuild;
    },
    get objectsPending() {
      return mirror.pending;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      mirror.stop();
      debouncer.cancel();
      clearInterval(sweeper);
      await work.stop();
      log.info("translator stopped", { builds });
    },
  };
}
