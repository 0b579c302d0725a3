// ONNX export: official checker (full_check), onnxruntime-node parity with the plain-JS reference forward
// pass on real Fashion-MNIST images, determinism, dynamic batch, and the reference itself against TF.js.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOfficialChecker, maxAbsDiff } from './helpers.ts';
import { rng } from '../pipeline/util/math.ts';
import * as ort from 'onnxruntime-node';
import pkg from 'onnx-proto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { kernelDims, type LayerSpec, type StudentSpec } from '../pipeline/student/spec.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { littleEndianBytes, OnnxDataType, OnnxGraphBuilder } from '../exporters/onnx-builder.ts';
import { forwardSpec } from '../exporters/reference-forward.ts';
import { dense, fashionImages, spec, testSpecs, uniform } from './specs.ts';

const { onnx } = pkg;
const BATCH = 64;
const OPTS = { producerVersion: '0.1.0-test' };

interface Case {
  name: string;
  spec: StudentSpec;
  /** [BATCH, features] inputs. */
  inputs: () => Float32Array;
}

function cases(): Case[] {
  const fashion = (): Float32Array => fashionImages(BATCH);
  const noise = (seed: number, features: number) => (): Float32Array => uniform(rng(seed), BATCH * features, 1).map(Math.abs);
  const { mlp1, mlp5, cnn, rgb, odd } = testSpecs();
  return [
    { name: 'MLP 784-8-2, S=1', spec: mlp1, inputs: fashion },
    { name: 'MLP 784-16-(2*5), S=5', spec: mlp5, inputs: fashion },
    { name: 'CNN 28x28x1, C=3 S=4', spec: cnn, inputs: fashion },
    { name: 'CNN 8x8x3, S=1', spec: rgb, inputs: noise(40, rgb.features) },
    { name: 'CNN 6x10x3, even/valid conv, S=3', spec: odd, inputs: noise(50, odd.features) },
  ];
}

