// Every gradient rule of pipeline/engine/autodiff.ts against central finite differences of a float64 reference, on
// real Fashion-MNIST pixels where an op takes images: the graph (run by onnxruntime-node) computes
// L = sum(op(inputs) * R) for a fixed random R and its gradients; the reference computes L in float64 from
// definitions written here, independently of the graph, and differentiates it numerically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tracer, type Value } from '../pipeline/engine/autodiff.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { rng } from '../pipeline/util/math.ts';
import { EXAMPLE_DIR } from './helpers.ts';

/** A float64 tensor of the reference. */
interface T {
  data: Float64Array;
  shape: number[];
}
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const strides = (s: number[]) => s.map((_, i) => numel(s.slice(i + 1)));
const tensor = (shape: number[], f: (i: number) => number): T => ({ shape, data: Float64Array.from({ length: numel(shape) }, (_, i) => f(i)) });

/** numpy broadcasting of a binary op. */
function broadcast(a: T, b: T, f: (x: number, y: number) => number): T {
  const r = Math.max(a.shape.length, b.shape.length);
  const pa = [...Array(r - a.shape.length).fill(1), ...a.shape];
  const pb = [...Array(r - b.shape.length).fill(1), ...b.shape];
  const shape = pa.map((d, i) => Math.max(d, pb[i]!));
  const [sa, sb, so] = [strides(pa), strides(pb), strides(shape)];
  return tensor(shape, (i) => {
    let ia = 0;
    let ib = 0;
    for (let k = 0; k < r; k++) {
      const c = Math.floor(i / so[k]!) % shape[k]!;
      ia += (pa[k] === 1 ? 0 : c) * sa[k]!;
      ib += (pb[k] === 1 ? 0 : c) * sb[k]!;
    }
    return f(a.data[ia]!, b.data[ib]!);
  });
}

/** Reduce one axis of a tensor with f over the values along it (the axis kept as 1). */
function alongAxis(x: T, axis: number, f: (v: number[]) => number[]): T {
  const out = new Float64Array(x.data.length);
  const st = strides(x.shape);
  const n = x.shape[axis]!;
  const outer = numel(x.shape.slice(0, axis));
  const inner = st[axis]!;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const idx = Array.from({ length: n }, (_, k) => o * n * inner + k * inner + i);
      f(idx.map((j) => x.data[j]!)).forEach((v, k) => (out[idx[k]!] = v));
    }
  }
  return { data: out, shape: x.shape };
}
const softmaxV = (v: number[]) => {
  const m = Math.max(...v);
  const e = v.map((z) => Math.exp(z - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((z) => z / s);
};
const lse = (v: number[]) => {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((a, z) => a + Math.exp(z - m), 0));
};

function matmulRef(a: T, b: T, ta = false, tb = false): T {
  const [m, k] = ta ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const n = tb ? b.shape[0]! : b.shape[1]!;
  const A = (i: number, j: number) => (ta ? a.data[j * a.shape[1]! + i]! : a.data[i * a.shape[1]! + j]!);
  const Bv = (i: number, j: number) => (tb ? b.data[j * b.shape[1]! + i]! : b.data[i * b.shape[1]! + j]!);
  return tensor([m, n], (i) => {
    const [r, c] = [Math.floor(i / n), i % n];
    let s = 0;
    for (let q = 0; q < k; q++) s += A(r, q) * Bv(q, c);
    return s;
  });
}

/** Cross-correlation as ONNX Conv defines it: strides, pads [top, left, bottom, right], groups. */
function conv2dRef(x: T, w: T, pad: number, o: { strides?: [number, number]; pads?: [number, number, number, number]; groups?: number } = {}): T {
  const [B, Cin, H, W] = x.shape as [number, number, number, number];
  const [Cout, cinG, kh, kw] = w.shape as [number, number, number, number];
  const G = o.groups ?? 1;
  const [sh, sw] = o.strides ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [pad, pad, pad, pad];
  const [Ho, Wo] = [Math.floor((H + pt + pb - kh) / sh) + 1, Math.floor((W + pl + pr - kw) / sw) + 1];
  return tensor([B, Cout, Ho, Wo], (i) => {
    const [b, oc, y, xx] = [Math.floor(i / (Cout * Ho * Wo)), Math.floor(i / (Ho * Wo)) % Cout, Math.floor(i / Wo) % Ho, i % Wo];
    const group = Math.floor(oc / (Cout / G));
    let s = 0;
    for (let ci = 0; ci < cinG; ci++) {
      const c = group * cinG + ci;
      for (let dy = 0; dy < kh; dy++) {
        for (let dx = 0; dx < kw; dx++) {
          const [iy, ix] = [y * sh + dy - pt, xx * sw + dx - pl];
          if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue;
          s += x.data[((b * Cin + c) * H + iy) * W + ix]! * w.data[((oc * cinG + ci) * kh + dy) * kw + dx]!;
        }
      }
    }
    return s;
  });
}

function maxPoolRef(x: T, k: number): T {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const [Ho, Wo] = [Math.floor(H / k), Math.floor(W / k)];
  return tensor([B, C, Ho, Wo], (i) => {
    const [bc, y, xx] = [Math.floor(i / (Ho * Wo)), Math.floor(i / Wo) % Ho, i % Wo];
    let m = -Infinity;
    for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) m = Math.max(m, x.data[(bc * H + y * k + dy) * W + xx * k + dx]!);
    return m;
  });
}

