// A changed cluster whose endpoints did not change, with a real Envoy over SotW and over delta ADS.
// Envoy re-warms a changed EDS cluster and waits for its endpoints; if the server sends none, the
// cluster stays warming until the initial fetch timeout (15 s by default). In both protocols the change
// must be active because the endpoints came, not because that timeout fired: when it is pushed, and
// when the proxy finds it on reconnecting (to a restarted or another replica) after it changed while
// the proxy was away. Each test waits at most 10 s, well before the timeout, and checks Envoy's
// init_fetch_timeout counter for the cluster.
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
import { basic, CDS, EDS, envoyBootstrap, LDS, publish, RDS } from "@waymark/testing/xds-fixtures";
import { startXdsServer, type XdsServer } from "../src/index.ts";

const log = createLogger("xds-server-rewarm-test", {}, () => {});
const logDir = tempDir("xds-rewarm");
let nats: NatsServer;
let nc: NatsConnection;
let xds: KV;
let proxies: KV;
let server: XdsServer;
let httpbin: Httpbin;
const envoys: EnvoyProc[] = [];

before(async () => {
  nats = await startNats({ logDir });
  nc = await connectBus({ servers: nats.url, name: "test", log });
  [xds, proxies] = await Promise.all([openBucket(nc, Bucket.xds), openBucket(nc, Bucket.proxies)]);
  httpbin = await startHttpbin({ name: "httpbin", logDir });
  server = await startXdsServer({ natsUrl: nats.url, address: "127.0.0.1:0", replica: "rewarm" }, log, {
    proxyFlushMs: 20,
  });
});

after(async () => {
  await Promise.all(envoys.map((e) => e.stop()));
  await server?.stop();
  await httpbin?.stop();
  await nc?.close();
  await nats?.stop();
});

/** Well before Envoy's 15 s initial fetch timeout: a cluster active by then did not wait for it. */
const BEFORE_FETCH_TIMEOUT_MS = 10_000;
const FETCH_TIMEOUTS = "cluster.backend.init_fetch_timeout";

/** How often the `backend` cluster's endpoint fetch timed out (the counter exists once it is known). */
async function fetchTimeouts(envoy: EnvoyProc): Promise<number> {
  const v = (await envoy.stats(FETCH_TIMEOUTS)).get(FETCH_TIMEOUTS);
  assert.ok(v !== undefined, `Envoy has no ${FETCH_TIMEOUTS} counter`);
  return v;
}

/** The connect timeout of the active (warmed) cluster `backend`, from Envoy's config dump. */
async function activeTimeout(envoy: EnvoyProc): Promise<string | undefined> {
  const dump = JSON.parse(await envoy.admin("/config_dump?resource=dynamic_active_clusters")) as {
    configs?: Array<{ cluster?: { name?: string; connect_timeout?: string } }>;
  };
  return dump.configs?.find((c) => c.cluster?.name === "backend")?.cluster?.connect_timeout;
}

for (const [protocol, apiType] of [
  ["sotw", "GRPC"],
  ["delta", "DELTA_GRPC"],
] as const) {
  test(`${protocol}: a cluster change with unchanged endpoints is active without waiting for the fetch timeout`, async () => {
    const waypoint = { namespace: `rewarm-${protocol}`, name: "waypoint" };
    const nodeId = `waypoint-0.rewarm-${protocol}`;
    const port = await freePort();
    const record = () => getJson<ProxyRecord>(proxies, proxyKey("rewarm", nodeId));
    const v1 = await publish(xds, waypoint, basic({ port, upstreamPort: httpbin.port, timeout: "1s" }));
    const envoy = await startEnvoy({
      name: `envoy-${protocol}`,
      bootstrap: envoyBootstrap(apiType, nodeId, waypoint, server.port),
      logDir,
    });
    envoys.push(envoy);
    await waitFor(
      "every type acked",
      async () => {
        const r = await record();
        return r && [CDS, EDS, LDS, RDS].every((t) => r.types[t]?.ackedVersion === v1.manifest.versions[t]);
      },
      20_000,
    );
    assert.equal(await waitFor("cluster active", () => activeTimeout(envoy)), "1s");
    await waitFor("serving", async () => (await fetch(`http://127.0.0.1:${port}/status/418`)).status === 418);
    const before = await envoy.stats("cluster_manager");
    const timeoutsBefore = await fetchTimeouts(envoy);

    // The cluster's connect timeout changes; its endpoints do not.
    const started = performance.now();
    const v2 = await publish(xds, waypoint, basic({ port, upstreamPort: httpbin.port, timeout: "2s" }));
    assert.equal(v2.manifest.versions[EDS], v1.manifest.versions[EDS], "endpoints unchanged");
    assert.notEqual(v2.manifest.versions[CDS], v1.manifest.versions[CDS]);
    await waitFor(
      "new cluster active",
      async () => (await activeTimeout(envoy)) === "2s",
      BEFORE_FETCH_TIMEOUT_MS,
      10,
    );
    const elapsed = performance.now() - started;
    assert.equal(await fetchTimeouts(envoy), timeoutsBefore, "warmed by its endpoints, not by the timeout");
    const stats = await envoy.stats("cluster_manager");
    assert.equal(stats.get("cluster_manager.warming_clusters"), 0);
    assert.equal(
      stats.get("cluster_manager.cluster_modified"),
      (before.get("cluster_manager.cluster_modified") ?? 0) + 1,
    );
    log.info("rewarm", { protocol, ms: Math.round(elapsed) });
    process.stdout.write(`# ${protocol}: cluster change active after ${Math.round(elapsed)} ms\n`);
    assert.equal((await fetch(`http://127.0.0.1:${port}/status/418`)).status, 418, "still routes");
  });
}

