// TF.js graph export: real students (briefly trained on the bundled Fashion-MNIST subset, 10 classes) exported
// as graph models, loaded by stock loadGraphModel, checked on 1,000 real test images against the float64
// reference forward pass and against the TF.js layers export; batch 1, byte determinism, quantized weights.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { EXAMPLE_DIR, tempDir, maxAbsDiff } from './helpers.ts';
import { testSpecs, uniform } from './specs.ts';
import { rng } from '../pipeline/util/math.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { tf, useBackend } from '../pipeline/util/tfjs.ts';
import { buildStudent, toStudentSpec } from '../pipeline/distill/architectures.ts';
import type { StudentConfig } from '../pipeline/distill/schema.ts';
import { trainStudent } from '../pipeline/distill/train.ts';
import { classLogits, crossEntropy } from '../pipeline/distill/losses.ts';
import { createProgress } from '../pipeline/util/progress.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import { TOOL_VERSION } from '../pipeline/util/versions.ts';
import type { StudentSpec } from '../pipeline/student/spec.ts';
import { exportTfjsGraph } from '../exporters/tfjs-graph.ts';
import { exportTfjsLayers } from '../exporters/tfjs-layers.ts';
import { fileLoadHandler } from '../exporters/tfjs-io.ts';
import { forwardSpec } from '../exporters/reference-forward.ts';
import { TFJS_WEIGHT_DTYPES } from '../exporters/tfjs-quantize.ts';
import { tfjsGraphRuntime } from '../runtimes/tfjs-graph.ts';
import { tfjsRuntime } from '../runtimes/tfjs.ts';

const N = 1000;
const C = 10;
const TRAIN_N = 5000;

interface Case {
  name: string;
  arch: StudentConfig;
  subclasses: number;
  steps: number;
  ops: string[];
}

const CASES: Case[] = [
  { name: 'MLP 784-16-8-10, S=1', arch: { arch: 'mlp', hidden: [16, 8] }, subclasses: 1, steps: 300, ops: ['_FusedMatMul'] },
  { name: 'MLP 784-16-(10*5), S=5', arch: { arch: 'mlp', hidden: [16] }, subclasses: 5, steps: 300, ops: ['_FusedMatMul', 'MatMul'] },
  {
    name: 'CNN 28x28x1 conv4-pool-conv8-pool-16-(10*2), S=2',
    arch: { arch: 'cnn', filters: [4, 8], kernelSize: 3, dense: [16] },
    subclasses: 2,
    steps: 150,
    ops: ['Reshape', '_FusedConv2D', 'MaxPool', '_FusedMatMul', 'MatMul'],
  },
];

let testX = new Float32Array(0);
let testY = new Uint8Array(0);
let trainX = new Float32Array(0);
let trainY = new Int32Array(0);
const dirs: string[] = [];

before(async () => {
  await useBackend('wasm');
  const read = async (f: string) => (await readIdx(join(EXAMPLE_DIR, f))).data;
  testX = Float32Array.from((await read('t10k-images-idx3-ubyte.gz')).subarray(0, N * 784), (v) => v / 255);
  testY = Uint8Array.from((await read('t10k-labels-idx1-ubyte.gz')).subarray(0, N));
  trainX = Float32Array.from((await read('train-images-idx3-ubyte.gz')).subarray(0, TRAIN_N * 784), (v) => v / 255);
  trainY = Int32Array.from((await read('train-labels-idx1-ubyte.gz')).subarray(0, TRAIN_N));
});
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A real student: seeded glorot init, then a few hundred Adam steps of cross-entropy on the true labels. */
async function trainedSpec(c: Case): Promise<StudentSpec> {
  const S = c.subclasses;
  const model = buildStudent(c.arch, 784, [28, 28], C * S, 7);
  const method = { subclasses: S, targets: null, width: 0, variables: [], notes: {}, loss: (o: { logits: tf.Tensor2D }, _t: unknown, y: tf.Tensor2D) => crossEntropy(y, classLogits(o.logits, C, S)) };
  await trainStudent(model, { x: trainX, n: TRAIN_N, features: 784, labels: trainY, classes: C }, method, { steps: c.steps, batchSize: 64, learningRate: 3e-3, engine: 'tfjs' }, { seed: 1, progress: createProgress({ quiet: true }), label: c.name });
  const spec = toStudentSpec(model, { features: 784, featureShape: [28, 28], arch: c.arch, classes: C, subclasses: S, metadata: { 'edge-distill.method': 'test', 'edge-distill.config-hash': 'abc123' } });
  model.dispose();
  return spec;
}

