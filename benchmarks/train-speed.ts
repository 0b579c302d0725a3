// Training speed: one Adam step at batch 128 on the onnxruntime engine (pipeline/engine) and on TF.js wasm (what
// distill/train.ts trains on today), measured in the same run on real Fashion-MNIST images, label loss. The yardstick
// is onnxruntime-node's own forward pass on the same model and batch: the fraction of its GFLOP/s that a training
// step reaches says how much is left. A step counts 3x the forward FLOPs (forward, and the two products of the
// backward pass), the usual convention. Also printed: the share of a step spent outside session.run.
//   node --import tsx benchmarks/train-speed.ts [--steps N] [--out DIR]
// Targets (issue 14): per step, phone MLP >= 40x faster than TF.js wasm, CNN >= 10x, watch MLP >= 5x; >= 40 % of the
// forward-pass rate.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, useBackend } from '../pipeline/util/tfjs.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { buildConv1dSpec, buildDscnnSpec, buildStudent, parameterCount, toStudentSpec } from '../pipeline/distill/architectures.ts';
import { StudentSchema, type StudentConfig } from '../pipeline/distill/schema.ts';
import { freeNow, OrtTrainer, paramFromSpec } from '../pipeline/engine/ort-trainer.ts';
import { paramInfos, TFJS_ADAM } from '../pipeline/engine/train-graph.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { inspectOnnx } from '../pipeline/inspect/onnx.ts';
import { Tracer } from '../pipeline/engine/autodiff.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const EXAMPLE = join(HERE, '..', 'examples', 'fmnist-bin');
const B = 128;
const C = 2;

