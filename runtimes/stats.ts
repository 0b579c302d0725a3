// Latency statistics over timed runs, as onnxruntime's perf test and TFLite's benchmark tool report them. Pure
// functions over raw times, so Node workers and the browser page (which returns its raw times) share one definition.

/** What one benchmark (one model, runtime, environment, profile and batch size) measured. Times in ms. */
export interface LatencyStats {
  /** Model load to a session ready to run. */
  initMs: number;
  /** The first inference (kernel compilation, lazy allocation). */
  firstRunMs: number;
  warmup: number;
  runs: number;
  /** Sum of the timed runs. */
  totalMs: number;
  minMs: number;
  meanMs: number;
  /** Sample standard deviation. */
  stdMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Examples per second at this batch size: batch * runs / total. */
  throughput: number;
}

/** Nearest-rank percentile of ascending values: the value at rank ceil(p/100 * n). */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Statistics of timed runs (unsorted ms), given init and first-run times and the batch size. */
export function summarize(times: readonly number[], o: { initMs: number; firstRunMs: number; warmup: number; batch: number }): LatencyStats {
  if (!times.length) throw new Error('summarize: no timed runs');
  const sorted = [...times].sort((a, b) => a - b);
  const n = sorted.length;
  const total = sorted.reduce((a, b) => a + b, 0);
  const mean = total / n;
  const variance = n > 1 ? sorted.reduce((a, t) => a + (t - mean) ** 2, 0) / (n - 1) : 0;
  return {
    initMs: o.initMs,
    firstRunMs: o.firstRunMs,
    warmup: o.warmup,
    runs: n,
    totalMs: total,
    minMs: sorted[0]!,
    meanMs: mean,
    stdMs: Math.sqrt(variance),
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[n - 1]!,
    throughput: total > 0 ? (o.batch * n * 1000) / total : Infinity,
  };
}
