// Student specs with seeded weights shared by the exporter tests (ONNX, TF.js graph, golden summaries), and the
// real Fashion-MNIST test images they run on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { rng } from '../pipeline/util/math.ts';
import type { LayerSpec, StudentSpec } from '../pipeline/student/spec.ts';
import { buildConv1dSpec, buildDscnnSpec } from '../pipeline/distill/architectures.ts';
import { StudentSchema, type StudentConfig } from '../pipeline/distill/schema.ts';

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

/** Batch norms with seeded non-trivial statistics (fresh ones are the identity, which would hide a wrong fold). */
function perturbBatchNorms(s: StudentSpec, seed: number): StudentSpec {
  const r = rng(seed);
  const layers = s.layers.map((l): LayerSpec => (l.kind === 'batchNorm'
    ? { ...l, gamma: uniform(r, l.channels, 1).map((v) => 1 + 0.5 * v), beta: uniform(r, l.channels, 0.3), movingMean: uniform(r, l.channels, 0.2), movingVariance: uniform(r, l.channels, 1).map((v) => 1 + 0.8 * v) }
    : l));
  return { ...s, layers };
}

/** Fresh conv students give nearly constant outputs (Glorot kernels through a global pool): scale the head's kernel up. */
function sharpen(s: StudentSpec, factor: number): StudentSpec {
  const last = s.layers.at(-1)!;
  if (last.kind !== 'dense') throw new Error('the head is a dense layer');
  return { ...s, layers: [...s.layers.slice(0, -1), { ...last, kernel: last.kernel.map((v) => v * factor) }] };
}

/**
 * One spec of every student architecture as the pipeline builds them (batch norms perturbed, so folding is exercised):
 * an MLP, the test CNN, the MobileNet-style dscnn, the conv1d student, and a residual net whose batch norm cannot be folded.
 */
export function architectureSpecs(): Record<string, StudentSpec> {
  const meta = { features: 784, featureShape: [28, 28], classes: 2, subclasses: 3, seed: 5, metadata: {} };
  const dscnn = buildDscnnSpec(StudentSchema.parse({ arch: 'dscnn', stem: 8, blocks: [{ filters: 16, stride: 2 }, { filters: 24, stride: 1 }, { filters: 32, stride: 2 }], dense: [16] }) as Extract<StudentConfig, { arch: 'dscnn' }>, meta);
  const conv1d = buildConv1dSpec(StudentSchema.parse({ arch: 'conv1d', blocks: [{ filters: 8, kernelSize: 5, stride: 1, pool: 2 }, { filters: 16, kernelSize: 3, stride: 2, pool: 1 }] }) as Extract<StudentConfig, { arch: 'conv1d' }>, { ...meta, featureShape: [784], subclasses: 1 });
  // A residual block: conv-relu, conv, batch norm after the add's input is read (not foldable), add, pool, head.
  const r = rng(9);
  const bn = (channels: number): LayerSpec => ({ kind: 'batchNorm', channels, gamma: uniform(r, channels, 1).map((v) => 1 + 0.5 * v), beta: uniform(r, channels, 0.3), movingMean: uniform(r, channels, 0.2), movingVariance: uniform(r, channels, 1).map((v) => 1.2 + 0.8 * v), epsilon: 1e-3, momentum: 0.99, activation: 'relu6' });
  const residual = spec({
    features: 784,
    image: { height: 28, width: 28, channels: 1 },
    layers: [
      conv(r, 3, 1, 6, 'same', 'relu'), // 0
      { kind: 'maxpool2d', poolSize: 2 }, // 1
      conv(r, 3, 6, 6, 'same', 'relu'), // 2
      bn(6), // 3: after a ReLU conv: stays a scale and shift
      { kind: 'add', from: 1 }, // 4
      { kind: 'globalAvgPool' }, // 5
      dense(r, 6, 2, 'linear'),
    ],
    classes: 2,
    subclasses: 1,
  });
  return { mlp: testSpecs().mlp1, cnn: testSpecs().cnn, dscnn: sharpen(perturbBatchNorms(dscnn, 1), 30), conv1d: sharpen(perturbBatchNorms(conv1d, 2), 30), residual: sharpen(residual, 10) };
}
