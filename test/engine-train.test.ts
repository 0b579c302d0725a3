// The onnxruntime training step against TF.js autodiff and TF.js's Adam: the same student (initial weights from the
// TF.js model), the same real Fashion-MNIST batches, the same teacher outputs (the shipped teacher), every method.
// After a few steps both engines must hold the same weights within 1e-4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, useBackend } from '../pipeline/util/tfjs.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { buildStudent, toStudentSpec } from '../pipeline/distill/architectures.ts';
import { prepareMethod } from '../pipeline/distill/losses.ts';
import type { MethodConfig, StudentConfig } from '../pipeline/distill/schema.ts';
import { OrtTrainer, paramFromSpec, type TrainerState } from '../pipeline/engine/ort-trainer.ts';
import { compileTrainStep, TFJS_ADAM, type AdamPlacement } from '../pipeline/engine/train-graph.ts';
import { readTeacherHead } from '../pipeline/teacher/head.ts';
import { EXAMPLE_DIR } from './helpers.ts';

const B = 32;
const STEPS = 4;
const LR = 1e-3;
const C = 2;

interface Batches {
  x: Float32Array; // [STEPS * B, 784]
  labels: Int32Array;
  logits: Float32Array; // the teacher's, [STEPS * B, 2]
  embedding: Float32Array; // [STEPS * B, 256]
}