function transposeRef(x: T, perm: number[]): T {
  const shape = perm.map((p) => x.shape[p]!);
  const [si, so] = [strides(x.shape), strides(shape)];
  return tensor(shape, (i) => {
    let src = 0;
    perm.forEach((p, k) => (src += (Math.floor(i / so[k]!) % shape[k]!) * si[p]!));
    return x.data[src]!;
  });
}

/** Seeded values in [lo, hi). */
function uniform(shape: number[], seed: number, lo = -1, hi = 1): T {
  const r = rng(seed);
  return tensor(shape, () => lo + (hi - lo) * r());
}

let pixels: Float64Array | null = null;
/** `count` real test images as [count, 1, 28, 28] in [0, 1], with tiny seeded jitter so that max-pool windows have no ties. */
async function images(count: number, size = 28): Promise<T> {
  pixels ??= Float64Array.from((await readIdx(join(EXAMPLE_DIR, 't10k-images-idx3-ubyte.gz'))).data, (v) => v / 255);
  const r = rng(99);
  return tensor([count, 1, size, size], (i) => {
    const [n, y, x] = [Math.floor(i / (size * size)), Math.floor(i / size) % size, i % size];
    return pixels![n * 784 + (y + 14 - Math.floor(size / 2)) * 28 + x + 14 - Math.floor(size / 2)]! + 1e-3 * r();
  });
}

/**
 * Check one op: `graph` builds it from the tracer's inputs, `ref` computes it in float64. Returns the worst relative
 * error of the analytic gradients against central differences, and checks the forward values on the way.
 */
