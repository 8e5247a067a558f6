// CPU time and resident memory of any process on this machine, from /proc (Linux).
import { readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100;

export interface ProcSample {
  /** When sampled (ms, monotonic). */
  at: number;
  /** User + system CPU time used so far (ms). */
  cpuMs: number;
  rssBytes: number;
}

export function sampleProcess(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start at the last ")".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { at: performance.now(), cpuMs: (ticks * 1000) / TICKS_PER_SECOND, rssBytes: rssKb * 1024 };
}

/** CPU used between two samples, as a fraction of one core. */
export function cpuShare(a: ProcSample, b: ProcSample): number {
  return b.at > a.at ? (b.cpuMs - a.cpuMs) / (b.at - a.at) : 0;
}

/** Samples a process every intervalMs and keeps the peak RSS; stop() returns it. */
export function watchPeakRss(pid: number, intervalMs = 50): { stop(): number } {
  let peak = 0;
  const tick = () => {
    try {
      peak = Math.max(peak, sampleProcess(pid).rssBytes);
    } catch {
      // process gone
    }
  };
  tick();
  const t = setInterval(tick, intervalMs);
  return {
    stop() {
      clearInterval(t);
      tick();
      return peak;
    },
  };
}
