// Trace context through the translator against real NATS: a build that coalesces several changes is
// one `process wm-objects` span, a child of the newest change and linked to all of them; each manifest
// it writes carries the traceparent of its own `send wm-xds` span, whose parent is the build.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { manifestKey, objectKey, refOf, type WaypointManifest } from "@waymark/api";
import { getJson, putJson } from "@waymark/bus";
import {
  captureSpans,
  endSpan,
  type SpanCapture,
  SpanKind,
  startSpan,
  traceContextOf,
} from "@waymark/telemetry";
import type { Translator } from "../src/service/translator.ts";
import { buildIncluding, type Env, envelope, putObject, runTranslator, startEnv } from "./helpers.ts";
import { gateway, service } from "./toy-translate.ts";

let env: Env;
let t: Translator | undefined;
let capture: SpanCapture;

before(async () => {
  capture = captureSpans("waymark-translator");
  env = await startEnv();
});
after(async () => {
  await t?.stop();
  await env.close();
  await capture.stop();
});

test("one build span links every coalesced change; the manifest carries the trace onwards", async () => {
  await putObject(env.objects, gateway("mesh", "waypoint"));
  t = await runTranslator(env, { config: { debounceQuietMs: 300, debounceMaxMs: 2000 } });
  capture.reset();
  const changes = [1, 2, 3].map((i) => {
    const span = startSpan("send wm-objects", { kind: SpanKind.PRODUCER, parent: null });
    endSpan(span);
    return { span, object: service("mesh", `s${i}`, "waypoint", [80], `10.0.2.${i}`) };
  });
  let rev = 0;
  for (const c of changes) {
    const env1 = envelope(c.object);
    env1.trace = traceContextOf(c.span)!;
    rev = await putJson(env.objects, objectKey(refOf(c.object)), env1);
  }
  const report = await buildIncluding(t, rev);
  assert.equal(report.ok, true);
  const builds = capture.spans().filter((s) => s.name === "process wm-objects");
  assert.equal(builds.length, 1, "one build for the burst");
  const build = builds[0]!;
  assert.equal(build.kind, SpanKind.CONSUMER);
  assert.equal(build.attributes["messaging.batch.message_count"], 3);
  assert.deepEqual(
    build.links.map((l) => l.context.spanId).sort(),
    changes.map((c) => c.span.spanContext().spanId).sort(),
  );
  const newest = changes.at(-1)!.span.spanContext();
  assert.equal(build.spanContext().traceId, newest.traceId, "continues the newest change's trace");
  assert.equal(build.parentSpanContext?.spanId, newest.spanId);

  const write = capture.spans().find((s) => s.name === "send wm-xds")!;
  assert.equal(write.parentSpanContext?.spanId, build.spanContext().spanId);
  assert.equal(write.attributes["waymark.waypoint"], "mesh/waypoint");
  const m = await getJson<WaypointManifest>(env.xds, manifestKey({ namespace: "mesh", name: "waypoint" }));
  const sc = write.spanContext();
  assert.equal(m?.trace?.traceparent, `00-${sc.traceId}-${sc.spanId}-01`);
  assert.equal(m?.version, write.attributes["waymark.snapshot.version"]);
});
