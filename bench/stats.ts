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
