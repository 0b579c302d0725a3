// Pruning of real trained students: an MLP (kd, 64-64) and a small CNN (label) distilled by the CLI on the
// bundled Fashion-MNIST example, evaluated on the real t10k images. Structured pruning is checked exactly
// against a hand-rebuilt reference (the original spec with the removed units' outgoing weights zeroed), the
// exported ONNX against the official checker and onnxruntime, and fine-tuning against the unpruned accuracy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../exporters/onnx.ts';
import { forwardSpec } from '../exporters/reference-forward.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { loadStudentCheckpoint } from '../pipeline/distill/student-checkpoint.ts';
import { prepareMethod, type PreparedMethod } from '../pipeline/distill/losses.ts';
import { fineTunePruned, magnitudePrune, polynomialSparsity, sparsityOf, structuredPrune } from '../pipeline/distill/prune.ts';
import { kernelDims, poolDims, type LayerSpec, type StudentSpec } from '../pipeline/student/spec.ts';
import { buildTrainable, parameterCount, toStudentSpec } from '../pipeline/distill/architectures.ts';
import { useBackend } from '../pipeline/util/tfjs.ts';
import { accuracy, predictProbs } from '../pipeline/distill/train.ts';
import type { TrainSet } from '../pipeline/distill/train-contract.ts';
import { TOOL_VERSION } from '../pipeline/util/versions.ts';
import { cli, EXAMPLE_DIR, runOfficialChecker, tempDir } from './helpers.ts';

const F = 784;
const C = 2;
const TRAIN = { steps: 300, batchSize: 128, learningRate: 1e-3, engine: 'onnxruntime' as const };

let tmp: string;
let mlp: StudentSpec;
let cnn: StudentSpec;
let testX: Float32Array;
let testY: Int32Array;
let trainSet: TrainSet;
let mlpAcc: number;

async function images(file: string, n?: number): Promise<{ x: Float32Array; y: Int32Array; n: number }> {
  const img = await readIdx(join(EXAMPLE_DIR, `${file}-images-idx3-ubyte.gz`));
  const lab = await readIdx(join(EXAMPLE_DIR, `${file}-labels-idx1-ubyte.gz`));
  const count = Math.min(n ?? img.dims[0]!, img.dims[0]!);
  return {
    x: Float32Array.from(img.data.subarray(0, count * F), (v) => v / 255),
    // The example's labelMap: Fashion-MNIST label % 2.
    y: Int32Array.from(lab.data.subarray(0, count), (v) => v % 2),
    n: count,
  };
}

function distill(args: string[], name: string): StudentSpec {
  const r = cli(['distill', '--out', join(tmp, name), '--cache-dir', join(tmp, 'cache'), ...args]);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  return loadStudentCheckpoint(join(tmp, name, 'students', args[args.indexOf('--methods') + 1]!)).spec;
}

/** Test accuracy, run in TF.js (buildTrainable is checked against the reference forward pass below). */
function acc(spec: StudentSpec, n = testY.length): number {
  const model = buildTrainable(spec);
  const a = accuracy(predictProbs(model, testX.subarray(0, n * F), n, F, C, spec.subclasses), testY.subarray(0, n), C);
  model.dispose();
  return a;
}

const pct = (a: number) => `${(a * 100).toFixed(2)} %`;
const sizes = (s: StudentSpec) => s.layers.map((l) => (l.kind === 'dense' ? l.units : l.kind === 'conv2d' ? l.filters : l.kind));

