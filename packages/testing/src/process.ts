// Starting and stopping real programs for tests and the demo: each child's output goes to a log file,
// and every child is killed when the test process exits.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `waymark-${prefix}-`));
}

export { freePort } from "./ports.ts";

/** What a waitFor probe returns while the awaited thing has not happened yet. */
export type NotYet = undefined | null | false | 0 | "";

/**
 * Polls `probe` until it returns a value that is not "not yet" (undefined, null, false, 0 or ""), and
 * resolves with that value. A probe that throws counts as "not yet"; its last error is in the timeout's
 * message. A caller waiting for a count of 0 or an empty string says so: `() => n === 0`.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | NotYet> | T | NotYet,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false && v !== 0 && v !== "") return v;
      last = v;
      lastErr = undefined;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const why =
        lastErr instanceof Error
          ? `: ${lastErr.message}`
          : ` (the probe last returned ${JSON.stringify(last) ?? "undefined"})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** The log so far (stdout and stderr). */
  log(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  logDir: string;
}

export function startProcess(o: SpawnOptions): Proc {
  const logFile = join(o.logDir, `${o.name}.log`);
  const out = createWriteStream(logFile, { flags: "a" });
  const child = spawn(o.command, o.args ?? [], {
    cwd: o.cwd,
    env: { ...process.env, ...o.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      children.delete(child);
      resolve(code);
    });
    child.once("error", (err) => {
      out.write(`spawn error: ${err.message}\n`);
      children.delete(child);
      resolve(-1);
    });
  });
  const proc: Proc = {
    name: o.name,
    child,
    logFile,
    exited,
    log: () => {
      try {
        return readFileSync(logFile, "utf8");
      } catch {
        return "";
      }
    },
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
  return proc;
}

export function requireEnv(name: string, hint: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: ${hint}`);
  return v;
}

export const BOOTSTRAP_HINT = 'run `eval "$(scripts/bootstrap.sh)"` first (the README\'s test command does)';

/**
 * Stops a child with SIGSTOP and waits until every thread of it is stopped: the signal alone returns
 * before the kernel has stopped a process busy on another core, which can still answer meanwhile.
 */
export async function pauseProcess(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) throw new Error("the process has no pid");
  child.kill("SIGSTOP");
  const state = (task: string) =>
    readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8").replace(/^.*\) /s, "")[0];
  await waitFor(
    `process ${pid} stopped`,
    () => readdirSync(`/proc/${pid}/task`).every((t) => state(t) === "T"),
    5000,
    1,
  );
}