let batches: Batches | null = null;
/** STEPS batches of real training images (label % 2) and the shipped teacher's outputs on them. */
async function realBatches(): Promise<Batches> {
  if (batches) return batches;
  const n = STEPS * B;
  const images = await readIdx(join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz'));
  const labels = await readIdx(join(EXAMPLE_DIR, 'train-labels-idx1-ubyte.gz'));
  const x = Float32Array.from(images.data.subarray(0, n * 784), (v) => v / 255);
  const session = await ort.InferenceSession.create(join(EXAMPLE_DIR, 'teacher.onnx'), { executionProviders: ['cpu'] });
  const out = await session.run({ image: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
  await session.release();
  batches = { x, labels: Int32Array.from(labels.data.subarray(0, n), (v) => v % 2), logits: Float32Array.from(out.logits!.data as Float32Array), embedding: Float32Array.from(out.embedding!.data as Float32Array) };
  return batches;
}

async function compare(arch: StudentConfig, method: MethodConfig, adamIn: AdamPlacement): Promise<{ worst: number; state: TrainerState }> {
  await useBackend('wasm');
  const d = await realBatches();
  const n = STEPS * B;
  const hiddenWidth = arch.arch === 'mlp' ? arch.hidden.at(-1)! : arch.dense.at(-1)!;
  const prepared = prepareMethod(method, { n, classes: C, embeddingDim: 256, logits: d.logits, embedding: d.embedding, groups: d.labels, head: readTeacherHead(join(EXAMPLE_DIR, 'teacher.onnx'), 'embedding', 'logits').W, seed: 3, studentHidden: hiddenWidth });
  const S = prepared.subclasses;
  const model = buildStudent(arch, 784, [28, 28], C * S, 5);
  const spec = toStudentSpec(model, { features: 784, featureShape: [28, 28], arch, classes: C, subclasses: S, metadata: {} });
  const targets = prepared.targets ? prepared.targets.read(0, n) : null;
  const onehot = new Float32Array(n * C);
  d.labels.forEach((l, i) => (onehot[i * C + l] = 1));

  // onnxruntime: parameters from the TF.js model (and FitNet's map from the TF.js variables), one thread.
  const loss = prepared.lossSpec!;
  const adam = { learningRate: LR, ...TFJS_ADAM };
  const infos = compileTrainStep(spec, loss, adam, { batch: B, classes: C, producerVersion: 'test' }).params;
  const lossParams = prepared.variables.map((v) => Float32Array.from(v.dataSync() as Float32Array));
  const initial = infos.map((p, i) => ('layer' in p.owner ? paramFromSpec(p, spec.layers) : lossParams[i - (infos.length - lossParams.length)]!));
  const ortTrainer = await OrtTrainer.create(spec, loss, adam, initial, { batch: B, classes: C, threads: 1, producerVersion: 'test', adamIn });

  // TF.js: the loop of distill/train.ts, on the same batches in order.
  const optimizer = tf.train.adam(LR);
  const view = tfl.model({ inputs: model.inputs, outputs: [model.layers.at(-2)!.output as tfl.SymbolicTensor, model.outputs[0]!] });
  const W = prepared.width;
  for (let s = 0; s < STEPS; s++) {
    const rows = (a: Float32Array, w: number) => a.subarray(s * B * w, (s + 1) * B * w);
    const b = ortTrainer.batch;
    b.x.set(rows(d.x, 784));
    b.y.set(rows(onehot, C));
    if (targets) b.targets!.set(rows(targets, W));
    const ortLoss = await ortTrainer.step();
    const xt = tf.tensor2d(rows(d.x, 784), [B, 784]);
    const yt = tf.tensor2d(rows(onehot, C), [B, C]);
    const tt = targets ? tf.tensor2d(rows(targets, W), [B, W]) : null;
    const lossT = optimizer.minimize(() => {
      const [hidden, logits] = view.apply(xt, { training: true }) as tf.Tensor2D[];
      return prepared.loss({ logits: logits!, hidden: hidden! }, tt, yt);
    }, true)!;
    const tfLoss = (await lossT.data())[0]!;
    tf.dispose([lossT, xt, yt, ...(tt ? [tt] : [])]);
    assert.ok(Math.abs(tfLoss - ortLoss) <= 1e-4 * Math.max(1, Math.abs(tfLoss)), `${arch.arch} ${method.name} step ${s}: loss ${ortLoss} on onnxruntime, ${tfLoss} on TF.js`);
  }
  const tfSpec = toStudentSpec(model, { features: 784, featureShape: [28, 28], arch, classes: C, subclasses: S, metadata: {} });
  const ortLayers = ortTrainer.layers(spec);
  let worst = 0;
  let moved = 0;
  tfSpec.layers.forEach((l, i) => {
    if (l.kind !== 'dense' && l.kind !== 'conv2d') return;
    const o = ortLayers[i] as typeof l;
    const before = spec.layers[i] as typeof l;
    for (const f of ['kernel', 'bias'] as const) {
      for (let j = 0; j < l[f].length; j++) {
        worst = Math.max(worst, Math.abs(l[f][j]! - o[f][j]!));
        moved = Math.max(moved, Math.abs(l[f][j]! - before[f][j]!));
      }
    }
  });
  if (method.name === 'fitnet') {
    const st = ortTrainer.state();
    prepared.variables.forEach((v, i) => {
      const tfv = v.dataSync() as Float32Array;
      const ov = st.params[st.params.length - prepared.variables.length + i]!;
      for (let j = 0; j < tfv.length; j++) worst = Math.max(worst, Math.abs(tfv[j]! - ov[j]!));
    });
  }
  const state = ortTrainer.state();
  optimizer.dispose();
  tf.dispose(prepared.variables);
  model.dispose();
  prepared.targets?.close();
  await ortTrainer.release();
  // Adam moves every weight by about the learning rate a step: the engines must agree far more closely than that.
  assert.ok(moved > LR, `${arch.arch} ${method.name}: the weights did not train (moved ${moved})`);
  assert.ok(worst <= 1e-4, `${arch.arch} ${method.name}: weights differ by ${worst.toExponential(2)} after ${STEPS} steps`);
  return { worst, state };
}

const METHODS: MethodConfig[] = [
  { name: 'label' },
  { name: 'kd', tau: 2, alpha: 0.5 },
  { name: 'lelp', subclasses: 5, beta: 1, tau: 1, alpha: 0.5, nullSpace: true, rotate: true, projection: 'pca', assign: 'directions', whiten: false },
  { name: 'fitnet', gamma: 1, tau: 2, alpha: 0.5 },
];

for (const arch of [{ arch: 'mlp', hidden: [16] }, { arch: 'cnn', filters: [4, 8], kernelSize: 3, dense: [16] }] as StudentConfig[]) {
  test(`${arch.arch}: a few training steps on onnxruntime equal TF.js's for every method, Adam in the graph or on the host`, async (t) => {
    for (const m of METHODS) {
      const host = await compare(arch, m, 'host');
      const graph = await compare(arch, m, 'graph');
      t.diagnostic(`${m.name}: largest weight difference after ${STEPS} steps ${host.worst.toExponential(2)} (Adam on the host), ${graph.worst.toExponential(2)} (in the graph)`);
      // The host's SIMD Adam (adam.wat) rounds as the graph's ONNX ops do: the same bits, moments included.
      for (const k of ['params', 'm', 'v'] as const) {
        host.state[k].forEach((a, i) => assert.deepEqual(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(graph.state[k][i]!.buffer, graph.state[k][i]!.byteOffset, graph.state[k][i]!.byteLength), `${m.name}: ${k}[${i}] differs between the Adam placements`));
      }
      assert.deepEqual(host.state.powers, graph.state.powers);
    }
  });
}