before(async () => {
  assert.equal(await useBackend('wasm'), 'wasm');
  tmp = tempDir('prune');
  mlp = distill(['--steps', '400', '--methods', 'kd', '--hidden', '64,64'], 'mlp');
  cnn = distill(['--steps', '100', '--methods', 'label', '--arch', 'cnn'], 'cnn');
  const t = await images('t10k');
  testX = t.x;
  testY = t.y;
  const tr = await images('train');
  trainSet = { x: tr.x, n: tr.n, features: F, labels: tr.y, classes: C };
  mlpAcc = acc(mlp);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * The reference for structured pruning, written independently of pipeline/distill/prune.ts: the ORIGINAL spec with
 * the removed units' outgoing weights set to zero, walking the NHWC shapes explicitly.
 */
function zeroOutgoing(spec: StudentSpec, removed: number[][]): StudentSpec {
  const layers = spec.layers.map((l) => (l.kind === 'dense' || l.kind === 'conv2d' ? { ...l, kernel: Float32Array.from(l.kernel) } : l));
  // Spatial size of the activation entering each layer.
  const hw: [number, number][] = [];
  let [H, W] = spec.image ? [spec.image.height, spec.image.width] : [0, 0];
  for (const l of layers) {
    hw.push([H, W]);
    if (l.kind === 'conv2d' && l.padding === 'valid') [H, W] = [H - kernelDims(l)[0] + 1, W - kernelDims(l)[1] + 1];
    if (l.kind === 'maxpool2d') {
      const [ph, pw] = poolDims(l);
      [H, W] = [Math.floor((H - ph) / ph) + 1, Math.floor((W - pw) / pw) + 1];
    }
  }
  removed.forEach((units, li) => {
    if (!units.length) return;
    let ci = li + 1;
    while (layers[ci]!.kind !== 'dense' && layers[ci]!.kind !== 'conv2d') ci++;
    const src = layers[li] as Extract<LayerSpec, { kind: 'dense' | 'conv2d' }>;
    const dst = layers[ci] as Extract<LayerSpec, { kind: 'dense' | 'conv2d' }>;
    if (src.kind === 'dense' && dst.kind === 'dense') {
      for (const j of units) for (let k = 0; k < dst.units; k++) dst.kernel[j * dst.units + k] = 0;
    } else if (src.kind === 'conv2d' && dst.kind === 'conv2d') {
      const k = kernelDims(dst)[0];
      for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) for (const c of units) for (let o = 0; o < dst.filters; o++) dst.kernel[((dy * k + dx) * dst.inChannels + c) * dst.filters + o] = 0;
    } else if (src.kind === 'conv2d' && dst.kind === 'dense') {
      const [h, w] = hw[ci]!;
      const Ch = src.filters;
      assert.equal(h * w * Ch, dst.inputs, 'flattened NHWC size');
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (const c of units) for (let k = 0; k < dst.units; k++) dst.kernel[((y * w + x) * Ch + c) * dst.units + k] = 0;
    } else {
      assert.fail(`unexpected ${src.kind} -> ${dst.kind}`);
    }
  });
  return { ...spec, layers };
}

async function checkExport(t: { diagnostic(m: string): void }, name: string, original: StudentSpec, pruned: StudentSpec, n: number): Promise<void> {
  const a = exportOnnx(original, { producerVersion: TOOL_VERSION });
  const b = exportOnnx(pruned, { producerVersion: TOOL_VERSION });
  const path = join(tmp, `${name}-pruned.onnx`);
  writeFileSync(path, b);
  runOfficialChecker(path);
  t.diagnostic(`${name}: ONNX ${a.length} -> ${b.length} bytes; parameters ${parameterCount(original)} -> ${parameterCount(pruned)}`);
  assert.ok(b.length < 0.6 * a.length, `pruned ONNX ${b.length} bytes vs ${a.length}`);
  // onnxruntime runs the smaller graph and agrees with the reference forward pass.
  const session = await ort.InferenceSession.create(b, { intraOpNumThreads: 1 });
  const x = testX.subarray(0, n * F);
  const out = await session.run({ [pruned.inputName]: new ort.Tensor('float32', x, [n, F]) });
  const ref = forwardSpec(pruned, x, n).probs;
  const got = out[pruned.outputNames.probs]!.data as Float32Array;
  for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(got[i]! - ref[i]!) < 1e-5, `onnxruntime vs reference at ${i}: ${got[i]} vs ${ref[i]}`);
  await session.release();
}

test('structuredPrune(0.5) on the MLP halves every hidden layer and is exactly the original minus those units', async (t) => {
  const { spec, removed } = structuredPrune(mlp, 0.5);
  assert.deepEqual(sizes(mlp), [64, 64, 2]);
  assert.deepEqual(sizes(spec), [32, 32, 2]);
  assert.deepEqual(removed.map((r) => r.length), [32, 32, 0], 'the output layer is never pruned');
  const ratio = parameterCount(spec) / parameterCount(mlp);
  assert.ok(ratio > 0.45 && ratio < 0.55, `parameter ratio ${ratio}`);
  const n = 500;
  const x = testX.subarray(0, n * F);
  const pruned = forwardSpec(spec, x, n).logits;
  assert.deepEqual(pruned, forwardSpec(zeroOutgoing(mlp, removed), x, n).logits, 'pruned logits == original with the removed units silenced');
  assert.notDeepEqual(pruned, forwardSpec(mlp, x, n).logits, 'pruning changes the function');
  t.diagnostic(`MLP accuracy: unpruned ${pct(mlpAcc)}, structured 50 % ${pct(acc(spec))}`);
  await checkExport(t, 'mlp', mlp, spec, 256);
});

