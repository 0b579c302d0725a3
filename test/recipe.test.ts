// The training recipe (pipeline/distill/recipe.ts): the learning-rate schedule and epoch count as numbers, the config's
// rules, and both training loops on real Fashion-MNIST data (label % 2, the shipped teacher's outputs for KD) with
// warm-up, cosine decay, weight decay, keeping the best validation check and early stopping: the two engines stop at
// the same step, keep the same step and end with the same weights, and the kept weights are the ones whose validation
// accuracy was recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { useBackend } from '../pipeline/util/tfjs.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { MemoryRows } from '../pipeline/data/rows.ts';
import { buildStudent, layerSpecs, toStudentSpec } from '../pipeline/distill/architectures.ts';
import { prepareMethod } from '../pipeline/distill/losses.ts';
import { accuracy, trainStudent } from '../pipeline/distill/train.ts';
import { learningRateAt, totalSteps, type LoopConfig } from '../pipeline/distill/recipe.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { parseConfig } from '../pipeline/config.ts';
import { createProgress } from '../pipeline/util/progress.ts';
import type { LayerSpec, StudentSpec } from '../pipeline/student/spec.ts';
import { EXAMPLE_DIR } from './helpers.ts';

test('learning rate: linear warm-up to the peak, then constant, cosine or linear decay to 0 at the last step; epochs count whole batches', () => {
  const base = { learningRate: 0.01, warmup: 0.1 };
  const at = (schedule: LoopConfig['schedule'], s: number) => learningRateAt({ ...base, schedule }, s, 100);
  assert.deepEqual([0, 4, 9].map((s) => at('cosine', s)), [0.001, 0.005, 0.01]);
  assert.equal(at('cosine', 10), 0.01);
  assert.ok(Math.abs(at('cosine', 99)) < 1e-12);
  assert.ok(Math.abs(at('cosine', 10 + 44.5) - 0.005) < 1e-12, 'half way through the decay: half the rate');
  assert.ok(Math.abs(at('linear', 99)) < 1e-12);
  assert.ok(Math.abs(at('linear', 10 + 89 / 2) - 0.005) < 1e-12);
  assert.equal(at('constant', 99), 0.01);
  assert.equal(learningRateAt({ learningRate: 0.01 }, 0, 100), 0.01, 'a loop given no schedule (pruning\'s fine-tuning in tests): constant, no warm-up');
  const defaults = parseConfig({ data: { train: { format: 'idx', features: 'x' } }, teacher: { model: 't.onnx' } }, '/').train;
  assert.deepEqual([defaults.schedule, defaults.warmup, defaults.keepBest, defaults.weightDecay, defaults.learningRate], ['cosine', 0.05, true, 0, 1e-3], 'the defaults docs/training.md chose');
  assert.equal(totalSteps({ steps: 2500, epochs: 3 }, 1000, 128), 3 * 7);
  assert.equal(totalSteps({ steps: 2500 }, 1000, 128), 2500);
  assert.equal(totalSteps({ steps: 1, epochs: 2 }, 50, 128), 2, 'a batch larger than the data is one step per epoch');
});

test('config: train.steps with train.epochs, and patience or evalEvery without keepBest, are E_CONFIG', () => {
  const cfg = (train: object) => () => parseConfig({ data: { train: { format: 'idx', features: 'x' } }, teacher: { model: 't.onnx' }, train }, '/');
  assert.throws(cfg({ steps: 100, epochs: 3 }), (e: { code?: string; message: string }) => e.code === 'E_CONFIG' && /train\.steps \(100\) and train\.epochs \(3\) are both set/.test(e.message));
  assert.throws(cfg({ patience: 3, keepBest: false }), (e: { code?: string; message: string }) => e.code === 'E_CONFIG' && /train\.patience: patience only applies with train\.keepBest/.test(e.message));
  assert.throws(cfg({ evalEvery: 10, keepBest: false }), (e: { code?: string; message: string }) => e.code === 'E_CONFIG' && /evalEvery only applies/.test(e.message));
  assert.equal(parseConfig({ data: { train: { format: 'idx', features: 'x' } }, teacher: { model: 't.onnx' }, train: { epochs: 3, keepBest: true, patience: 2 } }, '/').train.epochs, 3);
});

