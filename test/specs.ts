// Student specs with seeded weights shared by the exporter tests (ONNX, TF.js graph, golden summaries), and the
// real Fashion-MNIST test images they run on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { rng } from '../pipeline/util/math.ts';
import type { LayerSpec, StudentSpec } from '../pipeline/student/spec.ts';

export const FASHION_TEST_IMAGES = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';

/** Glorot-uniform-like weights so that logits have a useful spread. */
export function uniform(rng: () => number, n: number, limit: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng() * 2 - 1) * limit);
}

export function dense(rng: () => number, inputs: number, units: number, activation: 'relu' | 'linear'): LayerSpec {
  const kernel = uniform(rng, inputs * units, Math.sqrt(6 / (inputs + units)));
  return { kind: 'dense', kernel, inputs, units, bias: uniform(rng, units, 0.1), activation };
}

export function conv(
  rng: () => number,
  kernelSize: number,
  inChannels: number,
  filters: number,
  padding: 'same' | 'valid',
  activation: 'relu' | 'linear',
): LayerSpec {
  const fan = kernelSize * kernelSize;
  const kernel = uniform(rng, fan * inChannels * filters, Math.sqrt(6 / (fan * (inChannels + filters))));
  return { kind: 'conv2d', kernel, kernelSize, inChannels, filters, bias: uniform(rng, filters, 0.1), padding, activation };
}

export function spec(partial: Pick<StudentSpec, 'features' | 'layers' | 'classes' | 'subclasses'> & Partial<StudentSpec>): StudentSpec {
  return {
    inputName: 'pixels',
    outputNames: { probs: 'probs', subclassLogits: 'subclass_logits' },
    metadata: { 'edge-distill.method': 'test', 'edge-distill.config-hash': 'abc123' },
    ...partial,
  };
}

/** First `n` Fashion-MNIST test images, scaled to [0, 1]: gzip IDX, 16-byte header, then uint8 pixels. */
export function fashionImages(n: number): Float32Array {
  const raw = gunzipSync(readFileSync(FASHION_TEST_IMAGES));
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  assert.equal(view.getUint32(0), 2051, 'IDX images magic');
  const [count, rows, cols] = [view.getUint32(4), view.getUint32(8), view.getUint32(12)];
  assert.ok(count >= n && rows === 28 && cols === 28);
  return Float32Array.from(raw.subarray(16, 16 + n * 784), (v) => v / 255);
}

/**
 * The exporter test students: MLPs with S=1 and S=5, a CNN on 28x28x1 (C=3, S=4), an RGB CNN and an awkward CNN
 * (even kernel with asymmetric 'same' pads, a 'valid' conv, a pool that does not divide the map).
 */
export function testSpecs(): Record<'mlp1' | 'mlp5' | 'cnn' | 'rgb' | 'odd', StudentSpec> {
  let r = rng(1);
  const mlp1 = spec({ features: 784, layers: [dense(r, 784, 8, 'relu'), dense(r, 8, 2, 'linear')], classes: 2, subclasses: 1 });
  r = rng(2);
  const mlp5 = spec({ features: 784, layers: [dense(r, 784, 16, 'relu'), dense(r, 16, 10, 'linear')], classes: 2, subclasses: 5 });
  r = rng(3);
  const cnn = spec({
    features: 784,
    image: { height: 28, width: 28, channels: 1 },
    layers: [
      conv(r, 3, 1, 4, 'same', 'relu'),
      { kind: 'maxpool2d', poolSize: 2 },
      conv(r, 3, 4, 8, 'same', 'relu'),
      { kind: 'maxpool2d', poolSize: 2 },
      { kind: 'flatten' },
      dense(r, 7 * 7 * 8, 16, 'relu'),
      dense(r, 16, 12, 'linear'),
    ],
    classes: 3,
    subclasses: 4,
  });
  r = rng(4);
  const rgb = spec({
    features: 8 * 8 * 3,
    image: { height: 8, width: 8, channels: 3 },
    layers: [
      conv(r, 3, 3, 5, 'same', 'relu'),
      { kind: 'maxpool2d', poolSize: 2 },
      { kind: 'flatten' },
      dense(r, 4 * 4 * 5, 4, 'linear'),
    ],
    classes: 4,
    subclasses: 1,
  });
  // Non-square, even kernel (asymmetric 'same' pads), 'valid' conv and a pool that does not divide the map.
  r = rng(5);
  const odd = spec({
    features: 6 * 10 * 3,
    image: { height: 6, width: 10, channels: 3 },
    layers: [
      conv(r, 2, 3, 4, 'same', 'relu'),
      conv(r, 3, 4, 6, 'valid', 'linear'),
      { kind: 'maxpool2d', poolSize: 3 },
      { kind: 'flatten' },
      dense(r, 1 * 2 * 6, 6, 'linear'),
    ],
    classes: 2,
    subclasses: 3,
  });
  return { mlp1, mlp5, cnn, rgb, odd };
}