async function check(name: string, inputs: T[], graph: (t: Tracer, v: Value[]) => Value, ref: (v: T[]) => T, opts: { h?: number; tol?: number } = {}): Promise<void> {
  const t = new Tracer(`grad_${name}`, 'test');
  const vs = inputs.map((x, i) => t.input(`in${i}`, x.shape));
  const y = graph(t, vs);
  const R = uniform([...y.shape], 7);
  const loss = t.reduceSum(t.mul(y, t.constant(Float32Array.from(R.data), y.shape)), y.shape.map((_, i) => i));
  const grads = t.gradients(loss, vs);
  const lossName = t.output(loss).name;
  const gradNames = grads.map((g) => t.output(g).name);
  const session = await ort.InferenceSession.create(t.encode(), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  const feeds = Object.fromEntries(inputs.map((x, i) => [`in${i}`, new ort.Tensor('float32', Float32Array.from(x.data), x.shape)]));
  const out = await session.run(feeds);
  await session.release();
  // The reference sees the float32-rounded inputs the graph saw.
  const rounded = inputs.map((x) => ({ shape: x.shape, data: Float64Array.from(Float32Array.from(x.data)) }));
  const L = (xs: T[]) => {
    const yr = ref(xs);
    assert.deepEqual(yr.shape, [...y.shape], `${name}: reference shape`);
    let s = 0;
    for (let i = 0; i < yr.data.length; i++) s += yr.data[i]! * R.data[i]!;
    return s;
  };
  const L0 = L(rounded);
  const lossOrt = (out[lossName]!.data as Float32Array)[0]!;
  assert.ok(Math.abs(lossOrt - L0) <= 1e-4 * Math.max(1, Math.abs(L0)), `${name}: forward ${lossOrt} vs reference ${L0}`);
  const h = opts.h ?? 1e-5;
  rounded.forEach((x, i) => {
    const g = out[gradNames[i]!]!.data as Float32Array;
    let worst = 0;
    let scale = 0;
    const numeric = new Float64Array(x.data.length);
    for (let j = 0; j < x.data.length; j++) {
      const keep = x.data[j]!;
      x.data[j] = keep + h;
      const up = L(rounded);
      x.data[j] = keep - h;
      const down = L(rounded);
      x.data[j] = keep;
      numeric[j] = (up - down) / (2 * h);
      scale = Math.max(scale, Math.abs(numeric[j]!));
    }
    for (let j = 0; j < x.data.length; j++) worst = Math.max(worst, Math.abs(g[j]! - numeric[j]!));
    const rel = worst / Math.max(scale, 1e-6);
    assert.ok(rel <= (opts.tol ?? 1e-4), `${name}: gradient of input ${i} differs from central differences by ${rel.toExponential(2)} (relative to max |g| ${scale.toExponential(2)})`);
  });
}

test('elementwise rules (add, sub, mul, div with broadcasting; neg, exp, log, relu)', async () => {
  const a = uniform([4, 5], 1);
  const b = uniform([5], 2);
  const pos = uniform([4, 5], 3, 0.5, 2);
  await check('add', [a, b], (t, [x, y]) => t.add(x!, y!), ([x, y]) => broadcast(x!, y!, (p, q) => p + q));
  await check('sub', [b, a], (t, [x, y]) => t.sub(x!, y!), ([x, y]) => broadcast(x!, y!, (p, q) => p - q));
  await check('mul', [a, uniform([4, 1], 4)], (t, [x, y]) => t.mul(x!, y!), ([x, y]) => broadcast(x!, y!, (p, q) => p * q));
  await check('div', [a, pos], (t, [x, y]) => t.div(x!, y!), ([x, y]) => broadcast(x!, y!, (p, q) => p / q));
  await check('neg', [a], (t, [x]) => t.neg(x!), ([x]) => tensor(x!.shape, (i) => -x!.data[i]!));
  await check('exp', [a], (t, [x]) => t.exp(x!), ([x]) => tensor(x!.shape, (i) => Math.exp(x!.data[i]!)));
  await check('log', [pos], (t, [x]) => t.log(x!), ([x]) => tensor(x!.shape, (i) => Math.log(x!.data[i]!)));
  // Values at least 0.05 from the kink, where the central difference is exact.
  const away = tensor([4, 5], (i) => (a.data[i]! >= 0 ? 0.05 + a.data[i]! : -0.05 + a.data[i]!));
  await check('relu', [away], (t, [x]) => t.relu(x!), ([x]) => tensor(x!.shape, (i) => Math.max(0, x!.data[i]!)));
});

test('matmul rules, every transpose combination', async () => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    const a = uniform(ta ? [6, 3] : [3, 6], 11);
    const b = uniform(tb ? [4, 6] : [6, 4], 12);
    await check(`matmul ${ta} ${tb}`, [a, b], (t, [x, y]) => t.matmul(x!, y!, { a: ta, b: tb }), ([x, y]) => matmulRef(x!, y!, ta, tb));
  }
  await check('linear (Gemm with bias)', [uniform([5, 6], 13), uniform([6, 4], 14), uniform([4], 15)], (t, [x, w, b]) => t.linear(x!, w!, b!), ([x, w, b]) => broadcast(matmulRef(x!, w!), b!, (p, q) => p + q));
});