test('both engines follow the recipe alike: warm-up + cosine, weight decay, best validation check kept, early stop', { timeout: 180_000 }, async () => {
  await useBackend('wasm');
  const images = await readIdx(join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz'));
  const raw = await readIdx(join(EXAMPLE_DIR, 'train-labels-idx1-ubyte.gz'));
  const [nTrain, nVal] = [1024, 512];
  const x = Float32Array.from(images.data.subarray(0, (nTrain + nVal) * 784), (v) => v / 255);
  const labels = Int32Array.from(raw.data.subarray(0, nTrain + nVal), (v) => v % 2);
  const session = await ort.InferenceSession.create(join(EXAMPLE_DIR, 'teacher.onnx'), { executionProviders: ['cpu'] });
  const logits = (await session.run({ image: new ort.Tensor('float32', x.subarray(0, nTrain * 784), [nTrain, 1, 28, 28]) })).logits!.data as Float32Array;
  await session.release();
  const train = { x: new MemoryRows(x.subarray(0, nTrain * 784), nTrain, 784), n: nTrain, features: 784, labels: labels.subarray(0, nTrain), classes: 2 };
  const val = new MemoryRows(x.subarray(nTrain * 784), nVal, 784);
  const valLabels = labels.subarray(nTrain);
  const arch = { arch: 'mlp' as const, hidden: [32] };
  const recipe: LoopConfig = { steps: 1, epochs: 30, batchSize: 64, learningRate: 0.003, schedule: 'cosine', warmup: 0.1, weightDecay: 0.05, keepBest: true, evalEvery: 16, patience: 4, engine: 'onnxruntime', threads: 1 };

  const validationAccuracy = async (spec: StudentSpec) => {
    const s = await ort.InferenceSession.create(exportOnnx(spec, { producerVersion: 'test' }), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    const out = await s.run({ [spec.inputName]: new ort.Tensor('float32', val.read(0, nVal), [nVal, 784]) });
    await s.release();
    return accuracy(out[spec.outputNames.probs]!.data as Float32Array, valLabels, 2);
  };
  const run = async (engine: 'tfjs' | 'onnxruntime') => {
    const method = prepareMethod({ name: 'kd', tau: 2, alpha: 0.5 }, { n: nTrain, classes: 2, embeddingDim: 0, logits, embedding: new MemoryRows(new Float32Array(0), nTrain, 0), groups: train.labels, head: null, seed: 1, studentHidden: 0 });
    const model = buildStudent(arch, 784, [28, 28], 2, 7);
    const template = toStudentSpec(model, { features: 784, featureShape: [28, 28], arch, classes: 2, subclasses: 1, metadata: {} });
    const checks: { layers: LayerSpec[]; accuracy: number }[] = [];
    const res = await trainStudent(model, train, method, { ...recipe, engine }, {
      seed: 11, progress: createProgress({ quiet: true }), label: engine,
      evaluate: async (layers) => {
        const acc = await validationAccuracy({ ...template, layers });
        checks.push({ layers, accuracy: acc });
        return acc;
      },
    });
    const final = toStudentSpec(model, { features: 784, featureShape: [28, 28], arch, classes: 2, subclasses: 1, metadata: {} });
    const kernels = layerSpecs(model.layers).flatMap((l) => (l.kind === 'dense' ? [l.kernel] : []));
    model.dispose();
    return { res, final, kernels, checks };
  };
  const o = await run('onnxruntime');
  const t = await run('tfjs');
  const planned = totalSteps(recipe, nTrain, 64);
  assert.equal(planned, 480);
  assert.ok(o.res.earlyStopped && o.res.steps < planned, `patience 4 stopped training before step ${planned} (ran ${o.res.steps})`);
  assert.ok(o.res.chosenStep < o.res.steps && o.res.chosenStep % 16 === 0, `kept step ${o.res.chosenStep} of ${o.res.steps}: an earlier check`);
  assert.deepEqual([t.res.steps, t.res.chosenStep, t.res.earlyStopped], [o.res.steps, o.res.chosenStep, o.res.earlyStopped], 'the engines stop and keep at the same steps');
  assert.equal(o.checks.length, o.res.steps / 16);
  // The kept weights are the best check's: their validation accuracy is the one recorded, the best of all checks.
  for (const r of [o, t]) {
    assert.equal(Math.fround(await validationAccuracy(r.final)), r.res.chosenValidationAccuracy);
    assert.equal(r.res.chosenValidationAccuracy, Math.fround(Math.max(...r.checks.map((c) => c.accuracy))));
  }
  let worst = 0;
  o.kernels.forEach((k, i) => k.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - t.kernels[i]![j]!)))));
  assert.ok(worst <= 1e-4, `kept weights differ between the engines by ${worst}`);
});
