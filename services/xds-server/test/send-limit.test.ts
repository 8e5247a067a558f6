// The xds-server's send limit (WAYMARK_XDS_MAX_SEND_BYTES) against real NATS and real gRPC streams:
// a response larger than the limit is not sent; the proxy keeps what it holds, wm-proxies and a
// metric say why, the stream stays open, and a later snapshot that fits is sent. Delta splits an
// update whose resources each fit over several responses.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Bucket, createLogger, manifestKey, type ProxyRecord, proxyKey } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { DeltaDiscoveryResponseSchema, type JsonObject, toBinary } from "@waymark/envoy-proto";
import { type NatsServer, startNats, waitFor } from "@waymark/testing";
import { AdsClient, deltaResources, sotwResources } from "@waymark/testing/ads-client";
import { basic, CDS, cluster, LDS, listener, publish, type Resources } from "@waymark/testing/xds-fixtures";
import { startXdsServer, type XdsServer } from "../src/index.ts";

const LIMIT = 64 * 1024;
const log = createLogger("xds-server-send-limit-test", {}, () => {});
let nats: NatsServer;
let nc: NatsConnection;
let xds: KV;
let proxies: KV;
let server: XdsServer;
let client: AdsClient;

before(async () => {
  nats = await startNats();
  nc = await connectBus({ servers: nats.url, name: "test", log });
  [xds, proxies] = await Promise.all([openBucket(nc, Bucket.xds), openBucket(nc, Bucket.proxies)]);
  server = await startXdsServer(
    { natsUrl: nats.url, address: "127.0.0.1:0", replica: "limit", maxSendBytes: LIMIT },
    log,
    { proxyFlushMs: 20 },
  );
  client = new AdsClient(`127.0.0.1:${server.port}`);
});

after(async () => {
  client?.close();
  await server?.stop();
  await nc?.close();
  await nats?.stop();
});

/** A cluster padded to about `bytes` bytes (a long alt_stat_name). */
function padded(name: string, bytes: number): JsonObject {
  return { ...cluster(name), altStatName: "x".repeat(bytes) };
}

/** `n` clusters of about 2 KiB each: together more than LIMIT, each far less. */
function many(n: number, tag: string): Record<string, JsonObject> {
  const out: Record<string, JsonObject> = {};
  for (let i = 0; i < n; i++) out[`c${String(i).padStart(3, "0")}`] = padded(`c${i}-${tag}`, 2000);
  return out;
}

async function publishNow(waypoint: { namespace: string; name: string }, res: Resources) {
  const built = await publish(xds, waypoint, res);
  await waitFor(
    "snapshot loaded",
    () => server.store.get(manifestKey(waypoint))?.version === built.manifest.version,
  );
  return built;
}

const record = (nodeId: string) => getJson<ProxyRecord>(proxies, proxyKey("limit", nodeId));