test('reductions and normalisations (reduceSum, mean, softmax, logSoftmax, logSumExp)', async () => {
  const x = uniform([3, 4, 5], 21, -2, 2);
  await check('reduceSum axis 1 keep', [x], (t, [v]) => t.reduceSum(v!, [1], true), ([v]) => {
    const s = alongAxis(v!, 1, (vals) => vals.map(() => vals.reduce((p, q) => p + q, 0)));
    return tensor([3, 1, 5], (i) => s.data[Math.floor(i / 5) * 20 + (i % 5)]!);
  });
  await check('reduceSum axes 0,2', [x], (t, [v]) => t.reduceSum(v!, [0, 2]), ([v]) => tensor([4], (j) => {
    let s = 0;
    for (let a = 0; a < 3; a++) for (let c = 0; c < 5; c++) s += v!.data[a * 20 + j * 5 + c]!;
    return s;
  }));
  await check('mean', [x], (t, [v]) => t.mean(v!), ([v]) => tensor([], () => v!.data.reduce((p, q) => p + q, 0) / v!.data.length));
  await check('softmax', [x], (t, [v]) => t.softmax(v!, 2), ([v]) => alongAxis(v!, 2, softmaxV));
  await check('logSoftmax', [x], (t, [v]) => t.logSoftmax(v!, -1), ([v]) => alongAxis(v!, 2, (vals) => softmaxV(vals).map(Math.log)));
  await check('logSoftmax axis 1', [x], (t, [v]) => t.logSoftmax(v!, 1), ([v]) => alongAxis(v!, 1, (vals) => softmaxV(vals).map(Math.log)));
  await check('logSumExp', [x], (t, [v]) => t.logSumExp(v!, 2), ([v]) => tensor([3, 4], (i) => lse(Array.from(v!.data.subarray(i * 5, i * 5 + 5)))));
});

test('data movement (reshape, transpose, sliceColumns)', async () => {
  const x = uniform([2, 3, 4], 31);
  await check('reshape', [x], (t, [v]) => t.mul(t.reshape(v!, [6, 4]), t.constant(Float32Array.from({ length: 24 }, (_, i) => i / 10), [6, 4])), ([v]) => tensor([6, 4], (i) => v!.data[i]! * (Math.fround(i / 10))));
  await check('transpose', [x], (t, [v]) => t.transpose(v!, [2, 0, 1]), ([v]) => transposeRef(v!, [2, 0, 1]));
  const m = uniform([3, 7], 32);
  await check('sliceColumns', [m], (t, [v]) => t.sliceColumns(v!, 2, 5), ([v]) => tensor([3, 3], (i) => v!.data[Math.floor(i / 3) * 7 + 2 + (i % 3)]!));
});

