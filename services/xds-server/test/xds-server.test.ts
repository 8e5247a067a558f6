// The xds-server against real NATS and real gRPC streams: manifests and blobs are written to wm-xds
// as the translator would, proxies are played by the ADS test client.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Bucket, createLogger, manifestKey, type ProxyRecord, proxyKey } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { type NatsServer, startNats, waitFor } from "@waymark/testing";
import { AdsClient, deltaResources, sotwResources } from "@waymark/testing/ads-client";
import {
  basic,
  CDS,
  cluster,
  EDS,
  endpoints,
  LDS,
  publish,
  RDS,
  routes,
} from "@waymark/testing/xds-fixtures";
import { startXdsServer, type XdsServer } from "../src/index.ts";

const log = createLogger("xds-server-test", {}, () => {});
let nats: NatsServer;
let nc: NatsConnection;
let xds: KV;
let proxies: KV;
let a: XdsServer;
let b: XdsServer;
let clientA: AdsClient;
let clientB: AdsClient;
let seq = 0;
/** A fresh waypoint per test, so tests do not see each other's snapshots. */
const fresh = () => {
  const n = ++seq;
  return {
    waypoint: { namespace: `ns${n}`, name: `gw${n}` },
    cluster: `gw${n}.ns${n}`,
    id: `pod${n}.ns${n}`,
  };
};

before(async () => {
  nats = await startNats();
  nc = await connectBus({ servers: nats.url, name: "test", log });
  [xds, proxies] = await Promise.all([openBucket(nc, Bucket.xds), openBucket(nc, Bucket.proxies)]);
  const cfg = { natsUrl: nats.url, address: "127.0.0.1:0", maxConnectionAgeMs: 0 };
  [a, b] = await Promise.all([
    startXdsServer({ ...cfg, replica: "rep-a" }, log, { proxyFlushMs: 20 }),
    startXdsServer({ ...cfg, replica: "rep-b" }, log, { proxyFlushMs: 20 }),
  ]);
  clientA = new AdsClient(`127.0.0.1:${a.port}`);
  clientB = new AdsClient(`127.0.0.1:${b.port}`);
});

after(async () => {
  clientA?.close();
  clientB?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await nc?.close();
  await nats?.stop();
});

/** Publishes and waits until both replicas hold the new snapshot. */
async function publishBoth(w: ReturnType<typeof fresh>, res: Parameters<typeof publish>[2]) {
  const built = await publish(xds, w.waypoint, res);
  const key = manifestKey(w.waypoint);
  await waitFor("snapshot on both replicas", () =>
    [a, b].every((s) => s.store.get(key)?.version === built.manifest.version),
  );
  return built;
}

const record = (replica: string, nodeId: string) => getJson<ProxyRecord>(proxies, proxyKey(replica, nodeId));

test("SotW: ACK recorded in wm-proxies; record deleted when the stream ends", async () => {
  const w = fresh();
  const built = await publishBoth(w, basic());
  const s = clientA.sotw();
  s.send({ typeUrl: CDS, node: { id: w.id, cluster: w.cluster } });
  const r = await s.next();
  assert.equal(r.versionInfo, built.manifest.versions[CDS]);
  assert.deepEqual([...sotwResources(r).keys()], ["backend"]);
  s.ack(r);
  assert.equal(await s.none(), undefined, "an ACK is not answered");
  const rec = await waitFor("acked record", async () => {
    const x = await record("rep-a", w.id);
    return x?.types[CDS]?.ackedVersion === r.versionInfo ? x : undefined;
  });
  assert.equal(rec.protocol, "sotw");
  assert.deepEqual(rec.waypoint, w.waypoint);
  assert.equal(rec.types[CDS]?.sentVersion, r.versionInfo);
  assert.ok(rec.types[CDS]?.ackedAt);
  s.close();
  await waitFor("record deleted", async () => (await record("rep-a", w.id)) === undefined);
});

