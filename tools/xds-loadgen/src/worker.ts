// A load-generator worker process: runs its share of simulated proxies and answers the controller's
// commands over IPC (child_process.fork). Decoded resources are shared by all proxies of the process.

import { setTimeout as sleep } from "node:timers/promises";
import type { AwaitResult, Command, ConnectResult, Reply, Request, WorkerStats } from "./protocol.ts";
import { addCounters, SimProxy } from "./proxy.ts";
import { RefCache } from "./refs.ts";

const cache = new RefCache();
const proxies: SimProxy[] = [];

interface Wait {
  typeUrl: string;
  version: string;
  /** The proxies it waits for (every proxy of the worker, or those of one node.cluster). */
  of: SimProxy[];
  acks: Map<string, number>;
  nacks: Set<string>;
  resolve: () => void;
}
const waits = new Set<Wait>();

const done = (w: Wait) => w.acks.size + w.nacks.size >= w.of.length;

function onVerdict(p: SimProxy, typeUrl: string, version: string, kind: "ack" | "nack", at: number): void {
  for (const w of waits) {
    if (w.typeUrl !== typeUrl || w.version !== version || !w.of.includes(p)) continue;
    if (kind === "ack") w.acks.set(p.spec.id, at);
    else w.nacks.add(p.spec.id);
    if (done(w)) w.resolve();
  }
}

async function connect(c: Extract<Command, { op: "connect" }>): Promise<ConnectResult> {
  for (const spec of c.proxies) {
    const p = new SimProxy(spec, cache, { onVerdict });
    proxies.push(p);
    p.connect(c.target);
  }
  const deadline = Date.now() + c.timeoutMs;
  let lastSyncedAt = 0;
  for (;;) {
    const synced = proxies.filter((p) => p.synced).length;
    if (synced === proxies.length || Date.now() > deadline) {
      lastSyncedAt = performance.timeOrigin + performance.now();
      return { synced, lastSyncedAt };
    }
    await sleep(10);
  }
}

async function awaitVersion(c: Extract<Command, { op: "await" }>): Promise<AwaitResult> {
  const of = c.cluster === undefined ? proxies : proxies.filter((p) => p.spec.cluster === c.cluster);
  const w: Wait = {
    typeUrl: c.typeUrl,
    version: c.version,
    of,
    acks: new Map(),
    nacks: new Set(),
    resolve: () => {},
  };
  for (const p of of) {
    const a = p.ackedAt(c.typeUrl, c.version);
    if (a !== undefined) w.acks.set(p.spec.id, a);
    else if (p.nackedAt(c.typeUrl, c.version) !== undefined) w.nacks.add(p.spec.id);
  }
  if (!done(w)) {
    waits.add(w);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, c.timeoutMs);
      w.resolve = () => {
        clearTimeout(t);
        resolve();
      };
    });
    waits.delete(w);
  }
  return {
    acks: [...w.acks.values()],
    nacks: w.nacks.size,
    missing: of.filter((p) => !w.acks.has(p.spec.id) && !w.nacks.has(p.spec.id)).map((p) => p.spec.id),
  };
}

function stats(): WorkerStats {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  const types: WorkerStats["types"] = {};
  const perProxy: WorkerStats["perProxy"] = {};
  for (const p of proxies) {
    const per: WorkerStats["perProxy"][string] = {};
    for (const [t, c] of Object.entries(p.counters())) {
      addCounters(types, t, c);
      per[t] = { responses: c.responses, acks: c.acks, nacks: c.nacks, accepted: p.type(t).accepted };
    }
    perProxy[p.spec.id] = per;
  }
  return {
    pid: process.pid,
    proxies: proxies.length,
    connected: proxies.filter((p) => p.connected).length,
    synced: proxies.filter((p) => p.synced).length,
    reconnects: proxies.reduce((n, p) => n + p.reconnects, 0),
    decoded: cache.decoded,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    types,
    perProxy,
  };
}

async function handle(c: Command): Promise<unknown> {
  switch (c.op) {
    case "connect":
      return connect(c);
    case "await":
      return awaitVersion(c);
    case "reconnect":
      for (const p of proxies) p.disconnect();
      for (const p of proxies) p.connect(c.target);
      return { at: performance.timeOrigin + performance.now() };
    case "disconnect":
      for (const p of proxies) p.disconnect();
      return {};
    case "stats":
      return stats();
    case "stop":
      for (const p of proxies) p.stop();
      setTimeout(() => process.exit(0), 50);
      return {};
  }
}

process.on("message", (m: Request) => {
  handle(m).then(
    (result) => process.send?.({ seq: m.seq, ok: true, result } satisfies Reply),
    (err: unknown) =>
      process.send?.({
        seq: m.seq,
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      } satisfies Reply),
  );
});
process.on("disconnect", () => process.exit(0));
