// Chaos: while HTTPRoute changes are applied to a real Kubernetes API server, each part of Waymark is
// SIGKILLed and started again, one at a time and then all together: the watcher, the translator, one
// of two xds-server replicas, NATS (JetStream on file storage, its store kept) and the kube-apiserver.
// Two real waypoint Envoys and recording ADS proxies (delta and state-of-the-world, simulated Envoys
// that log every configuration they receive) are connected throughout. After each fault the suite
// waits until every proxy ACKed the manifest the translator builds from the final objects, and reports
// how long that took. At the end it asserts:
// - wm-objects mirrors the cluster exactly (every key, every object);
// - wm-xds holds the manifest translated from the final objects, and every proxy ACKed it (wm-proxies);
//   a real Envoy's config_dump holds exactly the route configurations that manifest names, each route's
//   last marker;
// - per recording proxy, per route, the markers it saw only increased and end at the last value
//   written (no change lost or applied out of order);
// - make-before-break: no recording proxy ever received a configuration that dropped a route it held
//   while that route still existed in the cluster.
//
// Short mode (CI, `node scripts/test.ts chaos`): 100 changes. Long mode (`pnpm test:chaos`):
// CHAOS_CHANGES=1000. CHAOS_ROUTES, CHAOS_DOWN_MS, CHAOS_SEED, CHAOS_REPORT (JSON output path).

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "@waymark/api";
import { connectBus, type NatsConnection } from "@waymark/bus";
import { TypeUrl } from "@waymark/envoy-proto";
import { tempDir, waitFor } from "@waymark/testing";
import { waypointNodeCluster } from "@waymark/waypoint";
import {
  assertEnvoyHolds,
  assertProxiesAcked,
  awaitProxiesAcked,
  envNumber,
  prng,
  randomChange,
} from "../lib/chaos/converge.ts";
import { type Expected, expectedManifest, publishedManifest } from "../lib/chaos/expected.ts";
import { checkProxy, type ProxyVerdict, SourceHistory } from "../lib/chaos/history.ts";
import {
  type KubeTarget,
  SERVICES,
  type Service,
  startKubeTarget,
  WAYPOINT,
} from "../lib/chaos/kube-target.ts";
import { RecordingProxy } from "../lib/chaos/recorder.ts";
import { mirrorDiff } from "../lib/kube-mirror.ts";
import { kubeSkip } from "../lib/kube-stack.ts";

const CHANGES = envNumber("CHAOS_CHANGES", 100);
const ROUTES = envNumber("CHAOS_ROUTES", CHANGES >= 500 ? 40 : 12);
const DOWN_MS = envNumber("CHAOS_DOWN_MS", 1500);
const SEED = envNumber("CHAOS_SEED", 20260901);

interface Fault {
  name: string;
  inject(t: KubeTarget): Promise<void>;
}

const killService = (s: Service): Fault => ({
  name: s === "xds-1" ? "xds-server replica" : s,
  async inject(t) {
    await t.kill(s);
    await sleep(DOWN_MS);
    t.start(s);
  },
});
const FAULTS: Fault[] = [
  killService("watcher"),
  killService("translator"),
  killService("xds-1"),
  {
    name: "NATS",
    async inject(t) {
      await t.nats.proc.kill();
      await sleep(DOWN_MS);
      await t.nats.restart({ kill: true });
    },
  },
  {
    name: "kube-apiserver",
    inject: (t) => t.cluster.restartApiserver(DOWN_MS, undefined, { kill: true }),
  },
  {
    name: "all together",
    async inject(t) {
      await Promise.all([t.kill("watcher"), t.kill("translator"), t.kill("xds-1"), t.nats.proc.kill()]);
      await t.cluster.restartApiserver(
        DOWN_MS,
        async () => {
          // While the API server is still down: NATS back first, then the services.
          await t.nats.restart({ kill: true });
          for (const s of ["xds-1", "translator", "watcher"] as const) t.start(s);
        },
        { kill: true },
      );
    },
  },
];

