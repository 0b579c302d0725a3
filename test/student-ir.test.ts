// The student IR's layers for MobileNet-style and 1-D students (strided, depthwise and [1, k] convs, batch norm,
// ReLU6, global average pooling, a residual add): a student made of all of them is exported to ONNX, TF.js layers
// and TF.js graph and each agrees with the float64 reference forward pass on real images; batch norm folds into
// the conv before it without changing the function; the onnxruntime engine trains it (batch statistics in, moving
// averages updated as TF.js does) and the trained student exports with the same parity; the compress stage quantizes
// and prunes dscnn and conv1d students. Stages that cannot take these layers yet say so with E_UNSUPPORTED.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { cli, EXAMPLE_DIR, maxAbsDiff, SHARED_TEACHER_CACHE, tempDir } from './helpers.ts';
import { uniform } from './specs.ts';
import { rng } from '../pipeline/util/math.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { tf, useBackend } from '../pipeline/util/tfjs.ts';
import type { LayerSpec, StudentSpec } from '../pipeline/student/spec.ts';
import { foldBatchNorms } from '../pipeline/student/fold.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { inspectOnnx } from '../pipeline/inspect/onnx.ts';
import { exportTfjsGraph } from '../exporters/tfjs-graph.ts';
import { buildLayersModel } from '../exporters/tfjs-layers.ts';
import { fileLoadHandler } from '../exporters/tfjs-io.ts';
import { forwardSpec } from '../exporters/reference-forward.ts';
import { calibrate } from '../exporters/calibrate.ts';
import { exportQuantizedOnnx } from '../exporters/onnx-quantize.ts';
import { structuredPrune } from '../pipeline/distill/prune.ts';
import { buildConv1dSpec, buildDscnnSpec, parameterCount } from '../pipeline/distill/architectures.ts';
import { StudentSchema, type StudentConfig } from '../pipeline/distill/schema.ts';
import { loadStudentCheckpoint, writeStudentCheckpoint } from '../pipeline/distill/student-checkpoint.ts';
import type { StudentResult } from '../pipeline/report/types.ts';
import { OrtTrainer, paramFromSpec } from '../pipeline/engine/ort-trainer.ts';
import { paramInfos, TFJS_ADAM } from '../pipeline/engine/train-graph.ts';

const N = 200;
const C = 2;
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function images(file: 'train' | 't10k', n: number): Promise<{ x: Float32Array; y: Int32Array }> {
  const img = await readIdx(join(EXAMPLE_DIR, `${file}-images-idx3-ubyte.gz`));
  const lab = await readIdx(join(EXAMPLE_DIR, `${file}-labels-idx1-ubyte.gz`));
  return { x: Float32Array.from(img.data.subarray(0, n * 784), (v) => v / 255), y: Int32Array.from(lab.data.subarray(0, n), (v) => v % 2) };
}

/** A MobileNet-style student with a residual block, a [1, 3] conv and a flatten after pooling; seeded weights and non-trivial BN statistics. */
function mobileSpec(seed: number): StudentSpec {
  const r = rng(seed);
  const conv = (inC: number, filters: number, kernelSize: number | [number, number], o: { strides?: number; groups?: number; activation?: 'relu' | 'relu6' | 'linear' } = {}): LayerSpec => {
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    const fanIn = kh * kw * (inC / (o.groups ?? 1));
    return { kind: 'conv2d', kernel: uniform(r, fanIn * filters, Math.sqrt(6 / (fanIn + filters))), kernelSize, inChannels: inC, filters, bias: uniform(r, filters, 0.1), padding: 'same', strides: o.strides ?? 1, groups: o.groups ?? 1, activation: o.activation ?? 'linear' };
  };
  const bn = (channels: number, activation: 'relu6' | 'linear'): LayerSpec => ({
    kind: 'batchNorm', channels, gamma: Float32Array.from(uniform(r, channels, 0.3), (v) => 1 + v), beta: uniform(r, channels, 0.2),
    movingMean: uniform(r, channels, 0.3), movingVariance: Float32Array.from(uniform(r, channels, 0.5), (v) => 1 + v), epsilon: 1e-3, momentum: 0.9, activation,
  });
  return {
    inputName: 'input', features: 784, image: { height: 28, width: 28, channels: 1 },
    layers: [
      conv(1, 8, 3, { strides: 2 }), // 0: 14x14x8 ('same' with stride 2: the odd pad at the end)
      bn(8, 'relu6'), // 1
      conv(8, 8, 3, { groups: 8 }), // 2: depthwise
      bn(8, 'relu6'), // 3
      conv(8, 8, 1), // 4: pointwise
      bn(8, 'linear'), // 5
      { kind: 'add', from: 1 }, // 6: residual around the depthwise-separable block
      conv(8, 8, [1, 3], { activation: 'relu', strides: 2 }), // 7: a 1-D kernel along the width, strided: 7x7x8
      { kind: 'globalAvgPool' }, // 8
      { kind: 'flatten' }, // 9: of flat activations, the identity
      { kind: 'dense', kernel: uniform(r, 8 * C, 0.6), inputs: 8, units: C, bias: uniform(r, C, 0.1), activation: 'linear' }, // 10
    ],
    classes: C, subclasses: 1, outputNames: { probs: 'probs', subclassLogits: 'subclass_logits' }, metadata: {},
  };
}