test('conv2d (input and weight gradients, same and valid padding) and maxPool on real images', async () => {
  const x = await images(2, 8);
  const w = uniform([3, 1, 3, 3], 41, -0.5, 0.5);
  await check('conv2d same', [x, w], (t, [v, k]) => t.conv2d(v!, k!, { pads: [1, 1, 1, 1] }), ([v, k]) => conv2dRef(v!, k!, 1));
  await check('conv2d valid', [x, w], (t, [v, k]) => t.conv2d(v!, k!), ([v, k]) => conv2dRef(v!, k!, 0));
  await check('conv2d with bias', [x, w, uniform([3], 44)], (t, [v, k, b]) => t.conv2d(v!, k!, { pads: [1, 1, 1, 1] }, b!), ([v, k, b]) => broadcast(conv2dRef(v!, k!, 1), { data: b!.data, shape: [3, 1, 1] }, (p, q) => p + q));
  const x2 = uniform([2, 3, 6, 6], 42);
  const w2 = uniform([4, 3, 5, 5], 43, -0.3, 0.3);
  await check('conv2d 3->4 channels k5', [x2, w2], (t, [v, k]) => t.conv2d(v!, k!, { pads: [2, 2, 2, 2] }), ([v, k]) => conv2dRef(v!, k!, 2));
  // The geometry of the next students (MobileNet-style and 1-D): strided with TF's asymmetric 'same' padding,
  // depthwise, grouped, pointwise, and a 1-D kernel.
  const x3 = uniform([2, 4, 7, 8], 45);
  const strided = { pads: [1, 0, 1, 1] as [number, number, number, number] };
  await check('conv2d stride 2, asymmetric pads', [x3, uniform([3, 4, 3, 3], 46, -0.3, 0.3)], (t, [v, k]) => t.conv2d(v!, k!, { strides: [2, 2], pads: [1, 0, 1, 1] }), ([v, k]) => conv2dRef(v!, k!, 0, { strides: [2, 2], pads: [1, 0, 1, 1] }));
  await check('conv2d depthwise', [x3, uniform([4, 1, 3, 3], 47, -0.3, 0.3), uniform([4], 48)], (t, [v, k, b]) => t.conv2d(v!, k!, { pads: [1, 1, 1, 1], groups: 4 }, b!), ([v, k, b]) => broadcast(conv2dRef(v!, k!, 1, { groups: 4 }), { data: b!.data, shape: [4, 1, 1] }, (p, q) => p + q));
  await check('conv2d depthwise stride 2', [x3, uniform([4, 1, 3, 3], 49, -0.3, 0.3)], (t, [v, k]) => t.conv2d(v!, k!, { ...strided, strides: [2, 2], groups: 4 }), ([v, k]) => conv2dRef(v!, k!, 0, { ...strided, strides: [2, 2], groups: 4 }));
  await check('conv2d 2 groups, 2 outputs each', [x3, uniform([4, 2, 3, 3], 50, -0.3, 0.3)], (t, [v, k]) => t.conv2d(v!, k!, { pads: [1, 1, 1, 1], groups: 2 }), ([v, k]) => conv2dRef(v!, k!, 1, { groups: 2 }));
  await check('conv2d pointwise 1x1', [x3, uniform([5, 4, 1, 1], 51, -0.3, 0.3)], (t, [v, k]) => t.conv2d(v!, k!), ([v, k]) => conv2dRef(v!, k!, 0));
  const x1d = uniform([2, 3, 1, 12], 52);
  await check('conv1d k5 stride 2', [x1d, uniform([4, 3, 1, 5], 53, -0.3, 0.3)], (t, [v, k]) => t.conv2d(v!, k!, { strides: [1, 2], pads: [0, 2, 0, 2] }), ([v, k]) => conv2dRef(v!, k!, 0, { strides: [1, 2], pads: [0, 2, 0, 2] }));
  // Finite differences of a max need steps smaller than the gap between a window's two largest values.
  await check('maxPool', [await images(2, 8)], (t, [v]) => t.maxPool(v!, 2), ([v]) => maxPoolRef(v!, 2), { h: 1e-7 });
});

const map = (x: T, f: (v: number) => number): T => ({ shape: x.shape, data: x.data.map(f) });
const relu6Ref = (x: T): T => map(x, (v) => Math.min(Math.max(v, 0), 6));

function globalAvgPoolRef(x: T): T {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  return tensor([B, C], (i) => {
    let s = 0;
    for (let j = 0; j < H * W; j++) s += x.data[i * H * W + j]!;
    return s / (H * W);
  });
}

