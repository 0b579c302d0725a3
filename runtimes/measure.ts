// Measurement on a runtime: accuracy over a labelled split, and batch latency statistics (init, then warm-up,
// then timed runs on real examples) in the style of onnxruntime's perf test.
import type { Runtime, RuntimeSession } from './runtime.ts';

export interface LatencyStats {
  initMs: number;
  firstRunMs: number;
  runs: number;
  meanMs: number;
  minMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

/** Nearest-rank percentile of sorted values: the value at rank ceil(p/100 * n). */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export async function predictAll(session: RuntimeSession, x: Float32Array, n: number, features: number, chunk = 500): Promise<Float32Array[]> {
  const parts: Float32Array[] = [];
  for (let i = 0; i < n; i += chunk) {
    const b = Math.min(chunk, n - i);
    parts.push(Float32Array.from(await session.run(x.slice(i * features, (i + b) * features), b)));
  }
  return parts;
}

export async function measureLatency(
  runtime: Runtime,
  path: string,
  inputs: { x: Float32Array; n: number; features: number },
  opts: { batch: number; warmup: number; runs: number; threads: number },
): Promise<LatencyStats> {
  await runtime.ready();
  const t0 = performance.now();
  const session = await runtime.load(path, { threads: opts.threads });
  const initMs = performance.now() - t0;
  const { x, n, features: F } = inputs;
  const B = opts.batch;
  // Cycle through real examples so caches and branch predictors see real data, not one repeated input.
  const batches = Math.max(1, Math.floor(n / B));
  const batchAt = (k: number) => x.slice(((k % batches) * B) * F, ((k % batches) * B + B) * F);
  try {
    const f0 = performance.now();
    await session.run(batchAt(0), B);
    const firstRunMs = performance.now() - f0;
    for (let i = 0; i < opts.warmup; i++) await session.run(batchAt(i + 1), B);
    const times: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const input = batchAt(i + opts.warmup + 1);
      const s = performance.now();
      await session.run(input, B);
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    return {
      initMs,
      firstRunMs,
      runs: times.length,
      meanMs: times.reduce((a, b) => a + b, 0) / times.length,
      minMs: times[0]!,
      p50Ms: percentile(times, 50),
      p90Ms: percentile(times, 90),
      p99Ms: percentile(times, 99),
    };
  } finally {
    await session.dispose();
  }
}
