// The Lease leader election against a real API server (etcd + kube-apiserver, no workloads): one of
// two candidates leads, the other waits; the leader's clean stop hands over at once (b takes a
// released lease); a leader that vanishes without releasing is replaced once its lease expires, and
// not before. The Lease's versions, from a watch, show each of these.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
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
  const electors: LeaderElector[] = [];
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
    electors.push(e);
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
    for (const e of electors) await e.stop(); // a failed test leaves none running
    for (const c of clients) c.close();
    await cluster?.stop();
  });

  /** Every version of the Lease from now on, as the API server's watch reports them. */
  const leaseHistory = () => {
    const versions: Array<{ holder: string; renewTime: number; acquireTime: number }> = [];
    const kubectl = spawn(
      join(process.env["WAYMARK_K8S_BIN"] ?? "", "kubectl"),
      [
        ...[
          "--kubeconfig",
          cluster.adminKubeconfig,
          "-n",
          "default",
          "get",
          "lease",
          "waymark-test",
          "--watch",
        ],
        '-o=jsonpath={.spec.holderIdentity}{"|"}{.spec.renewTime}{"|"}{.spec.acquireTime}{"\\n"}',
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    createInterface({ input: kubectl.stdout }).on("line", (line) => {
      const [holder = "", renewTime = "", acquireTime = ""] = line.split("|");
      versions.push({ holder, renewTime: Date.parse(renewTime), acquireTime: Date.parse(acquireTime) });
    });
    return { versions, stop: () => kubectl.kill() };
  };

  test("one leads, a clean stop hands over, an expired lease is taken over", async () => {
    const durationMs = 2000;
    const a = candidate("a", undefined, durationMs);
    a.e.start();
    await waitFor("a leads", () => a.e.leading, 10_000);
    const history = leaseHistory();
    const seen = (holder: string) => history.versions.filter((v) => v.holder === holder);
    try {
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
      const b = candidate("b", `https://127.0.0.1:${proxyPort}`, durationMs);
      b.e.start();
      // b keeps trying while a renews past the expiry of the lease a first took, and never wins.
      await waitFor(
        "a renewal past a's first lease",
        () => seen("a").some((v) => v.renewTime > v.acquireTime + durationMs),
        10_000,
        50,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; the Lease's versions: ${JSON.stringify(history.versions)}`);
      });
      assert.equal(b.e.leading, false);
      assert.deepEqual(new Set(history.versions.map((v) => v.holder)), new Set(["a"]), "only a held it");

      // A clean stop releases the lease (no holder), and b takes the released lease: not an expired one.
      await a.e.stop();
      assert.deepEqual(a.events, ["start", "stop"]);
      await waitFor("b leads", () => b.e.leading, 10_000, 20);
      await waitFor("b's lease seen", () => seen("b").length > 0, 10_000, 20);
      const firstB = history.versions.findIndex((v) => v.holder === "b");
      assert.equal(history.versions[firstB - 1]?.holder, "", "the version before b's is a's release");
      assert.equal((await holder()).spec.holderIdentity, "b");

      // b vanishes without releasing (its process dies): c waits for the lease to expire, then leads.
      const c = candidate("c", undefined, durationMs);
      proxy.close();
      for (const x of sockets) x.destroy();
      c.e.start();
      await waitFor("c leads", () => c.e.leading, 10_000, 50);
      await waitFor("c's lease seen", () => seen("c").length > 0, 10_000, 20);
      // c took the lease a whole lease duration after b's last renewal, not before (one clock: both
      // candidates run in this process).
      const lastB = seen("b").at(-1)!;
      const firstC = seen("c")[0]!;
      assert.ok(
        firstC.acquireTime - lastB.renewTime > durationMs,
        `c took the lease ${firstC.acquireTime - lastB.renewTime} ms after b's last renewal`,
      );
      const h = await holder();
      assert.equal(h.spec.holderIdentity, "c");
      assert.equal(h.spec.leaseTransitions, 2);
      await waitFor("b stepped down", () => !b.e.leading, 5000, 50);
      assert.deepEqual(b.events, ["start", "stop"]);
      await c.e.stop();
      await b.e.stop();
    } finally {
      history.stop();
    }
  });
});
