// The host placement's Adam (pipeline/engine/adam.wat): the checked-in binary is what the text compiles to, and the
// update is TF.js's Adam rounded as the graph placement rounds it (test/engine-train.test.ts compares the two
// placements bit for bit on real training steps; this covers lengths that leave a scalar tail).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { adamWasmModuleText, compileAdamWat } from '../pipeline/engine/build-adam-wasm.ts';
import { WasmAdam } from '../pipeline/engine/wasm-adam.ts';
import { adamScalars, TFJS_ADAM } from '../pipeline/engine/train-graph.ts';
import { rng } from '../pipeline/util/math.ts';

test('pipeline/engine/adam-wasm.ts is what `npm run wasm` compiles adam.wat to', async () => {
  assert.equal(readFileSync(new URL('../pipeline/engine/adam-wasm.ts', import.meta.url), 'utf8'), adamWasmModuleText(await compileAdamWat()));
});

test('WasmAdam: three steps equal a float32 rendering of the formula, for lengths with and without a scalar tail', () => {
  const adam = { learningRate: 0.01, ...TFJS_ADAM };
  const f = Math.fround;
  const sizes = [1, 3, 4, 17, 1030];
  const arena = WasmAdam.create(sizes);
  const r = rng(7);
  const ref = sizes.map((n, i) => {
    const w = Float32Array.from({ length: n }, () => r() - 0.5);
    arena.w[i]!.set(w);
    return { w, m: new Float32Array(n), v: new Float32Array(n) };
  });
  let [p1, p2] = [f(adam.beta1), f(adam.beta2)];
  for (let step = 0; step < 3; step++) {
    const s = adamScalars(adam, p1, p2);
    sizes.forEach((n, i) => {
      const g = Float32Array.from({ length: n }, () => (r() - 0.5) * 10 ** (step - 1));
      arena.g[i]!.set(g);
      arena.update(i, adam, s);
      const { w, m, v } = ref[i]!;
      for (let j = 0; j < n; j++) {
        m[j] = f(f(m[j]! * f(adam.beta1)) + f(g[j]! * f(1 - adam.beta1)));
        v[j] = f(f(v[j]! * f(adam.beta2)) + f(f(g[j]! * g[j]!) * f(1 - adam.beta2)));
        w[j] = f(f(f(m[j]! / f(f(Math.sqrt(v[j]!)) + s.epsilonHat)) * s.stepSize) + w[j]!);
      }
    });
    p1 = f(p1 * f(adam.beta1));
    p2 = f(p2 * f(adam.beta2));
  }
  sizes.forEach((_, i) => {
    assert.deepEqual(arena.w[i], ref[i]!.w, `weights of tensor ${i}`);
    assert.deepEqual(arena.m[i], ref[i]!.m, `first moment of tensor ${i}`);
    assert.deepEqual(arena.v[i], ref[i]!.v, `second moment of tensor ${i}`);
  });
});

test('WasmAdam refuses a model whose parameters do not fit a WebAssembly memory', () => {
  assert.throws(() => WasmAdam.create([2 ** 28, 1]), /do not fit/);
});
