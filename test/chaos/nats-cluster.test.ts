// A NATS node SIGKILLed during many changes (issue 18). Three real nats-servers form a JetStream
// cluster; every bucket has three replicas (WAYMARK_NATS_REPLICAS=3). The watcher (standalone: a
// directory of YAML), the translator and two xds-server replicas are connected to all three servers;
// two real waypoint Envoys and two recording ADS proxies (delta and state-of-the-world) are connected
// to the xds-servers. HTTPRoute files are created, rewritten and deleted one after another; after a
// third of them the leader of wm-objects (every change goes through it; it may lead the JetStream
// meta group and other buckets too) is SIGKILLed, and after two thirds it is started again. At the end:
// - wm-objects holds every route file's last content, and nothing of a deleted file (0 changes lost);
// - every proxy ACKed the manifest the translator builds from those objects, with no NACK; the real
//   Envoys' route configurations are exactly that manifest's and hold every route's last marker;
// - per recording proxy, per route, the markers only increased and end at the last value written;
// - the node started again caught up: every bucket has its three replicas, all current.
// It prints (does not assert) the changes per second, and the time from the kill to the first change
// written after it reaching every recording proxy, and from the last change to convergence.
//
// CI (`node scripts/test.ts chaos`): 1000 changes over 20 routes. NATS_CLUSTER_CHANGES,
// NATS_CLUSTER_ROUTES, NATS_CLUSTER_PACE_MS (pause between changes, default 5), NATS_CLUSTER_RESTART=0
// (leave the node down), NATS_CLUSTER_REPLICAS (default 3; 1 with NATS_CLUSTER_RESTART=0 fails: the
// buckets the node kept are gone with it), NATS_CLUSTER_SEED, NATS_CLUSTER_REPORT (JSON output path).

