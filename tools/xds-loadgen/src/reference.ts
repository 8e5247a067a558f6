// The go-control-plane reference server (bench/go-control-plane, built by
// scripts/bootstrap-go-control-plane.sh): start it, load snapshots through its control API, stop it.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { LoadGenError } from "./controller.ts";
import { type EncodedSnapshot, referenceBody } from "./fixture.ts";

const BOOTSTRAP = fileURLToPath(new URL("../../../scripts/bootstrap-go-control-plane.sh", import.meta.url));

/** The reference server's binary: $WAYMARK_GO_CONTROL_PLANE, or built (cached) by the bootstrap script. */
export function referenceBinary(): string {
  const env = process.env["WAYMARK_GO_CONTROL_PLANE"];
  if (env) return env;
  const out = execFileSync(BOOTSTRAP, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const m = /WAYMARK_GO_CONTROL_PLANE="(.+)"/.exec(out);
  if (!m) throw new LoadGenError("bootstrap-go-control-plane.sh printed no binary path");
  process.env["WAYMARK_GO_CONTROL_PLANE"] = m[1]!;
  return m[1]!;
}

export interface ReferenceServer {
  pid: number;
  /** host:port of its ADS server. */
  target: string;
  /** Sets the snapshot of one waypoint (node.cluster `<gateway>.<namespace>`). */
  load(cluster: string, s: EncodedSnapshot): Promise<void>;
  stop(): Promise<void>;
}

export async function startReference(): Promise<ReferenceServer> {
  const child: ChildProcess = spawn(referenceBinary(), ["-ads", "127.0.0.1:0", "-http", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ports = await new Promise<{ ads: number; http: number }>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", (l) => {
      try {
        resolve(JSON.parse(l) as { ads: number; http: number });
      } catch (err) {
        reject(err);
      }
    });
    child.once("exit", (code) => reject(new LoadGenError(`go-control-plane reference exited (${code})`)));
  });
  const exited = new Promise((r) => child.once("exit", r));
  return {
    pid: child.pid!,
    target: `127.0.0.1:${ports.ads}`,
    async load(cluster, s) {
      const res = await fetch(`http://127.0.0.1:${ports.http}/snapshot?node=${encodeURIComponent(cluster)}`, {
        method: "POST",
        body: referenceBody(s),
      });
      if (!res.ok)
        throw new LoadGenError(`reference snapshot load failed: ${res.status} ${await res.text()}`);
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(t);
    },
  };
}
