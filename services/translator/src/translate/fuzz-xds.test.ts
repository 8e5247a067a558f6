// A sample of the fuzz cases through the real xDS path: each translated output is encoded and
// published to wm-xds as the translator does (blobs, then the manifest), served by a real xds-server
// over delta ADS to a real Envoy booted with the waypoint bootstrap; wm-proxies must show every
// response ACKed and no NACK, case after case. FUZZ_XDS_CASES, FUZZ_SEED.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  Bucket,
  blobKey,
  createLogger,
  manifestKey,
  type ProxyRecord,
  proxyKey,
  type WaypointManifest,
} from "@waymark/api";
import { connectBus, getJson, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { contentHash, encodeResource, PUSH_ORDER, TypeUrl, versionOf } from "@waymark/envoy-proto";
import { type EnvoyProc, type NatsServer, startEnvoy, startNats, tempDir, waitFor } from "@waymark/testing";
import { renderBootstrap } from "@waymark/waypoint";
import { startXdsServer, type XdsServer } from "@waymark/xds-server";
import fc from "fast-check";
import { world } from "./fuzz/arbitraries.ts";
import { checkCase, FUZZ_SETTINGS } from "./fuzz/harness.ts";
import type { WaypointOutput } from "./index.ts";

const CASES = Number(process.env.FUZZ_XDS_CASES ?? 20);
const SEED = Number(process.env.FUZZ_SEED ?? 20260701);
const waypoint = { namespace: "a", name: "wp" };
const replica = "fuzz";
const podName = "wp-fuzz";
const nodeId = `${podName}.${waypoint.namespace}`;
const log = createLogger("fuzz-xds", {}, () => {});
const logDir = tempDir("fuzz-xds");
let nats: NatsServer;
let nc: NatsConnection;
let xds: KV;
let proxies: KV;
let server: XdsServer;
let envoy: EnvoyProc;

before(async () => {
  nats = await startNats({ logDir });
  nc = await connectBus({ servers: nats.url, name: "fuzz-xds", log });
  [xds, proxies] = await Promise.all([openBucket(nc, Bucket.xds), openBucket(nc, Bucket.proxies)]);
  server = await startXdsServer({ natsUrl: nats.url, address: "127.0.0.1:0", replica }, log, {
    proxyFlushMs: 20,
  });
  envoy = await startEnvoy({
    name: "fuzz-waypoint",
    bootstrap: renderBootstrap({ waypoint, podName, xds: [{ host: "127.0.0.1", port: server.port }] }),
    logDir,
    logLevel: "warn",
  });
});

after(async () => {
  await envoy?.stop();
  await server?.stop();
  await nc?.close();
  await nats?.stop();
});

/** Encodes and publishes one waypoint's resources as the translator does: blobs, then the manifest. */
async function publish(w: WaypointOutput): Promise<WaypointManifest> {
  const resources: Record<string, Record<string, string>> = {};
  const versions: Record<string, string> = {};
  for (const t of PUSH_ORDER) {
    const byName: Record<string, string> = {};
    for (const r of w.resources[t]) {
      const bytes = encodeResource(t, r.name, r.json);
      const hash = contentHash(bytes);
      await xds.put(blobKey(hash), bytes);
      byName[r.name] = hash;
    }
    resources[t] = byName;
    versions[t] = versionOf(byName);
  }
  const manifest: WaypointManifest = {
    waypoint,
    version: versionOf(versions),
    versions,
    resources,
    builtAt: new Date().toISOString(),
  };
  await xds.put(manifestKey(waypoint), JSON.stringify(manifest));
  return manifest;
}

test(`fuzz over xDS: ${CASES} sampled cases are ACKed by a real Envoy through the xds-server`, async () => {
  const settings = { ...FUZZ_SETTINGS, bindAddress: "127.0.9.1" };
  const sample: WaypointOutput[] = [];
  for (const objects of fc.sample(world, { numRuns: CASES * 10, seed: SEED })) {
    if (sample.length >= CASES) break;
    const r = checkCase(objects, settings);
    assert.deepEqual(r.problems, []);
    const w = r.output?.waypoints.find((x) => x.waypoint.namespace === "a" && x.waypoint.name === "wp");
    if (w && w.resources[TypeUrl.listener].length > 0) sample.push(w);
  }
  assert.equal(sample.length, CASES, "the generators produced too few programmable cases");
  await waitFor("envoy stream", () => server.ads.streamCount === 1 || undefined, 20_000);
  const record = () => getJson<ProxyRecord>(proxies, proxyKey(replica, nodeId));
  let previous: WaypointManifest | undefined;
  let acked = 0;
  for (const [i, w] of sample.entries()) {
    const manifest = await publish(w);
    const rec = await waitFor(
      `case ${i} settled`,
      async () => {
        const r = await record();
        if (!r) return undefined;
        for (const t of PUSH_ORDER) {
          const s = r.types[t];
          if (s?.nackedVersion) return r; // reported below
          const changed = previous?.versions[t] !== manifest.versions[t];
          // Listeners and clusters are wildcard subscriptions: a change is always sent.
          if (
            (t === TypeUrl.listener || t === TypeUrl.cluster) &&
            changed &&
            s?.ackedVersion !== manifest.versions[t]
          )
            return undefined;
          if (s?.sentVersion !== undefined && s.sentVersion !== s.ackedVersion) return undefined;
        }
        return r;
      },
      20_000,
    );
    const nacks = Object.entries(rec.types).filter(([, s]) => s.nackedVersion);
    assert.deepEqual(
      nacks.map(([t, s]) => `${t}: ${s.nackMessage}`),
      [],
      `case ${i} was NACKed (seed ${SEED})`,
    );
    acked += Object.values(rec.types).filter((s) => s.ackedVersion).length;
    previous = manifest;
    if (process.env.FUZZ_DEBUG) console.log(`case ${i} at ${Date.now()}`, JSON.stringify(rec.types));
  }
  const stats = await envoy.stats();
  assert.equal(stats.get("listener_manager.lds.update_rejected") ?? 0, 0);
  assert.equal(stats.get("cluster_manager.cds.update_rejected") ?? 0, 0);
  console.log(`fuzz xDS figures: ${JSON.stringify({ cases: sample.length, ackedTypes: acked, nacks: 0 })}`);
});
