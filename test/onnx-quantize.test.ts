// Quantized ONNX export on real students: an MLP and a CNN trained by the CLI, every quantization mode through
// the official checker, onnxruntime-node and onnxruntime-web (wasm, same process) on real Fashion-MNIST test
// images, against the fp32 reference; file size, metadata, determinism; the quantization math on reference numbers.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import pkg from 'onnx-proto';
import { distillExample, EXAMPLE_DIR, runOfficialChecker, tempDir, maxAbsDiff } from './helpers.ts';
import { loadStudentCheckpoint } from '../pipeline/distill/student-checkpoint.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import type { StudentSpec } from '../pipeline/student/spec.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { forwardSpec } from '../exporters/reference-forward.ts';
import {
  calibrate,
  describeQuantMode,
  exportQuantizedOnnx,
  float16Bits,
  ONNX_METADATA_QUANTIZATION,
  quantizeWeights,
  roundHalfEven,
  uint8ActivationParams,
  type Calibration,
  type QuantMode,
} from '../exporters/onnx-quantize.ts';

const { onnx } = pkg;
const OPTS = { producerVersion: '0.1.0-test' };
/** Test images scored per model, and training images the static modes calibrate on. */
const TEST_N = 2000;
const CALIBRATION_N = 500;

const MODES: QuantMode[] = [
  { kind: 'float16' },
  { kind: 'dynamic', perChannel: false, reduceRange: true },
  { kind: 'dynamic', perChannel: true, reduceRange: true },
  { kind: 'static', perChannel: false, reduceRange: true, calibration: 'minmax' },
  { kind: 'static', perChannel: true, reduceRange: true, calibration: 'percentile' },
  { kind: 'static', perChannel: true, reduceRange: false, calibration: 'minmax' },
];

type Arch = 'mlp' | 'cnn';
interface Student {
  spec: StudentSpec;
  fp32Size: number;
  /** Predicted class of the fp32 reference forward pass on the test images. */
  refPred: Uint8Array;
  refAccuracy: number;
}

let workDir = '';
const distilled: string[] = [];
const students = {} as Record<Arch, Student>;
let testX = new Float32Array(0);
let testY = new Uint8Array(0);
let calibrationX = new Float32Array(0);
const calibrations = new Map<string, Calibration>();
const summary: string[] = [];