test('structuredPrune(0.5) on the CNN removes half the filters and the matching NHWC-flattened dense rows', async (t) => {
  const { spec, removed } = structuredPrune(cnn, 0.5);
  assert.deepEqual(sizes(cnn), [8, 'maxpool2d', 16, 'maxpool2d', 'flatten', 32, 2]);
  assert.deepEqual(sizes(spec), [4, 'maxpool2d', 8, 'maxpool2d', 'flatten', 16, 2]);
  const conv2 = spec.layers[2] as Extract<LayerSpec, { kind: 'conv2d' }>;
  const dense = spec.layers[5] as Extract<LayerSpec, { kind: 'dense' }>;
  assert.equal(conv2.inChannels, 4);
  assert.equal(dense.inputs, 7 * 7 * 8);
  const n = 100;
  const x = testX.subarray(0, n * F);
  assert.deepEqual(forwardSpec(spec, x, n).logits, forwardSpec(zeroOutgoing(cnn, removed), x, n).logits);
  t.diagnostic(`CNN accuracy (first 1000 test images): unpruned ${pct(acc(cnn, 1000))}, structured 50 % ${pct(acc(spec, 1000))}`);
  await checkExport(t, 'cnn', cnn, spec, 64);
});

test('buildTrainable holds exactly a spec: read back unchanged, same predictions as the reference', () => {
  for (const spec of [structuredPrune(mlp, 0.5).spec, structuredPrune(cnn, 0.5).spec]) {
    const model = buildTrainable(spec);
    const read = toStudentSpec(model, { features: F, featureShape: [28, 28], arch: spec.image ? { arch: 'cnn', filters: [], kernelSize: 3, dense: [] } : { arch: 'mlp', hidden: [] }, classes: C, subclasses: 1, metadata: spec.metadata });
    assert.deepEqual(read.layers, spec.layers);
    const n = 50;
    const x = testX.subarray(0, n * F);
    const got = predictProbs(model, x, n, F, C, 1);
    const ref = forwardSpec(spec, x, n).probs;
    for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(got[i]! - ref[i]!) < 1e-5, `${got[i]} vs ${ref[i]}`);
    model.dispose();
  }
});

test('fraction 0 returns an identical spec; fractions outside [0, 1) are refused', () => {
  const { spec, removed } = structuredPrune(mlp, 0);
  assert.deepEqual(spec, mlp);
  assert.deepEqual(removed, [[], [], []]);
  assert.deepEqual(magnitudePrune(cnn, 0), cnn);
  for (const bad of [1, -0.1, NaN]) assert.throws(() => structuredPrune(mlp, bad), { code: 'E_CONFIG' });
});

test('magnitudePrune(0.8) zeroes the smallest 80 % of every kernel and keeps the rest and the biases', (t) => {
  const before = structuredClone(mlp);
  const sparse = magnitudePrune(mlp, 0.8);
  assert.deepEqual(mlp, before, 'the input spec is not modified');
  assert.ok(Math.abs(sparsityOf(sparse) - 0.8) < 1e-3, `sparsity ${sparsityOf(sparse)}`);
  assert.equal(sparsityOf(mlp), 0);
  sparse.layers.forEach((l, i) => {
    const o = mlp.layers[i]!;
    assert.ok(l.kind === 'dense' && o.kind === 'dense');
    assert.deepEqual(l.bias, o.bias);
    let kept = Infinity;
    let dropped = 0;
    let zeros = 0;
    l.kernel.forEach((v, j) => {
      if (v === 0) {
        zeros++;
        dropped = Math.max(dropped, Math.abs(o.kernel[j]!));
      } else {
        assert.equal(v, o.kernel[j]);
        kept = Math.min(kept, Math.abs(v));
      }
    });
    assert.equal(zeros, Math.round(0.8 * l.kernel.length), `layer ${i} zeros`);
    assert.ok(kept >= dropped, `layer ${i}: smallest kept |w| ${kept} < largest pruned ${dropped}`);
  });
  t.diagnostic(`MLP accuracy: unpruned ${pct(mlpAcc)}, magnitude 80 % (no fine-tuning) ${pct(acc(sparse))}`);
});

