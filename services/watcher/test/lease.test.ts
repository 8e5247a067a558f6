// The Lease leader election against a real API server (etcd + kube-apiserver, no workloads): one of
// two candidates leads, the other waits; the leader's clean stop hands over at once; a leader that
// vanishes without releasing is replaced once its lease expires, and not before.
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { createLogger } from "@waymark/api";
import { type KubeCluster, startKubeCluster, tempDir, waitFor } from "@waymark/testing";
import { KubeClient } from "../src/kube/client.ts";
import { fromKubeconfig } from "../src/kube/connection.ts";
import { LeaderElector } from "../src/writeback/lease.ts";

const skip = process.env["WAYMARK_SKIP_KUBE"] === "1" ? "WAYMARK_SKIP_KUBE=1" : false;

describe("LeaderElector on a real API server", { timeout: 90_000, skip }, () => {
  let cluster: KubeCluster;
  const clients: KubeClient[] = [];
  const log = createLogger("lease-test");
  const candidate = (identity: string, server?: string, durationMs = 2000) => {
    const conn = fromKubeconfig(cluster.adminKubeconfig);
    const client = new KubeClient(server ? { ...conn, server } : conn);
    clients.push(client);
    const events: string[] = [];
    const e = new LeaderElector({
      client,
      log: log.child({ identity }),
      namespace: "default",
      name: "waymark-test",
      identity,
      durationMs,
      renewDeadlineMs: durationMs * 0.66,
      retryMs: 200,
      onStartedLeading: () => events.push("start"),
      onStoppedLeading: () => events.push("stop"),
    });
    return { e, events };
  };
  const holder = async () =>
    JSON.parse(await cluster.kubectl(["-n", "default", "get", "lease", "waymark-test", "-o", "json"])) as {
      spec: { holderIdentity: string; leaseTransitions: number };
    };

  before(async () => {
    cluster = await startKubeCluster({ logDir: tempDir("lease-test"), workloads: false });
  });
  after(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  });

  test("one leads, a clean stop hands over, an expired lease is taken over", async () => {
    const a = candidate("a");
    a.e.start();
    await waitFor("a leads", () => a.e.leading, 10_000);
    // b talks to the API server through a proxy this test can cut, to make b vanish later.
    const api = new URL(cluster.server);
    const sockets = new Set<Socket>();
    const proxy = createServer((down) => {
      const up = connect(Number(api.port), api.hostname);
      for (const x of [down, up]) {
        sockets.add(x);
        x.on("error", () => {});
      }
      down.pipe(up).pipe(down);
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const proxyPort = (proxy.address() as { port: number }).port;
    const b = candidate("b", `https://127.0.0.1:${proxyPort}`);
    b.e.start();
    // b keeps trying for longer than a renew period but never wins while a renews.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(b.e.leading, false);
    assert.equal((await holder()).spec.holderIdentity, "a");

    // A clean stop releases the lease: b takes over well before the 2 s lease would expire.
    const t = Date.now();
    await a.e.stop();
    assert.deepEqual(a.events, ["start", "stop"]);
    await waitFor("b leads", () => b.e.leading, 10_000, 20);
    assert.ok(Date.now() - t < 1500, `took over in ${Date.now() - t} ms`);
    assert.equal((await holder()).spec.holderIdentity, "b");

    // b vanishes without releasing (its process dies): c waits for the lease to expire, then leads.
    const c = candidate("c");
    const lostAt = Date.now();
    proxy.close();
    for (const x of sockets) x.destroy();
    c.e.start();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(c.e.leading, false, "c must not lead before b's lease expires");
    await waitFor("c leads", () => c.e.leading, 10_000, 50);
    assert.ok(Date.now() - lostAt >= 2000, `c led after ${Date.now() - lostAt} ms`);
    const h = await holder();
    assert.equal(h.spec.holderIdentity, "c");
    assert.equal(h.spec.leaseTransitions, 2);
    await waitFor("b stepped down", () => !b.e.leading, 5000, 50);
    assert.deepEqual(b.events, ["start", "stop"]);
    await c.e.stop();
    await b.e.stop();
  });
});