test("SotW: NACKed version is recorded and not re-sent; a newer snapshot is sent", async () => {
  const w = fresh();
  await publishBoth(w, basic());
  const s = clientA.sotw();
  s.send({ typeUrl: CDS, node: { id: w.id, cluster: w.cluster } });
  const r1 = await s.next();
  s.ack(r1);
  const v2 = await publishBoth(w, basic({ timeout: "2s" }));
  const r2 = await s.next();
  assert.equal(r2.versionInfo, v2.manifest.versions[CDS]);
  s.nack(r2, "cluster backend: bad timeout", r1.versionInfo);
  assert.equal(await s.none(500), undefined, "NACKed version not re-sent");
  const rec = await waitFor("nacked record", async () => {
    const x = await record("rep-a", w.id);
    return x?.types[CDS]?.nackedVersion ? x : undefined;
  });
  assert.equal(rec.types[CDS]?.nackedVersion, r2.versionInfo);
  assert.equal(rec.types[CDS]?.nackMessage, "cluster backend: bad timeout");
  assert.equal(rec.types[CDS]?.ackedVersion, r1.versionInfo);
  const v3 = await publishBoth(w, basic({ timeout: "3s" }));
  const r3 = await s.next();
  assert.equal(r3.versionInfo, v3.manifest.versions[CDS]);
  s.close();
});

test("delta: initial wildcard CDS/LDS, then RDS/EDS subscribe and unsubscribe", async () => {
  const w = fresh();
  const built = await publishBoth(w, {
    ...basic(),
    [EDS]: { backend: endpoints("backend", 1), other: endpoints("other", 2) },
  });
  const d = clientA.delta();
  d.send({ typeUrl: CDS, node: { id: w.id, cluster: w.cluster } });
  const c = await d.next();
  assert.equal(c.typeUrl, CDS);
  assert.equal(c.systemVersionInfo, built.manifest.versions[CDS]);
  assert.deepEqual(
    [...deltaResources(c)].map(([n, x]) => [n, x.version]),
    [["backend", built.hashes[CDS]!["backend"]]],
  );
  d.ack(c);
  d.send({ typeUrl: LDS });
  const l = await d.next();
  assert.deepEqual([...deltaResources(l).keys()], ["main"]);
  d.ack(l);
  d.send({ typeUrl: EDS, subscribe: ["backend"] });
  const e1 = await d.next();
  assert.deepEqual([...deltaResources(e1).keys()], ["backend"]);
  d.ack(e1);
  d.send({ typeUrl: EDS, subscribe: ["other"], responseNonce: e1.nonce });
  const e2 = await d.next();
  assert.deepEqual([...deltaResources(e2).keys()], ["other"]);
  d.ack(e2);
  d.send({ typeUrl: EDS, unsubscribe: ["other"], responseNonce: e2.nonce });
  assert.equal(await d.none(), undefined);
  await publishBoth(w, {
    ...basic(),
    [EDS]: { backend: endpoints("backend", 1), other: endpoints("other", 3) },
  });
  assert.equal(await d.none(), undefined, "an unsubscribed resource's change is not pushed");
  d.send({ typeUrl: RDS, subscribe: ["main-routes"] });
  const rr = await d.next();
  assert.deepEqual([...deltaResources(rr).keys()], ["main-routes"]);
  d.close();
});

test("delta: subscribing to a missing name gets removed_resources, then the resource when it appears", async () => {
  const w = fresh();
  await publishBoth(w, basic());
  const d = clientA.delta();
  d.send({ typeUrl: RDS, subscribe: ["later"], node: { id: w.id, cluster: w.cluster } });
  const r1 = await d.next();
  assert.deepEqual(r1.removedResources, ["later"]);
  assert.equal(r1.resources.length, 0);
  d.ack(r1);
  await publish(xds, w.waypoint, {
    ...basic(),
    [RDS]: { ...basic()[RDS], later: routes("later", "backend") },
  });
  // Pushed when it appears, well before Envoy's 15 s initial fetch timeout would give up on it: the
  // wait for the push allows 10 s.
  const r2 = await d.next(10_000);
  assert.deepEqual([...deltaResources(r2).keys()], ["later"]);
  d.close();
});