interface PhaseFigures {
  fault: string;
  changes: number;
  /** Fault injected → the last proxy ACKed the final manifest (ms). */
  convergeAfterFaultMs: number;
  /** Service back (restarted) → converged (ms). */
  convergeAfterRestartMs: number;
  /** Last change written → converged (ms). */
  convergeAfterLastChangeMs: number;
  downMs: number;
  proxyReconnects: number;
}

describe(`chaos: ${CHANGES} route changes, each part of Waymark killed and restarted`, {
  timeout: 60 * 60_000,
  skip: kubeSkip,
}, () => {
  let t: KubeTarget;
  let nc: NatsConnection;
  let logDir: string;
  const history = new SourceHistory();
  const recorders: RecordingProxy[] = [];
  const figures: PhaseFigures[] = [];
  const random = prng(SEED);
  const routeNames = Array.from({ length: ROUTES }, (_, i) => `chaos-${i}`);
  const serviceOf = (route: string) => SERVICES[Number(route.split("-")[1]) % SERVICES.length]!;
  const envoyIds = () => t.envoys.map((_, i) => `${WAYPOINT.name}-chaos-${i}.${WAYPOINT.namespace}`);

  const change = () =>
    randomChange({
      history,
      routes: routeNames,
      random,
      apply: (route, marker) => t.applyRoute(route, serviceOf(route), marker),
      remove: (route) => t.deleteRoute(route),
    });

  /** Waits until wm-objects mirrors the cluster, then until every proxy ACKed the expected manifest. */
  const converge = async (timeoutMs: number): Promise<{ expected: Expected; at: number }> => {
    let diff: string[] = [];
    await waitFor(
      "wm-objects mirrors the cluster",
      async () => {
        diff = await mirrorDiff(t.cluster, nc);
        return diff.length === 0;
      },
      timeoutMs,
      250,
    ).catch((err: Error) => {
      throw new Error(`${err.message}:\n${diff.slice(0, 10).join("\n")}`);
    });
    const expected = await expectedManifest(nc, WAYPOINT, t.bindAddress);
    const at = await awaitProxiesAcked(
      nc,
      expected,
      [...envoyIds(), ...recorders.map((r) => r.id)],
      recorders,
      timeoutMs,
    );
    return { expected, at };
  };

  before(async () => {
    logDir = tempDir("chaos");
    console.log(`logs: ${logDir}`);
    const t0 = performance.now();
    t = await startKubeTarget({ logDir });
    nc = await connectBus({ servers: t.nats.url, name: "chaos", log: createLogger("chaos") });
    // Recording proxies: delta and SotW, on each replica.
    for (let i = 0; i < 4; i++) {
      const r = new RecordingProxy({
        id: `chaos-recorder-${i}`,
        cluster: waypointNodeCluster(WAYPOINT),
        protocol: i % 2 === 0 ? "delta" : "sotw",
        targets: t.xdsTargets,
        first: Math.floor(i / 2),
      });
      r.start();
      recorders.push(r);
    }
    // A first route per service, then everything converged before any fault.
    for (const route of routeNames.slice(0, 2)) {
      const seq = history.next();
      const issuedAt = Date.now();
      await t.applyRoute(route, serviceOf(route), `${route}-v${seq}`);
      history.record({ seq, route, op: "create", marker: seq, issuedAt, doneAt: Date.now() });
    }
    await converge(60_000);
    console.log(`set up in ${Math.round(performance.now() - t0)} ms`);
  });

  after(async () => {
    for (const r of recorders) await r.stop().catch(() => {});
    await nc?.close().catch(() => {});
    await t?.stop();
  });

  test("every fault: proxies converge on the last change", async () => {
    const perPhase = Math.ceil(CHANGES / FAULTS.length);
    // Spread each phase's writes over the fault's down time and a little more, at most one per 20 ms.
    const paceMs = Math.max(20, Math.round((DOWN_MS + 1500) / perPhase));
    let written = 0;
    for (const fault of FAULTS) {
      const n = Math.min(perPhase, CHANGES - written);
      const reconnectsBefore = recorders.reduce((a, r) => a + r.reconnects, 0);
      let done = 0;
      const writer = (async () => {
        for (; done < n; done++) {
          await change();
          await sleep(paceMs);
        }
      })();
      await waitFor("a third of the phase written", () => done >= Math.floor(n / 3), 120_000, 5);
      const faultAt = Date.now();
      await fault.inject(t);
      const restartedAt = Date.now();
      await writer;
      written += n;
      const lastChangeAt = history.changes.at(-1)!.doneAt;
      const { at } = await converge(120_000);
      const convergedAt = Math.max(at, lastChangeAt);
      figures.push({
        fault: fault.name,
        changes: n,
        convergeAfterFaultMs: convergedAt - faultAt,
        convergeAfterRestartMs: convergedAt - restartedAt,
        convergeAfterLastChangeMs: convergedAt - lastChangeAt,
        downMs: restartedAt - faultAt,
        proxyReconnects: recorders.reduce((a, r) => a + r.reconnects, 0) - reconnectsBefore,
      });
      console.log(`converged after ${fault.name}:`, JSON.stringify(figures.at(-1)));
    }
    assert.equal(written, CHANGES);
  });

  test("at the end: mirror exact, every proxy on the final manifest, nothing lost, out of order or broken", async () => {
    const { expected } = await converge(60_000);
    // wm-objects mirrors the cluster exactly.
    assert.deepEqual(await mirrorDiff(t.cluster, nc), []);
    // wm-xds holds what the translator builds from the final objects.
    const published = await publishedManifest(nc, WAYPOINT);
    assert.equal(published?.version, expected.version, "wm-xds holds the manifest of the final objects");
    assert.deepEqual(published?.resources, expected.resources);
    // Every proxy ACKed it (wm-proxies), with no NACK left standing.
    await assertProxiesAcked(nc, expected, [...envoyIds(), ...recorders.map((r) => r.id)]);
    // The real Envoys: their route configurations are exactly the manifest's, and hold the last markers.
    const final = history.final();
    for (const envoy of t.envoys) await assertEnvoyHolds(envoy, expected, final);
    // The recording proxies: their history.
    const verdicts: ProxyVerdict[] = recorders.map((r) => checkProxy(r.id, r.observations, history));
    for (const r of recorders) {
      if (r.protocol === "delta")
        assert.deepEqual(
          Object.fromEntries(r.held(TypeUrl.route)),
          expected.resources[TypeUrl.route],
          `${r.id} RDS`,
        );
    }
    const report = {
      mode: CHANGES >= 1000 ? "long" : "short",
      seed: SEED,
      changes: history.changes.length,
      creates: history.changes.filter((c) => c.op === "create").length,
      updates: history.changes.filter((c) => c.op === "update").length,
      deletes: history.changes.filter((c) => c.op === "delete").length,
      routes: ROUTES,
      routesAtEnd: final.size,
      faults: figures.length,
      downMs: DOWN_MS,
      proxies: { envoys: t.envoys.length, recorders: recorders.length },
      phases: figures,
      recorders: recorders.map((r, i) => ({
        id: r.id,
        protocol: r.protocol,
        responses: r.responses,
        reconnects: r.reconnects,
        observations: r.observations.length,
        markersSeen: verdicts[i]!.markersSeen,
      })),
      verdicts,
    };
    const out = process.env["CHAOS_REPORT"] || join(logDir, "chaos-report.json");
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`report: ${out}`);
    console.table(
      figures.map((f) => ({
        fault: f.fault,
        changes: f.changes,
        "down (ms)": f.downMs,
        "fault → converged (ms)": f.convergeAfterFaultMs,
        "restart → converged (ms)": f.convergeAfterRestartMs,
        "last change → converged (ms)": f.convergeAfterLastChangeMs,
        "proxy reconnects": f.proxyReconnects,
      })),
    );
    console.table(
      report.recorders.map((r) => ({
        ...r,
        responses: Object.values(r.responses).reduce((a, b) => a + b, 0),
      })),
    );
    for (const v of verdicts) {
      assert.deepEqual(v.unknown, [], `${v.proxy}: markers never written`);
      assert.deepEqual(v.outOfOrder, [], `${v.proxy}: changes applied out of order`);
      assert.deepEqual(v.brokenBeforeMade, [], `${v.proxy}: routes dropped while they existed`);
      assert.deepEqual(v.finalMismatch, [], `${v.proxy}: final routes`);
      assert.ok(v.observations > 0);
    }
  });
});
