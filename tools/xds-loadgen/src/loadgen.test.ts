// The load generator against a real xds-server (two replicas) and real NATS: 20 simulated proxies in
// two worker processes, half delta, half SotW, one of them rejecting every update.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Bucket, createLogger, type ProxyRecord, proxyKey } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import { type NatsServer, startNats, waitFor } from "@waymark/testing";
import { startXdsServer, type XdsServer } from "@waymark/xds-server";
import { LoadGen, proxySpecs } from "./controller.ts";
import { encodeSnapshot, publishToWaymark, syntheticWaypoint } from "./fixture.ts";

const log = createLogger("loadgen-test", {}, () => {});
const waypoint = { namespace: "bench", name: "wp" };
const cluster = "wp.bench";
let nats: NatsServer;
let nc: NatsConnection;
let xds: KV;
let proxies: KV;
let a: XdsServer;
let b: XdsServer;
let lg: LoadGen;

before(async () => {
  nats = await startNats();
  nc = await connectBus({ servers: nats.url, name: "test", log });
  [xds, proxies] = await Promise.all([openBucket(nc, Bucket.xds), openBucket(nc, Bucket.proxies)]);
  const cfg = { natsUrl: nats.url, address: "127.0.0.1:0", maxConnectionAgeMs: 0 };
  [a, b] = await Promise.all([
    startXdsServer({ ...cfg, replica: "rep-a" }, log, { proxyFlushMs: 20 }),
    startXdsServer({ ...cfg, replica: "rep-b" }, log, { proxyFlushMs: 20 }),
  ]);
  lg = await LoadGen.start(2);
});

after(async () => {
  await lg?.stop();
  await Promise.all([a?.stop(), b?.stop()]);
  await nc?.close();
  await nats?.stop();
});

const published = async (s: ReturnType<typeof encodeSnapshot>) => {
  await publishToWaymark(xds, waypoint, s);
  await waitFor("both replicas hold the snapshot", () =>
    [a, b].every((x) => x.store.get("manifest.bench.wp")?.version === s.version),
  );
};

test("20 proxies sync and ACK; a NACK is recorded and not re-sent; a matching reconnect gets nothing", async () => {
  const v1 = encodeSnapshot(syntheticWaypoint({ services: 3, routesPerService: 5 }));
  await published(v1);
  const specs = [
    ...proxySpecs(10, cluster, "delta", { nackers: 1, prefix: "delta" }),
    ...proxySpecs(10, cluster, "sotw", { prefix: "sotw" }),
  ];
  const conn = await lg.connect(`127.0.0.1:${a.port}`, specs, 20_000);
  assert.equal(conn.synced, 20, "every proxy answered CDS, EDS, LDS and RDS");
  for (const t of Object.values(TypeUrl)) {
    const r = await lg.awaitVersion(t, v1.versions[t]!, 10_000);
    assert.equal(r.acks.length, 20, `every proxy ACKed ${t}`);
    assert.deepEqual(r.missing, []);
  }
  const first = await lg.stats();
  assert.equal(first.nacks, 0);
  assert.equal(
    first.types[TypeUrl.route]!.resources,
    20 * 3,
    "each proxy was sent the 3 route configurations",
  );
  assert.ok(
    first.workers.every((w) => w.decoded <= 1 + 3),
    "each worker decoded each distinct listener and cluster once",
  );

  // v2: one route configuration changes; delta-0 rejects it.
  const v2 = encodeSnapshot(
    syntheticWaypoint({ services: 3, routesPerService: 5, changedService: 1, variant: "v2" }),
  );
  assert.notEqual(v2.versions[TypeUrl.route], v1.versions[TypeUrl.route]);
  assert.equal(v2.versions[TypeUrl.cluster], v1.versions[TypeUrl.cluster]);
  await published(v2);
  const r2 = await lg.awaitVersion(TypeUrl.route, v2.versions[TypeUrl.route]!, 10_000);
  assert.equal(r2.acks.length, 19);
  assert.equal(r2.nacks, 1);
  assert.deepEqual(r2.missing, []);
  const rec = await waitFor("the NACK in wm-proxies", async () => {
    const x = await getJson<ProxyRecord>(proxies, proxyKey("rep-a", "delta-0"));
    return x?.types[TypeUrl.route]?.nackedVersion === v2.versions[TypeUrl.route] ? x : undefined;
  });
  assert.match(rec.types[TypeUrl.route]!.nackMessage ?? "", /simulated rejection/);
  await new Promise((r) => setTimeout(r, 500));
  const second = await lg.stats();
  const nacker = second.workers.find((w) => w.perProxy["delta-0"])!.perProxy["delta-0"]!;
  assert.equal(nacker[TypeUrl.route]!.responses, 2, "the NACKed version was sent once, never again");
  assert.equal(nacker[TypeUrl.route]!.nacks, 1);
  for (const w of second.workers) {
    for (const [id, per] of Object.entries(w.perProxy)) {
      assert.equal(per[TypeUrl.route]!.responses, 2, `${id}: initial RDS + one update`);
      assert.equal(per[TypeUrl.cluster]!.responses, 1, `${id}: clusters unchanged, not re-sent`);
    }
  }
  // Delta sends only the changed route configuration; SotW RDS sends the subscribed set.
  const deltaRds = second.types[TypeUrl.route]!.resources - first.types[TypeUrl.route]!.resources;
  assert.equal(deltaRds, 10 * 1 + 10 * 3);

  // Every proxy reconnects to replica B at once. Those whose versions match are sent nothing; the
  // NACKing proxy still holds v1 of one route configuration, so B sends it v2 (and it rejects it).
  await lg.reconnect(`127.0.0.1:${b.port}`);
  await waitFor("19 proxies on replica B", () => b.ads.streamCount === 20);
  // B records a proxy that reconnected holding the current version as ACKed in the very step that
  // decides what to send it, and the NACK of the re-offer once it came back: once every record says
  // so, B has answered every reconnect (and sent whatever it was going to).
  await waitFor("replica B's record of every reconnect", async () => {
    for (const spec of specs) {
      const rec = await getJson<ProxyRecord>(proxies, proxyKey("rep-b", spec.id));
      for (const t of Object.values(TypeUrl)) {
        const s = rec?.types[t];
        const reoffered = spec.nack === true && t === TypeUrl.route;
        if ((reoffered ? s?.nackedVersion : s?.ackedVersion) !== v2.versions[t]) return false;
      }
    }
    return true;
  });
  const third = await lg.stats();
  assert.equal(third.connected, 20);
  for (const w of third.workers) {
    for (const [id, per] of Object.entries(w.perProxy)) {
      const before = second.workers.find((x) => x.perProxy[id])!.perProxy[id]!;
      for (const t of Object.values(TypeUrl)) {
        const sent = per[t]!.responses - before[t]!.responses;
        if (id === "delta-0" && t === TypeUrl.route)
          assert.equal(sent, 1, "B re-offers v2 to the NACKing proxy");
        else assert.equal(sent, 0, `${id} ${t}: nothing resent on a matching reconnect`);
      }
    }
  }
  const r3 = await lg.awaitVersion(TypeUrl.route, v2.versions[TypeUrl.route]!, 5_000);
  assert.equal(r3.acks.length, 19);
});
