import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { WAYPOINT_DRAIN_ARGS } from "@waymark/waypoint";
import { BOOTSTRAP_HINT, freePort, type Proc, requireEnv, startProcess, waitFor } from "./process.ts";

export interface EnvoyProc {
  proc: Proc;
  adminUrl: string;
  /** GET on the admin interface, as text. */
  admin(path: string): Promise<string>;
  /** Envoy's stats as name → value. */
  stats(filter?: string): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

/**
 * A real Envoy with the given bootstrap (its admin address is replaced by a free loopback port).
 * Each Envoy gets its own base id, so several run side by side.
 */
export async function startEnvoy(opts: {
  name: string;
  bootstrap: Record<string, unknown>;
  logDir: string;
  logLevel?: string;
  adminPort?: number;
}): Promise<EnvoyProc> {
  const bin = requireEnv("WAYMARK_ENVOY", BOOTSTRAP_HINT);
  const adminPort = opts.adminPort ?? (await freePort());
  const bootstrap = {
    ...opts.bootstrap,
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
  };
  const file = join(opts.logDir, `${opts.name}.bootstrap.json`);
  writeFileSync(file, JSON.stringify(bootstrap, null, 2));
  const proc = startProcess({
    name: opts.name,
    command: bin,
    args: [
      "-c",
      file,
      "--use-dynamic-base-id",
      "--concurrency",
      "1",
      "--log-level",
      opts.logLevel ?? "info",
      "--disable-hot-restart",
      // As the waypoint Deployment runs it (translator infra/objects.ts).
      ...WAYPOINT_DRAIN_ARGS,
    ],
    logDir: opts.logDir,
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const admin = async (path: string) => {
    const r = await fetch(adminUrl + path);
    return r.text();
  };
  await waitFor(
    `envoy ${opts.name} admin`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`envoy exited: ${proc.log().slice(-2000)}`);
      return (await fetch(`${adminUrl}/ready`)).status > 0;
    },
    20_000,
  );
  return {
    proc,
    adminUrl,
    admin,
    async stats(filter) {
      const text = await admin(`/stats${filter ? `?filter=${encodeURIComponent(filter)}` : ""}`);
      const m = new Map<string, number>();
      for (const line of text.split("\n")) {
        const i = line.lastIndexOf(": ");
        if (i > 0) {
          const v = Number(line.slice(i + 2));
          if (!Number.isNaN(v)) m.set(line.slice(0, i), v);
        }
      }
      return m;
    },
    stop: () => proc.stop(),
  };
}
