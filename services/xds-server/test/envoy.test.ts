// Smoke test with a real Envoy: delta ADS bootstrap (as Waymark's waypoints use), served by the
// xds-server from NATS; Envoy ACKs, holds the listener/cluster, and routes a request to httpbin.
// A later snapshot change is applied, and an invalid resource is NACKed and shows in wm-proxies.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Bucket, createLogger, type ProxyRecord, proxyKey } from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import {
  type EnvoyProc,
  freePort,
  type Httpbin,
  type NatsServer,
  startEnvoy,
  startHttpbin,
  startNats,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { basic, CDS, EDS, envoyBootstrap, LDS, listener, publish, RDS } from "@waymark/testing/xds-fixtures";
import { startXdsServer, type XdsServer } from "../src/index.ts";

const log = createLogger("xds-server-envoy-test", {}, () => {});
const waypoint = { namespace: "smoke", name: "waypoint" };
const nodeId = "waypoint-0.smoke";
const logDir = tempDir("xds-envoy");
let nats: NatsServer;
let nc: NatsConnection;
let xds: KV;
let proxies: KV;
let server: XdsServer;
let envoy: EnvoyProc;
let httpbin: Httpbin;
let listenPort: number;

before(async () => {
  nats = await startNats({ logDir });
  nc = await connectBus({ servers: nats.url, name: "test", log });
  [xds, proxies] = await Promise.all([openBucket(nc, Bucket.xds), openBucket(nc, Bucket.proxies)]);
  httpbin = await startHttpbin({ name: "httpbin", logDir });
  listenPort = await freePort();
  server = await startXdsServer({ natsUrl: nats.url, address: "127.0.0.1:0", replica: "smoke" }, log, {
    proxyFlushMs: 20,
  });
  envoy = await startEnvoy({
    name: "envoy",
    bootstrap: envoyBootstrap("DELTA_GRPC", nodeId, waypoint, server.port),
    logDir,
  });
});

after(async () => {
  await envoy?.stop();
  await server?.stop();
  await httpbin?.stop();
  await nc?.close();
  await nats?.stop();
});

const record = () => getJson<ProxyRecord>(proxies, proxyKey("smoke", nodeId));

test("Envoy (delta ADS) connects, waits for its manifest, ACKs every type and routes traffic", async () => {
  await waitFor("envoy stream", () => server.ads.streamCount === 1 || undefined);
  const built = await publish(xds, waypoint, basic({ port: listenPort, upstreamPort: httpbin.port }));
  const rec = await waitFor(
    "all four types acked",
    async () => {
      const r = await record();
      return r && [CDS, EDS, LDS, RDS].every((t) => r.types[t]?.ackedVersion === built.manifest.versions[t])
        ? r
        : undefined;
    },
    20_000,
  );
  assert.equal(rec.protocol, "delta");
  assert.deepEqual(rec.waypoint, waypoint);
  const stats = await envoy.stats();
  assert.ok((stats.get("cluster_manager.cds.update_success") ?? 0) >= 1);
  assert.ok((stats.get("listener_manager.lds.update_success") ?? 0) >= 1);
  assert.equal(stats.get("listener_manager.lds.update_rejected") ?? 0, 0);
  await waitFor(
    "no warming cluster",
    async () => (await envoy.stats()).get("cluster_manager.warming_clusters") === 0,
  );
  const dump = await envoy.admin("/config_dump");
  assert.match(dump, /"name": "main"/);
  assert.match(dump, /"name": "backend"/);
  const res = await waitFor("request through envoy", async () => {
    const r = await fetch(`http://127.0.0.1:${listenPort}/status/418`);
    return r.status === 418 ? r : undefined;
  });
  assert.equal(res.status, 418);
});

test("a route change reaches Envoy; an invalid listener is NACKed and recorded, not re-sent", async () => {
  const v2 = await publish(
    xds,
    waypoint,
    basic({ port: listenPort, upstreamPort: httpbin.port, prefix: "/anything" }),
  );
  await waitFor(
    "route v2 acked",
    async () => (await record())?.types[RDS]?.ackedVersion === v2.manifest.versions[RDS],
  );
  await waitFor(
    "new route served",
    async () => (await fetch(`http://127.0.0.1:${listenPort}/status/200`)).status === 404,
  );
  // Two listeners on the same port: valid protobuf, rejected by Envoy.
  const bad = await publish(xds, waypoint, {
    ...basic({ port: listenPort, upstreamPort: httpbin.port, prefix: "/anything" }),
    [LDS]: {
      main: listener("main", listenPort, "main-routes"),
      clash: listener("clash", listenPort, "main-routes"),
    },
  });
  const rec = await waitFor(
    "LDS nacked",
    async () => {
      const r = await record();
      return r?.types[LDS]?.nackedVersion === bad.manifest.versions[LDS] ? r : undefined;
    },
    15_000,
  );
  assert.match(rec.types[LDS]?.nackMessage ?? "", /duplicate address/, "Envoy's error_detail is recorded");
  const rejected = (await envoy.stats()).get("listener_manager.lds.update_rejected");
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await envoy.stats()).get("listener_manager.lds.update_rejected"), rejected, "no NACK loop");
});
