// The informer against a real API server (etcd + kube-apiserver, no workloads): a watch the server
// holds open with no event for longer than the informer's idle limit is restarted from the same
// resourceVersion (no relist), and a watch whose connection goes silent (a proxy stops forwarding, as
// a dead connection that no FIN/RST ever ends) is abandoned, so changes made meanwhile still arrive.
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { createLogger, type KubeObject } from "@waymark/api";
import { type KubeCluster, startKubeCluster, tempDir, waitFor } from "@waymark/testing";
import { KubeClient } from "../src/kube/client.ts";
import { fromKubeconfig } from "../src/kube/connection.ts";
import { Informer } from "../src/kube/informer.ts";
import { type ResourceInfo, WATCHED } from "../src/kube/resources.ts";

const skip = process.env["WAYMARK_SKIP_KUBE"] === "1" ? "WAYMARK_SKIP_KUBE=1" : false;
const SERVICES = WATCHED.find((r) => r.kind === "Service") as ResourceInfo;
const NS = "inf";
const IDLE_MS = 1500;
const log = createLogger("informer-test", {}, (line) => {
  if (process.env["WATCHER_TEST_LOGS"]) process.stderr.write(line);
});

/** A TCP proxy to the API server whose open connections can be frozen (no byte passes either way). */
async function freezableProxy(target: URL): Promise<{ url: string; freeze(): number; close(): void }> {
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((down) => {
    const up = connect(Number(target.port), target.hostname);
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    for (const s of pair) {
      s.on("error", () => {});
      s.on("close", () => pairs.delete(pair));
    }
    down.pipe(up).pipe(down);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    freeze() {
      const n = pairs.size;
      for (const [down, up] of pairs) {
        down.unpipe(up);
        up.unpipe(down);
        down.pause();
        up.pause();
      }
      pairs.clear();
      return n;
    },
    close() {
      server.close();
    },
  };
}

describe("informer on a real API server", { timeout: 60_000, skip }, () => {
  let cluster: KubeCluster;
  const cleanups: Array<() => Promise<void> | void> = [];

  before(async () => {
    cluster = await startKubeCluster({ logDir: tempDir("watcher-informer"), workloads: false });
    await cluster.kubectl(["create", "namespace", NS]);
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await cluster?.stop();
  });

  const service = (name: string) =>
    cluster.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace: NS },
        spec: { ports: [{ port: 80 }] },
      }),
    });

  const informer = (server?: string) => {
    const conn = fromKubeconfig(cluster.adminKubeconfig);
    const client = new KubeClient(server ? { ...conn, server } : conn);
    const names = new Set<string>();
    const events: string[] = [];
    const inf = new Informer({
      client,
      resource: SERVICES,
      log,
      // The server would end each watch after ~300 s: only the idle limit can end these.
      watchTimeoutSec: 300,
      idleMs: IDLE_MS,
      handlers: {
        onList(items: KubeObject[]) {
          names.clear();
          for (const o of items) if (o.metadata.namespace === NS) names.add(o.metadata.name);
          events.push(`list:${[...names].sort().join(",")}`);
        },
        onUpsert(o) {
          if (o.metadata.namespace !== NS) return;
          names.add(o.metadata.name);
          events.push(`upsert:${o.metadata.name}`);
        },
        onDelete(o) {
          if (o.metadata.namespace !== NS) return;
          names.delete(o.metadata.name);
          events.push(`delete:${o.metadata.name}`);
        },
      },
    });
    cleanups.push(async () => {
      await inf.stop();
      client.close();
    });
    return { inf, names, events };
  };

  test("a watch with no event beyond the idle limit is restarted from where it was, without a relist", async () => {
    await service("a");
    const { inf, names, events } = informer();
    await inf.start();
    assert.deepEqual(events, ["list:a"]);
    // Nothing changes: the API server keeps the watch open and silent (its bookmarks come only about
    // once a minute), so the informer gives up on it after IDLE_MS and watches again.
    await waitFor("two idle restarts", () => inf.idleRestarts >= 2, 10_000, 50);
    assert.ok(inf.watches >= 3, `${inf.watches} watches`);
    assert.equal(inf.lists, 1, "a restart resumes from the resourceVersion: no relist");
    // Changes after the restarts arrive as events, not as a list.
    await service("b");
    await waitFor("b seen", () => names.has("b"), 10_000, 20);
    await cluster.kubectl(["-n", NS, "delete", "service", "a"]);
    await waitFor("a gone", () => !names.has("a"), 10_000, 20);
    assert.deepEqual(events, ["list:a", "upsert:b", "delete:a"]);
    assert.equal(inf.lists, 1);
    await inf.stop();
  });

  test("a watch whose connection goes silent is abandoned: changes made meanwhile arrive", async () => {
    const proxy = await freezableProxy(new URL(cluster.server));
    cleanups.push(() => proxy.close());
    const { inf, names } = informer(proxy.url);
    await inf.start();
    assert.ok(names.has("b"));
    // Let the watch be established, then freeze every connection: the watch's bytes stop, the
    // socket stays open (no error, no end), as with a peer gone without a trace.
    await new Promise((r) => setTimeout(r, 300));
    const watches = inf.watches;
    const restarts = inf.idleRestarts;
    assert.ok(proxy.freeze() >= 1, "the watch's connection was frozen");
    await service("c");
    // Without the idle limit it would never arrive: the frozen watch neither ends nor fails.
    await waitFor("c seen through a new watch", () => names.has("c"), 15_000, 20);
    assert.ok(inf.idleRestarts > restarts, "the silent watch was restarted");
    assert.ok(inf.watches > watches);
    assert.equal(inf.lists, 1, "resumed from its resourceVersion");
    await inf.stop();
  });
});
