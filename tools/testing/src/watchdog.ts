// The watchdog: a small process that outlives its parent only to stop the parent's children. The
// parent writes `+<pid> <starttime>` for each child it starts and `-<pid>` when one exits, on the
// watchdog's stdin. When the parent dies, however it dies (SIGKILL included), the kernel closes that
// pipe; on end of file the watchdog sends SIGTERM to every child still listed, SIGKILL to those still
// there after a grace period, and exits. The start time (field 22 of /proc/<pid>/stat) guards against
// a pid the kernel has since given to another process.
//
// Why this and not something else: Node has no prctl(PR_SET_PDEATHSIG); the children are programs we
// do not write (Envoy, nats-server, go-httpbin), so they cannot watch a pipe themselves; a wrapper per
// child would change the pid that tests signal (pauseProcess stops the real process); a process group
// needs someone alive to kill it. The watchdog runs in its own session, so the terminal's SIGHUP and
// Ctrl-C reach the parent (which stops its children in order) and not the watchdog.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const GRACE_MS = 3000;

/** Field 22 of /proc/<pid>/stat (after the command, which may hold spaces and parentheses). */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // rest[0] is field 3 (state); a zombie has exited already.
    return rest[0] === "Z" ? undefined : rest[19];
  } catch {
    return undefined;
  }
}

function main(): void {
  const children = new Map<number, string>();
  process.on("SIGINT", () => {});
  process.on("SIGHUP", () => {});
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const m = /^([+-])(\d+)(?: (\S+))?$/.exec(line);
    if (!m) return;
    if (m[1] === "+" && m[3]) children.set(Number(m[2]), m[3]);
    else children.delete(Number(m[2]));
  });
  lines.on("close", () => {
    const alive = () => [...children].filter(([pid, start]) => startTime(pid) === start).map(([pid]) => pid);
    const signal = (pids: number[], sig: NodeJS.Signals) => {
      for (const pid of pids) {
        try {
          process.kill(pid, sig);
        } catch {}
      }
    };
    signal(alive(), "SIGTERM");
    const deadline = Date.now() + GRACE_MS;
    const check = () => {
      const left = alive();
      if (left.length === 0) process.exit(0);
      if (Date.now() >= deadline) {
        signal(left, "SIGKILL");
        process.exit(0);
      }
      setTimeout(check, 50);
    };
    check();
  });
}

if (import.meta.main) main();