import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Bucket, createLogger, type ObjectEnvelope } from "@waymark/api";
import { connectBus, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { type NatsCluster, type NatsClusterNode, startNatsCluster, tempDir, waitFor } from "@waymark/testing";
import { waypointNodeCluster } from "@waymark/waypoint";
import {
  assertEnvoyHolds,
  assertProxiesAcked,
  awaitProxiesAcked,
  envNumber,
  prng,
  randomChange,
} from "../lib/chaos/converge.ts";
import { type Expected, expectedManifest } from "../lib/chaos/expected.ts";
import { checkProxy, MARKER, SourceHistory } from "../lib/chaos/history.ts";
import { routeObject, SERVICES, WAYPOINT } from "../lib/chaos/kube-target.ts";
import { RecordingProxy } from "../lib/chaos/recorder.ts";
import {
  type StandaloneServices,
  startStandaloneServices,
  writeBaseObjects,
  writeSource as writeRouteFile,
} from "../lib/standalone-services.ts";

const CHANGES = envNumber("NATS_CLUSTER_CHANGES", 1000);
const ROUTES = envNumber("NATS_CLUSTER_ROUTES", 20);
const PACE_MS = envNumber("NATS_CLUSTER_PACE_MS", 5);
const SEED = envNumber("NATS_CLUSTER_SEED", 20261207);
const RESTART = process.env["NATS_CLUSTER_RESTART"] !== "0";
/** WAYMARK_NATS_REPLICAS of the services: 1 shows what a node's loss does to unreplicated buckets. */
const REPLICAS = envNumber("NATS_CLUSTER_REPLICAS", 3);
/** The buckets the services open (wm-leases only with leader election, off here). */
const BUCKETS = [Bucket.objects, Bucket.xds, Bucket.status, Bucket.proxies, Bucket.replicas];

describe(`NATS cluster: ${CHANGES} route changes, one of three NATS nodes SIGKILLed`, {
  timeout: 20 * 60_000,
}, () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let logDir: string;
  let sourceDir: string;
  let bindAddress: string;
  let services: StandaloneServices;
  const recorders: RecordingProxy[] = [];
  const history = new SourceHistory();
  const random = prng(SEED);
  const routeNames = Array.from({ length: ROUTES }, (_, i) => `chaos-${i}`);
  const serviceOf = (route: string) => SERVICES[Number(route.split("-")[1]) % SERVICES.length]!;
  const proxyIds = () => [...services.envoyIds, ...recorders.map((r) => r.id)];
  const writeSource = (name: string, objects: unknown[]) => writeRouteFile(sourceDir, name, objects);

  /** One change of a route file: created, rewritten (70 %) or deleted (30 %). */
  const change = () =>
    randomChange({
      history,
      routes: routeNames,
      random,
      apply: (route, marker) => writeSource(`${route}.yaml`, [routeObject(route, serviceOf(route), marker)]),
      remove: (route) => rmSync(join(sourceDir, `${route}.yaml`)),
    });

  /** route → marker of the HTTPRoutes in wm-objects. */
  const publishedRoutes = async (): Promise<Map<string, number>> => {
    const kv = await openBucket(nc, Bucket.objects);
    const out = new Map<string, number>();
    for (const key of await listKeys(kv, "gateway_networking_k8s_io.HTTPRoute.>")) {
      const e = await kv.get(key);
      if (e?.operation !== "PUT") continue;
      for (const m of JSON.stringify(e.json<ObjectEnvelope>().object).matchAll(MARKER))
        out.set(m[1]!, Number(m[2]));
    }
    return out;
  };

  /** Waits until wm-objects holds every file's last content, then until every proxy ACKed its manifest. */
  const converge = async (timeoutMs: number): Promise<{ expected: Expected; at: number }> => {
    const want = JSON.stringify([...history.final()].sort());
    let have = "";
    await waitFor(
      "wm-objects holds the routes' last contents",
      async () => {
        have = JSON.stringify([...(await publishedRoutes())].sort());
        return have === want;
      },
      timeoutMs,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}:\nhave ${have}\nwant ${want}`);
    });
    // The test's own reads fail too while a bucket elects a leader: retried.
    const expected = await waitFor(
      "the manifest of wm-objects",
      () => expectedManifest(nc, WAYPOINT, bindAddress),
      timeoutMs,
      200,
    );
    const at = await awaitProxiesAcked(nc, expected, proxyIds(), recorders, timeoutMs);
    return { expected, at };
  };

  const bucketStatus = async (b: Bucket) => (await openBucket(nc, b)).status();

  /** Each node's leaderships: the meta group's and the buckets' streams'. */
  const leaderships = async (): Promise<Map<string, string[]>> => {
    const out = new Map<string, string[]>(cluster.nodes.map((n) => [n.name, []]));
    out.get(await waitFor("a meta leader", () => cluster.metaLeader(), 30_000))?.push("meta");
    for (const b of BUCKETS)
      out.get(await waitFor(`the leader of ${b}`, () => cluster.streamLeader(`KV_${b}`), 30_000))?.push(b);
    return out;
  };

  before(async () => {
    logDir = tempDir("nats-cluster");
    sourceDir = tempDir("nats-cluster-src");
    console.log(`logs: ${logDir}`);
    const t0 = performance.now();
    cluster = await startNatsCluster({ logDir });
    nc = await connectBus({ servers: cluster.url, name: "nats-cluster-test", log: createLogger("test") });
    writeBaseObjects(sourceDir);
    services = await startStandaloneServices({
      logDir,
      sourceDir,
      natsUrl: cluster.url,
      env: { WAYMARK_NATS_REPLICAS: String(REPLICAS) },
    });
    bindAddress = services.bindAddress;
    const xdsTargets = services.xdsTargets;
    for (let i = 0; i < 2; i++) {
      const r = new RecordingProxy({
        id: `nats-recorder-${i}`,
        cluster: waypointNodeCluster(WAYPOINT),
        protocol: i === 0 ? "delta" : "sotw",
        targets: xdsTargets,
        first: i,
      });
      r.start();
      recorders.push(r);
    }
    // A first route per service, and everything converged before the changes.
    for (const route of routeNames.slice(0, 2)) {
      const seq = history.next();
      const at = Date.now();
      writeSource(`${route}.yaml`, [routeObject(route, serviceOf(route), `${route}-v${seq}`)]);
      history.record({ seq, route, op: "create", marker: seq, issuedAt: at, doneAt: at });
    }
    await converge(90_000);
    console.log(`set up in ${Math.round(performance.now() - t0)} ms`);
  });

  after(async () => {
    for (const r of recorders) await r.stop().catch(() => {});
    await nc?.close().catch(() => {});
    await services?.stop();
    await cluster?.stop();
  });

  test("the buckets have three replicas; a node killed during the changes: nothing lost, every proxy converges", async () => {
    for (const b of BUCKETS) assert.equal((await bucketStatus(b)).replicas, REPLICAS, b);

    const roles = await leaderships();
    // The leader of wm-objects: every change goes through it (a follower's loss costs next to nothing).
    const [victimName, victimRoles] = [...roles].find(([, r]) => r.includes(Bucket.objects))!;
    const victim = cluster.nodes.find((n) => n.name === victimName) as NatsClusterNode;
    let killAt = 0;
    let killSeq = 0;
    let restartAt: number | undefined;
    const startedAt = Date.now();
    for (let i = 0; i < CHANGES; i++) {
      if (i === Math.floor(CHANGES / 3)) {
        killSeq = history.changes.at(-1)!.seq;
        killAt = Date.now();
        await victim.kill();
      }
      if (RESTART && i === Math.floor((2 * CHANGES) / 3)) {
        await victim.start();
        restartAt = Date.now();
      }
      await change();
      if (PACE_MS) await sleep(PACE_MS);
    }
    const lastChangeAt = history.changes.at(-1)!.doneAt;
    const writeSeconds = (lastChangeAt - startedAt) / 1000;
    const { at } = await converge(180_000);
    const convergedAt = Math.max(at, lastChangeAt);
    // Kill → every recording proxy held a marker written after the kill.
    const recoveredAt = Math.max(
      ...recorders.map(
        (r) => r.observations.find((o) => [...o.routes.values()].some((m) => m > killSeq))?.at ?? Number.NaN,
      ),
    );
    const figures = {
      changes: CHANGES,
      routes: ROUTES,
      paceMs: PACE_MS,
      killed: { node: victimName, leaderOf: victimRoles },
      restarted: RESTART,
      writeSeconds,
      changesPerSecond: Math.round(CHANGES / writeSeconds),
      killToFirstChangeAfterItMs: recoveredAt - killAt,
      killToConvergedMs: convergedAt - killAt,
      restartToConvergedMs: restartAt === undefined ? undefined : convergedAt - restartAt,
      lastChangeToConvergedMs: convergedAt - lastChangeAt,
      recorderReconnects: recorders.map((r) => r.reconnects),
    };
    console.log(`figures: ${JSON.stringify(figures)}`);
    const out = process.env["NATS_CLUSTER_REPORT"];
    if (out) writeFileSync(out, `${JSON.stringify(figures, null, 2)}\n`);
    assert.ok(victimRoles.length > 0, "the node killed led something");
  });

  test("at the end: nothing lost or out of order, the Envoys hold every last marker, the node caught up", async () => {
    const { expected } = await converge(60_000);
    const final = history.final();
    assert.deepEqual(new Map([...(await publishedRoutes())].sort()), new Map([...final].sort()));
    await assertProxiesAcked(nc, expected, proxyIds());
    for (const envoy of services.envoys) await assertEnvoyHolds(envoy, expected, final);
    for (const r of recorders) {
      const v = checkProxy(r.id, r.observations, history);
      assert.deepEqual(v.unknown, [], `${v.proxy}: markers never written`);
      assert.deepEqual(v.outOfOrder, [], `${v.proxy}: changes applied out of order`);
      assert.deepEqual(v.finalMismatch, [], `${v.proxy}: final routes`);
    }
    if (RESTART) {
      // Every bucket back on three servers, each replica current (the restarted node caught up).
      let behind: string[] = [];
      await waitFor(
        "every bucket's replicas current",
        async () => {
          behind = [];
          for (const b of BUCKETS) {
            const c = (await bucketStatus(b)).streamInfo.cluster;
            const followers = c?.replicas ?? [];
            if (
              !c?.leader ||
              followers.length !== REPLICAS - 1 ||
              followers.some((f) => !f.current || f.offline)
            )
              behind.push(`${b}: leader ${c?.leader}, followers ${JSON.stringify(followers)}`);
          }
          return behind.length === 0;
        },
        60_000,
        200,
      ).catch((err: Error) => {
        throw new Error(`${err.message}:\n${behind.join("\n")}`);
      });
    }
  });
});
