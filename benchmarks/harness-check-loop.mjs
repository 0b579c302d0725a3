// The reference for benchmarks/harness-check.ts: the smallest honest timing loop a user would write by hand with
// onnxruntime-node — plain JavaScript, none of edge-distill's code. Same inputs, threads and run counts as the harness.
//   node benchmarks/harness-check-loop.mjs <model.onnx> <inputs.f32> <n> <dims,comma,separated> <warmup> <runs> <threads>
import { readFileSync } from 'node:fs';
process.env.ORT_DISABLE_TELEMETRY ??= '1'; // see runtimes/ort-telemetry.ts
const ort = await import('onnxruntime-node');

const [model, inputsFile, nArg, dimsArg, warmupArg, runsArg, threadsArg] = process.argv.slice(2);
const dims = dimsArg.split(',').map(Number); // one example, without the batch dimension
const perExample = dims.reduce((a, b) => a * b, 1);
const n = Number(nArg);
const bytes = readFileSync(inputsFile);
const x = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);

const session = await ort.InferenceSession.create(readFileSync(model), { executionProviders: ['cpu'], intraOpNumThreads: Number(threadsArg), interOpNumThreads: 1, graphOptimizationLevel: 'all' });
const input = session.inputNames[0];
const output = session.outputNames[0];
const example = (i) => x.slice((i % n) * perExample, (i % n) * perExample + perExample);

// Timed: making the tensor, the run and reading the output — what the harness times (the example is already in memory).
async function once(values) {
  const out = await session.run({ [input]: new ort.Tensor('float32', values, [1, ...dims]) }, [output]);
  return out[output].data;
}

const warmup = Number(warmupArg);
const runs = Number(runsArg);
await once(example(0));
for (let i = 0; i < warmup; i++) await once(example(i + 1));
const times = [];
for (let i = 0; i < runs; i++) {
  const values = example(i + warmup + 1);
  const s = performance.now();
  await once(values);
  times.push(performance.now() - s);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ p50Ms: times[Math.ceil(0.5 * times.length) - 1], runs: times.length }));
await session.release();
