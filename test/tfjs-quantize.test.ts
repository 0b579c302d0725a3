// TF.js weight quantization: float16 bits against known values, and real students exported with uint8 / uint16 /
// float16 weights, loaded by stock TF.js, matching their own dequantized weights and the fp32 predictions.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { distillExample, tempDir, EXAMPLE_DIR } from './helpers.ts';
import { loadStudentCheckpoint } from '../pipeline/distill/student-checkpoint.ts';
import { exportTfjsLayers } from '../exporters/tfjs-layers.ts';
import { fileLoadHandler } from '../exporters/tfjs-io.ts';
import { float32ToFloat16Bits, TFJS_WEIGHT_DTYPES } from '../exporters/tfjs-quantize.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { tf, useBackend } from '../pipeline/util/tfjs.ts';
import type { StudentSpec } from '../pipeline/student/spec.ts';

test('float32 -> float16 bits: exact values, rounding to nearest even, overflow and underflow', () => {
  const cases: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-Infinity, 0xfc00],
    [0, 0x0000], [2 ** -24, 0x0001], [2 ** -14, 0x0400], [2 ** -25, 0x0000], [0.1, 0x2e66], [1 / 3, 0x3555],
    [1 + 2 ** -11, 0x3c00], // a tie: rounds to the even mantissa (down)
    [1 + 3 * 2 ** -11, 0x3c02], // a tie: rounds to the even mantissa (up)
  ];
  for (const [v, bits] of cases) assert.equal(float32ToFloat16Bits(v), bits, `${v} -> 0x${float32ToFloat16Bits(v).toString(16)}, want 0x${bits.toString(16)}`);
  assert.equal(float32ToFloat16Bits(NaN) & 0x7c00, 0x7c00);
});

let spec: StudentSpec;
let x: Float32Array;
const N = 1000;

before(async () => {
  const out = distillExample('tfjs-quant', ['--steps', '300', '--methods', 'lelp', '--hidden', '32']);
  spec = loadStudentCheckpoint(join(out, 'students', 'lelp')).spec;
  const { data } = await readIdx(join(EXAMPLE_DIR, 't10k-images-idx3-ubyte.gz'));
  x = Float32Array.from(data.subarray(0, N * 784), (v) => v / 255);
  await useBackend('wasm');
});

async function load(files: { modelJson: string; weights: Uint8Array }): Promise<tfl.LayersModel> {
  const dir = tempDir('tfjs-q');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), files.modelJson);
  writeFileSync(join(dir, 'weights.bin'), files.weights);
  return tfl.loadLayersModel(fileLoadHandler(join(dir, 'model.json')));
}

function probs(model: tfl.LayersModel): Float32Array {
  return tf.tidy(() => {
    const y = model.predict(tf.tensor2d(x, [N, 784]));
    return (Array.isArray(y) ? y[0]! : y).dataSync() as Float32Array;
  });
}

test('quantized TF.js weights load in stock TF.js, equal their own dequantization, and stay close to fp32', async (t) => {
  const fp32 = await exportTfjsLayers(spec);
  const ref = probs(await load(fp32));
  const tolerance = { uint8: 2e-2, uint16: 1e-4, float16: 1e-3 } as const;
  for (const dtype of TFJS_WEIGHT_DTYPES) {
    const q = await exportTfjsLayers(spec, { weights: dtype });
    const manifest = JSON.parse(q.modelJson).weightsManifest[0].weights as tf.io.WeightsManifestEntry[];
    const model = await load(q);
    // Every float tensor carries its quantization; what TF.js loaded is exactly q*scale+min (or the half value).
    const loaded = new Map(model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
    let off = 0;
    const bytesPer = dtype === 'uint8' ? 1 : 2;
    for (const m of manifest) {
      assert.equal(m.quantization?.dtype, dtype, m.name);
      const count = m.shape.reduce((a, b) => a * b, 1);
      const raw = q.weights.slice(off, off + count * bytesPer);
      off += count * bytesPer;
      const want = dtype === 'float16'
        ? Array.from(new Uint16Array(raw.buffer), halfToFloat)
        : Array.from(dtype === 'uint8' ? raw : new Uint16Array(raw.buffer), (v) => Math.fround(v * m.quantization!.scale! + m.quantization!.min!));
      const got = loaded.get(m.name)!;
      assert.ok(got, `weight ${m.name} loaded`);
      let maxDiff = 0;
      for (let i = 0; i < count; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
      assert.ok(maxDiff <= 1e-6, `${dtype} ${m.name}: loaded weights differ from their dequantization by ${maxDiff}`);
    }
    assert.equal(off, q.weights.length, 'weights.bin holds exactly the manifest');
    const p = probs(model);
    let drift = 0;
    for (let i = 0; i < p.length; i++) drift = Math.max(drift, Math.abs(p[i]! - ref[i]!));
    const ratio = q.weights.length / fp32.weights.length;
    t.diagnostic(`${dtype}: weights ${q.weights.length} B (${ratio.toFixed(2)}x fp32), max |Δp| vs fp32 ${drift.toExponential(2)}`);
    assert.ok(drift <= tolerance[dtype], `${dtype}: prediction drift ${drift}`);
    assert.ok(Math.abs(ratio - bytesPer / 4) < 0.01, `${dtype}: size ratio ${ratio}`);
    model.dispose();
  }
});

/** IEEE half -> float, independent of the exporter's conversion. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