/** Training-mode batch norm per channel (axis 1) with the batch's mean and biased variance. */
function batchNormRef(x: T, gamma: T, beta: T, eps: number): T {
  const C = x.shape[1]!;
  const inner = numel(x.shape.slice(2));
  const channelOf = (i: number) => Math.floor(i / inner) % C;
  const count = x.data.length / C;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  x.data.forEach((v, i) => (mean[channelOf(i)]! += v / count));
  x.data.forEach((v, i) => (variance[channelOf(i)]! += (v - mean[channelOf(i)]!) ** 2 / count));
  return tensor(x.shape, (i) => {
    const c = channelOf(i);
    return ((x.data[i]! - mean[c]!) / Math.sqrt(variance[c]! + eps)) * gamma.data[c]! + beta.data[c]!;
  });
}

test('the layers of MobileNet-style students: relu6, global average pooling, batch norm, and a residual block of them', async () => {
  // Values kept at least 0.05 from ReLU6's kinks at 0 and 6, where the derivative jumps.
  const away = (x: T): T => map(x, (v) => (Math.abs(v) < 0.05 ? v + 0.1 : Math.abs(v - 6) < 0.05 ? v + 0.1 : v));
  await check('relu6', [away(uniform([3, 4, 5], 61, -3, 9))], (t, [v]) => t.relu6(v!), ([v]) => relu6Ref(v!));
  await check('globalAvgPool', [uniform([2, 3, 4, 5], 62)], (t, [v]) => t.globalAvgPool(v!), ([v]) => globalAvgPoolRef(v!));
  const gamma = uniform([3], 63, 0.5, 1.5);
  const beta = uniform([3], 64);
  await check('batchNorm NCHW', [uniform([4, 3, 3, 3], 65, -2, 2), gamma, beta], (t, [v, g, b]) => t.batchNorm(v!, g!, b!, 1e-3).y, ([v, g, b]) => batchNormRef(v!, g!, b!, 1e-3));
  await check('batchNorm [B, C]', [uniform([6, 3], 66, -2, 2), gamma, beta], (t, [v, g, b]) => t.batchNorm(v!, g!, b!, 1e-3).y, ([v, g, b]) => batchNormRef(v!, g!, b!, 1e-3));
  // x + relu6(bn(depthwise(x))), then pooled: every gradient flows through both branches of the residual add.
  const x = await images(2, 6);
  const x4 = { shape: [2, 4, 6, 6], data: Float64Array.from({ length: 2 * 4 * 36 }, (_, i) => x.data[(Math.floor(i / 144) * 36) + (i % 36)]! * (1 + (Math.floor(i / 36) % 4))) };
  const dw = uniform([4, 1, 3, 3], 67, -0.5, 0.5);
  const [g4, b4] = [uniform([4], 68, 0.5, 1.5), uniform([4], 69, 1, 2)];
  await check(
    'residual depthwise block',
    [x4, dw, g4, b4],
    (t, [v, k, g, b]) => t.globalAvgPool(t.add(v!, t.relu6(t.batchNorm(t.conv2d(v!, k!, { pads: [1, 1, 1, 1], groups: 4 }), g!, b!, 1e-3).y))),
    ([v, k, g, b]) => globalAvgPoolRef(broadcast(v!, relu6Ref(batchNormRef(conv2dRef(v!, k!, 1, { groups: 4 }), g!, b!, 1e-3)), (p, q) => p + q)),
  );
});

/** Row-wise softmax of [B, W] logits divided by tau, in float64. */
const softmaxRowsRef = (s: T, tau = 1): T => alongAxis({ data: s.data.map((v) => v / tau), shape: s.shape }, 1, softmaxV);
/** -mean_i sum_k y_ik log softmax(s)_ik. */
function ceRef(y: T, s: T): number {
  const p = softmaxRowsRef(s);
  let acc = 0;
  for (let i = 0; i < p.data.length; i++) acc -= y.data[i]! * Math.log(p.data[i]!);
  return acc / s.shape[0]!;
}
/** tau^2 mean_i sum_k q_ik (log max(q_ik, 1e-30) - log softmax(s/tau)_ik). */
function klRef(q: T, s: T, tau: number): number {
  const p = softmaxRowsRef(s, tau);
  let acc = 0;
  for (let i = 0; i < p.data.length; i++) acc += q.data[i]! * (Math.log(Math.max(q.data[i]!, 1e-30)) - Math.log(p.data[i]!));
  return (tau * tau * acc) / s.shape[0]!;
}