function write(files: { modelJson: string; weights: Uint8Array }): string {
  const dir = tempDir('tfjs-graph');
  dirs.push(dir);
  writeFileSync(join(dir, 'model.json'), files.modelJson);
  writeFileSync(join(dir, 'weights.bin'), files.weights);
  return join(dir, 'model.json');
}

function argmax(p: Float32Array): Uint8Array {
  const pred = new Uint8Array(p.length / C);
  for (let n = 0; n < pred.length; n++) {
    for (let c = 1; c < C; c++) if (p[n * C + c]! > p[n * C + pred[n]!]!) pred[n] = c;
  }
  return pred;
}

function accuracy(p: Float32Array): number {
  return argmax(p).filter((v, i) => v === testY[i]).length / N;
}

for (const c of CASES) {
  describe(c.name, () => {
    const S = c.subclasses;
    let spec: StudentSpec;
    let fp32: { modelJson: string; weights: Uint8Array };
    let path = '';
    let model: GraphModel;
    let ref: { probs: Float32Array; logits: Float32Array };

    before(async () => {
      spec = await trainedSpec(c);
      fp32 = await exportTfjsGraph(spec);
      path = write(fp32);
      model = await loadGraphModel(fileLoadHandler(path));
      ref = forwardSpec(spec, testX, N);
    });
    after(() => model?.dispose());

    test('stock loadGraphModel loads it: names, signature order, metadata, provenance', () => {
      const outs = S > 1 ? ['probs', 'subclass_logits'] : ['probs'];
      assert.deepEqual(model.inputs.map((i) => [i.name, i.shape, i.dtype]), [['input', [-1, 784], 'float32']]);
      assert.deepEqual(model.outputs.map((o) => o.name), outs);
      assert.deepEqual(model.inputNodes, ['input']);
      assert.deepEqual(model.outputNodes, outs);
      assert.deepEqual(model.metadata, { ...spec.metadata, classes: String(C), subclasses: String(S) });
      const json = JSON.parse(fp32.modelJson);
      assert.equal(json.format, 'graph-model');
      assert.equal(json.convertedBy, `edge-distill ${TOOL_VERSION}`);
      assert.deepEqual(json.weightsManifest.map((g: { paths: string[] }) => g.paths), [['weights.bin']]);
    });

    test(`the graph is made of fused stock ops (${c.ops.join(', ')})`, () => {
      const nodes = JSON.parse(fp32.modelJson).modelTopology.node as { op: string }[];
      const ops = new Set(nodes.map((n) => n.op));
      for (const op of c.ops) assert.ok(ops.has(op), `graph has ${op}`);
      // Bias and ReLU are fused into the matmuls/convs, not separate nodes.
      for (const op of ['BiasAdd', 'Relu', 'Conv2D']) assert.ok(!ops.has(op), `graph has a separate ${op}`);
    });

    test('1,000 real test images: matches the float64 reference and the TF.js layers export within 1e-4', async (t) => {
      const graph = await tfjsGraphRuntime('wasm').load(path, { threads: 1 });
      const probs = await graph.run(testX, N);
      await graph.dispose();
      const layers = await tfjsRuntime('wasm').load(write(await exportTfjsLayers(spec)), { threads: 1 });
      const layerProbs = await layers.run(testX, N);
      await layers.dispose();
      const dRef = maxAbsDiff(probs, ref.probs);
      const dLayers = maxAbsDiff(probs, layerProbs);
      const acc = accuracy(probs);
      t.diagnostic(`max |p_graph - p_ref| ${dRef.toExponential(2)}, max |p_graph - p_layers| ${dLayers.toExponential(2)}, test accuracy ${acc.toFixed(3)}`);
      assert.ok(dRef < 1e-4, `max |p_graph - p_ref| = ${dRef}`);
      assert.ok(dLayers < 1e-4, `max |p_graph - p_layers| = ${dLayers}`);
      // Guard against a vacuous pass: a trained student is confident and far better than chance (0.1).
      assert.ok(maxAbsDiff(probs, new Float32Array(probs.length).fill(1 / C)) > 0.5, 'probabilities are all near uniform');
      assert.ok(acc > 0.5, `test accuracy ${acc}`);
      if (S > 1) {
        const y = model.execute({ input: tf.tensor2d(testX, [N, 784]) }, 'subclass_logits') as tf.Tensor;
        const dLogits = maxAbsDiff(y.dataSync(), ref.logits);
        y.dispose();
        t.diagnostic(`max |logits_graph - logits_ref| ${dLogits.toExponential(2)}`);
        assert.ok(dLogits < 1e-4, `max |logits_graph - logits_ref| = ${dLogits}`);
      }
    });

    test('batch 1 works', async () => {
      const session = await tfjsGraphRuntime('wasm').load(path, { threads: 1 });
      for (const n of [0, 1, 999]) {
        const p = await session.run(testX.slice(n * 784, (n + 1) * 784), 1);
        assert.equal(p.length, C);
        assert.ok(maxAbsDiff(p, ref.probs.subarray(n * C, (n + 1) * C)) < 1e-5, `image ${n}`);
      }
      await session.dispose();
    });

    test('is byte-deterministic: two exports are identical, fp32 and uint8', async () => {
      const again = await exportTfjsGraph(spec);
      assert.equal(again.modelJson, fp32.modelJson);
      assert.deepEqual(Buffer.from(again.weights), Buffer.from(fp32.weights));
      const [a, b] = [await exportTfjsGraph(spec, { weights: 'uint8' }), await exportTfjsGraph(spec, { weights: 'uint8' })];
      assert.equal(a.modelJson, b.modelJson);
      assert.deepEqual(Buffer.from(a.weights), Buffer.from(b.weights));
    });

    test('quantized weights load in stock TF.js, equal the quantized layers export, and stay close to fp32', async (t) => {
      // uint8 is one affine map per tensor: on these trained 10-class students its max |Δp| over 10,000
      // probabilities is 2-5e-2 (the layers export drifts identically), so uint8 is bounded on the mean and on
      // agreement of the predicted class; uint16 and float16 are bounded on the max.
      const bound = { uint8: { max: 1e-1, mean: 1e-2 }, uint16: { max: 1e-3, mean: 1e-4 }, float16: { max: 1e-2, mean: 1e-3 } } as const;
      for (const dtype of TFJS_WEIGHT_DTYPES) {
        const q = await exportTfjsGraph(spec, { weights: dtype });
        assert.equal(JSON.parse(q.modelJson).userDefinedMetadata['edge-distill.weights'], dtype);
        const graph = await tfjsGraphRuntime('wasm').load(write(q), { threads: 1 });
        const p = await graph.run(testX, N);
        await graph.dispose();
        const layers = await tfjsRuntime('wasm').load(write(await exportTfjsLayers(spec, { weights: dtype })), { threads: 1 });
        const pLayers = await layers.run(testX, N);
        await layers.dispose();
        const vsLayers = maxAbsDiff(p, pLayers);
        const max = maxAbsDiff(p, ref.probs);
        const mean = p.reduce((a, v, i) => a + Math.abs(v - ref.probs[i]!), 0) / p.length;
        const [pred, refPred] = [argmax(p), argmax(ref.probs)];
        const agree = pred.filter((v, i) => v === refPred[i]).length / N;
        t.diagnostic(`${dtype}: weights ${q.weights.length} B (fp32 ${fp32.weights.length} B); |p_q - p_ref| max ${max.toExponential(2)} mean ${mean.toExponential(2)}; same class ${(agree * 100).toFixed(1)} %; max |p_q - p_layers_q| ${vsLayers.toExponential(2)}`);
        assert.ok(vsLayers < 1e-4, `${dtype}: graph and layers exports with the same quantized weights differ by ${vsLayers}`);
        assert.ok(max < bound[dtype].max, `${dtype}: max drift ${max}`);
        assert.ok(mean < bound[dtype].mean, `${dtype}: mean drift ${mean}`);
        assert.ok(agree >= 0.98, `${dtype}: predicted class agrees on ${agree}`);
      }
    });
  });
}

