// Translator leader election through a NATS KV lease, on a real NATS server: one leader at a time,
// a released lease passes at once (deleted, not expired), and when the leader process is killed (no
// release) a standby process takes over once the lease expires and publishes.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type KubeObject, manifestKey, type WaypointManifest } from "@waymark/api";
import { getJson } from "@waymark/bus";
import { type Proc, startProcess, tempDir, waitFor } from "@waymark/testing";
import {
  LEASE_BUCKET,
  type LeaderElection,
  openLeaseBucket,
  startLeaderElection,
} from "../src/service/leader.ts";
import { type Env, putObject, quietLog, startEnv } from "./helpers.ts";

// Every test uses one TTL: the bucket keeps the max age it was created with.
const TTL = 2000;
const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
let env: Env;

before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.close();
});

const gateway = (name: string): KubeObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "Gateway",
  metadata: { name, namespace: "leader", generation: 1 },
  spec: {
    gatewayClassName: "kgateway-waypoint",
    listeners: [{ name: "proxy", port: 15088, protocol: "istio.io/PROXY" }],
  },
});

test("one leader at a time; a released lease passes to a standby at once", async () => {
  const { log } = quietLog();
  const kv = await openLeaseBucket(env.nc, TTL, log);
  const events: string[] = [];
  const candidate = (id: string): LeaderElection =>
    startLeaderElection({
      kv,
      key: "unit",
      id,
      ttlMs: TTL,
      renewMs: 100,
      log,
      onElected: () => void events.push(`${id} elected`),
      onDeposed: (reason) => void events.push(`${id} deposed: ${reason}`),
    });
  // Every write to the lease, as the server orders them.
  const history: Array<{ op: string; value: string; created: number }> = [];
  const watch = await kv.watch({ key: "unit" });
  void (async () => {
    for await (const e of watch)
      history.push({ op: e.operation, value: e.string(), created: e.created.getTime() });
  })();
  const a = candidate("a");
  await waitFor("a leads", async () => a.isLeader, 5000, 20);
  const b = candidate("b");
  await waitFor("b sees a", async () => b.holder === "a", 5000, 20);
  // a renews until its first lease would long have expired; b keeps trying and never wins meanwhile.
  const firstPut = await waitFor("a's first write seen", () => history.find((h) => h.op === "PUT"));
  await waitFor(
    "a renewal a TTL after a took the lease",
    () => history.some((h) => h.op === "PUT" && h.created > firstPut.created + TTL),
    10_000,
    20,
  );
  assert.equal(a.isLeader, true);
  assert.equal(b.isLeader, false);
  assert.deepEqual(new Set(history.map((h) => `${h.op} ${h.value}`)), new Set(["PUT a"]), "only a wrote");

  await a.stop();
  await waitFor("b leads", async () => b.isLeader, 5000, 10);
  // Released, not expired: a deleted the lease (an expiry leaves no entry) and b's was the next write.
  assert.deepEqual(
    history.slice(-2).map((h) => `${h.op} ${h.value}`),
    ["DEL ", "PUT b"],
  );
  await b.stop();
  watch.stop();
  assert.deepEqual(events, ["a elected", "a deposed: stopping", "b elected", "b deposed: stopping"]);
});

test("a leader that finds the lease taken steps down", async () => {
  const { log } = quietLog();
  const kv = await openLeaseBucket(env.nc, TTL, log);
  const reasons: string[] = [];
  const a = startLeaderElection({
    kv,
    key: "stolen",
    id: "a",
    ttlMs: TTL,
    renewMs: 100,
    log,
    onElected: () => {},
    onDeposed: (reason) => void reasons.push(reason),
  });
  await waitFor("a leads", async () => a.isLeader, 5000, 20);
  // Someone else overwrites the key (as after a partition during which a's lease expired).
  await kv.put("stolen", new TextEncoder().encode("intruder"));
  await waitFor("a steps down", async () => !a.isLeader, 5000, 20);
  assert.deepEqual(reasons, ["the lease is held by intruder"]);
  await a.stop();
  assert.equal((await kv.get("stolen"))?.string(), "intruder", "a stopped standby must not delete the lease");
});

test("two translator processes: only the leader publishes; killing it, the standby takes over", async (t) => {
  const ttlMs = TTL;
  await putObject(env.objects, {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GatewayClass",
    metadata: { name: "kgateway-waypoint", generation: 1 },
    spec: { controllerName: "waymark.dev/waymark" },
  });
  await putObject(env.objects, gateway("first"));
  const logDir = tempDir("translator-leader");
  const launch = (id: string) =>
    startProcess({
      name: id,
      command: process.execPath,
      args: [MAIN],
      env: {
        WAYMARK_NATS_URL: env.nats.url,
        WAYMARK_BIND_ADDRESS: "127.0.0.1",
        WAYMARK_LEADER_ELECTION: "on",
        WAYMARK_LEADER_TTL_MS: String(ttlMs),
        WAYMARK_LEADER_ID: id,
      },
      logDir,
    });
  const procs: Record<string, Proc> = { t1: launch("t1"), t2: launch("t2") };
  try {
    const leases = await openLeaseBucket(env.nc, ttlMs, quietLog().log);
    const holder = async () => {
      const e = await leases.get("translator");
      return e?.operation === "PUT" ? e.string() : undefined;
    };
    // Generous bounds: two Node processes start here, and a loaded CI machine takes its time.
    const first = await waitFor("a translator holds the lease", holder, 60_000, 50);
    const standby = first === "t1" ? "t2" : "t1";
    await waitFor(
      "the leader publishes",
      () => getJson<WaypointManifest>(env.xds, manifestKey({ namespace: "leader", name: "first" })),
      30_000,
      50,
    );
    await waitFor(
      "the standby reports standing by",
      async () => /"msg":"standing by"/.test(procs[standby]!.log()),
      30_000,
      50,
    );
    assert.doesNotMatch(procs[standby]!.log(), /"msg":"build"|"msg":"translator started"/);

    // SIGKILL: the leader cannot release the lease; it has to expire.
    await procs[first]!.kill();
    const killed = performance.now();
    assert.equal(await holder(), first, "the killed leader's lease is still there");
    await putObject(env.objects, gateway("second"));
    await waitFor(
      "the standby takes over and publishes the change",
      () => getJson<WaypointManifest>(env.xds, manifestKey({ namespace: "leader", name: "second" })),
      30_000,
      50,
    );
    const takeoverMs = performance.now() - killed;
    t.diagnostic(`takeover after SIGKILL: ${Math.round(takeoverMs)} ms (TTL ${ttlMs} ms)`);
    assert.equal(await holder(), standby);
    // Taken over once the lease expired (the wait above allows 30 s, far from "minutes"), and only once.
    assert.equal(procs[standby]!.log().match(/"msg":"elected leader"/g)?.length, 1);
  } finally {
    for (const p of Object.values(procs)) await p.stop(5000);
  }
});

test("the lease bucket is in memory with the TTL as its max age", async () => {
  const kv = await openLeaseBucket(env.nc, TTL, quietLog().log);
  const st = await kv.status();
  assert.equal(st.bucket, LEASE_BUCKET);
  assert.equal(st.ttl, TTL);
  assert.equal(st.streamInfo.config.storage, "memory");
});