for (const [protocol, apiType] of [
  ["sotw", "GRPC"],
  ["delta", "DELTA_GRPC"],
] as const) {
  test(`${protocol}: a cluster changed while the proxy was away is active after a reconnect without the fetch timeout`, async () => {
    const waypoint = { namespace: `rewarm-away-${protocol}`, name: "waypoint" };
    const nodeId = `waypoint-0.rewarm-away-${protocol}`;
    const [port, xdsPort] = [await freePort(), await freePort()];
    const start = (replica: string) =>
      startXdsServer({ natsUrl: nats.url, address: `127.0.0.1:${xdsPort}`, replica }, log, {
        proxyFlushMs: 20,
      });
    const v1 = await publish(xds, waypoint, basic({ port, upstreamPort: httpbin.port, timeout: "1s" }));
    let first: XdsServer | undefined = await start(`away-${protocol}-1`);
    try {
      const envoy = await startEnvoy({
        name: `envoy-away-${protocol}`,
        bootstrap: envoyBootstrap(apiType, nodeId, waypoint, xdsPort),
        logDir,
      });
      envoys.push(envoy);
      await waitFor("cluster active", async () => (await activeTimeout(envoy)) === "1s", 20_000);
      const held = await waitFor("every type acked", async () => {
        const r = await getJson<ProxyRecord>(proxies, proxyKey(`away-${protocol}-1`, nodeId));
        return r && [CDS, EDS, LDS, RDS].every((t) => r.types[t]?.ackedVersion === v1.manifest.versions[t]);
      });
      assert.ok(held);
      const timeoutsBefore = await fetchTimeouts(envoy);

      // The server goes; meanwhile the cluster's connect timeout changes, its endpoints do not.
      await first.stop();
      first = undefined;
      const v2 = await publish(xds, waypoint, basic({ port, upstreamPort: httpbin.port, timeout: "2s" }));
      assert.equal(v2.manifest.versions[EDS], v1.manifest.versions[EDS], "endpoints unchanged");
      const second = await start(`away-${protocol}-2`);
      try {
        const reconnected = await waitFor(
          "the proxy reconnects",
          () => getJson<ProxyRecord>(proxies, proxyKey(`away-${protocol}-2`, nodeId)),
          30_000,
          10,
        );
        await waitFor(
          "new cluster active",
          async () => (await activeTimeout(envoy)) === "2s",
          BEFORE_FETCH_TIMEOUT_MS,
          10,
        );
        const elapsed = Date.now() - Date.parse(reconnected.connectedAt);
        process.stdout.write(`# ${protocol}: changed cluster active ${elapsed} ms after the reconnect\n`);
        assert.equal(
          await fetchTimeouts(envoy),
          timeoutsBefore,
          "warmed by its endpoints, not by the timeout",
        );
        assert.equal((await fetch(`http://127.0.0.1:${port}/status/418`)).status, 418, "still routes");
      } finally {
        await second.stop();
      }
    } finally {
      await first?.stop();
    }
  });
}