// The seeded specs every exporter test shares reach the layer forms the trained students above do not: RGB input,
// an even kernel (asymmetric 'same' pads), a 'valid' conv (linear, so BiasAdd fused alone) and a pool that does
// not divide its map.
describe('seeded edge-case specs (test/specs.ts)', () => {
  for (const [name, s] of Object.entries(testSpecs())) {
    test(`${name}: probs and subclass logits match the reference`, async () => {
      const x = s.features === 784 ? testX.slice(0, 64 * 784) : uniform(rng(40), 64 * s.features, 1).map(Math.abs);
      const files = await exportTfjsGraph(s);
      const m = await loadGraphModel(fileLoadHandler(write(files)));
      const outs = m.execute({ [s.inputName]: tf.tensor2d(x, [64, s.features]) }, m.outputNodes);
      const [probs, logits] = (Array.isArray(outs) ? outs : [outs]).map((t) => t.dataSync());
      tf.dispose(outs);
      m.dispose();
      const ref = forwardSpec(s, x, 64);
      assert.ok(maxAbsDiff(probs!, ref.probs) < 1e-5, `max |p_graph - p_ref| = ${maxAbsDiff(probs!, ref.probs)}`);
      assert.equal(logits === undefined, s.subclasses === 1);
      if (logits) assert.ok(maxAbsDiff(logits, ref.logits) < 1e-4, `max |logits_graph - logits_ref| = ${maxAbsDiff(logits, ref.logits)}`);
    });
  }
});