async function onnxProbs(spec: StudentSpec, x: Float32Array, n: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(exportOnnx(spec, { producerVersion: 'test' }), { executionProviders: ['cpu'] });
  const out = await session.run({ input: new ort.Tensor('float32', x, [n, 784]) });
  await session.release();
  return out.probs!.data as Float32Array;
}

async function checkEveryFormat(t: { diagnostic(m: string): void }, spec: StudentSpec, x: Float32Array, n: number, label: string): Promise<void> {
  await useBackend('cpu');
  const ref = forwardSpec(spec, x, n).probs;
  const onnx = await onnxProbs(spec, x, n);
  const layers = buildLayersModel(spec);
  const xt = tf.tensor2d(x, [n, 784]);
  const fromLayers = (layers.predict(xt) as tf.Tensor).dataSync() as Float32Array;
  layers.dispose();
  const dir = tempDir('student-ir');
  dirs.push(dir);
  const graph = await exportTfjsGraph(spec);
  writeFileSync(join(dir, 'model.json'), graph.modelJson);
  writeFileSync(join(dir, 'weights.bin'), graph.weights);
  const model = await loadGraphModel(fileLoadHandler(join(dir, 'model.json')));
  const fromGraph = (model.execute(xt) as tf.Tensor).dataSync() as Float32Array;
  model.dispose();
  xt.dispose();
  const diffs = { onnx: maxAbsDiff(onnx, ref), 'tfjs-layers': maxAbsDiff(fromLayers, ref), 'tfjs-graph': maxAbsDiff(fromGraph, ref) };
  t.diagnostic(`${label}: largest difference from the reference on ${n} real images: ${Object.entries(diffs).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
  for (const [format, d] of Object.entries(diffs)) assert.ok(d <= 1e-4, `${label}, ${format}: ${d}`);
  // The student is not degenerate: its outputs vary across images.
  assert.ok(maxAbsDiff(ref.subarray(0, 2), ref.subarray(2, 4)) > 1e-3 || maxAbsDiff(ref.subarray(0, 2), ref.subarray(4, 6)) > 1e-3);
}

test('every layer kind exports to ONNX, TF.js layers and TF.js graph with parity to the reference forward pass', async (t) => {
  const { x } = await images('t10k', N);
  const spec = mobileSpec(1);
  await checkEveryFormat(t, spec, x, N, 'untrained');
  // Batch norms that cannot fold: after a conv with an activation, and on the flat pooled features.
  const layers = spec.layers.map((l) => ({ ...l })) as LayerSpec[];
  (layers[0] as Extract<LayerSpec, { kind: 'conv2d' }>).activation = 'relu';
  const r = rng(11);
  layers.splice(10, 0, { kind: 'batchNorm', channels: 8, gamma: Float32Array.from(uniform(r, 8, 0.3), (v) => 1 + v), beta: uniform(r, 8, 0.2), movingMean: uniform(r, 8, 0.3), movingVariance: Float32Array.from(uniform(r, 8, 0.5), (v) => 1 + v), epsilon: 1e-3, momentum: 0.9, activation: 'relu6' });
  const unfoldable = { ...spec, layers };
  assert.equal(foldBatchNorms(unfoldable).layers.filter((l) => l.kind === 'batchNorm').length, 2, 'two batch norms stay unfolded');
  await checkEveryFormat(t, unfoldable, x, N, 'unfolded batch norms');
});

test('foldBatchNorms folds a batch norm into the linear conv before it, remaps the residual add, keeps the function', async () => {
  const spec = mobileSpec(2);
  const folded = foldBatchNorms(spec);
  // Layer 1's BN follows a linear conv (folded); 3 follows a linear depthwise conv (folded); 5 likewise.
  assert.deepEqual(folded.layers.map((l) => l.kind), ['conv2d', 'conv2d', 'conv2d', 'add', 'conv2d', 'globalAvgPool', 'flatten', 'dense']);
  assert.deepEqual(folded.layers[3], { kind: 'add', from: 0 }, 'the add reads the folded stem conv');
  assert.equal((folded.layers[0] as Extract<LayerSpec, { kind: 'conv2d' }>).activation, 'relu6', "the batch norm's activation moves onto the conv");
  const { x } = await images('t10k', 50);
  assert.ok(maxAbsDiff(forwardSpec(folded, x, 50).logits, forwardSpec(spec, x, 50).logits) <= 1e-5);
  assert.equal(foldBatchNorms({ ...spec, layers: spec.layers.slice(1, 2).map((l) => ({ ...l })) }).layers[0]!.kind, 'batchNorm', 'a batch norm with nothing to fold into stays');
});

test('the onnxruntime engine trains it: the loss falls, moving statistics follow TF.js, and the trained student keeps parity', async (t) => {
  const B = 64;
  const steps = 40;
  const { x, y } = await images('train', B * steps);
  const spec = mobileSpec(3);
  const infos = paramInfos(spec);
  const trainer = await OrtTrainer.create(spec, { kind: 'label' }, { learningRate: 3e-3, ...TFJS_ADAM }, infos.map((p) => paramFromSpec(p, spec.layers)), { batch: B, classes: C, threads: 1, producerVersion: 'test' });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    trainer.batch.x.set(x.subarray(s * B * 784, (s + 1) * B * 784));
    trainer.batch.y.fill(0);
    for (let i = 0; i < B; i++) trainer.batch.y[i * C + y[s * B + i]!] = 1;
    losses.push(await trainer.step());
  }
  const trained: StudentSpec = { ...spec, layers: trainer.layers(spec) };
  await trainer.release();
  const mean = (a: number[]) => a.reduce((p, q) => p + q, 0) / a.length;
  t.diagnostic(`loss over the first 5 steps ${mean(losses.slice(0, 5)).toFixed(4)}, the last 5 ${mean(losses.slice(-5)).toFixed(4)}`);
  assert.ok(mean(losses.slice(-5)) < 0.8 * mean(losses.slice(0, 5)), 'the loss falls');
  const bn = trained.layers[1] as Extract<LayerSpec, { kind: 'batchNorm' }>;
  const before = spec.layers[1] as typeof bn;
  assert.notDeepEqual(bn.movingMean, before.movingMean, 'moving means move');
  assert.notDeepEqual(bn.gamma, before.gamma, 'gamma trains');
  const { x: testX } = await images('t10k', N);
  await checkEveryFormat(t, trained, testX, N, 'trained');
});

test("a batch norm's moving averages after one step are TF.js's: moving - (moving - batch statistic) * (1 - momentum)", async () => {
  const B = 32;
  const { x, y } = await images('train', B);
  const r = rng(9);
  const F = 784;
  const spec: StudentSpec = {
    inputName: 'input', features: F,
    layers: [
      { kind: 'batchNorm', channels: F, gamma: new Float32Array(F).fill(1), beta: new Float32Array(F), movingMean: uniform(r, F, 0.5), movingVariance: new Float32Array(F).fill(1), epsilon: 1e-3, momentum: 0.99, activation: 'linear' },
      { kind: 'dense', kernel: uniform(r, F * C, 0.05), inputs: F, units: C, bias: new Float32Array(C), activation: 'linear' },
    ],
    classes: C, subclasses: 1, outputNames: { probs: 'probs', subclassLogits: 'subclass_logits' }, metadata: {},
  };
  const trainer = await OrtTrainer.create(spec, { kind: 'label' }, { learningRate: 1e-3, ...TFJS_ADAM }, paramInfos(spec).map((p) => paramFromSpec(p, spec.layers)), { batch: B, classes: C, threads: 1, producerVersion: 'test' });
  trainer.batch.x.set(x);
  for (let i = 0; i < B; i++) trainer.batch.y[i * C + y[i]!] = 1;
  await trainer.step();
  const bn = trainer.layers(spec)[0] as Extract<LayerSpec, { kind: 'batchNorm' }>;
  await trainer.release();
  const m0 = (spec.layers[0] as typeof bn).movingMean;
  let worst = 0;
  for (let c = 0; c < F; c++) {
    let mu = 0;
    let sq = 0;
    for (let i = 0; i < B; i++) mu += x[i * F + c]! / B;
    for (let i = 0; i < B; i++) sq += (x[i * F + c]! - mu) ** 2 / B;
    worst = Math.max(worst, Math.abs(bn.movingMean[c]! - (m0[c]! - (m0[c]! - mu) * 0.01)), Math.abs(bn.movingVariance[c]! - (1 - (1 - sq) * 0.01)));
  }
  assert.ok(worst <= 1e-6, `moving statistics differ from the formula by ${worst}`);
});

test('float16 and dynamic int8 (per-channel, depthwise included) ONNX exports of it run and track the float model', async (t) => {
  const spec = mobileSpec(5);
  const { x } = await images('t10k', N);
  const ref = forwardSpec(spec, x, N).probs;
  for (const [mode, tol] of [[{ kind: 'float16' }, 5e-3], [{ kind: 'dynamic', perChannel: true, reduceRange: false }, 0.05]] as const) {
    const session = await ort.InferenceSession.create(exportQuantizedOnnx(spec, mode, { producerVersion: 'test' }), { executionProviders: ['cpu'] });
    const probs = (await session.run({ input: new ort.Tensor('float32', x, [N, 784]) })).probs!.data as Float32Array;
    await session.release();
    const d = maxAbsDiff(probs, ref);
    t.diagnostic(`${mode.kind}: largest probability difference from float64 ${d.toExponential(2)}`);
    assert.ok(d <= tol, `${mode.kind}: ${d}`);
  }
});

test('a student checkpoint holds every layer kind: written and read back unchanged', () => {
  const spec = mobileSpec(6);
  const dir = tempDir('student-ir-checkpoint');
  dirs.push(dir);
  writeStudentCheckpoint(dir, spec, { method: 'test' } as unknown as StudentResult, null);
  assert.deepEqual(loadStudentCheckpoint(dir).spec, spec);
});

test('inspect counts the exported ONNX completely: depthwise and strided convs at their real cost', (t) => {
  const info = inspectOnnx('mobile.onnx', exportOnnx(mobileSpec(7), { producerVersion: 'test' }));
  t.diagnostic(`FLOPs by op: ${JSON.stringify(info.flops.byOp)}`);
  assert.equal(info.flops.lowerBound, false, JSON.stringify(info.flops.unknown));
  // Multiply-adds of the four convs (batch norms folded): stem 14*14*8*9, depthwise 14*14*8*9 (one input channel
  // per group), pointwise 14*14*8*8, the strided [1, 3] conv 7*7*8*(8*3); 2 FLOPs each.
  const macs = 14 * 14 * 8 * 9 + 14 * 14 * 8 * 9 + 14 * 14 * 8 * 8 + 7 * 7 * 8 * 24;
  assert.ok(info.flops.byOp.Conv! >= 2 * macs && info.flops.byOp.Conv! <= 2 * macs + 14 * 14 * 8 * 3 + 7 * 7 * 8, `Conv ${info.flops.byOp.Conv} for ${macs} multiply-adds (plus at most a bias add per output)`);
  for (const op of ['Clip', 'GlobalAveragePool', 'Add']) assert.ok(info.flops.byOp[op]! > 0, `${op} is counted`);
});

/** Op counts of the graph onnxruntime actually runs for `file` (its optimized model, written next to it). */
async function optimizedOps(file: string): Promise<Record<string, number>> {
  const optimized = `${file}.optimized.onnx`;
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3 } as ort.InferenceSession.SessionOptions);
  await session.release();
  return inspectOnnx('optimized.onnx', readFileSync(optimized)).ops;
}

/** The compress stage's variants of a spec student (--max-accuracy-drop 1 --structured 0.5), checked against the spec. */
async function checkCompressed(t: { diagnostic(m: string): void }, out: string, spec: StudentSpec): Promise<void> {
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { artifacts: { variant: string; format: string; path: string; bytes: number; accuracyDrop: number; parameters?: number; rejected: string | null }[] };
  const get = (variant: string, format: string) => {
    const a = report.artifacts.find((x) => x.variant === variant && x.format === format);
    assert.ok(a, `${variant}/${format} in the report`);
    return a;
  };
  t.diagnostic(report.artifacts.map((a) => `${a.variant}/${a.format} ${a.bytes} B, drop ${a.accuracyDrop.toFixed(2)}${a.rejected ? ' (rejected)' : ''}`).join('; '));
  for (const v of ['fp32', 'pruned-50']) for (const f of ['onnx', 'tfjs-layers', 'tfjs-graph']) get(v, f);
  for (const f of ['tfjs-layers', 'tfjs-graph']) get('uint8-weights', f);
  for (const v of ['int8-dynamic', 'float16']) get(v, 'onnx');
  // Static int8, per channel: onnxruntime runs every conv but the one before the global pool (its output is pooled
  // in float) as QLinearConv, depthwise ones included, and the dense head as QGemm.
  const convs = spec.layers.filter((l) => l.kind === 'conv2d').length;
  const ops = await optimizedOps(join(out, get('int8-static-pc', 'onnx').path));
  assert.equal(ops.QLinearConv, convs - 1, JSON.stringify(ops));
  assert.equal(ops.QGemm, 1, JSON.stringify(ops));
  assert.ok(get('int8-static-pc', 'onnx').accuracyDrop <= 1, 'int8 static per-channel stays within a point');
  // Structured pruning removed channels for real: the parameters of structuredPrune's spec, a smaller file.
  const pruned = get('pruned-50', 'onnx');
  assert.equal(pruned.parameters, parameterCount(structuredPrune(spec, 0.5).spec));
  assert.ok(pruned.bytes < 0.6 * get('fp32', 'onnx').bytes, `pruned ${pruned.bytes} B vs ${get('fp32', 'onnx').bytes} B`);
}

test('a dscnn student runs through the pipeline: distilled on the default engine, compressed (int8 on every conv, depthwise included; channels pruned through the depthwise blocks) and exported to every format with parity', async (t) => {
  const out = tempDir('student-ir-dscnn');
  dirs.push(out);
  const args = ['run', '--arch', 'dscnn', '--steps', '300', '--methods', 'lelp', '--formats', 'onnx,tfjs-layers,tfjs-graph', '--runtimes', 'onnxruntime-node', '--runs', '5', '--warmup', '1', '--cache-dir', SHARED_TEACHER_CACHE, '--quiet'];
  const r = cli([...args, '--max-accuracy-drop', '1', '--structured', '0.5', '--fine-tune-steps', '100', '--out', out]);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const student = report.students[0];
  assert.equal(student.parameters, parameterCount(loadStudentCheckpoint(join(out, 'students', 'lelp')).spec));
  assert.ok(student.accuracy > 0.85, `dscnn test accuracy ${student.accuracy} after 300 steps`);
  // Every exported format was checked against the in-memory student (the run fails with E_PARITY otherwise).
  const spec = loadStudentCheckpoint(join(out, 'students', 'lelp')).spec;
  assert.ok(spec.layers.some((l) => l.kind === 'conv2d' && (l.groups ?? 1) > 1) && spec.layers.some((l) => l.kind === 'batchNorm'));
  await checkCompressed(t, out, spec);
  // What it cannot do is refused when the config is validated, before any training, and leaves no --out.
  const refused = cli([...args, '--out', join(out, 'refused'), '--engine', 'tfjs']);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /E_CONFIG/);
  assert.match(refused.stderr, /train\.engine.*onnxruntime engine only/);
  assert.ok(!existsSync(join(out, 'refused')), 'nothing written');
});

for (const pooling of ['average', 'flatten'] as const) test(`structuredPrune on a dscnn (pooling ${pooling}) removes each channel from its conv, batch norms, depthwise conv and consumer: exactly the original with those channels unread`, async () => {
  const base = buildDscnnSpec(StudentSchema.parse({ arch: 'dscnn', pooling, dense: [16] }) as Extract<StudentConfig, { arch: 'dscnn' }>, { features: 784, featureShape: [28, 28], classes: C, subclasses: 1, seed: 3, metadata: {} });
  assert.equal(base.layers.at(-3)!.kind, pooling === 'flatten' ? 'flatten' : 'globalAvgPool');
  // The flattened map of the last block: 28 -> 14 (stem) -> 7 -> 4 (the strided blocks), 128 channels.
  assert.equal((base.layers.at(-2) as Extract<LayerSpec, { kind: 'dense' }>).inputs, pooling === 'flatten' ? 4 * 4 * 128 : 128);
  const r = rng(17);
  // Batch norms with real statistics and gammas, so that channel importance is not a tie.
  const spec = { ...base, layers: base.layers.map((l) => (l.kind === 'batchNorm' ? { ...l, gamma: Float32Array.from(uniform(r, l.channels, 0.5), (v) => 1 + v), beta: uniform(r, l.channels, 0.2), movingMean: uniform(r, l.channels, 0.3), movingVariance: Float32Array.from(uniform(r, l.channels, 0.5), (v) => 1 + v) } : l)) };
  const { spec: pruned, removed } = structuredPrune(spec, 0.5);
  const width = (l: LayerSpec) => (l.kind === 'conv2d' ? l.filters : l.kind === 'batchNorm' ? l.channels : l.kind === 'dense' ? l.units : 0);
  // Every conv, batch norm and the hidden dense keep half their channels; the depthwise convs stay depthwise.
  spec.layers.forEach((l, i) => {
    const p = pruned.layers[i]!;
    if (l.kind === 'dense' && i === spec.layers.length - 1) assert.equal(width(p), C);
    else if (width(l)) assert.equal(width(p), width(l) - Math.round(width(l) / 2), `layer ${i} (${l.kind})`);
    if (p.kind === 'conv2d' && (p.groups ?? 1) > 1) assert.ok(p.groups === p.filters && p.inChannels === p.filters, `layer ${i} depthwise`);
  });
  // The reference: the original spec with the rows its consumers read the removed channels with set to zero.
  const silenced = spec.layers.map((l) => ({ ...l })) as LayerSpec[];
  spec.layers.forEach((l, li) => {
    if (!removed[li]!.length || l.kind === 'batchNorm' || (l.kind === 'conv2d' && (l.groups ?? 1) > 1)) return;
    const ci = spec.layers.findIndex((c, j) => j > li && (c.kind === 'dense' || (c.kind === 'conv2d' && (c.groups ?? 1) === 1)));
    const c = silenced[ci] as Extract<LayerSpec, { kind: 'dense' | 'conv2d' }>;
    const U = width(l);
    const U2 = width(c);
    const gone = new Set(removed[li]);
    c.kernel = c.kernel.map((v, k) => (gone.has(Math.floor(k / U2) % U) ? 0 : v));
  });
  const { x } = await images('t10k', 50);
  assert.deepEqual(forwardSpec(pruned, x, 50).logits, forwardSpec({ ...spec, layers: silenced }, x, 50).logits);
  assert.ok(parameterCount(pruned) < 0.35 * parameterCount(spec), `${parameterCount(pruned)} of ${parameterCount(spec)} parameters`);
});

test('a conv1d student ([1, k] convs with batch norm and ReLU, [1, p] max pools, pooling over time) exports to every format with parity, inspect counts it, and it runs through the pipeline, compressed', async (t) => {
  // Fashion-MNIST images read as sequences: 28 time steps (rows) of 28 channels (pixels), the shipped teacher on them.
  const { x } = await images('t10k', N);
  const base = buildConv1dSpec(StudentSchema.parse({ arch: 'conv1d' }) as Extract<StudentConfig, { arch: 'conv1d' }>, { features: 784, featureShape: [28, 28], classes: C, subclasses: 1, seed: 5, metadata: {} });
  assert.deepEqual(base.image, { height: 1, width: 28, channels: 28 });
  const r = rng(13);
  // Batch norms with real statistics, so that folding them into the convs changes the weights.
  const spec = { ...base, layers: base.layers.map((l) => (l.kind === 'batchNorm' ? { ...l, gamma: Float32Array.from(uniform(r, l.channels, 0.3), (v) => 1 + v), beta: uniform(r, l.channels, 0.2), movingMean: uniform(r, l.channels, 0.3), movingVariance: Float32Array.from(uniform(r, l.channels, 0.5), (v) => 1 + v) } : l)) };
  await checkEveryFormat(t, spec, x, N, 'conv1d');
  const info = inspectOnnx('conv1d.onnx', exportOnnx(spec, { producerVersion: 'test' }));
  assert.equal(info.flops.lowerBound, false, JSON.stringify(info.flops.unknown));
  // 28 steps x 16 filters x (5 x 28), pool to 14; 14 x 32 x (5 x 16), pool to 7; 7 x 64 x (3 x 32).
  const macs = 28 * 16 * 140 + 14 * 32 * 80 + 7 * 64 * 96;
  assert.ok(info.flops.byOp.Conv! >= 2 * macs && info.flops.byOp.Conv! <= 2 * macs + 28 * 16 + 14 * 32 + 7 * 64, `Conv ${info.flops.byOp.Conv} for ${macs} multiply-adds`);
  assert.ok(info.flops.byOp.MaxPool! > 0 && info.flops.byOp.GlobalAveragePool! > 0);

  const out = tempDir('student-ir-conv1d');
  dirs.push(out);
  const run = cli(['run', '--arch', 'conv1d', '--steps', '300', '--methods', 'kd', '--formats', 'onnx,tfjs-layers,tfjs-graph', '--runtimes', 'onnxruntime-node', '--runs', '5', '--warmup', '1', '--cache-dir', SHARED_TEACHER_CACHE, '--quiet', '--max-accuracy-drop', '1', '--structured', '0.5', '--fine-tune-steps', '100', '--out', out]);
  assert.equal(run.status, 0, run.stderr.slice(-2000));
  const student = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).students[0];
  t.diagnostic(`conv1d (${student.parameters} parameters): test accuracy ${(student.accuracy * 100).toFixed(2)} % after 300 steps`);
  assert.ok(student.accuracy > 0.9, `conv1d test accuracy ${student.accuracy} after 300 steps`);
  const trained = loadStudentCheckpoint(join(out, 'students', 'kd')).spec;
  assert.ok(trained.layers.some((l) => l.kind === 'maxpool2d' && Array.isArray(l.poolSize)) && trained.layers.some((l) => l.kind === 'conv2d' && Array.isArray(l.kernelSize)));
  await checkCompressed(t, out, trained);
});

test('stages that cannot take these layers yet refuse them with E_UNSUPPORTED', async () => {
  const spec = mobileSpec(4);
  assert.throws(() => structuredPrune(spec, 0.5), (e: { code?: string; message: string }) => e.code === 'E_UNSUPPORTED' && /Structured pruning does not support layer 6 \(a residual add\)/.test(e.message));
  const { x } = await images('t10k', 20);
  assert.throws(() => calibrate(spec, x, 20, 'minmax'), (e: { code?: string; message: string }) => e.code === 'E_UNSUPPORTED' && /add/.test(e.message));
});