async function tooLargeCount(): Promise<number> {
  const text = await server.ads.metrics.registry.metrics();
  const m = /^waymark_xds_responses_too_large_total\{type="CDS"[^}]*\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

test("SotW: a CDS response over the limit is not sent; recorded; other types flow; a smaller one is sent", async () => {
  const waypoint = { namespace: "sotw", name: "gw" };
  const id = "pod.sotw";
  const v1 = await publishNow(waypoint, basic());
  const s = client.sotw();
  s.send({ typeUrl: CDS, node: { id, cluster: "gw.sotw" } });
  const c1 = await s.next();
  s.ack(c1);
  s.send({ typeUrl: LDS });
  const l1 = await s.next();
  s.ack(l1);
  assert.equal(c1.versionInfo, v1.manifest.versions[CDS]);
  const countBefore = await tooLargeCount();

  // 50 clusters of 2 KiB: about 100 KiB in one SotW response. The listener changes too.
  const v2 = await publishNow(waypoint, {
    ...basic(),
    [CDS]: many(50, "a"),
    [LDS]: { main: listener("main", 10001, "main-routes") },
  });
  const l2 = await s.next(5_000, "the LDS change");
  assert.equal(l2.typeUrl, LDS, "the other types still go");
  assert.equal(l2.versionInfo, v2.manifest.versions[LDS]);
  s.ack(l2);
  assert.equal(await s.none(500), undefined, "the oversized CDS response is not sent");
  const rec = await waitFor("sendError recorded", async () => {
    const r = await record(id);
    return r?.types[CDS]?.sendError ? r : undefined;
  });
  const cds = rec.types[CDS]!;
  assert.equal(cds.sendErrorVersion, v2.manifest.versions[CDS]);
  assert.match(
    cds.sendError!,
    /the response would be \d+ bytes, more than the xds-server's send limit of 65536 bytes/,
  );
  assert.equal(cds.ackedVersion, v1.manifest.versions[CDS], "the proxy keeps its last good clusters");
  assert.equal(cds.sentVersion, v1.manifest.versions[CDS]);
  assert.equal(await tooLargeCount(), countBefore + 1);
  assert.equal(server.ads.streamCount, 1, "the stream stays open");

  // A later snapshot that fits is sent normally, and the error is cleared.
  const v3 = await publishNow(waypoint, {
    ...basic(),
    [CDS]: many(10, "b"),
    [LDS]: { main: listener("main", 10001, "main-routes") },
  });
  const c3 = await s.next(5_000, "the smaller CDS");
  assert.equal(c3.versionInfo, v3.manifest.versions[CDS]);
  assert.equal(sotwResources(c3).size, 10);
  s.ack(c3);
  await waitFor("error cleared, v3 acked", async () => {
    const r = (await record(id))?.types[CDS];
    return r?.ackedVersion === v3.manifest.versions[CDS] && r?.sendError === undefined;
  });
  s.close();
});

test("delta: an update over the limit goes out in several responses, each within it", async () => {
  const waypoint = { namespace: "delta", name: "gw" };
  const id = "pod.delta";
  await publishNow(waypoint, basic());
  const d = client.delta();
  d.send({ typeUrl: CDS, node: { id, cluster: "gw.delta" } });
  d.ack(await d.next());
  const countBefore = await tooLargeCount();

  const v2 = await publishNow(waypoint, { ...basic(), [CDS]: many(50, "a") });
  const names = new Set<string>();
  let removed: string[] = [];
  let parts = 0;
  while (names.size < 50 || removed.length === 0) {
    const r = await d.next(5_000, `part ${parts + 1}`);
    parts++;
    assert.equal(r.typeUrl, CDS);
    assert.equal(r.systemVersionInfo, v2.manifest.versions[CDS]);
    assert.ok(toBinary(DeltaDiscoveryResponseSchema, r).length <= LIMIT, `part ${parts} within the limit`);
    for (const n of deltaResources(r).keys()) names.add(n);
    removed = [...removed, ...r.removedResources];
    d.ack(r);
  }
  assert.ok(parts >= 2, `split into ${parts} responses`);
  assert.deepEqual(removed, ["backend"], "the removal comes last");
  assert.equal(await d.none(300), undefined);
  await waitFor(
    "v2 acked",
    async () => (await record(id))?.types[CDS]?.ackedVersion === v2.manifest.versions[CDS],
  );
  assert.equal(await tooLargeCount(), countBefore, "nothing refused");
  d.close();
});

test("delta: a single resource over the limit holds the whole type back; the stream stays open", async () => {
  const waypoint = { namespace: "huge", name: "gw" };
  const id = "pod.huge";
  const v1 = await publishNow(waypoint, basic());
  const d = client.delta();
  d.send({ typeUrl: CDS, node: { id, cluster: "gw.huge" } });
  d.ack(await d.next());
  const countBefore = await tooLargeCount();

  // One cluster of 70 KB, and one ordinary new cluster: neither is sent (all or nothing per type).
  const v2 = await publishNow(waypoint, {
    ...basic(),
    [CDS]: { ...basic()[CDS], huge: padded("huge", 70_000), small: cluster("small") },
  });
  assert.equal(await d.none(500), undefined, "nothing of CDS is sent");
  const rec = await waitFor("sendError recorded", async () => {
    const r = await record(id);
    return r?.types[CDS]?.sendError ? r : undefined;
  });
  assert.equal(rec.types[CDS]?.sendErrorVersion, v2.manifest.versions[CDS]);
  assert.match(
    rec.types[CDS]!.sendError!,
    /resource huge takes \d+ bytes, more than the xds-server's send limit of 65536 bytes/,
  );
  assert.equal(rec.types[CDS]?.ackedVersion, v1.manifest.versions[CDS]);
  assert.equal(await tooLargeCount(), countBefore + 1);

  // A request on the stream (the proxy subscribing to more) does not re-log or re-count the refusal.
  d.send({ typeUrl: LDS });
  const l = await d.next(5_000, "LDS");
  assert.equal(l.typeUrl, LDS);
  d.ack(l);
  assert.equal(await tooLargeCount(), countBefore + 1);

  // The huge cluster goes away: the client still holds v1, so it gets `small` and nothing removed.
  const v3 = await publishNow(waypoint, { ...basic(), [CDS]: { ...basic()[CDS], small: cluster("small") } });
  const c3 = await d.next(5_000, "CDS v3");
  assert.equal(c3.systemVersionInfo, v3.manifest.versions[CDS]);
  assert.deepEqual([...deltaResources(c3).keys()], ["small"]);
  assert.deepEqual(c3.removedResources, []);
  d.ack(c3);
  await waitFor("v3 acked, error cleared", async () => {
    const r = (await record(id))?.types[CDS];
    return r?.ackedVersion === v3.manifest.versions[CDS] && r?.sendError === undefined;
  });
  d.close();
});