test("delta reconnect with initial_resource_versions: nothing resent (to another replica too)", async () => {
  const w = fresh();
  const built = await publishBoth(w, basic());
  const held: Record<string, Record<string, string>> = {};
  const d1 = clientA.delta();
  d1.send({ typeUrl: CDS, node: { id: w.id, cluster: w.cluster } });
  d1.send({ typeUrl: EDS, subscribe: ["backend"] });
  for (let i = 0; i < 2; i++) {
    const r = await d1.next();
    held[r.typeUrl] = Object.fromEntries([...deltaResources(r)].map(([n, x]) => [n, x.version]));
    d1.ack(r);
  }
  assert.deepEqual(held[CDS], built.hashes[CDS]);
  d1.close();
  for (const client of [clientA, clientB]) {
    const d2 = client.delta();
    d2.send({ typeUrl: CDS, initialVersions: held[CDS]!, node: { id: w.id, cluster: w.cluster } });
    d2.send({ typeUrl: EDS, subscribe: ["backend"], initialVersions: held[EDS]! });
    assert.equal(await d2.none(500), undefined);
    d2.close();
  }
});

test("SotW reconnect to a second replica with the same versions: nothing resent, changes still arrive", async () => {
  const w = fresh();
  await publishBoth(w, basic());
  const s1 = clientA.sotw();
  s1.send({ typeUrl: CDS, node: { id: w.id, cluster: w.cluster } });
  const c = await s1.next();
  s1.ack(c);
  s1.send({ typeUrl: RDS, resourceNames: ["main-routes"] });
  const r = await s1.next();
  s1.ack(r, ["main-routes"]);
  s1.close();
  const s2 = clientB.sotw();
  s2.send({ typeUrl: CDS, versionInfo: c.versionInfo, node: { id: w.id, cluster: w.cluster } });
  s2.send({ typeUrl: RDS, versionInfo: r.versionInfo, resourceNames: ["main-routes"] });
  assert.equal(await s2.none(500), undefined, "no spurious resend");
  const v2 = await publishBoth(w, basic({ prefix: "/v2" }));
  const pushed = await s2.next();
  assert.equal(pushed.typeUrl, RDS, "only the changed type");
  assert.equal(pushed.versionInfo, v2.manifest.versions[RDS]);
  await waitFor("record on replica b", async () => (await record("rep-b", w.id))?.types[RDS]?.sentVersion);
  s2.close();
});

test("a change touching every type is pushed CDS, EDS, LDS, RDS (SotW and delta)", async () => {
  const w = fresh();
  await publishBoth(w, basic());
  const s = clientA.sotw();
  const d = clientB.delta();
  const node = { id: w.id, cluster: w.cluster };
  s.send({ typeUrl: LDS, node });
  s.send({ typeUrl: RDS, resourceNames: ["main-routes"] });
  s.send({ typeUrl: CDS });
  s.send({ typeUrl: EDS, resourceNames: ["backend"] });
  d.send({ typeUrl: RDS, subscribe: ["main-routes"], node });
  d.send({ typeUrl: LDS });
  d.send({ typeUrl: EDS, subscribe: ["backend"] });
  d.send({ typeUrl: CDS });
  for (let i = 0; i < 4; i++) s.ack(await s.next(), []);
  for (let i = 0; i < 4; i++) d.ack(await d.next());
  await s.none(200);
  await d.none(200);
  await publishBoth(w, basic({ timeout: "7s", upstreamPort: 7, port: 10007, prefix: "/seven" }));
  const sotwOrder: string[] = [];
  const deltaOrder: string[] = [];
  for (let i = 0; i < 4; i++) sotwOrder.push((await s.next()).typeUrl);
  for (let i = 0; i < 4; i++) deltaOrder.push((await d.next()).typeUrl);
  assert.deepEqual(sotwOrder, [CDS, EDS, LDS, RDS]);
  assert.deepEqual(deltaOrder, [CDS, EDS, LDS, RDS]);
  s.close();
  d.close();
});

