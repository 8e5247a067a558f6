// The translator service: mirrors wm-objects in memory, coalesces changes, translates, encodes and
// publishes. One build or sweep runs at a time. A failed translation or encoding never replaces a
// good snapshot: the last good one stays published and the service keeps running.
import { EventEmitter } from "node:events";
import { Bucket, type Logger, waypointId } from "@waymark/api";
import { type KV, NATS_PUT_OVERHEAD, type Watch, watchBucket } from "@waymark/bus";
import { asParent, endSpan, linkTo, logIds, SpanKind, startSpan } from "@waymark/telemetry";
import type { TranslatorConfig } from "../config.ts";
import type { InfraSettings } from "../infra/objects.ts";
import type { TranslationInput, TranslationOutput, TranslatorSettings } from "../translate/types.ts";
import { buildSnapshots, EncodeCache } from "./build.ts";
import { withBuildFailures } from "./build-status.ts";
import { createDebouncer } from "./debounce.ts";
import { MalformedEntryError, ObjectIndex } from "./object-index.ts";
import { Publisher, type PublishReport } from "./publisher.ts";

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

export async function startTranslator(o: TranslatorOptions): Promise<Translator> {
  const log = o.log;
  const now = o.now ?? Date.now;
  const settings: TranslatorSettings = {
    controllerName: o.config.controllerName,
    waypointClassName: o.config.waypointClassName,
    bindAddress: o.config.bindAddress,
    ...(o.infra ? { infra: o.infra } : {}),
    ...(o.config.maxRoutesPerWaypoint === undefined
      ? {}
      : { maxRoutesPerWaypoint: o.config.maxRoutesPerWaypoint }),
    ...(o.config.templateLimits === undefined ? {} : { templateLimits: o.config.templateLimits }),
  };
  const events = new EventEmitter<TranslatorEvents>();
  const index = new ObjectIndex();
  const cache = new EncodeCache();
  const publisher = new Publisher({
    xds: o.buckets.xds,
    status: o.buckets.status,
    log,
    blobGraceMs: o.config.blobGraceMs,
    ...(o.buckets.infra ? { infra: o.buckets.infra } : {}),
  });
  await publisher.load(now());

  let stopped = false;
  let builds = 0;
  let lastBuild: BuildReport | undefined;
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (what: string, fn: () => Promise<void>) => {
    queue = queue.then(fn).catch((err: unknown) => log.error(`${what} failed`, { err }));
  };

  let retry: ReturnType<typeof setTimeout> | undefined;
  let buildQueued = false;
  const requestBuild = () => {
    if (stopped || buildQueued) return;
    buildQueued = true;
    enqueue("build", async () => {
      buildQueued = false;
      if (!stopped) await build();
    });
  };

  const build = async () => {
    const started = performance.now();
    const seq = ++builds;
    const objects = index.objects();
    const observedAt = index.takeNewestChange();
    const traces = index.takeTraces();
    // One CONSUMER span per build: a child of the newest change it includes (so a single change is one
    // trace end to end), linked to every change it coalesced.
    const span = startSpan(`process ${Bucket.objects}`, {
      kind: SpanKind.CONSUMER,
      parent: traces.at(-1) ?? null,
      links: traces.map((t) => linkTo(t)),
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": Bucket.objects,
        "messaging.batch.message_count": traces.length,
        "waymark.build.seq": seq,
        "waymark.objects": objects.size,
      },
    });
    const report: BuildReport = {
      seq,
      ok: false,
      revision: index.revision,
      objects: objects.size,
      waypoints: 0,
      failed: [],
      durationMs: 0,
    };
    try {
      let output: TranslationOutput;
      try {
        output = o.translate({ objects }, settings);
      } catch (err) {
        log.error("translation failed; the last good snapshots stay published", {
          objects: objects.size,
          err,
        });
        report.error = err;
        return;
      }
      const { snapshots, failures } = buildSnapshots(
        output,
        cache,
        o.maxPayload ? { maxValueBytes: o.maxPayload - NATS_PUT_OVERHEAD } : {},
      );
      for (const f of failures) {
        log.error("cannot build waypoint snapshot; its last good snapshot stays published", {
          waypoint: waypointId(f.waypoint),
          typeUrl: f.typeUrl,
          resource: f.resource,
          err: f.error,
        });
      }
      report.waypoints = output.waypoints.length;
      report.failed = failures.map((f) => waypointId(f.waypoint));
      if (o.canPublish && !o.canPublish()) {
        report.error = new Error("not the leader: nothing published");
        return;
      }
      try {
        report.published = await publisher.publish(
          {
            snapshots,
            keep: new Set(failures.map((f) => f.key)),
            statuses: withBuildFailures(output.statuses, failures),
            ...(output.infra ? { infra: output.infra } : {}),
            observedAt,
            parent: asParent(span),
          },
          now(),
        );
      } catch (err) {
        // Nothing is lost: the publisher only records what NATS acknowledged, so the retry writes the rest.
        index.restoreNewestChange(observedAt);
        index.restoreTraces(traces);
        log.error("publishing failed; retrying", { err, retryMs: RETRY_MS });
        report.error = err;
        if (!stopped) {
          clearTimeout(retry);
          retry = setTimeout(requestBuild, RETRY_MS);
        }
        return;
      }
      report.ok = true;
    } finally {
      report.durationMs = Math.round((performance.now() - started) * 10) / 10;
      const p = report.published;
      endSpan(span, {
        ...(report.ok ? {} : { error: report.error ?? "build failed" }),
        attributes: {
          "waymark.waypoints": report.waypoints,
          "waymark.waypoints.failed": report.failed.length,
          "waymark.manifests.written": p?.manifestsWritten.length ?? 0,
          "waymark.blobs.written": p?.blobsWritten ?? 0,
          "waymark.statuses.written": p?.statusesWritten ?? 0,
        },
      });
      const wrote =
        p &&
        (p.blobsWritten ||
          p.manifestsWritten.length ||
          p.manifestsDeleted.length ||
          p.statusesWritten ||
          p.statusesDeleted);
      (wrote || !report.ok ? log.info : log.debug)("build", {
        seq,
        ok: report.ok,
        objects: report.objects,
        waypoints: report.waypoints,
        failed: report.failed.length,
        blobsWritten: p?.blobsWritten,
        manifestsWritten: p?.manifestsWritten.length,
        manifestsDeleted: p?.manifestsDeleted.length,
        statusesWritten: p?.statusesWritten,
        statusesDeleted: p?.statusesDeleted,
        durationMs: report.durationMs,
        ...logIds(span),
      });
      lastBuild = report;
      events.emit("built", report);
    }
  };

  const debouncer = createDebouncer({
    quietMs: o.config.debounceQuietMs,
    maxMs: o.config.debounceMaxMs,
    fire: requestBuild,
  });

  let loaded = false;
  let objectsPending = 0;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });
  const watch: Watch = watchBucket(
    o.buckets.objects,
    ">",
    {
      onEntry(e) {
        objectsPending = e.delta ?? 0;
        let changed = true;
        try {
          changed = index.apply(e) !== "none";
        } catch (err) {
          if (!(err instanceof MalformedEntryError)) throw err;
          log.warn("skipping malformed wm-objects entry", { key: e.key, revision: e.revision, err });
        }
        // Until the watch has caught up, changes are part of the initial load: one build at ready.
        if (changed && loaded) debouncer.poke();
      },
      onReady() {
        loaded = true;
        // The initial load is not a change: do not attach the first build to old changes' traces.
        index.takeTraces();
        log.info("wm-objects loaded", { objects: index.size });
        requestBuild();
        enqueue("initial build", async () => resolveReady());
      },
    },
    log,
  );

  const sweepEvery =
    o.sweepIntervalMs ?? Math.min(10_000, Math.max(50, Math.floor(o.config.blobGraceMs / 4)));
  const sweeper = setInterval(() => {
    enqueue("blob sweep", async () => {
      if (stopped || (o.canPublish && !o.canPublish())) return;
      const deleted = await publisher.sweep(now());
      if (deleted.length) events.emit("swept", deleted);
    });
  }, sweepEvery);

  log.info("translator started", { bucket: Bucket.objects, ...o.config });
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
      return objectsPending;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      watch.stop();
      debouncer.cancel();
      clearInterval(sweeper);
      clearTimeout(retry);
      await queue;
      log.info("translator stopped", { builds });
    },
  };
}
