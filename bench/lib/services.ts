// Waymark's services as separate processes for the benchmarks (so each one's CPU and memory can be
// read from /proc), plus NATS.
import { connect } from "node:net";
import { join } from "node:path";
import { Bucket, createLogger } from "@waymark/api";
import { connectBus, type KV, type NatsConnection, openBucket } from "@waymark/bus";
import { REPO_ROOT } from "@waymark/devstack";
import {
  freePort,
  type NatsServer,
  type Proc,
  startNats,
  startProcess,
  tempDir,
  waitFor,
} from "@waymark/testing";

export interface Backplane {
  nats: NatsServer;
  nc: NatsConnection;
  objects: KV;
  xds: KV;
  status: KV;
  logDir: string;
  stop(): Promise<void>;
}

export async function startBackplane(name: string): Promise<Backplane> {
  const logDir = tempDir(`bench-${name}`);
  const nats = await startNats({ logDir });
  const nc = await connectBus({ servers: nats.url, name: "bench", log: createLogger("bench", {}, () => {}) });
  const [objects, xds, status] = await Promise.all([
    openBucket(nc, Bucket.objects),
    openBucket(nc, Bucket.xds),
    openBucket(nc, Bucket.status),
  ]);
  return {
    nats,
    nc,
    objects,
    xds,
    status,
    logDir,
    async stop() {
      await nc.close();
      await nats.stop();
    },
  };
}

/** True once something accepts TCP connections on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Extra node flags for the services, e.g. WAYMARK_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const extraNodeArgs = (process.env["WAYMARK_BENCH_NODE_ARGS"] ?? "").split(" ").filter(Boolean);
const node = (script: string) => [
  "--disable-warning=ExperimentalWarning",
  ...extraNodeArgs,
  join(REPO_ROOT, script),
];

export interface XdsReplica {
  proc: Proc;
  pid: number;
  target: string;
}

export async function startXdsReplica(b: Backplane, replica: string): Promise<XdsReplica> {
  const port = await freePort();
  const proc = startProcess({
    name: `xds-server-${replica}`,
    command: process.execPath,
    args: node("services/xds-server/src/main.ts"),
    env: {
      WAYMARK_NATS_URL: b.nats.url,
      WAYMARK_XDS_ADDRESS: `127.0.0.1:${port}`,
      WAYMARK_REPLICA: replica,
      WAYMARK_LOG_LEVEL: "warn",
    },
    logDir: b.logDir,
  });
  await waitFor(`xds-server ${replica} listening`, () => accepts(port), 30_000, 100);
  return { proc, pid: proc.child.pid!, target: `127.0.0.1:${port}` };
}

export async function startTranslatorProc(
  b: Backplane,
  quietMs = 50,
  env: Record<string, string> = {},
): Promise<Proc> {
  const proc = startProcess({
    name: "translator",
    command: process.execPath,
    args: node("services/translator/src/main.ts"),
    env: {
      WAYMARK_NATS_URL: b.nats.url,
      WAYMARK_BIND_ADDRESS: "127.0.0.1",
      WAYMARK_DEBOUNCE_QUIET_MS: String(quietMs),
      WAYMARK_LOG_LEVEL: "warn",
      ...env,
    },
    logDir: b.logDir,
  });
  return proc;
}