test('every loss (label, KD, LELP with and without alpha, FitNet) against central differences of its float64 definition', async () => {
  const { emitLoss } = await import('../pipeline/engine/train-graph.ts');
  const [B, C, S, H, D] = [6, 2, 3, 5, 4];
  const labels = [0, 1, 1, 0, 1, 0];
  const y = tensor([B, C], (i) => (labels[Math.floor(i / C)] === i % C ? 1 : 0));
  const yv = (t: Tracer) => t.constant(Float32Array.from(y.data), [B, C]);
  // Soft targets with a zero (the clamped log) in them, as a teacher's one-hot-like output has.
  const probs = (w: number, seed: number) => {
    const r = uniform([B, w], seed, 0, 1);
    const z = alongAxis(r, 1, (v) => { const s = v.reduce((a, b) => a + b, 0); return v.map((x) => x / s); });
    z.data[1] = 0;
    z.data[0] = z.data[0]! + r.data[1]! / r.data.slice(0, w).reduce((a, b) => a + b, 0);
    return z;
  };
  const scalar = (v: number): T => ({ data: Float64Array.of(v), shape: [] });
  const s2 = uniform([B, C], 51, -2, 2);
  const q2 = probs(C, 52);
  const constant = (t: Tracer, x: T) => t.constant(Float32Array.from(x.data), x.shape);
  const none = { penultimate: null as never, fitnet: null };

  await check('label loss', [s2], (t, [s]) => emitLoss(t, { kind: 'label' }, { logits: s!, y: yv(t), targets: null, ...none }), ([s]) => scalar(ceRef(y, s!)));
  await check('kd loss', [s2], (t, [s]) => emitLoss(t, { kind: 'kd', tau: 2, alpha: 0.3 }, { logits: s!, y: yv(t), targets: constant(t, q2), ...none }), ([s]) => scalar(0.3 * ceRef(y, s!) + 0.7 * klRef(q2, s!, 2)));
  const sSub = uniform([B, C * S], 53, -2, 2);
  const qSub = probs(C * S, 54);
  const classLse = (s: T) => tensor([B, C], (i) => lse(Array.from(s.data.subarray(i * S, i * S + S))));
  for (const alpha of [0, 0.5]) {
    await check(`lelp loss alpha ${alpha}`, [sSub], (t, [s]) => emitLoss(t, { kind: 'lelp', tau: 1.5, alpha, classes: C, subclasses: S }, { logits: s!, y: yv(t), targets: constant(t, qSub), ...none }), ([s]) => scalar(klRef(qSub, s!, 1.5) + alpha * ceRef(y, classLse(s!))));
  }
  // FitNet: the gradient reaches the logits, the penultimate activations and the hint map A, b.
  const emb = uniform([B, D], 55);
  const targets = tensor([B, C + D], (i) => { const [r, c] = [Math.floor(i / (C + D)), i % (C + D)]; return c < C ? q2.data[r * C + c]! : emb.data[r * D + c - C]!; });
  const fitRef = ([s, h, A, b]: T[]) => {
    const pred = broadcast(matmulRef(h!, A!), b!, (p, q) => p + q);
    let mse = 0;
    for (let i = 0; i < pred.data.length; i++) mse += (pred.data[i]! - emb.data[i]!) ** 2;
    return scalar(0.5 * ceRef(y, s!) + 0.5 * klRef(q2, s!, 2) + 0.7 * (mse / pred.data.length));
  };
  await check('fitnet loss', [s2, uniform([B, H], 56), uniform([H, D], 57), uniform([D], 58)], (t, [s, h, A, b]) => emitLoss(t, { kind: 'fitnet', tau: 2, alpha: 0.5, gamma: 0.7, classes: C, embeddingDim: D }, { logits: s!, penultimate: h!, y: yv(t), targets: constant(t, targets), fitnet: [A!, b!] }), fitRef);
});
