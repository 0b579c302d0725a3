// Each loss, and the softmax / logsumexp helpers, against values computed by hand with plain JS Math
// (never with the function under test). The arithmetic is written out next to each expectation.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, useBackend } from '../pipeline/util/tfjs.ts';
import { METHODS, classLogits, crossEntropy, meanSquaredError, prepareMethod, softKl, type StudentOutputs, type TeacherView } from '../pipeline/distill/losses.ts';
import { logSumExp, softmaxRows } from '../pipeline/util/math.ts';
import { readAll } from '../pipeline/data/rows.ts';

before(async () => {
  assert.equal(await useBackend('wasm'), 'wasm');
});

const { exp, log } = Math;

/** Reference log-sum-exp, shifted by the max by hand. */
function lse(v: number[]): number {
  const m = Math.max(...v);
  return m + log(v.reduce((a, x) => a + exp(x - m), 0));
}

/** Reference CE of one row: lse(s) - s_y. */
function ceRow(s: number[], y: number): number {
  return lse(s) - s[y]!;
}

/** Reference tau^2 * KL(t || softmax(s / tau)) of one row; t_k = 0 terms contribute 0. */
function klRow(t: number[], s: number[], tau: number): number {
  const st = s.map((x) => x / tau);
  const z = lse(st);
  let kl = 0;
  for (let k = 0; k < t.length; k++) if (t[k]! > 0) kl += t[k]! * (log(t[k]!) - (st[k]! - z));
  return tau * tau * kl;
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

function scalar(x: tf.Scalar): number {
  const v = x.dataSync()[0]!;
  x.dispose();
  return v;
}

/** |a - b| <= tol * max(1, |b|): float32 tensors, so ~1e-6 relative is the honest precision. */
function close(actual: number, expected: number, what: string, tol = 2e-6): void {
  assert.ok(Number.isFinite(actual), `${what}: got ${actual}`);
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: got ${actual}, expected ${expected}`);
}

function onehot(labels: number[], C: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), C), 'float32') as tf.Tensor2D);
}

test('softmaxRows matches hand values, with temperature, and is stable for large inputs', () => {
  // Row [1, 2, 3]: e^1, e^2, e^3 = 2.718282, 7.389056, 20.085537; sum 30.192875 -> 0.090031, 0.244728, 0.665241.
  const r1 = [exp(1), exp(2), exp(3)];
  const s1 = r1.reduce((a, b) => a + b);
  // Row [0, 0, 0] -> 1/3 each.
  const got = softmaxRows([1, 2, 3, 0, 0, 0], 2, 3);
  const want = [...r1.map((v) => v / s1), 1 / 3, 1 / 3, 1 / 3];
  for (let i = 0; i < 6; i++) close(got[i]!, want[i]!, `softmax[${i}]`, 1e-12);
  close(want[2]!, 0.6652409557748219, 'hand value of e^3/(e+e^2+e^3)', 1e-12);
  // T = 2 on [1, 2, 3]: [0.5, 1, 1.5] -> e^.5, e^1, e^1.5 = 1.648721, 2.718282, 4.481689 over 8.848692.
  const r2 = [exp(0.5), exp(1), exp(1.5)];
  const s2 = r2.reduce((a, b) => a + b);
  const gotT = softmaxRows([1, 2, 3], 1, 3, 2);
  for (let i = 0; i < 3; i++) close(gotT[i]!, r2[i]! / s2, `softmax T=2 [${i}]`, 1e-12);
  // [1000, 1001]: a naive exp overflows to Infinity; the answer is [1/(1+e), e/(1+e)] = [0.268941, 0.731059].
  // Also [-1000, -1001] (naive exp underflows to 0/0): [e/(1+e), 1/(1+e)].
  const big = softmaxRows([1000, 1001, -1000, -1001], 2, 2);
  const a = 1 / (1 + exp(1));
  for (const [i, w] of [[0, a], [1, 1 - a], [2, 1 - a], [3, a]] as const) close(big[i]!, w, `softmax large [${i}]`, 1e-12);
});

test('logSumExp matches hand values, including a slice and large inputs', () => {
  // log(e^1 + e^2 + e^3) = log(30.192875) = 3.407606.
  close(logSumExp([1, 2, 3]), log(exp(1) + exp(2) + exp(3)), 'lse [1,2,3]', 1e-12);
  close(log(exp(1) + exp(2) + exp(3)), 3.4076059644443806, 'hand value', 1e-12);
  // Slice start=1, len=2 of [9, 0, 0, 9]: log(2) = 0.693147.
  close(logSumExp([9, 0, 0, 9], 1, 2), log(2), 'lse slice', 1e-12);
  // [1000, 1001] = 1001 + log(1 + e^-1) = 1001.313262 (naive: log(Infinity)).
  close(logSumExp([1000, 1001]), 1001 + log(1 + exp(-1)), 'lse large', 1e-12);
  // [-1000, -1001] = -1000 + log(1 + e^-1) (naive: log(0) = -Infinity).
  close(logSumExp([-1000, -1001]), -1000 + log(1 + exp(-1)), 'lse large negative', 1e-12);
});

test('crossEntropy on a 2x3 batch equals the mean of -log softmax at the label', () => {
  // Row 0: s = [1, 2, 3], y = 2: log(e^1+e^2+e^3) - 3 = 3.407606 - 3 = 0.407606.
  // Row 1: s = [0.5, -1, 2], y = 0: log(e^.5+e^-1+e^2) - 0.5 = log(9.405536) - 0.5 = 1.741226.
  // Mean = (0.407606 + 1.741226) / 2 = 1.074416.
  const want = (log(exp(1) + exp(2) + exp(3)) - 3 + log(exp(0.5) + exp(-1) + exp(2)) - 0.5) / 2;
  const y = onehot([2, 0], 3);
  const s = tf.tensor2d([[1, 2, 3], [0.5, -1, 2]]);
  close(scalar(crossEntropy(y, s)), want, 'CE');
  // A different label changes the value: row 0 with y = 0 instead: lse - 1 = 2.407606.
  const y2 = onehot([0, 0], 3);
  close(scalar(crossEntropy(y2, s)), (log(exp(1) + exp(2) + exp(3)) - 1 + log(exp(0.5) + exp(-1) + exp(2)) - 0.5) / 2, 'CE other label');
  // Large logits stay finite: s = [1000, 1001], y = 0: lse - 1000 = 1 + log(1 + e^-1) = 1.313262.
  close(scalar(crossEntropy(onehot([0], 2), tf.tensor2d([[1000, 1001]]))), 1 + log(1 + exp(-1)), 'CE large', 1e-5);
  tf.dispose([y, y2, s]);
});

test('softKl at tau=1 and tau=2 includes the tau^2 factor and ignores zero target entries', () => {
  const t = [[0.2, 0.8, 0], [0.5, 0.25, 0.25]];
  const s = [[1, 2, 0], [0, 1, -1]];
  // tau = 1, row 0: log softmax([1,2,0]) = [1,2,0] - log(e+e^2+1) = [1,2,0] - 2.407606
  //   KL = 0.2*(log .2 - (1-2.407606)) + 0.8*(log .8 - (2-2.407606)) + 0 = 0.2*(-0.202832) + 0.8*(0.184462) = 0.107003
  // row 1: log softmax([0,1,-1]) = [0,1,-1] - log(1+e+e^-1) = [0,1,-1] - 1.407606
  //   KL = .5*(log .5 + 1.407606) + .25*(log .25 + 0.407606) + .25*(log .25 + 2.407606) = 0.357070 - 0.244887 + 0.255113 = 0.367296
  // mean = 0.237150.
  const want1 = mean(t.map((row, i) => klRow(row, s[i]!, 1)));
  const r0 = 0.2 * (log(0.2) - (1 - log(exp(1) + exp(2) + 1))) + 0.8 * (log(0.8) - (2 - log(exp(1) + exp(2) + 1)));
  close(klRow(t[0]!, s[0]!, 1), r0, 'reference row 0 by hand', 1e-12);
  // tau = 2: the logits are halved, and the KL is multiplied by 4.
  const want2 = mean(t.map((row, i) => klRow(row, s[i]!, 2)));
  const T = tf.tensor2d(t);
  const S = tf.tensor2d(s);
  close(scalar(softKl(T, S, 1)), want1, 'softKl tau=1');
  close(scalar(softKl(T, S, 2)), want2, 'softKl tau=2');
  // Without the tau^2 factor the value would be want2 / 4: make sure we are not there.
  assert.ok(Math.abs(want2 - want2 / 4) > 0.01);
  // KL(t || t) = 0: logits = log t for a full-support target (row 1).
  const self = tf.tensor2d([[log(0.5), log(0.25), log(0.25)]]);
  close(scalar(softKl(tf.tensor2d([t[1]!]), self, 1)), 0, 'KL(t||t)', 1e-6);
  tf.dispose([T, S, self]);
});

test('classLogits is the logsumexp over each class block of S subclass logits (C=2, S=3)', () => {
  // Row 0: [1,2,3 | 0,0,0] -> [log(e+e^2+e^3), log 3] = [3.407606, 1.098612].
  // Row 1: [-1,5,2 | 10,11,9] -> [5 + log(e^-6 + 1 + e^-3), 11 + log(e^-1 + 1 + e^-2)].
  const l = tf.tensor2d([[1, 2, 3, 0, 0, 0], [-1, 5, 2, 10, 11, 9]]);
  const out = classLogits(l, 2, 3);
  assert.deepEqual(out.shape, [2, 2]);
  const got = out.dataSync();
  const want = [lse([1, 2, 3]), log(3), 5 + log(exp(-6) + 1 + exp(-3)), 11 + log(exp(-1) + 1 + exp(-2))];
  close(want[0]!, 3.4076059644443806, 'hand value', 1e-12);
  for (let i = 0; i < 4; i++) close(got[i]!, want[i]!, `classLogits[${i}]`);
  // S = 1: the logits pass through unchanged.
  const one = classLogits(tf.tensor2d([[0.5, -2]]), 2, 1);
  assert.deepEqual(Array.from(one.dataSync()), [0.5, -2]);
  tf.dispose([l, out, one]);
});

test('meanSquaredError is the mean over all elements of the squared differences', () => {
  // a - b = [[1, -2], [0.5, 3]] -> squares 1, 4, 0.25, 9 -> sum 14.25 -> mean 3.5625.
  const a = tf.tensor2d([[1, 0], [2, 3]]);
  const b = tf.tensor2d([[0, 2], [1.5, 0]]);
  close(scalar(meanSquaredError(a, b)), 14.25 / 4, 'MSE');
  close(scalar(meanSquaredError(a, a)), 0, 'MSE(a, a)');
  tf.dispose([a, b]);
});

// A tiny teacher view: 4 examples, 2 classes, 3-d embedding.
const view: TeacherView = {
  n: 4,
  classes: 2,
  embeddingDim: 3,
  logits: Float32Array.from([2, -1, 0.5, 1, -3, 0, 0.2, 0.1]),
  embedding: Float32Array.from([1, 0, 2, 0, 1, -1, 2, 2, 0, -1, 0.5, 1]),
  groups: Int32Array.from([0, 1, 1, 0]),
  head: null,
  seed: 3,
  studentHidden: 4,
};
const teacherLogits = [[2, -1], [0.5, 1], [-3, 0], [0.2, 0.1]];
const studentLogits = [[0.3, -0.2], [1, 2], [-1, 0.5], [0, 0]];
const labels = [0, 1, 1, 0];

test('kd loss: alpha=1 is CE, alpha=0 is tau^2 * KL to the teacher at tau, alpha=0.5 the mix', () => {
  const tau = 2;
  // Teacher targets p = softmax(t / 2); e.g. row 0: [e^1, e^-.5] / (e^1 + e^-.5) = [0.817574, 0.182426].
  const p = teacherLogits.map((r) => {
    const e = r.map((x) => exp(x / tau));
    return e.map((x) => x / (e[0]! + e[1]!));
  });
  const ce = mean(studentLogits.map((s, i) => ceRow(s, labels[i]!)));
  const kl = mean(studentLogits.map((s, i) => klRow(p[i]!, s, tau))); // already times tau^2 = 4
  const y = onehot(labels, 2);
  const s = tf.tensor2d(studentLogits);
  const out: StudentOutputs = { logits: s, hidden: tf.zeros([4, 4]) };
  const losses: number[] = [];
  for (const alpha of [0, 0.5, 1]) {
    const m = METHODS.kd.prepare({ name: 'kd', tau, alpha }, view);
    assert.equal(m.width, 2);
    assert.equal(m.subclasses, 1);
    for (let i = 0; i < 8; i++) close(readAll(m.targets!)[i]!, p[Math.floor(i / 2)]![i % 2]!, `kd target ${i}`, 1e-6);
    const targets = tf.tensor2d(readAll(m.targets!), [4, 2]);
    const v = scalar(m.loss(out, targets, y));
    losses.push(v);
    close(v, alpha * ce + (1 - alpha) * kl, `kd alpha=${alpha}`);
    targets.dispose();
  }
  close(losses[2]!, ce, 'alpha=1 equals CE');
  close(losses[0]!, kl, 'alpha=0 equals tau^2 KL');
  assert.ok(Math.abs(ce - kl) > 0.05, 'the check can tell CE from KL');
  tf.dispose([y, s, out.hidden]);
});

test('label method: CE on the labels, no targets', () => {
  // Through the registry's entry point, as the pipeline calls it (METHODS.label.prepare itself takes no arguments).
  const m = prepareMethod({ name: 'label' }, view);
  assert.equal(m.targets, null);
  assert.equal(m.subclasses, 1);
  const y = onehot(labels, 2);
  const s = tf.tensor2d(studentLogits);
  const out: StudentOutputs = { logits: s, hidden: tf.zeros([4, 4]) };
  // Row 0: lse(.3,-.2) - .3 = log(1 + e^-.5) = 0.474077; row 1: lse(1,2) - 2 = log(1 + e^-1) = 0.313262; ...
  close(ceRow(studentLogits[0]!, 0), log(1 + exp(-0.5)), 'reference row 0', 1e-12);
  close(scalar(m.loss(out, null, y)), mean(studentLogits.map((r, i) => ceRow(r, labels[i]!))), 'label CE');
  tf.dispose([y, s, out.hidden]);
});

test('lelp loss: alpha=0 is softKl(q, s, tau); alpha>0 adds alpha * CE(y, logsumexp class logits)', () => {
  const S = 2;
  const tau = 2;
  const cfg = { name: 'lelp' as const, subclasses: S, beta: 1, tau, alpha: 0, nullSpace: false, rotate: true, projection: 'pca' as const, assign: 'directions' as const, whiten: false };
  // Student with C*S = 4 logits per example.
  const st = [[0.3, -0.2, 1, 0], [1, 2, -1, 0.5], [-1, 0.5, 0, 2], [0, 0, 0.7, -0.4]];
  const y = onehot(labels, 2);
  const s = tf.tensor2d(st);
  const out: StudentOutputs = { logits: s, hidden: tf.zeros([4, 4]) };
  const m0 = METHODS.lelp.prepare(cfg, view);
  assert.equal(m0.width, 4);
  assert.equal(m0.subclasses, S);
  const q = Array.from({ length: 4 }, (_, i) => Array.from(m0.targets!.read(i, 1)));
  // KL part by hand from the prepared targets: tau^2 * sum_k q_k (log q_k - log softmax(s/tau)_k), mean over rows.
  const kl = mean(st.map((r, i) => klRow(q[i]!, r, tau)));
  // Class logits: [lse(s_0, s_1), lse(s_2, s_3)], then CE with the label.
  const ceClass = mean(st.map((r, i) => ceRow([lse(r.slice(0, 2)), lse(r.slice(2, 4))], labels[i]!)));
  const qt = tf.tensor2d(readAll(m0.targets!), [4, 4]);
  const v0 = scalar(m0.loss(out, qt, y));
  close(v0, kl, 'lelp alpha=0');
  const ref = softKl(qt, s, tau);
  close(v0, scalar(ref), 'lelp alpha=0 equals softKl');
  for (const alpha of [0.25, 1]) {
    const m = METHODS.lelp.prepare({ ...cfg, alpha }, view);
    // alpha does not touch the targets.
    assert.deepEqual(Array.from(readAll(m.targets!)), Array.from(readAll(m0.targets!)));
    close(scalar(m.loss(out, qt, y)), kl + alpha * ceClass, `lelp alpha=${alpha}`);
  }
  assert.ok(ceClass > 0.1, 'the CE term is large enough to be seen');
  tf.dispose([y, s, out.hidden, qt]);
});
