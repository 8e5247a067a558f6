import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import {
  BOOTSTRAP_HINT,
  freePort,
  type Proc,
  requireEnv,
  startProcess,
  tempDir,
  waitFor,
} from "./process.ts";

export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  proc: Proc;
  /** Stops (or kills) the server and starts it again on the same port and store. */
  restart(opts?: { kill?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/** A real nats-server with JetStream on file storage, on a free loopback port. */
export async function startNats(
  opts: {
    logDir?: string;
    port?: number;
    /** nats-server configuration file text (e.g. `max_payload: 65536`); command-line flags win. */
    config?: string;
  } = {},
): Promise<NatsServer> {
  const bin = requireEnv("WAYMARK_NATS_SERVER", BOOTSTRAP_HINT);
  const logDir = opts.logDir ?? tempDir("nats");
  const port = opts.port ?? (await freePort());
  const storeDir = join(logDir, "jetstream");
  mkdirSync(storeDir, { recursive: true });
  const configArgs: string[] = [];
  if (opts.config !== undefined) {
    const file = join(logDir, "nats-server.conf");
    writeFileSync(file, opts.config);
    configArgs.push("-c", file);
  }
  const launch = () =>
    startProcess({
      name: "nats-server",
      command: bin,
      args: [...configArgs, "-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port)],
      logDir,
    });
  const url = `nats://127.0.0.1:${port}`;
  const ready = () =>
    waitFor(`nats-server on ${url}`, async () => {
      const nc = await connect({ servers: url, reconnect: false });
      await nc.close();
      return true;
    });
  const server: NatsServer = {
    url,
    port,
    storeDir,
    proc: launch(),
    async restart(o = {}) {
      await (o.kill ? server.proc.kill() : server.proc.stop());
      server.proc = launch();
      await ready();
    },
    stop: () => server.proc.stop(),
  };
  await ready();
  return server;
}

/** One server of a NatsCluster. */
export interface NatsClusterNode {
  /** server_name, as the cluster's monitoring reports leaders. */
  name: string;
  url: string;
  port: number;
  /** The HTTP monitoring endpoint, e.g. http://127.0.0.1:8222. */
  monitorUrl: string;
  storeDir: string;
  proc: Proc;
  /** SIGKILLs the server (its store is kept). */
  kill(): Promise<void>;
  /** Starts a killed server again: same ports, store and routes. */
  start(): Promise<void>;
}

export interface NatsCluster {
  nodes: NatsClusterNode[];
  /** Every node's client URL, comma-separated, as WAYMARK_NATS_URL takes them. */
  url: string;
  /** The JetStream meta leader's server name, as the running nodes report it. */
  metaLeader(): Promise<string>;
  /** The server name of the leader of a stream (e.g. KV_wm-xds). */
  streamLeader(stream: string): Promise<string>;
  stop(): Promise<void>;
}

interface JszReply {
  meta_cluster?: { leader?: string; cluster_size?: number; replicas?: Array<{ current: boolean }> };
  account_details?: Array<{ stream_detail?: Array<{ name: string; cluster?: { leader?: string } }> }>;
}

async function jsz(node: NatsClusterNode, query: string): Promise<JszReply> {
  const res = await fetch(`${node.monitorUrl}/jsz?${query}`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${node.name} /jsz: HTTP ${res.status}`);
  return (await res.json()) as JszReply;
}

/**
 * A JetStream cluster of real nats-servers on loopback ports (file storage, each its own store), all
 * routed to each other. Resolves once every node is up and the meta group has a leader and every peer
 * is current.
 */
export async function startNatsCluster(
  opts: { size?: number; logDir?: string; config?: string } = {},
): Promise<NatsCluster> {
  const bin = requireEnv("WAYMARK_NATS_SERVER", BOOTSTRAP_HINT);
  const size = opts.size ?? 3;
  const logDir = opts.logDir ?? tempDir("nats-cluster");
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({
      client: await freePort(),
      cluster: await freePort(),
      monitor: await freePort(),
    })),
  );
  const routes = ports.map((p) => `nats-route://127.0.0.1:${p.cluster}`);
  const nodes = ports.map((p, i): NatsClusterNode => {
    const name = `nats-${i}`;
    const storeDir = join(logDir, `${name}-jetstream`);
    mkdirSync(storeDir, { recursive: true });
    const file = join(logDir, `${name}.conf`);
    writeFileSync(
      file,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${p.client}`,
        `http: 127.0.0.1:${p.monitor}`,
        `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
        `cluster { name: waymark, listen: 127.0.0.1:${p.cluster}, routes: [${routes.join(", ")}] }`,
        opts.config ?? "",
      ].join("\n"),
    );
    const launch = () => startProcess({ name, command: bin, args: ["-c", file], logDir });
    const node: NatsClusterNode = {
      name,
      url: `nats://127.0.0.1:${p.client}`,
      port: p.client,
      monitorUrl: `http://127.0.0.1:${p.monitor}`,
      storeDir,
      proc: launch(),
      kill: () => node.proc.kill(),
      async start() {
        node.proc = launch();
        await waitFor(`${name} healthy`, () => healthy(node), 60_000, 100);
      },
    };
    return node;
  });
  const running = () =>
    nodes.filter((n) => n.proc.child.exitCode === null && n.proc.child.signalCode === null);
  const healthy = async (n: NatsClusterNode) => (await fetch(`${n.monitorUrl}/healthz`)).ok;
  const cluster: NatsCluster = {
    nodes,
    url: nodes.map((n) => n.url).join(","),
    async metaLeader() {
      for (const n of running()) {
        const leader = (await jsz(n, "").catch(() => undefined))?.meta_cluster?.leader;
        if (leader) return leader;
      }
      throw new Error("no running node knows a meta leader");
    },
    async streamLeader(stream) {
      for (const n of running()) {
        const r = await jsz(n, "accounts=true&streams=true").catch(() => undefined);
        for (const a of r?.account_details ?? [])
          for (const s of a.stream_detail ?? [])
            if (s.name === stream && s.cluster?.leader) return s.cluster.leader;
      }
      throw new Error(`no running node knows the leader of ${stream}`);
    },
    stop: async () => void (await Promise.all(nodes.map((n) => n.proc.stop()))),
  };
  try {
    await waitFor(
      "the NATS cluster's meta group formed",
      async () => {
        for (const n of nodes) if (!(await healthy(n))) return false;
        const meta = (await jsz(nodes[0]!, "")).meta_cluster;
        return !!meta?.leader && meta.cluster_size === size && (meta.replicas ?? []).every((r) => r.current);
      },
      60_000,
      100,
    );
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
