// Starting and stopping real programs for tests and the demo: each child's output goes to a log file.
// No child outlives this process:
// - when it exits, every child still running is killed;
// - on SIGINT, SIGTERM or SIGHUP (Ctrl-C, `kill`, the terminal closing) the shutdown hooks run (a
//   stack stops its parts in order), every child left is stopped, and the process exits;
// - when it dies without running any code (SIGKILL, a crash), a watchdog process stops the children
//   (see watchdog.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { startTime } from "./watchdog.ts";

const children = new Set<ChildProcess>();
const procs = new Set<Proc>();
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

let watchdog: ChildProcess | undefined;

/** Tells the watchdog (started with the first child) about a child that must not outlive us. */
function guard(child: ChildProcess): void {
  if (child.pid === undefined) return;
  if (!watchdog) {
    watchdog = spawn(process.execPath, [join(import.meta.dirname, "watchdog.ts")], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true, // its own session: the terminal's signals are for us, not for it
    });
    watchdog.on("error", () => {});
    watchdog.stdin?.on("error", () => {});
    watchdog.unref();
    (watchdog.stdin as Socket | null)?.unref();
  }
  const start = startTime(child.pid);
  if (start) watchdog.stdin?.write(`+${child.pid} ${start}\n`);
}

/** A process's start time (field 22 of /proc/<pid>/stat), undefined once it exited: tells a reused pid apart. */
export { startTime as processStartTime } from "./watchdog.ts";

/** The watchdog's pid, once a child was started (for tests that check it goes too). */
export function watchdogPid(): number | undefined {
  return watchdog?.pid;
}

type ShutdownHook = (signal: NodeJS.Signals) => Promise<void> | void;
const hooks: ShutdownHook[] = [];
let signalsHandled = false;
let shuttingDown = false;

/**
 * Runs `hook` when this process gets SIGINT, SIGTERM or SIGHUP, newest hook first; then every child
 * still running is stopped and the process exits (128 + the signal's number, unless a hook exits
 * first). A second signal during that kills the children at once. Returns a function removing the hook.
 */
export function onShutdownSignal(hook: ShutdownHook): () => void {
  handleSignals();
  hooks.push(hook);
  return () => {
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
  };
}

function handleSignals(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => void shutdown(signal));
  }
}

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  const code = 128 + (constants.signals[signal] ?? 0);
  if (shuttingDown) process.exit(code); // the exit handler kills what is left
  shuttingDown = true;
  for (const hook of [...hooks].reverse()) {
    try {
      await hook(signal);
    } catch {}
  }
  await Promise.all([...procs].map((p) => p.stop()));
  process.exit(code);
}

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
  guard(child);
  handleSignals();
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  const exited = new Promise<number | null>((resolve) => {
    const gone = () => {
      children.delete(child);
      procs.delete(proc);
      if (child.pid !== undefined) watchdog?.stdin?.write(`-${child.pid}\n`);
    };
    child.once("exit", (code) => {
      gone();
      resolve(code);
    });
    child.once("error", (err) => {
      out.write(`spawn error: ${err.message}\n`);
      gone();
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
  procs.add(proc);
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