test('fine-tuning the structured-pruned MLP with kd recovers the unpruned accuracy', async (t) => {
  // The kd targets: the shipped teacher's logits on the first 2,000 training images.
  const n = 2000;
  const x = (trainSet.x as Float32Array).subarray(0, n * F);
  const session = await ort.InferenceSession.create(join(EXAMPLE_DIR, 'teacher.onnx'), { intraOpNumThreads: 2 });
  const out = await session.run({ image: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
  await session.release();
  const labels = trainSet.labels.subarray(0, n);
  const kd = prepareMethod({ name: 'kd', tau: 2, alpha: 0.5 }, { n, classes: C, embeddingDim: out.embedding!.dims[1]!, logits: out.logits!.data as Float32Array, embedding: out.embedding!.data as Float32Array, groups: labels, head: null, seed: 0, studentHidden: 0 });
  const pruned = structuredPrune(mlp, 0.5).spec;
  const tuned = await fineTunePruned(pruned, { data: { x, n, features: F, labels, classes: C }, method: kd, train: TRAIN, seed: 0 });
  assert.deepEqual(sizes(tuned.spec), [32, 32, 2], 'fine-tuning keeps the pruned shape');
  const [a0, a1, a2] = [mlpAcc, acc(pruned), acc(tuned.spec)];
  t.diagnostic(`MLP 64-64 kd: unpruned ${pct(a0)}; structured 50 % ${pct(a1)}; after ${TRAIN.steps} kd steps ${pct(a2)} (loss ${tuned.train.finalLoss.toFixed(4)})`);
  assert.ok(a2 >= a1, 'fine-tuning does not lose accuracy');
  assert.ok(a2 >= a0 - 0.02, `within 2 points of the unpruned student (${pct(a2)} vs ${pct(a0)})`);
});

function labelOnly(): PreparedMethod {
  return prepareMethod({ name: 'label' }, { n: trainSet.n, classes: C, embeddingDim: 0, logits: new Float32Array(), embedding: new Float32Array(), groups: trainSet.labels, head: null, seed: 0, studentHidden: 0 });
}

test('gradual magnitude pruning to 80 % follows the cubic schedule and ends exactly at the target', async (t) => {
  const target = 0.8;
  const r = await fineTunePruned(mlp, { data: trainSet, method: labelOnly(), train: TRAIN, seed: 0, sparsity: { target } });
  const T = Math.round(0.75 * TRAIN.steps);
  assert.equal(r.sparsity.length, TRAIN.steps);
  r.sparsity.forEach((s, i) => {
    if (i > 0) assert.ok(s >= r.sparsity[i - 1]!, `sparsity fell at step ${i}: masks never grow back`);
    assert.ok(Math.abs(s - polynomialSparsity(i + 1, T, target)) < 1e-3, `step ${i}: ${s} vs schedule ${polynomialSparsity(i + 1, T, target)}`);
  });
  assert.ok(Math.abs(sparsityOf(r.spec) - target) < 1e-3, `final sparsity ${sparsityOf(r.spec)}`);
  const gradual = acc(r.spec);
  t.diagnostic(`MLP 64-64: unpruned ${pct(mlpAcc)}; one-shot magnitude 80 % ${pct(acc(magnitudePrune(mlp, target)))}; gradual 80 % over ${TRAIN.steps} label steps ${pct(gradual)}; sparsity ${sparsityOf(r.spec).toFixed(4)}`);
  assert.ok(gradual >= mlpAcc - 0.02, 'gradual pruning keeps accuracy within 2 points');
});

for (const student of ['mlp', 'cnn'] as const) {
  test(`${student}: weights already zero stay zero while the schedule continues (masks never grow back), on both engines; same seed, same result`, async (t) => {
    const start = magnitudePrune(student === 'mlp' ? mlp : cnn, 0.5);
    const zeros: Record<string, Uint8Array[]> = {};
    for (const engine of ['onnxruntime', 'tfjs'] as const) {
      const opts = { data: trainSet, method: labelOnly(), train: { ...TRAIN, steps: 40, engine }, seed: 3, sparsity: { initial: 0.5, target: 0.7 } };
      const a = await fineTunePruned(start, opts);
      a.spec.layers.forEach((l, i) => {
        const s = start.layers[i]!;
        if (l.kind !== 'dense' && l.kind !== 'conv2d') return;
        assert.ok(s.kind === l.kind);
        s.kernel.forEach((v, j) => v === 0 && assert.equal(l.kernel[j], 0, `${engine}: layer ${i} weight ${j} grew back`));
      });
      assert.ok(Math.abs(sparsityOf(a.spec) - 0.7) < 1e-3, `${engine}: final sparsity ${sparsityOf(a.spec)}`);
      const b = await fineTunePruned(start, { ...opts, method: labelOnly() });
      assert.deepEqual(b.spec, a.spec, `${engine}: deterministic for a given seed`);
      zeros[engine] = a.spec.layers.flatMap((l) => (l.kind === 'dense' || l.kind === 'conv2d' ? [Uint8Array.from(l.kernel, (v) => (v === 0 ? 1 : 0))] : []));
    }
    // The engines train the same steps to within float32 rounding: their masks differ at most near the threshold.
    let same = 0;
    let total = 0;
    zeros.onnxruntime!.forEach((m, i) => m.forEach((z, j) => ((same += z === zeros.tfjs![i]![j] ? 1 : 0), total++)));
    t.diagnostic(`${student}: the two engines' masks agree on ${((100 * same) / total).toFixed(3)} % of ${total} kernel weights`);
    assert.ok(same / total >= 0.995, `masks agree on ${same} of ${total} weights`);
  });
}
