// One build: translate the mirrored objects, encode the waypoints' snapshots, publish them (when this
// replica may), under one CONSUMER span, with one `build` log line and a BuildReport. A translation
// that throws, or a waypoint whose snapshot does not build, replaces nothing: the last good snapshots
// stay published. A publish that fails puts the build's changes back, so the retry includes them.
import { Bucket, type Logger, waypointId } from "@waymark/api";
import { NATS_PUT_OVERHEAD } from "@waymark/bus";
import { asParent, endSpan, linkTo, logIds, SpanKind, startSpan } from "@waymark/telemetry";
import type { TranslationOutput, TranslatorSettings } from "../translate/types.ts";
import { buildSnapshots, type EncodeCache } from "./build.ts";
import { withBuildFailures } from "./build-status.ts";
import type { ObjectIndex } from "./object-index.ts";
import type { SnapshotPublisher } from "./publisher.ts";
import type { BuildReport, TranslateFn } from "./translator.ts";

export interface BuildContext {
  index: ObjectIndex;
  cache: EncodeCache;
  publisher: Pick<SnapshotPublisher, "publish">;
  translate: TranslateFn;
  settings: TranslatorSettings;
  log: Logger;
  now: () => number;
  /** False while this replica is not the leader: the build publishes nothing. */
  canPublish?: () => boolean;
  /** The NATS server's max_payload (see TranslatorOptions). */
  maxPayload?: number;
  /** When a failed publish is tried again (for the log line; the caller schedules it). */
  retryMs: number;
}

export interface BuildResult {
  report: BuildReport;
  /** Publishing failed: the build should be tried again. */
  retry: boolean;
}

/**
 * Build number `seq`. `done` hears of the result last, even when something unforeseen throws (the
 * report then says not ok).
 */
export async function runBuild(
  c: BuildContext,
  seq: number,
  done: (r: BuildResult) => void = () => {},
): Promise<BuildResult> {
  const { index, log } = c;
  const started = performance.now();
  const objects = index.objects();
  const journal = index.journal();
  const observedAt = index.takeNewestChange();
  const traces = index.takeTraces();
  let retry = false;
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
      output = c.translate({ objects, journal }, c.settings);
    } catch (err) {
      log.error("translation failed; the last good snapshots stay published", {
        objects: objects.size,
        err,
      });
      report.error = err;
      return { report, retry };
    }
    const { snapshots, failures } = buildSnapshots(
      output,
      c.cache,
      c.maxPayload ? { maxValueBytes: c.maxPayload - NATS_PUT_OVERHEAD } : {},
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
    if (c.canPublish && !c.canPublish()) {
      report.error = new Error("not the leader: nothing published");
      return { report, retry };
    }
    try {
      report.published = await c.publisher.publish(
        {
          snapshots,
          keep: new Set(failures.map((f) => f.key)),
          statuses: withBuildFailures(output.statuses, failures),
          ...(output.infra ? { infra: output.infra } : {}),
          observedAt,
          parent: asParent(span),
        },
        c.now(),
      );
    } catch (err) {
      // Nothing is lost: the publisher only records what NATS acknowledged, so the retry writes the rest.
      index.restoreNewestChange(observedAt);
      index.restoreTraces(traces);
      log.error("publishing failed; retrying", { err, retryMs: c.retryMs });
      report.error = err;
      retry = true;
      return { report, retry };
    }
    report.ok = true;
    return { report, retry };
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
    done({ report, retry });
  }
}