async function runOrt(bytes: Uint8Array, s: StudentSpec, x: Float32Array, batch: number): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  try {
    const feeds = { [s.inputName]: new ort.Tensor('float32', x, [batch, s.features]) };
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

let workDir = '';
before(() => {
  workDir = mkdtempSync(join(tmpdir(), 'edge-distill-onnx-'));
});
after(() => rmSync(workDir, { recursive: true, force: true }));

for (const c of cases()) {
  describe(c.name, () => {
    const { spec: s } = c;
    const C = s.classes;
    const S = s.subclasses;
    const bytes = exportOnnx(s, OPTS);

    test('passes the official ONNX checker with full_check', () => {
      const file = join(workDir, `${c.name.replace(/[^a-z0-9]+/gi, '_')}.onnx`);
      writeFileSync(file, bytes);
      runOfficialChecker(file);
    });

    test('is deterministic: two exports are byte-identical', () => {
      assert.deepEqual(exportOnnx(s, OPTS), bytes);
    });

    test('declares IR 8, opset 17, dynamic batch, the right outputs and metadata', () => {
      const model = onnx.ModelProto.decode(bytes);
      assert.equal(Number(model.irVersion), 8);
      assert.deepEqual(model.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', 17]]);
      assert.equal(model.producerName, 'edge-distill');
      assert.equal(model.producerVersion, OPTS.producerVersion);
      const dims = (v: pkg.onnx.IValueInfoProto): (string | number)[] =>
        v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
      const graph = model.graph!;
      assert.deepEqual(graph.input!.map((v) => [v.name, dims(v)]), [[s.inputName, ['batch', s.features]]]);
      const outputs = [['probs', ['batch', C]]];
      if (S > 1) outputs.push(['subclass_logits', ['batch', C * S]]);
      assert.deepEqual(graph.output!.map((v) => [v.name, dims(v)]), outputs);
      const meta = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
      assert.deepEqual(meta, { ...s.metadata, 'edge-distill.classes': String(C), 'edge-distill.subclasses': String(S) });
    });

    test('onnxruntime-node matches the reference forward pass (batch 64, then batch 1)', async () => {
      const x = c.inputs();
      const ref = forwardSpec(s, x, BATCH);
      const out = await runOrt(bytes, s, x, BATCH);
      assert.deepEqual(Object.keys(out).sort(), S > 1 ? ['probs', 'subclass_logits'] : ['probs']);
      const probs = out['probs']!;
      assert.deepEqual(probs.dims, [BATCH, C]);
      const p = probs.data as Float32Array;
      const diff = maxAbsDiff(p, ref.probs);
      assert.ok(diff < 1e-5, `max |probs_ort - probs_ref| = ${diff}`);
      for (let n = 0; n < BATCH; n++) {
        const sum = p.subarray(n * C, (n + 1) * C).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${n} sums to ${sum}`);
      }
      // Guard against a vacuous pass: the students must not be near-uniform on these inputs.
      assert.ok(maxAbsDiff(p, new Float32Array(p.length).fill(1 / C)) > 0.05, 'probabilities are all near uniform');
      if (S > 1) {
        const logits = out['subclass_logits']!;
        assert.deepEqual(logits.dims, [BATCH, C * S]);
        const d = maxAbsDiff(logits.data as Float32Array, ref.logits);
        assert.ok(d < 1e-4, `max |logits_ort - logits_ref| = ${d}`);
      }
      // Same model, batch 1: the batch dimension is symbolic.
      const one = await runOrt(bytes, s, x.subarray(0, s.features), 1);
      assert.deepEqual(one['probs']!.dims, [1, C]);
      assert.ok(maxAbsDiff(one['probs']!.data as Float32Array, ref.probs.subarray(0, C)) < 1e-5);
    });
  });
}

describe('reference forward pass', () => {
  test('agrees with TF.js layers (cpu backend) on the same specs', async () => {
    tf.env().set('IS_TEST', true); // silences the "install tfjs-node" banner
    await tf.setBackend('cpu');
    for (const c of cases()) {
      const s = c.spec;
      const layers: tfl.layers.Layer[] = [];
      if (s.image) layers.push(tfl.layers.reshape({ inputShape: [s.features], targetShape: [s.image.height, s.image.width, s.image.channels] }));
      for (const l of s.layers) {
        const first = layers.length === 0 ? { inputShape: [s.features] } : {};
        if (l.kind === 'dense') {
          const d = tfl.layers.dense({ ...first, units: l.units, activation: l.activation });
          layers.push(d);
        } else if (l.kind === 'conv2d') {
          layers.push(tfl.layers.conv2d({ kernelSize: l.kernelSize, filters: l.filters, padding: l.padding, activation: l.activation }));
        } else if (l.kind === 'maxpool2d') {
          layers.push(tfl.layers.maxPooling2d({ poolSize: l.poolSize }));
        } else {
          layers.push(tfl.layers.flatten());
        }
      }
      const model = tfl.sequential({ layers });
      const weights = s.layers.flatMap((l): tf.Tensor[] => {
        if (l.kind === 'dense') return [tf.tensor2d(l.kernel, [l.inputs, l.units]), tf.tensor1d(l.bias)];
        if (l.kind === 'conv2d') return [tf.tensor4d(l.kernel, [...kernelDims(l), l.inChannels, l.filters]), tf.tensor1d(l.bias)];
        return [];
      });
      model.setWeights(weights);
      const x = c.inputs();
      const y = model.predict(tf.tensor2d(x, [BATCH, s.features])) as tf.Tensor;
      const tfLogits = y.dataSync();
      const ref = forwardSpec(s, x, BATCH);
      const d = maxAbsDiff(tfLogits, ref.logits);
      assert.ok(d < 1e-4, `${c.name}: max |logits_tfjs - logits_ref| = ${d}`);
      tf.dispose([y, ...weights]);
      model.dispose();
    }
  });

  test('sums each class block of the subclass softmax', () => {
    // One example, identity-like dense: logits = x. C=2, S=2: probs = [e0+e1, e2+e3] / sum.
    const s = spec({
      features: 4,
      layers: [{ kind: 'dense', inputs: 4, units: 4, kernel: Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]), bias: new Float32Array(4), activation: 'linear' }],
      classes: 2,
      subclasses: 2,
    });
    const z = [0.5, -1, 2, 0];
    const e = z.map(Math.exp);
    const total = e.reduce((a, b) => a + b);
    const { probs, logits } = forwardSpec(s, Float32Array.from(z), 1);
    assert.ok(maxAbsDiff(probs, [(e[0]! + e[1]!) / total, (e[2]! + e[3]!) / total]) < 1e-7);
    assert.deepEqual([...logits], z);
  });
});

describe('exportOnnx rejects inconsistent specs', () => {
  const r = rng(9);
  const base = spec({ features: 784, layers: [dense(r, 784, 8, 'relu'), dense(r, 8, 2, 'linear')], classes: 2, subclasses: 1 });
  const code = (f: () => unknown, expected: string) =>
    assert.throws(f, (e: unknown) => e instanceof EdgeDistillError && e.code === expected && e.hint.length > 0);

  test('dense input size that does not match the previous layer', () => {
    code(() => exportOnnx({ ...base, features: 100 }, OPTS), 'E_SHAPE_MISMATCH');
  });
  test('head that does not emit classes*subclasses logits', () => {
    code(() => exportOnnx({ ...base, subclasses: 3 }, OPTS), 'E_SHAPE_MISMATCH');
  });
  test('dense on an image without flatten', () => {
    code(() => exportOnnx({ ...base, image: { height: 28, width: 28, channels: 1 } }, OPTS), 'E_SHAPE_MISMATCH');
  });
  test('an output named like the input', () => {
    code(() => exportOnnx({ ...base, outputNames: { probs: 'pixels', subclassLogits: 'z' } }, OPTS), 'E_CONFIG');
  });
  test('metadata that contradicts the reserved keys', () => {
    code(() => exportOnnx({ ...base, metadata: { 'edge-distill.classes': '7' } }, OPTS), 'E_CONFIG');
  });
});

describe('OnnxGraphBuilder typed initializers', () => {
  test('writes each data type as little-endian raw_data with its TensorProto type', () => {
    const g = new OnnxGraphBuilder({ graphName: 'g', producerVersion: OPTS.producerVersion });
    const cases: [string, OnnxDataType, number[], number[]][] = [
      ['f32', OnnxDataType.FLOAT, [2], [1.5, -2]],
      ['f16', OnnxDataType.FLOAT16, [2], [0x3c00, 0xc000]], // binary16 bits of 1 and -2
      ['i8', OnnxDataType.INT8, [3], [-128, 0, 127]],
      ['u8', OnnxDataType.UINT8, [], [255]],
      ['i32', OnnxDataType.INT32, [2], [-(2 ** 31), 2 ** 31 - 1]],
      ['i64', OnnxDataType.INT64, [1, 2], [-1, 2 ** 40]],
    ];
    for (const [name, type, dims, values] of cases) g.addTypedInitializer(name, dims, type, littleEndianBytes(type, values));
    g.addInput('x', [1]);
    g.addNode({ opType: 'Identity', inputs: ['x'], outputs: ['y'] });
    g.addOutput('y', [1]);
    const inits = onnx.ModelProto.decode(g.encode()).graph!.initializer!;
    assert.deepEqual(inits.map((t) => [t.name, t.dataType, t.dims!.map(Number)]), cases.map(([n, t, d]) => [n, t, d]));
    const raw = (name: string): Uint8Array => inits.find((t) => t.name === name)!.rawData!;
    const view = (name: string): DataView => new DataView(raw(name).buffer, raw(name).byteOffset, raw(name).byteLength);
    assert.deepEqual([view('f32').getFloat32(0, true), view('f32').getFloat32(4, true)], [1.5, -2]);
    assert.deepEqual([...raw('f16')], [0x00, 0x3c, 0x00, 0xc0]);
    assert.deepEqual([...raw('i8')], [0x80, 0x00, 0x7f]);
    assert.deepEqual([...raw('u8')], [255]);
    assert.deepEqual([...raw('i32')], [0x00, 0x00, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f]);
    assert.deepEqual([view('i64').getBigInt64(0, true), view('i64').getBigInt64(8, true)], [-1n, 2n ** 40n]);
  });

  test('rejects raw bytes that do not fill the dims', () => {
    const g = new OnnxGraphBuilder({ graphName: 'g', producerVersion: OPTS.producerVersion });
    assert.throws(() => g.addTypedInitializer('w', [2, 2], OnnxDataType.INT32, new Uint8Array(12)), /need 16 bytes, got 12/);
  });
});
