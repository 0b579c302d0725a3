// The wasm backend's Conv2DBackpropFilter (ours) must equal the cpu backend's on real images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf, useBackend } from '../pipeline/util/tfjs.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { rng, gaussian } from '../pipeline/util/math.ts';
import { EXAMPLE_DIR } from './helpers.ts';

async function filterGrad(backend: 'cpu' | 'wasm', x: Float32Array, shape: [number, number, number, number], w: Float32Array, wShape: [number, number, number, number], pad: 'same' | 'valid', stride: number): Promise<Float32Array> {
  await useBackend(backend);
  const xt = tf.tensor4d(x, shape);
  const wt = tf.tensor4d(w, wShape);
  // d/dW of sum(conv(x, W) * g) for a fixed non-uniform g, so every output position's gradient matters.
  const grad = tf.grad((k: tf.Tensor) => {
    const y = tf.conv2d(xt, k as tf.Tensor4D, stride, pad);
    return tf.sum(tf.mul(y, tf.sin(tf.reshape(tf.range(0, y.size), y.shape))));
  })(wt);
  const out = (await grad.data()) as Float32Array;
  tf.dispose([xt, wt, grad]);
  return out;
}

test('Conv2DBackpropFilter on wasm equals the cpu backend (same and valid padding, stride 1 and 2, 1 and 3 channels)', async () => {
  const { data } = await readIdx(join(EXAMPLE_DIR, 't10k-images-idx3-ubyte.gz'));
  const g = gaussian(rng(7));
  for (const [ci, co, k, pad, stride] of [[1, 8, 3, 'same', 1], [3, 4, 3, 'valid', 2], [2, 5, 2, 'same', 1]] as const) {
    const B = 6;
    // Real pixels: channel j of example b is image b*ci + j.
    const x = new Float32Array(B * 28 * 28 * ci);
    for (let b = 0; b < B; b++) for (let p = 0; p < 784; p++) for (let j = 0; j < ci; j++) x[(b * 784 + p) * ci + j] = data[(b * ci + j) * 784 + p]! / 255;
    const w = Float32Array.from({ length: k * k * ci * co }, g);
    const cpu = await filterGrad('cpu', x, [B, 28, 28, ci], w, [k, k, ci, co], pad, stride);
    const wasm = await filterGrad('wasm', x, [B, 28, 28, ci], w, [k, k, ci, co], pad, stride);
    let max = 0;
    let scale = 0;
    for (let i = 0; i < cpu.length; i++) {
      max = Math.max(max, Math.abs(cpu[i]! - wasm[i]!));
      scale = Math.max(scale, Math.abs(cpu[i]!));
    }
    assert.ok(scale > 1, 'the gradient is not trivially zero');
    assert.ok(max <= 1e-4 * scale, `ci=${ci} co=${co} k=${k} ${pad} stride ${stride}: max diff ${max} (scale ${scale})`);
  }
});
