// Can users trust the harness's numbers? The bench stage's p50 for a model is compared with a minimal hand-written
// timing loop (benchmarks/harness-check-loop.mjs) on the same runtime, inputs, threads and run counts, both in fresh
// processes, interleaved over several rounds in one run (these machines are noisy: compare within a run).
//   node --import tsx benchmarks/harness-check.ts [model.onnx ...]      (default: the shipped PyTorch teacher)
// Target: the best rounds' p50s agree within 5 %. Best-of-rounds (like Python's timeit) is judged because other load on a
// shared machine only ever slows a round down; the medians are printed too. The order alternates between rounds.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readIdx } from '../pipeline/data/idx.ts';
import { f32Bytes } from '../pipeline/util/fsutil.ts';
import { inspectModel } from '../pipeline/inspect/inspect.ts';
import { runWorker } from '../pipeline/stages/bench.ts';
import { summarize } from '../runtimes/stats.ts';

const EXAMPLE = fileURLToPath(new URL('../examples/fmnist-bin/', import.meta.url));
const LOOP = fileURLToPath(new URL('./harness-check-loop.mjs', import.meta.url));
const ROUNDS = 7;
const WARMUP = 50;
const RUNS = 300;
const THREADS = 1;
const TOLERANCE = 0.05;

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

async function main(models: string[]): Promise<void> {
  const images = await readIdx(join(EXAMPLE, 't10k-images-idx3-ubyte.gz'));
  const n = 1024;
  const x = Float32Array.from(images.data.subarray(0, n * 784), (v) => v / 255);
  const dir = mkdtempSync(join(tmpdir(), 'edge-distill-harness-check-'));
  const inputsFile = join(dir, 'inputs.f32');
  writeFileSync(inputsFile, f32Bytes(x));
  let failed = 0;
  try {
    for (const model of models) {
      const dims = inspectModel(model).inputs[0]!.shape.slice(1).map(Number);
      const harness: number[] = [];
      const minimal: number[] = [];
      const runHarness = async (r: number) => {
        const res = await runWorker({ runtime: 'onnxruntime-node', model, inputsFile, n, features: 784, batches: [1], threads: THREADS, warmup: WARMUP, runs: RUNS, minDurationMs: 0 }, dir, r);
        if (!res.ok) throw new Error(`harness failed on ${model}: ${res.reason}`);
        harness.push(summarize(res.batches[0]!.times, { initMs: res.initMs, firstRunMs: res.batches[0]!.firstRunMs, warmup: WARMUP, batch: 1 }).p50Ms);
      };
      const runMinimal = () => {
        const out = execFileSync(process.execPath, [LOOP, model, inputsFile, String(n), dims.join(','), String(WARMUP), String(RUNS), String(THREADS)], { encoding: 'utf8' });
        minimal.push(JSON.parse(out.trim().split('\n').at(-1)!).p50Ms);
      };
      for (let r = 0; r < ROUNDS; r++) {
        if (r % 2) {
          runMinimal();
          await runHarness(r);
        } else {
          await runHarness(r);
          runMinimal();
        }
      }
      const best = (v: number[]) => Math.min(...v);
      const ratio = best(harness) / best(minimal);
      const ok = Math.abs(ratio - 1) <= TOLERANCE;
      if (!ok) failed++;
      console.log(`${model}\n  harness p50 per round (ms): ${harness.map((v) => v.toFixed(4)).join(' ')}\n  minimal p50 per round (ms): ${minimal.map((v) => v.toFixed(4)).join(' ')}`);
      console.log(`  median p50: harness ${median(harness).toFixed(4)} ms, minimal loop ${median(minimal).toFixed(4)} ms (ratio ${(median(harness) / median(minimal)).toFixed(3)})`);
      console.log(`  best p50:   harness ${best(harness).toFixed(4)} ms, minimal loop ${best(minimal).toFixed(4)} ms, ratio ${ratio.toFixed(3)} — ${ok ? 'PASS' : 'FAIL'} (target within ${TOLERANCE * 100} %)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exitCode = failed ? 1 : 0;
}

await main(process.argv.slice(2).length ? process.argv.slice(2) : [join(EXAMPLE, 'teacher.onnx')]);
