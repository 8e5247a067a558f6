// The xds-server's observability against real NATS and real gRPC streams: push spans that end on the
// proxy's ACK (ERROR with error_detail on NACK) as children of the translator's span, the metrics,
// honest /readyz, the /debug/proxies endpoint, and wm-proxies records kept current by one heartbeat per
// replica: removed by a live replica when their replica is cut off or killed with SIGKILL, rewritten
// when a replica taken for dead comes back.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  Bucket,
  blobKey,
  createLogger,
  manifestKey,
  type ProxyRecord,
  proxyKey,
  type ReplicaHeartbeat,
  replicaKey,
  type WaypointManifest,
} from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import {
  captureSpans,
  endSpan,
  histogramFromText,
  type SpanCapture,
  SpanStatusCode,
  startSpan,
  traceContextOf,
  valueFromText,
} from "@waymark/telemetry";
import {
  freePort,
  type NatsServer,
  pauseProcess,
  startNats,
  startProcess,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { AdsClient } from "@waymark/testing/ads-client";
import { basic, build, CDS, type Resources } from "@waymark/testing/xds-fixtures";
import { startXdsServer, type XdsServer } from "../src/index.ts";

const log = createLogger("xds-observability-test", {}, () => {});
let nats: NatsServer;
let nc: NatsConnection;
let xds: KV;
let proxies: KV;
let replicas: KV;
let capture: SpanCapture;
let server: XdsServer;

before(async () => {
  capture = captureSpans("waymark-xds-server");
  nats = await startNats();
  nc = await connectBus({ servers: nats.url, name: "test", log });
  [xds, proxies, replicas] = await Promise.all([
    openBucket(nc, Bucket.xds),
    openBucket(nc, Bucket.proxies),
    openBucket(nc, Bucket.replicas),
  ]);
  server = await startXdsServer(
    { natsUrl: nats.url, address: "127.0.0.1:0", replica: "rep-t", maxConnectionAgeMs: 0 },
    log,
    { proxyFlushMs: 20 },
  );
});

after(async () => {
  await server?.stop();
  await capture?.stop();
  await nc?.close();
  await nats?.stop();
});

/** Publishes like the translator: blobs, then a manifest carrying observedAt and the trace context. */
async function publishTraced(waypoint: { namespace: string; name: string }, res: Resources, trace?: string) {
  const b = build(waypoint, res);
  const m: WaypointManifest = { ...b.manifest, observedAt: new Date().toISOString() };
  if (trace) m.trace = { traceparent: trace };
  await Promise.all([...b.blobs].map(([h, bytes]) => xds.put(blobKey(h), bytes)));
  await xds.put(manifestKey(waypoint), JSON.stringify(m));
  await waitFor("snapshot held", () => server.store.get(manifestKey(waypoint))?.version === m.version);
  return m;
}

test("a push span per proxy and type: child of the manifest's span, ends on ACK; NACK is an error", async () => {
  const waypoint = { namespace: "traced", name: "gw" };
  await publishTraced(waypoint, basic());
  const client = new AdsClient(`127.0.0.1:${server.port}`);
  try {
    const s = client.sotw();
    s.send({ typeUrl: CDS, node: { id: "pod-t.traced", cluster: "gw.traced" } });
    s.ack(await s.next(3000, "initial CDS"));

    // A change while the proxy is connected: the push continues the translator's trace.
    const parent = startSpan("send wm-xds", { parent: null });
    const tp = traceContextOf(parent)!.traceparent;
    endSpan(parent);
    capture.reset();
    await publishTraced(waypoint, basic({ timeout: "2s" }), tp);
    const r2 = await s.next(3000, "CDS after the change");
    s.ack(r2);
    const acked = await waitFor("ACKed push span", () =>
      capture
        .spans()
        .find(
          (x) =>
            x.name === "xds.push CDS" &&
            x.attributes["xds.outcome"] === "ack" &&
            x.attributes["xds.version"] === r2.versionInfo,
        ),
    );
    assert.equal(acked.spanContext().traceId, parent.spanContext().traceId);
    assert.equal(acked.parentSpanContext?.spanId, parent.spanContext().spanId);
    assert.equal(acked.attributes["envoy.node.id"], "pod-t.traced");
    assert.equal(acked.attributes["waymark.replica"], "rep-t");
    assert.equal(acked.attributes["xds.version"], r2.versionInfo);
    assert.equal(acked.status.code, SpanStatusCode.UNSET);

    await publishTraced(waypoint, basic({ timeout: "3s" }), tp);
    const r3 = await s.next(3000, "CDS to reject");
    s.nack(r3, "cluster backend: invalid timeout", r2.versionInfo);
    const nacked = await waitFor("NACKed push span", () =>
      capture.spans().find((x) => x.name === "xds.push CDS" && x.attributes["xds.outcome"] === "nack"),
    );
    assert.equal(nacked.status.code, SpanStatusCode.ERROR);
    assert.match(nacked.status.message ?? "", /cluster backend: invalid timeout/);
    assert.equal(nacked.attributes["xds.error_detail"], "cluster backend: invalid timeout");

    const text = await server.ads.metrics.registry.metrics();
    assert.ok(valueFromText(text, "waymark_xds_pushes_total", { type: "CDS" }) >= 3);
    assert.ok(valueFromText(text, "waymark_xds_acks_total", { type: "CDS" }) >= 2);
    assert.equal(valueFromText(text, "waymark_xds_nacks_total", { type: "CDS" }), 1);
    // Only the change made while connected counts as propagation (the initial push does not).
    assert.equal(histogramFromText(text, "waymark_xds_propagation_seconds", { type: "CDS" }).count, 1);
    assert.equal(valueFromText(text, "waymark_xds_connected_proxies", { protocol: "sotw" }), 1);
    s.close();
  } finally {
    client.close();
  }
});

const MAIN = join(fileURLToPath(import.meta.url), "..", "..", "src", "main.ts");

test("main: honest /readyz, /debug/proxies, metrics; records of a replica cut off or SIGKILLed are removed", async () => {
  // Short enough for a quick test, long enough that a loaded machine's pauses do not pass for death.
  const TTL = 4000;
  const waypoint = { namespace: "doomed", name: "gw" };
  await publishTraced(waypoint, basic());
  const [xdsPort, opsPort] = [await freePort(), await freePort()];
  const proc = startProcess({
    name: "xds-doomed",
    command: process.execPath,
    args: [MAIN],
    env: {
      WAYMARK_NATS_URL: nats.url,
      WAYMARK_XDS_ADDRESS: `127.0.0.1:${xdsPort}`,
      WAYMARK_REPLICA: "doomed",
      WAYMARK_METRICS_ADDRESS: `127.0.0.1:${opsPort}`,
      WAYMARK_PROXY_RECORD_TTL_MS: String(TTL),
    },
    logDir: tempDir("xds-doomed"),
  });
  const ops = `http://127.0.0.1:${opsPort}`;
  const client = new AdsClient(`127.0.0.1:${xdsPort}`);
  try {
    await waitFor("ready", async () => (await fetch(`${ops}/readyz`)).status === 200, 20_000, 50);
    assert.equal((await fetch(`${ops}/healthz`)).status, 200);
    const s = client.delta();
    s.send({ typeUrl: CDS, node: { id: "pod-d.doomed", cluster: "gw.doomed" } });
    s.ack(await s.next(5000, "CDS"));
    const key = proxyKey("doomed", "pod-d.doomed");
    const rec = await waitFor("record written", () => getJson<ProxyRecord>(proxies, key));
    const heartbeat = () => getJson<ReplicaHeartbeat>(replicas, replicaKey("doomed"));
    const beat = await heartbeat();
    assert.equal(beat?.ttlMs, TTL);
    assert.equal(rec.incarnation, beat.incarnation, "the record carries its replica's incarnation");
    const dbg = (await (await fetch(`${ops}/debug/proxies`)).json()) as {
      replica: string;
      proxies: ProxyRecord[];
    };
    assert.equal(dbg.replica, "doomed");
    assert.deepEqual(
      dbg.proxies.map((p) => [p.nodeId, p.waypoint?.name, p.protocol]),
      [["pod-d.doomed", "gw", "delta"]],
    );
    const text = await (await fetch(`${ops}/metrics`)).text();
    assert.equal(
      valueFromText(text, "waymark_xds_connected_proxies", { protocol: "delta", replica: "doomed" }),
      1,
    );
    assert.ok(valueFromText(text, "waymark_xds_acks_total", { type: "CDS" }) >= 1);
    assert.match(text, /waymark_process_cpu_seconds_total/);

    // Past the TTL, an idle proxy's record is not rewritten: the replica's heartbeat keeps it current,
    // and a live replica's look for dead ones leaves it be.
    // (The event to wait for: a heartbeat written more than a TTL after the first, so the record is
    // older than a TTL while its replica's heartbeat is current.)
    const revision = (await proxies.get(key))?.revision;
    await waitFor("the heartbeat rewritten a TTL later", async () => {
      const h = await heartbeat();
      return h && Date.parse(h.beatAt) - Date.parse(beat.beatAt) > TTL ? h : undefined;
    });
    await server.liveness.tick();
    assert.equal((await proxies.get(key))?.revision, revision, "an idle proxy's record is not rewritten");
    assert.equal(rec.incarnation, (await heartbeat())?.incarnation, "nor its replica taken for dead");

    // Cut off (stopped) past its TTL: a live replica removes its heartbeat and records…
    const pid = proc.child.pid!;
    await pauseProcess(proc.child);
    // A live replica's look, again until the silent one's heartbeat is older than its TTL.
    const sweptAfter = async (what: string) =>
      waitFor(
        what,
        async () => {
          await server.liveness.tick();
          return (await getJson(proxies, key)) === undefined;
        },
        30_000,
        200,
      );
    await sweptAfter("the records of a replica gone silent removed");
    assert.equal(await heartbeat(), undefined, "with its heartbeat");
    // …and when it comes back, it finds out and rewrites them under a new incarnation.
    process.kill(pid, "SIGCONT");
    const back = await waitFor("records rewritten", async () => {
      const r = await getJson<ProxyRecord>(proxies, key);
      return r && r.incarnation !== rec.incarnation ? r : undefined;
    });
    assert.equal(back.incarnation, (await heartbeat())?.incarnation);
    assert.ok(back.types[CDS]?.ackedVersion, "with what the proxy holds");

    // Killed without a word: the next look of a live replica removes what it left.
    await proc.kill();
    await sweptAfter("the records of a SIGKILLed replica removed");
    assert.equal(await heartbeat(), undefined, "with its heartbeat");
  } finally {
    client.close();
    await proc.kill();
  }
});
