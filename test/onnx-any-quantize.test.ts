// The graph-level quantizer (exporters/onnx-any-quantize.ts) on the float32 ONNX of every student architecture, read
// as a foreign model would be: Gemm heads, 1-D and 2-D convs, depthwise (grouped) convs, a residual Add. Each form
// runs on onnxruntime-node and agrees with the float32 model on 500 real Fashion-MNIST test images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../exporters/onnx.ts';
import { calibrationTensors, decodeOnnxModel, quantizeAnyOnnx, quantTargets, withOutputs } from '../exporters/onnx-any-quantize.ts';
import { minMax } from '../exporters/calibrate.ts';
import type { QuantMode } from '../exporters/quantize-mode.ts';
import { architectureSpecs, fashionImages } from './specs.ts';
import { runOfficialChecker, tempDir } from './helpers.ts';

const N = 500;
const MODES: Record<string, QuantMode> = {
  'dynamic': { kind: 'dynamic', perChannel: false, reduceRange: true },
  'dynamic-pc': { kind: 'dynamic', perChannel: true, reduceRange: true },
  'static': { kind: 'static', perChannel: false, reduceRange: true, calibration: 'minmax' },
  'static-pc': { kind: 'static', perChannel: true, reduceRange: true, calibration: 'minmax' },
  'float16': { kind: 'float16' },
};

async function run(bytes: Uint8Array, input: string, x: Float32Array, names: string[]): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  try {
    const out = await s.run({ [input]: new ort.Tensor('float32', x, [x.length / 784, 784]) }, names);
    return Object.fromEntries(names.map((k) => [k, out[k]!.data as Float32Array]));
  } finally {
    await s.release();
  }
}

test('every architecture\'s float32 ONNX, quantized as a foreign model, runs on onnxruntime and agrees with float32; each form passes the checker', async () => {
  const dir = tempDir('onnx-any-quantize');
  const x = fashionImages(N);
  for (const [name, spec] of Object.entries(architectureSpecs())) {
    const model = decodeOnnxModel(exportOnnx(spec, { producerVersion: 'test' }), name);
    const targets = quantTargets(model);
    const convs = model.graph!.node!.filter((n) => n.opType === 'Conv').length;
    assert.equal(targets.filter((t) => t.op === 'Conv').length, convs, `${name}: every Conv (depthwise too) is a target`);
    assert.ok(targets.length >= 2, `${name}: ${targets.length} targets`);
    const outputs = model.graph!.output!.map((o) => o.name!);
    const probs = spec.outputNames.probs;
    const ref = await run(exportOnnx(spec, { producerVersion: 'test' }), spec.inputName, x, outputs);
    // Static ranges from the float32 model on other real images than the ones compared.
    const cal = calibrationTensors(targets);
    const calOut = await run(withOutputs(model, cal), spec.inputName, fashionImages(N + 256).subarray(N * 784), cal);
    const ranges = new Map(cal.map((k) => [k, minMax(calOut[k]!)]));
    for (const [form, mode] of Object.entries(MODES)) {
      const bytes = quantizeAnyOnnx(model, mode, mode.kind === 'static' ? { ranges } : {});
      const file = join(dir, `${name}.${form}.onnx`);
      writeFileSync(file, bytes);
      runOfficialChecker(file);
      const q = decodeOnnxModel(bytes, file);
      assert.deepEqual(q.graph!.output!.map((o) => o.name), outputs, `${name} ${form}: outputs kept`);
      assert.deepEqual(q.graph!.input!.map((i) => i.name), model.graph!.input!.map((i) => i.name), `${name} ${form}: inputs kept`);
      const ops = new Set(q.graph!.node!.map((n) => n.opType));
      const expected = { dynamic: 'DynamicQuantizeLinear', static: 'QuantizeLinear', float16: 'Cast' }[mode.kind];
      assert.ok(ops.has(expected), `${name} ${form}: ${[...ops].join(' ')}`);
      const got = (await run(bytes, spec.inputName, x, [probs]))[probs]!;
      const r = ref[probs]!;
      const C = r.length / N;
      let agree = 0;
      let maxDiff = 0;
      for (let i = 0; i < N; i++) {
        const arg = (v: Float32Array) => v.subarray(i * C, (i + 1) * C).reduce((b, p, c, a) => (p > a[b]! ? c : b), 0);
        if (arg(got) === arg(r)) agree++;
        for (let c = 0; c < C; c++) maxDiff = Math.max(maxDiff, Math.abs(got[i * C + c]! - r[i * C + c]!));
      }
      const [minAgree, maxAbs] = mode.kind === 'float16' ? [0.998, 5e-3] : [0.95, 0.2];
      assert.ok(agree / N >= minAgree && maxDiff <= maxAbs, `${name} ${form}: agreement ${agree / N}, max |Δp| ${maxDiff}`);
    }
  }
});

test('keepFloat and only select targets by id; opset too old for a form is E_MODEL_FORMAT', () => {
  const spec = architectureSpecs().cnn!;
  const model = decodeOnnxModel(exportOnnx(spec, { producerVersion: 'test' }), 'cnn');
  const ids = quantTargets(model).map((t) => t.id);
  const count = (bytes: Uint8Array, op: string) => decodeOnnxModel(bytes, 'q').graph!.node!.filter((n) => n.opType === op).length;
  const dyn: QuantMode = { kind: 'dynamic', perChannel: true, reduceRange: true };
  assert.equal(count(quantizeAnyOnnx(model, dyn), 'DynamicQuantizeLinear'), ids.length);
  assert.equal(count(quantizeAnyOnnx(model, dyn, { keepFloat: new Set([ids[0]!]) }), 'DynamicQuantizeLinear'), ids.length - 1);
  assert.equal(count(quantizeAnyOnnx(model, dyn, { only: new Set([ids[1]!]) }), 'DynamicQuantizeLinear'), 1);
  const old = decodeOnnxModel(exportOnnx(spec, { producerVersion: 'test' }), 'cnn');
  old.opsetImport[0]!.version = 12;
  assert.throws(() => quantizeAnyOnnx(old, { kind: 'static', perChannel: true, reduceRange: true, calibration: 'minmax' }, { ranges: new Map() }), (e: Error & { code?: string }) => e.code === 'E_MODEL_FORMAT' && /opset is 12; static quantization needs opset 13/.test(e.message));
});