const MODELS: { name: string; arch: StudentConfig }[] = [
  { name: 'watch MLP 784-8-2', arch: { arch: 'mlp', hidden: [8] } },
  { name: 'phone MLP 784-1024-1024-2', arch: { arch: 'mlp', hidden: [1024, 1024] } },
  { name: 'CNN conv8-pool-conv16-pool-32-2', arch: { arch: 'cnn', filters: [8, 16], kernelSize: 3, dense: [32] } },
  // The IR-built students (issue 15): TF.js cannot train them (no DepthwiseConv2D / BatchNormalization gradients
  // through our loop), so their rows have no TF.js time and no speed-up, only the yardstick.
  { name: 'dscnn (default, 28x28x1)', arch: StudentSchema.parse({ arch: 'dscnn' }) },
  { name: 'conv1d (default, 28 steps x 28 channels)', arch: StudentSchema.parse({ arch: 'conv1d' }) },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * What onnxruntime-node costs per run to hand back `n` float32s, measured apart from any kernel: a one-op graph that
 * returns -x for an input of n floats (into a pre-allocated output, as the trainer's gradients are), against the same
 * input reduced to one float. The binding copies every output into a freshly allocated ArrayBuffer, pre-allocated or
 * not (onnxruntime-node 1.30 and 1.31), so a step pays this for its gradients on top of the kernels: with the copies
 * left to the garbage collector, and freed at once after each run as the trainer frees them (ort-trainer.ts freeNow).
 */
async function copyOutMs(n: number, threads: number, runs: number): Promise<Row['copyOut']> {
  const time = async (build: (t: Tracer, x: ReturnType<Tracer['input']>) => ReturnType<Tracer['input']>, preallocate: boolean, free = false) => {
    const t = new Tracer('copy-out', 'bench');
    const out = build(t, t.input('x', [n]));
    t.output(out);
    const session = await ort.InferenceSession.create(t.encode(), { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 });
    const feeds = { x: new ort.Tensor('float32', new Float32Array(n).fill(0.5), [n]) };
    const fetches = preallocate ? { [out.name]: new ort.Tensor('float32', new Float32Array(n), [n]) } : undefined;
    const run = async () => {
      const out = await (fetches ? session.run(feeds, fetches) : session.run(feeds));
      if (free) freeNow(Object.values(out).map((o) => (o.data as Float32Array).buffer));
    };
    for (let i = 0; i < 5; i++) await run();
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      await run();
      times.push(performance.now() - s);
    }
    await session.release();
    return median(times);
  };
  return { returnAll: await time((t, x) => t.neg(x), true), returnAllFreed: await time((t, x) => t.neg(x), true, true), returnScalar: await time((t, x) => t.reduceSum(x, [0]), false) };
}

interface Row {
  model: string;
  parameters: number;
  forwardMflopsPerExample: number;
  tfjsWasmMsPerStep: number;
  ortMsPerStep: Record<string, number>;
  ortOutsideRunShare: Record<string, number>;
  ortForwardMs: Record<string, number>;
  speedup: Record<string, number>;
  trainGflops: Record<string, number>;
  forwardGflops: Record<string, number>;
  fractionOfForward: Record<string, number>;
  /** onnxruntime-node handing back `parameters` floats (the gradients) vs one float, ms per run, at the most threads. */
  copyOut: { returnAll: number; returnAllFreed: number; returnScalar: number };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { steps: { type: 'string', default: '40' }, out: { type: 'string', default: join(HERE, 'results') } } });
  const ortSteps = Number(values.steps);
  await useBackend('wasm');
  const images = await readIdx(join(EXAMPLE, 'train-images-idx3-ubyte.gz'));
  const labels = await readIdx(join(EXAMPLE, 'train-labels-idx1-ubyte.gz'));
  const x = Float32Array.from(images.data.subarray(0, B * 784), (v) => v / 255);
  const y = new Float32Array(B * C);
  for (let i = 0; i < B; i++) y[i * C + (labels.data[i]! % 2)] = 1;
  const threadCounts = [...new Set([1, cpus().length])];
  const rows: Row[] = [];
  for (const m of MODELS) {
    const specOnly = m.arch.arch === 'dscnn' || m.arch.arch === 'conv1d';
    const meta = { features: 784, featureShape: [28, 28], classes: C, subclasses: 1, seed: 1, metadata: {} };
    const model = specOnly ? null : buildStudent(m.arch, 784, [28, 28], C, 1);
    const spec = m.arch.arch === 'dscnn' ? buildDscnnSpec(m.arch, meta) : m.arch.arch === 'conv1d' ? buildConv1dSpec(m.arch, meta) : toStudentSpec(model!, { ...meta, arch: m.arch });
    // Forward FLOPs per example as `edge-distill inspect` counts them, on the exported model the yardstick runs.
    const onnxModel = exportOnnx(spec, { producerVersion: 'bench' });
    const flops = inspectOnnx('student.onnx', onnxModel).flops.perExample;
    const parameters = parameterCount(spec);

    // TF.js wasm: the loop of distill/train.ts (minimize over the model's layers), one thread (tfjs issue 3830).
    let tfMs = NaN;
    if (model) {
      const optimizer = tf.train.adam(1e-3);
      const xt = tf.tensor2d(x, [B, 784]);
      const yt = tf.tensor2d(y, [B, C]);
      const tfStep = () => {
        const l = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(yt, model.apply(xt, { training: true }) as tf.Tensor2D) as tf.Scalar, true)!;
        l.dataSync();
        l.dispose();
      };
      tfStep();
      const tfTimes: number[] = [];
      const tfBudgetMs = 8000;
      const t0 = performance.now();
      while (tfTimes.length < 3 || (performance.now() - t0 < tfBudgetMs && tfTimes.length < 50)) {
        const s = performance.now();
        tfStep();
        tfTimes.push(performance.now() - s);
      }
      tf.dispose([xt, yt]);
      optimizer.dispose();
      tfMs = median(tfTimes);
    }

    const row: Row = { model: m.name, parameters, forwardMflopsPerExample: flops / 1e6, tfjsWasmMsPerStep: tfMs, ortMsPerStep: {}, ortOutsideRunShare: {}, ortForwardMs: {}, speedup: {}, trainGflops: {}, forwardGflops: {}, fractionOfForward: {}, copyOut: await copyOutMs(parameters, Math.max(...threadCounts), Math.max(20, ortSteps)) };
    for (const [threads, adamIn] of threadCounts.flatMap((n) => (['host', 'graph'] as const).map((a) => [n, a] as const))) {
      const initial = paramInfos(spec).map((p) => paramFromSpec(p, spec.layers));
      const trainer = await OrtTrainer.create(spec, { kind: 'label' }, { learningRate: 1e-3, ...TFJS_ADAM }, initial, { batch: B, classes: C, threads, producerVersion: 'bench', adamIn });
      trainer.batch.x.set(x);
      trainer.batch.y.set(y);
      for (let i = 0; i < 5; i++) await trainer.step();
      const times: number[] = [];
      const runBefore = trainer.runMs;
      const tStart = performance.now();
      for (let i = 0; i < ortSteps; i++) {
        const s = performance.now();
        await trainer.step();
        times.push(performance.now() - s);
      }
      const total = performance.now() - tStart;
      const inRun = trainer.runMs - runBefore;
      await trainer.release();

      // The yardstick: onnxruntime-node's forward pass of the same model (our ONNX export) at the same batch.
      const session = await ort.InferenceSession.create(onnxModel, { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
      const feeds = { [spec.inputName]: new ort.Tensor('float32', x, [B, 784]) };
      for (let i = 0; i < 10; i++) await session.run(feeds);
      const fwd: number[] = [];
      for (let i = 0; i < Math.max(20, ortSteps); i++) {
        const s = performance.now();
        await session.run(feeds);
        fwd.push(performance.now() - s);
      }
      await session.release();
      const k = `${threads}t-${adamIn}`;
      const ms = median(times);
      row.ortMsPerStep[k] = ms;
      row.ortOutsideRunShare[k] = 1 - inRun / total;
      row.ortForwardMs[k] = median(fwd);
      row.speedup[k] = tfMs / ms;
      row.trainGflops[k] = (3 * flops * B) / (ms * 1e6);
      row.forwardGflops[k] = (flops * B) / (median(fwd) * 1e6);
      row.fractionOfForward[k] = row.trainGflops[k]! / row.forwardGflops[k]!;
    }
    model?.dispose();
    rows.push(row);
    const t = Object.keys(row.ortMsPerStep);
    console.log(`${m.name}: TF.js wasm ${Number.isNaN(tfMs) ? 'cannot train it' : `${tfMs.toFixed(2)} ms/step`}; onnxruntime ${t.map((k) => `${k} ${row.ortMsPerStep[k]!.toFixed(2)} ms (${row.speedup[k]!.toFixed(1)}x, ${row.trainGflops[k]!.toFixed(1)} GFLOP/s = ${(row.fractionOfForward[k]! * 100).toFixed(0)} % of forward ${row.forwardGflops[k]!.toFixed(1)}, ${(row.ortOutsideRunShare[k]! * 100).toFixed(1)} % outside run)`).join('; ')}`);
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const command = `node --import tsx benchmarks/train-speed.ts --steps ${ortSteps}`;
  const targets = { 'watch MLP 784-8-2': 5, 'phone MLP 784-1024-1024-2': 40, 'CNN conv8-pool-conv16-pool-32-2': 10 } as Record<string, number>;
  const best = (r: Row) => Math.max(...Object.values(r.speedup));
  const lines = [
    '# Training speed: onnxruntime engine vs TF.js wasm',
    '',
    `Command: \`${command}\` on ${cpus().length}× ${cpu}, Node ${process.version}. One Adam step, batch ${B}, label loss, real Fashion-MNIST images; TF.js wasm (one thread) median of ≥ 3 steps, onnxruntime median of ${ortSteps} steps after 5 warm-up steps. GFLOP/s count 3× the forward FLOPs per step; the yardstick is onnxruntime-node's forward pass of the same model at the same batch and thread count.`,
    '',
    '| model | params | engine | ms/step | speedup vs TF.js wasm | train GFLOP/s | forward GFLOP/s (yardstick) | share of forward | outside session.run |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.flatMap((r) => [
      Number.isNaN(r.tfjsWasmMsPerStep)
        ? `| ${r.model} | ${r.parameters} | TF.js wasm (1 thread) | cannot train it | | | | | |`
        : `| ${r.model} | ${r.parameters} | TF.js wasm (1 thread) | ${r.tfjsWasmMsPerStep.toFixed(2)} | 1× | ${((3 * r.forwardMflopsPerExample * 1e6 * B) / (r.tfjsWasmMsPerStep * 1e6)).toFixed(1)} | | | |`,
      ...Object.keys(r.ortMsPerStep).map((k) => `| | | onnxruntime ${k.replace('t-', ' thread(s), Adam on ')} | ${r.ortMsPerStep[k]!.toFixed(2)} | ${Number.isNaN(r.speedup[k]!) ? '-' : `${r.speedup[k]!.toFixed(1)}×`} | ${r.trainGflops[k]!.toFixed(1)} | ${r.forwardGflops[k]!.toFixed(1)} | ${(r.fractionOfForward[k]! * 100).toFixed(0)} % | ${(r.ortOutsideRunShare[k]! * 100).toFixed(1)} % |`),
    ]),
    '',
    '| model | best speedup | target | met | best share of forward | target 40 % |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.filter((r) => targets[r.model] !== undefined).map((r) => `| ${r.model} | ${best(r).toFixed(1)}× | ≥ ${targets[r.model]}× | ${best(r) >= targets[r.model]! ? 'yes' : 'no'} | ${(Math.max(...Object.values(r.fractionOfForward)) * 100).toFixed(0)} % | ${Math.max(...Object.values(r.fractionOfForward)) >= 0.4 ? 'yes' : 'no'} |`),
    '',
    `What a step pays onnxruntime-node to return its gradients, apart from the kernels: a one-op graph over as many floats as the model has parameters, returning all of them (pre-allocated, as the trainer does) against returning one float, ${Math.max(...threadCounts)} thread(s). The binding copies every output into a freshly allocated ArrayBuffer even when the caller pre-allocated it. Left to the garbage collector, several runs' copies are freed together and glibc hands their pages back to the system, so the next copies fault them in again; the trainer frees each run's copies at once (ort-trainer.ts freeNow), which leaves the allocation and the copy itself: a floor under the host-Adam step that no graph change removes.`,
    '',
    '| model | gradients returned | return all, copies left to GC, ms/run | return all, copies freed at once, ms/run | return one float, ms/run | copy-out cost as trained, ms | share of the best step |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => {
      const cost = r.copyOut.returnAllFreed - r.copyOut.returnScalar;
      return `| ${r.model} | ${((r.parameters * 4) / 2 ** 20).toFixed(2)} MiB | ${r.copyOut.returnAll.toFixed(2)} | ${r.copyOut.returnAllFreed.toFixed(2)} | ${r.copyOut.returnScalar.toFixed(2)} | ${cost.toFixed(2)} | ${((cost / Math.min(...Object.values(r.ortMsPerStep))) * 100).toFixed(0)} % |`;
    }),
    '',
    'Machines are shared and noisy (±30 %): compare the ratios of one run.',
    '',
  ];
  mkdirSync(values.out!, { recursive: true });
  writeFileSync(join(values.out!, 'train-speed.md'), lines.join('\n'));
  writeFileSync(join(values.out!, 'train-speed.json'), JSON.stringify({ command, cpu, cores: cpus().length, node: process.version, batch: B, rows }, null, 2) + '\n');
  console.log(lines.join('\n'));
}

await main();
