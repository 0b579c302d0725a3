// Measurement on a runtime: predictions over a split, and the timing loop of a benchmark (init, first run, warm-up,
// then timed runs on real examples until both a run count and a minimum duration are reached), in the style of
// onnxruntime's perf test and TFLite's benchmark tool. Statistics over the raw times are stats.ts's.
import type { Runtime, RuntimeSession } from './runtime.ts';
import { asRows, type Rows } from '../pipeline/data/rows.ts';

export async function predictAll(session: RuntimeSession, x: Rows | Float32Array, n: number, features: number, chunk = 500): Promise<Float32Array[]> {
  const rows = asRows(x, n, features);
  const parts: Float32Array[] = [];
  for (let i = 0; i < n; i += chunk) {
    const b = Math.min(chunk, n - i);
    parts.push(Float32Array.from(await session.run(rows.read(i, b).slice(), b)));
  }
  return parts;
}

export interface TimingOptions {
  warmup: number;
  runs: number;
  /** Keep running past `runs` until the timed runs add up to this many ms (0: exactly `runs`). */
  minDurationMs: number;
}

/** Raw times of one batch size: the first run, then `warmup` untimed runs, then the timed ones. */
export interface BatchTimes {
  batch: number;
  firstRunMs: number;
  times: number[];
}

/**
 * Time a loaded session at one batch size. Inputs cycle through the real examples (so caches and branch
 * predictors see real data, not one repeated input); each run includes making the input and reading the output.
 */
export async function timeBatches(session: RuntimeSession, inputs: { x: Float32Array; n: number; features: number }, batch: number, o: TimingOptions): Promise<BatchTimes> {
  const { x, n, features: F } = inputs;
  const batches = Math.max(1, Math.floor(n / batch));
  // Inputs smaller than one batch repeat from the start; a batch never reads past the data.
  const batchAt = (k: number): Float32Array => {
    const start = ((k % batches) * batch) % Math.max(1, n);
    const out = new Float32Array(batch * F);
    for (let i = 0; i < batch; i++) out.set(x.subarray(((start + i) % n) * F, ((start + i) % n) * F + F), i * F);
    return out;
  };
  const f0 = performance.now();
  await session.run(batchAt(0), batch);
  const firstRunMs = performance.now() - f0;
  for (let i = 0; i < o.warmup; i++) await session.run(batchAt(i + 1), batch);
  const times: number[] = [];
  let total = 0;
  for (let i = 0; i < o.runs || total < o.minDurationMs; i++) {
    const input = batchAt(i + o.warmup + 1);
    const s = performance.now();
    await session.run(input, batch);
    const t = performance.now() - s;
    times.push(t);
    total += t;
  }
  return { batch, firstRunMs, times };
}

/**
 * The timing loop with no model: every input is made as for a model, and a run returns at once. A worker that runs
 * this has loaded the runtime and the inputs but no model; what a model's worker uses on top of it is the model's cost.
 */
export async function timeBaseline(inputs: { x: Float32Array; n: number; features: number }, o: TimingOptions & { batches: number[] }): Promise<{ initMs: number; exampleShape: number[]; batches: BatchTimes[] }> {
  const none: RuntimeSession = { exampleShape: [inputs.features], run: async () => new Float32Array(0), dispose: async () => {} };
  const batches: BatchTimes[] = [];
  for (const b of o.batches) batches.push(await timeBatches(none, inputs, b, o));
  return { initMs: 0, exampleShape: none.exampleShape, batches };
}

/** Load a model and time it at each batch size; initMs is model load to a session ready to run. */
export async function timeModel(
  runtime: Runtime,
  path: string,
  inputs: { x: Float32Array; n: number; features: number },
  o: TimingOptions & { batches: number[]; threads: number },
): Promise<{ initMs: number; exampleShape: number[]; batches: BatchTimes[] }> {
  await runtime.ready();
  const t0 = performance.now();
  const session = await runtime.load(path, { threads: o.threads });
  const initMs = performance.now() - t0;
  try {
    const perExample = session.exampleShape.reduce((a, b) => a * b, 1);
    if (perExample !== inputs.features) {
      throw new Error(`the model takes [${session.exampleShape.join(', ')}] (${perExample} values) per example, the data has ${inputs.features} features`);
    }
    const batches: BatchTimes[] = [];
    for (const b of o.batches) batches.push(await timeBatches(session, inputs, b, o));
    return { initMs, exampleShape: session.exampleShape, batches };
  } finally {
    await session.dispose();
  }
}