test("stale nonce: SotW ignores the request, delta applies its subscription", async () => {
  const w = fresh();
  await publishBoth(w, { [EDS]: { x: endpoints("x", 1), y: endpoints("y", 2) } });
  const node = { id: w.id, cluster: w.cluster };
  const s = clientA.sotw();
  s.send({ typeUrl: EDS, resourceNames: ["x"], node });
  const r1 = await s.next();
  await publishBoth(w, { [EDS]: { x: endpoints("x", 10), y: endpoints("y", 20) } });
  const r2 = await s.next();
  s.send({ typeUrl: EDS, resourceNames: ["x", "y"], versionInfo: r1.versionInfo, responseNonce: r1.nonce });
  assert.equal(await s.none(400), undefined, "stale nonce ignored");
  s.send({ typeUrl: EDS, resourceNames: ["x", "y"], versionInfo: r2.versionInfo, responseNonce: r2.nonce });
  assert.deepEqual([...sotwResources(await s.next()).keys()].sort(), ["x", "y"]);
  s.close();
  const d = clientA.delta();
  d.send({ typeUrl: EDS, subscribe: ["x"], node });
  await d.next();
  d.send({ typeUrl: EDS, subscribe: ["y"], responseNonce: "stale-or-unknown" });
  assert.deepEqual([...deltaResources(await d.next()).keys()], ["y"]);
  d.close();
});

test("only the first request carries node; a stream without node is rejected", async () => {
  const w = fresh();
  await publishBoth(w, basic());
  const s = clientA.sotw();
  s.send({ typeUrl: CDS, node: { id: w.id, cluster: w.cluster } });
  s.ack(await s.next());
  s.send({ typeUrl: LDS });
  assert.deepEqual([...sotwResources(await s.next()).keys()], ["main"]);
  s.close();
  const bad = clientA.delta();
  bad.send({ typeUrl: CDS });
  const st = await bad.status;
  assert.equal(st.code, 3, "INVALID_ARGUMENT");
  assert.match(st.details, /node/);
  const bad2 = clientA.sotw();
  bad2.send({ typeUrl: CDS, node: { id: "x", cluster: "nodot" } });
  assert.equal((await bad2.status).code, 3);
});

test("a proxy whose waypoint has no manifest waits, and is served when it arrives", async () => {
  const w = fresh();
  const d = clientA.delta();
  const s = clientB.sotw();
  d.send({ typeUrl: CDS, node: { id: w.id, cluster: w.cluster } });
  s.send({ typeUrl: LDS, node: { id: `${w.id}-s`, cluster: w.cluster } });
  assert.equal(await d.none(300), undefined);
  assert.equal(await s.none(1), undefined);
  const built = await publish(xds, w.waypoint, basic());
  assert.equal((await d.next(5000)).systemVersionInfo, built.manifest.versions[CDS]);
  assert.equal((await s.next(5000)).versionInfo, built.manifest.versions[LDS]);
  d.close();
  s.close();
});

test("idle streams get no responses; a deleted manifest stops serving new streams and frees blobs", async () => {
  const w = fresh();
  await publishBoth(w, { [CDS]: { only: cluster("only-cluster-for-delete", "42s") } });
  const streams = Array.from({ length: 20 }, (_, i) => {
    const s = clientA.sotw();
    s.send({ typeUrl: CDS, node: { id: `${w.id}-${i}`, cluster: w.cluster } });
    return s;
  });
  for (const s of streams) s.ack(await s.next());
  const extra = await Promise.all(streams.map((s) => s.none(1000)));
  assert.deepEqual(
    extra.filter((x) => x !== undefined),
    [],
  );
  for (const s of streams) s.close();
  const blobsBefore = a.store.blobCount;
  await xds.delete(manifestKey(w.waypoint));
  await waitFor("snapshot removed", () => a.store.get(manifestKey(w.waypoint)) === undefined);
  assert.equal(a.store.blobCount, blobsBefore - 1);
  const late = clientA.sotw();
  late.send({ typeUrl: CDS, node: { id: `${w.id}-late`, cluster: w.cluster } });
  assert.equal(await late.none(300), undefined);
  late.close();
});

test("a proxy reconnecting before its old stream ends keeps its record", async () => {
  const w = fresh();
  await publishBoth(w, basic());
  const node = { id: w.id, cluster: w.cluster };
  const old = clientA.sotw();
  old.send({ typeUrl: CDS, node });
  old.ack(await old.next());
  const neu = clientA.delta();
  neu.send({ typeUrl: CDS, node });
  neu.ack(await neu.next());
  await waitFor("delta record", async () => (await record("rep-a", w.id))?.protocol === "delta");
  old.close();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await record("rep-a", w.id))?.protocol, "delta", "the old stream's end does not delete it");
  neu.close();
  await waitFor("record deleted", async () => (await record("rep-a", w.id)) === undefined);
});
