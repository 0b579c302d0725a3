// One latency measurement in a process of its own, so onnxruntime-node and onnxruntime-web never share
// onnxruntime-common (engineering notes: a web session can then silently run natively).
//   node --import tsx benchmarks/latency-worker.ts <onnxruntime-node|onnxruntime-web> <model.onnx> <batch> <runs> [warmup] [threads]
// Inputs are real Fashion-MNIST test images (/255), cycled batch by batch. Prints one JSON line:
// {runtime, model, batch, runs, warmup, threads, initMs, firstRunMs, p50Ms, p90Ms, meanMs, minMs, p99Ms, timesMs}
// timesMs (every timed run, in order) lets the caller pool several interleaved rounds into one distribution.
import { fileURLToPath } from 'node:url';
import { readIdx } from '../pipeline/data/idx.ts';
import { percentile } from '../runtimes/stats.ts';
import type { Runtime } from '../runtimes/runtime.ts';

const TEST_IMAGES = fileURLToPath(new URL('../examples/fmnist-bin/t10k-images-idx3-ubyte.gz', import.meta.url));

/** Only the requested runtime's package is imported: loading both is exactly what this process exists to avoid. */
const RUNTIMES: Record<string, () => Promise<Runtime>> = {
  'onnxruntime-node': async () => (await import('../runtimes/onnxruntime-node.ts')).onnxruntimeNode,
  'onnxruntime-web': async () => (await import('../runtimes/onnxruntime-web.ts')).onnxruntimeWeb,
};

function positiveInt(name: string, v: string | undefined, fallback?: number): number {
  const n = v === undefined && fallback !== undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const [runtimeName, model, batchArg, runsArg, warmupArg, threadsArg] = argv;
  const load = runtimeName ? RUNTIMES[runtimeName] : undefined;
  if (!load || !model) {
    throw new Error(`usage: latency-worker.ts <${Object.keys(RUNTIMES).join('|')}> <model.onnx> <batch> <runs> [warmup] [threads]`);
  }
  const batch = Math.max(1, positiveInt('batch', batchArg));
  const runs = Math.max(1, positiveInt('runs', runsArg));
  const warmup = positiveInt('warmup', warmupArg, batch === 1 ? 50 : 10);
  const threads = Math.max(1, positiveInt('threads', threadsArg, 1));

  const images = await readIdx(TEST_IMAGES);
  const [n, h, w] = images.dims as [number, number, number];
  const F = h * w;
  const x = new Float32Array(n * F);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i]! / 255;
  const batches = Math.floor(n / batch);
  const batchAt = (k: number) => x.subarray((k % batches) * batch * F, ((k % batches) * batch + batch) * F);

  const runtime = await load();
  await runtime.ready();
  const t0 = performance.now();
  const session = await runtime.load(model, { threads });
  const initMs = performance.now() - t0;
  try {
    const f0 = performance.now();
    await session.run(batchAt(0), batch);
    const firstRunMs = performance.now() - f0;
    for (let i = 0; i < warmup; i++) await session.run(batchAt(1 + i), batch);
    const timesMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const input = batchAt(1 + warmup + i);
      const s = performance.now();
      await session.run(input, batch);
      timesMs.push(performance.now() - s);
    }
    const sorted = [...timesMs].sort((a, b) => a - b);
    const stats = {
      runtime: runtimeName,
      model,
      batch,
      runs,
      warmup,
      threads,
      initMs,
      firstRunMs,
      p50Ms: percentile(sorted, 50),
      p90Ms: percentile(sorted, 90),
      meanMs: timesMs.reduce((a, b) => a + b, 0) / runs,
      minMs: sorted[0]!,
      p99Ms: percentile(sorted, 99),
      timesMs,
    };
    process.stdout.write(JSON.stringify(stats) + '\n');
  } finally {
    await session.dispose();
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`latency-worker: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
}
