// Nothing a stack started outlives the process that started it: SIGHUP and SIGTERM stop every part as
// Ctrl-C does, and when that process is killed outright its watchdog stops them. Real processes, a
// real stack (fixtures/stack-child.ts), and each process checked by pid.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { processStartTime as startTime, waitFor } from "@waymark/testing";

interface Started {
  child: ChildProcess;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** Every process the stack started, by name, with its start time (to tell a reused pid apart). */
  procs: Map<string, { pid: number; start: string }>;
  watchdog: { pid: number; start: string };
}

async function startStackChild(): Promise<Started> {
  const child = spawn(process.execPath, [join(import.meta.dirname, "fixtures", "stack-child.ts")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, "line").then(([l]) => l as string),
    exited.then(([code, sig]) => {
      throw new Error(`the stack process exited (${code ?? sig}) before it was up`);
    }),
  ]);
  const report = JSON.parse(first) as { pids: Record<string, number>; watchdog: number };
  const withStart = (pid: number) => {
    const start = startTime(pid);
    assert.ok(start, `process ${pid} is running`);
    return { pid, start };
  };
  const procs = new Map(Object.entries(report.pids).map(([name, pid]) => [name, withStart(pid)]));
  assert.deepEqual([...procs.keys()].sort(), [
    "envoy",
    "httpbin2",
    "httpbin3",
    "nats",
    "standin",
    "translator",
    "watcher",
    "xds-server-0",
  ]);
  return { child, exited, procs, watchdog: withStart(report.watchdog) };
}

const alive = (p: { pid: number; start: string }) => startTime(p.pid) === p.start;

for (const signal of ["SIGHUP", "SIGTERM"] as const) {
  test(`${signal} stops every process the stack started, then the stack's process exits`, async () => {
    const s = await startStackChild();
    s.child.kill(signal);
    const [code, sig] = await s.exited;
    assert.deepEqual(
      [code, sig],
      [128 + (signal === "SIGHUP" ? 1 : 15), null],
      "exited by itself, not by the signal",
    );
    // It waited for each part to exit before it exited itself.
    for (const [name, p] of s.procs) assert.equal(alive(p), false, `${name} (pid ${p.pid}) still runs`);
    // The watchdog has nothing left to do once its parent is gone.
    await waitFor("the watchdog exits", () => !alive(s.watchdog));
  });
}

test("when the stack's process is killed (SIGKILL), its watchdog stops every process it started", async () => {
  const s = await startStackChild();
  s.child.kill("SIGKILL");
  await s.exited;
  for (const [name, p] of s.procs) await waitFor(`${name} (pid ${p.pid}) gone`, () => !alive(p));
  await waitFor("the watchdog exits", () => !alive(s.watchdog));
});
