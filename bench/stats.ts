import { Agent } from "node:http";

/** A figure rounded to one decimal, as the benches print them. */
export const r1 = (x: number) => Math.round(x * 10) / 10;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(samplesMs: number[]): {
  p50_ms: number;
  p90_ms: number;
  max_ms: number;
  min_ms: number;
} {
  const s = [...samplesMs].sort((a, b) => a - b);
  return { min_ms: s[0]!, p50_ms: percentile(s, 50), p90_ms: percentile(s, 90), max_ms: s[s.length - 1]! };
}

/** The latencies of one measured round, and how long the round took. */
export interface Sample {
  latencies: number[];
  seconds: number;
}

/** p50 and p99 (ms, to the microsecond) and requests per second over several rounds. */
export function latencySummary(samples: readonly Sample[]): { p50_ms: number; p99_ms: number; rps: number } {
  const all = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = samples.reduce((a, s) => a + s.seconds, 0);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    p50_ms: r(percentile(all, 50)),
    p99_ms: r(percentile(all, 99)),
    rps: Math.round(all.length / seconds),
  };
}

/**
 * A closed-loop round: `concurrency` workers on one keep-alive agent send `requests` requests in
 * all, each the next as soon as its last is answered. `send` returns the request's latency (ms) and
 * throws when the answer is not the one the round measures.
 */
export async function closedLoop(
  requests: number,
  concurrency: number,
  send: (agent: Agent) => Promise<number>,
): Promise<Sample> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let next = 0;
  const t0 = Date.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests) {
          next++;
          latencies.push(await send(agent));
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { latencies, seconds: (Date.now() - t0) / 1000 };
}