describe('exportTfjsGraph rejects inconsistent specs', () => {
  const base: StudentSpec = {
    inputName: 'x',
    features: 4,
    layers: [{ kind: 'dense', inputs: 4, units: 2, kernel: new Float32Array(8), bias: new Float32Array(2), activation: 'linear' }],
    classes: 2,
    subclasses: 1,
    outputNames: { probs: 'probs', subclassLogits: 'subclass_logits' },
    metadata: {},
  };
  const code = async (s: StudentSpec, expected: string) =>
    assert.rejects(exportTfjsGraph(s), (e: unknown) => e instanceof EdgeDistillError && e.code === expected && e.hint.length > 0);

  test('dense input size that does not match the input', () => code({ ...base, features: 5 }, 'E_SHAPE_MISMATCH'));
  test('head that does not emit classes*subclasses logits', () => code({ ...base, subclasses: 3 }, 'E_SHAPE_MISMATCH'));
  test('dense on an image without flatten', () => code({ ...base, image: { height: 2, width: 2, channels: 1 } }, 'E_SHAPE_MISMATCH'));
  test('an output named like the input', () => code({ ...base, outputNames: { probs: 'x', subclassLogits: 'z' } }, 'E_CONFIG'));
  test('a name with an output index', () => code({ ...base, inputName: 'x:0' }, 'E_CONFIG'));
});
