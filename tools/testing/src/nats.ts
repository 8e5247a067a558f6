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