before(async () => {
  workDir = tempDir('quantize');
  // distillExample shares one teacher cache with the other test files, so the teacher pass runs once.
  const runs: Record<Arch, string[]> = {
    mlp: ['--steps', '300', '--hidden', '64'],
    cnn: ['--arch', 'cnn', '--steps', '100'],
  };
  const images = await readIdx(join(EXAMPLE_DIR, 't10k-images-idx3-ubyte.gz'));
  const labels = await readIdx(join(EXAMPLE_DIR, 't10k-labels-idx1-ubyte.gz'));
  const train = await readIdx(join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz'));
  testX = Float32Array.from(images.data.subarray(0, TEST_N * 784), (v) => v / 255);
  testY = Uint8Array.from(labels.data.subarray(0, TEST_N), (v) => v % 2); // the example's labelMap: even -> 0, odd -> 1
  calibrationX = Float32Array.from(train.data.subarray(0, CALIBRATION_N * 784), (v) => v / 255);
  for (const arch of ['mlp', 'cnn'] as const) {
    const out = distillExample(`quantize-${arch}`, ['--methods', 'kd', ...runs[arch]]);
    distilled.push(out);
    const { spec } = loadStudentCheckpoint(join(out, 'students', 'kd'));
    const refPred = argmax(forwardSpec(spec, testX, TEST_N).probs, spec.classes);
    students[arch] = { spec, fp32Size: exportOnnx(spec, OPTS).length, refPred, refAccuracy: accuracy(refPred) };
  }
});
after(() => {
  for (const dir of [workDir, ...distilled]) if (dir) rmSync(dir, { recursive: true, force: true });
});

function argmax(p: Float32Array, C: number): Uint8Array {
  const pred = new Uint8Array(p.length / C);
  for (let n = 0; n < pred.length; n++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (p[n * C + c]! > p[n * C + best]!) best = c;
    pred[n] = best;
  }
  return pred;
}

function agreement(a: Uint8Array, b: Uint8Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

function accuracy(pred: Uint8Array): number {
  return agreement(pred, testY);
}

function calibrationFor(arch: Arch, mode: QuantMode): Calibration | undefined {
  if (mode.kind !== 'static') return undefined;
  const key = `${arch}/${mode.calibration}/${mode.percentile ?? ''}`;
  if (!calibrations.has(key)) {
    calibrations.set(key, calibrate(students[arch].spec, calibrationX, CALIBRATION_N, mode.calibration, mode.percentile));
  }
  return calibrations.get(key)!;
}

function label(mode: QuantMode): string {
  if (mode.kind === 'float16') return 'float16';
  const parts = [mode.kind, mode.perChannel ? 'per-channel' : 'per-tensor', mode.reduceRange ? '7-bit' : '8-bit'];
  if (mode.kind === 'static') parts.push(mode.calibration);
  return parts.join(' ');
}

const pct = (v: number): string => `${(100 * v).toFixed(2)} %`;

async function predictNode(bytes: Uint8Array, s: StudentSpec): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const out = await session.run({ [s.inputName]: new ort.Tensor('float32', testX, [TEST_N, s.features]) });
    return out[s.outputNames.probs]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

async function predictWeb(bytes: Uint8Array, s: StudentSpec): Promise<Float32Array> {
  // Named provider: with onnxruntime-node loaded in the same process, an unnamed one would run natively.
  const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const out = await session.run({ [s.inputName]: new ortWeb.Tensor('float32', testX, [TEST_N, s.features]) });
    return out[s.outputNames.probs]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

const dimsOf = (v: pkg.onnx.IValueInfoProto): (string | number)[] =>
  v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));

for (const arch of ['mlp', 'cnn'] as const) {
  describe(`quantized ${arch.toUpperCase()} student`, () => {
    for (const mode of MODES) {
      describe(label(mode), () => {
        const int8 = mode.kind !== 'float16';
        let bytes: Uint8Array = new Uint8Array(0);
        let nodePred: Uint8Array = new Uint8Array(0);
        let nodeProbs: Float32Array = new Float32Array(0);
        const row: string[] = [arch, label(mode)];

        before(() => {
          bytes = exportQuantizedOnnx(students[arch].spec, mode, { ...OPTS, calibration: calibrationFor(arch, mode) });
        });

        test('passes the official ONNX checker with full_check', () => {
          const file = join(workDir, `${arch}-${label(mode).replace(/[^a-z0-9]+/gi, '_')}.onnx`);
          writeFileSync(file, bytes);
          runOfficialChecker(file);
        });

        test('keeps the fp32 interface, records the mode, and is byte-identical when exported twice', () => {
          const s = students[arch].spec;
          assert.deepEqual(exportQuantizedOnnx(s, mode, { ...OPTS, calibration: calibrationFor(arch, mode) }), bytes);
          const model = onnx.ModelProto.decode(bytes);
          const fp32 = onnx.ModelProto.decode(exportOnnx(s, OPTS));
          assert.deepEqual(model.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', 17]]);
          assert.deepEqual(model.graph!.input!.map((v) => [v.name, dimsOf(v)]), fp32.graph!.input!.map((v) => [v.name, dimsOf(v)]));
          assert.deepEqual(model.graph!.output!.map((v) => [v.name, dimsOf(v)]), fp32.graph!.output!.map((v) => [v.name, dimsOf(v)]));
          const meta = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
          assert.equal(meta[ONNX_METADATA_QUANTIZATION], describeQuantMode(mode));
          assert.deepEqual(JSON.parse(meta[ONNX_METADATA_QUANTIZATION]!).kind, mode.kind);
          for (const [key, value] of Object.entries(s.metadata)) assert.equal(meta[key], value);
        });

        test('stores its weights quantized (int8 within ±qmax, or float16)', () => {
          const inits = onnx.ModelProto.decode(bytes).graph!.initializer!;
          const kernels = inits.filter((t) => /^\/layers\.\d+\/kernel_(quantized|float16)$/.test(t.name!));
          const weighted = students[arch].spec.layers.filter((l) => l.kind === 'dense' || l.kind === 'conv2d').length;
          assert.equal(kernels.length, weighted);
          assert.ok(!inits.some((t) => /\/kernel$/.test(t.name!)), 'no float32 kernel left');
          for (const t of kernels) {
            if (!int8) {
              assert.equal(t.dataType, 10, `${t.name} is float16`);
              continue;
            }
            assert.equal(t.dataType, 3, `${t.name} is int8`);
            const q = new Int8Array(t.rawData!.buffer, t.rawData!.byteOffset, t.rawData!.byteLength);
            const qmax = mode.reduceRange ? 63 : 127;
            const top = q.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
            assert.ok(top <= qmax && top >= qmax - 1, `${t.name}: max |q| = ${top}, expected ${qmax} (the largest weight sets the scale)`);
          }
        });

        test('onnxruntime-node agrees with the fp32 reference on 2,000 test images', async (t) => {
          const st = students[arch];
          nodeProbs = await predictNode(bytes, st.spec);
          nodePred = argmax(nodeProbs, st.spec.classes);
          const agree = agreement(nodePred, st.refPred);
          const acc = accuracy(nodePred);
          const ratio = bytes.length / st.fp32Size;
          t.diagnostic(`size ${bytes.length} B = ${ratio.toFixed(3)}x fp32; accuracy ${pct(acc)} (fp32 ${pct(st.refAccuracy)}); agreement with fp32 ${pct(agree)}`);
          row.push(ratio.toFixed(3), pct(acc), pct(st.refAccuracy), pct(agree));
          assert.ok(agree >= 0.98, `only ${pct(agree)} of predictions agree with the fp32 reference`);
          assert.ok(st.refAccuracy - acc <= 0.01, `accuracy fell from ${pct(st.refAccuracy)} to ${pct(acc)}`);
        });

        test('onnxruntime-web (wasm, same process) agrees with onnxruntime-node', async (t) => {
          const st = students[arch];
          assert.equal(nodePred.length, TEST_N, 'the onnxruntime-node test ran first');
          const webProbs = await predictWeb(bytes, st.spec);
          const agree = agreement(argmax(webProbs, st.spec.classes), nodePred);
          const diff = maxAbsDiff(webProbs, nodeProbs);
          t.diagnostic(`node/web class agreement ${pct(agree)}; max |probs_node - probs_web| = ${diff.toExponential(2)}`);
          row.push(pct(agree), diff.toExponential(1));
          summary.push(`| ${row.join(' | ')} |`);
          // Full-range int8 weights saturate onnxruntime-node's u8×s8 kernels (AVX2 without VNNI); 7-bit ones cannot.
          if (mode.kind === 'float16' || mode.reduceRange) assert.ok(agree >= 0.999, `node and web agree on only ${pct(agree)}`);
        });

        if (arch === 'mlp') {
          test('is small: int8 <= 0.35x, float16 <= 0.55x the fp32 export', () => {
            const ratio = bytes.length / students[arch].fp32Size;
            assert.ok(ratio <= (int8 ? 0.35 : 0.55), `${ratio.toFixed(3)}x the fp32 export`);
          });
        }
      });
    }
  });
}

describe('summary', () => {
  test('per mode: size ratio, accuracy, agreement', (t) => {
    t.diagnostic('| student | mode | size vs fp32 | accuracy | fp32 accuracy | agrees with fp32 | node/web agree | max probs diff |');
    for (const line of summary) t.diagnostic(line);
  });
});

describe('quantization math', () => {
  test('roundHalfEven rounds ties to even, like QuantizeLinear', () => {
    assert.deepEqual([2.5, 3.5, -2.5, -3.5, 0.5, 1.5, 2.4, -2.6].map(roundHalfEven), [2, 4, -2, -4, 0, 2, 2, -3]);
  });

  test('uint8ActivationParams matches the DynamicQuantizeLinear spec example', () => {
    // ONNX DynamicQuantizeLinear example: x in [-3, 2] -> scale 5/255, zero point 153.
    assert.deepEqual(uint8ActivationParams({ min: -3, max: 2 }), { scale: Math.fround(5 / 255), zeroPoint: 153 });
    // After a ReLU the range starts at 0, so the zero point is 0; an all-positive range is widened to 0.
    assert.deepEqual(uint8ActivationParams({ min: 0, max: 2.55 }), { scale: Math.fround(0.01), zeroPoint: 0 });
    assert.deepEqual(uint8ActivationParams({ min: 1, max: 2.55 }), { scale: Math.fround(0.01), zeroPoint: 0 });
    assert.deepEqual(uint8ActivationParams({ min: 0, max: 0 }), { scale: 1, zeroPoint: 0 });
  });

  test('quantizeWeights: symmetric, per-tensor and per-channel, 7-bit with reduceRange', () => {
    const w = Float32Array.from([0.3, -2, 0.9, 0.25, 0.1, -0.7]); // [3 inputs, 2 units] row-major
    const channelOf = (i: number): number => i % 2;
    const tensor = quantizeWeights(w, 2, channelOf, { perChannel: false, reduceRange: false });
    assert.deepEqual([...tensor.scales], [Math.fround(2 / 127)]);
    assert.deepEqual([...tensor.q], [19, -127, 57, 16, 6, -44]); // w · 127 / 2, rounded
    const channel = quantizeWeights(w, 2, channelOf, { perChannel: true, reduceRange: true });
    assert.deepEqual([...channel.scales], [Math.fround(Math.fround(0.9) / 63), Math.fround(2 / 63)]);
    assert.deepEqual([...channel.q], [21, -63, 63, 8, 7, -22]); // column 0: w · 63 / 0.9, column 1: w · 63 / 2
  });

  test('float16Bits: reference values, and every finite half round-trips', () => {
    const cases: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1 / 3, 0x3555], [0.1, 0x2e66],
      [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -26, 0x0001], [2 ** -14, 0x0400], [-0, 0x8000], [Infinity, 0x7c00],
    ];
    for (const [v, bits] of cases) assert.equal(float16Bits(v), bits, `float16Bits(${v})`);
    const decode = (h: number): number => {
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      const mag = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
      return h & 0x8000 ? -mag : mag;
    };
    for (let h = 0; h < 0x10000; h++) {
      if (((h >> 10) & 0x1f) === 0x1f) continue; // Infinity and NaN
      assert.equal(float16Bits(decode(h)), h);
    }
  });

  test('calibrate: min/max and numpy-style percentiles at each dense input', () => {
    // 100 examples of one feature, values 1..100; dense [1 -> 2] = relu([x, -x]) then dense [2 -> 2].
    const spec: StudentSpec = {
      inputName: 'x',
      features: 1,
      layers: [
        { kind: 'dense', inputs: 1, units: 2, kernel: Float32Array.of(1, -1), bias: new Float32Array(2), activation: 'relu' },
        { kind: 'dense', inputs: 2, units: 2, kernel: Float32Array.of(1, 0, 0, 1), bias: new Float32Array(2), activation: 'linear' },
      ],
      classes: 2,
      subclasses: 1,
      outputNames: { probs: 'probs', subclassLogits: 'subclass_logits' },
      metadata: {},
    };
    const x = Float32Array.from({ length: 100 }, (_, i) => i + 1);
    const mm = calibrate(spec, x, 100, 'minmax');
    assert.deepEqual(mm, { method: 'minmax', examples: 100, layerInputs: [{ min: 1, max: 100 }, { min: 0, max: 100 }] });
    // numpy.percentile(range(1, 101), [1, 99]) = [1.99, 99.01]
    const pc = calibrate(spec, x, 100, 'percentile', 99);
    assert.equal(pc.percentile, 99);
    assert.ok(Math.abs(pc.layerInputs[0]!.min - 1.99) < 1e-9 && Math.abs(pc.layerInputs[0]!.max - 99.01) < 1e-9, JSON.stringify(pc.layerInputs[0]));
  });

  test('static mode without a matching calibration is a config error', () => {
    const { spec } = students.mlp;
    const isConfig = (e: unknown): boolean => e instanceof EdgeDistillError && e.code === 'E_CONFIG' && e.hint.length > 0;
    const mode: QuantMode = { kind: 'static', perChannel: true, reduceRange: true, calibration: 'percentile' };
    assert.throws(() => exportQuantizedOnnx(spec, mode, OPTS), isConfig);
    const minmax = calibrate(spec, calibrationX.subarray(0, 784 * 10), 10, 'minmax');
    assert.throws(() => exportQuantizedOnnx(spec, mode, { ...OPTS, calibration: minmax }), isConfig);
    assert.throws(() => exportQuantizedOnnx(students.cnn.spec, { ...mode, calibration: 'minmax' }, { ...OPTS, calibration: minmax }), isConfig);
    assert.throws(() => exportQuantizedOnnx(spec, { kind: 'int4' } as unknown as QuantMode, OPTS), isConfig);
  });
});
