// LELP's options on a small real batch: the shipped Fashion-MNIST teacher's embeddings and logits for the
// first 300 training images. One test per option, each asserting that the option changes what it should.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { Matrix } from 'ml-matrix';
import { readIdx } from '../pipeline/data/idx.ts';
import { fitLelp, kmeans, lelpCoordinates, lelpTargets, type LelpOptions, type LelpProjection } from '../pipeline/distill/lelp.ts';
import { METHODS, type StudentOutputs, type TeacherView } from '../pipeline/distill/losses.ts';
import { fitLinearHead, gaussian, rng, toMatrix } from '../pipeline/util/math.ts';
import { readTeacherHead } from '../pipeline/teacher/head.ts';
import { tf, useBackend } from '../pipeline/util/tfjs.ts';
import { EXAMPLE_DIR, maxAbsDiff } from './helpers.ts';
import { readAll } from '../pipeline/data/rows.ts';

const N = 300;
const D = 256;
const C = 2;
const TEACHER = join(EXAMPLE_DIR, 'teacher.onnx');

let emb: Float32Array;
let logits: Float32Array;
let labels: Int32Array;
let head: Matrix;

before(async () => {
  assert.equal(await useBackend('wasm'), 'wasm');
  const images = await readIdx(join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz'));
  const raw = await readIdx(join(EXAMPLE_DIR, 'train-labels-idx1-ubyte.gz'));
  const x = new Float32Array(N * 784);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i]! / 255;
  labels = Int32Array.from({ length: N }, (_, i) => raw.data[i]! % 2);
  const session = await ort.InferenceSession.create(TEACHER, { executionProviders: ['cpu'] });
  const out = await session.run({ image: new ort.Tensor('float32', x, [N, 1, 28, 28]) });
  assert.deepEqual(out.logits!.dims, [N, C]);
  assert.deepEqual(out.embedding!.dims, [N, D]);
  logits = out.logits!.data as Float32Array;
  emb = out.embedding!.data as Float32Array;
  await session.release();
  const read = readTeacherHead(TEACHER, 'embedding', 'logits');
  assert.ok(read.W, read.reason);
  head = read.W;
});

// The paper's form (rotated principal directions) unless a test says otherwise.
const BASE: LelpOptions = { subclasses: 4, beta: 1, tau: 1, nullSpace: true, rotate: true, projection: 'pca', assign: 'directions', whiten: false, seed: 0 };

function fit(over: Partial<LelpOptions> = {}, withHead = true): LelpProjection {
  return fitLelp(emb, logits, N, D, C, labels, { ...BASE, ...over }, withHead ? head : null);
}

function targets(proj: LelpProjection, beta: number, tau: number): Float32Array {
  return lelpTargets(proj, emb, logits, N, D, { beta, tau });
}

/** The teacher's class probabilities at tau, by hand (max-shifted exp). */
function classProbs(tau: number): number[][] {
  return Array.from({ length: N }, (_, i) => {
    const a = logits[2 * i]! / tau;
    const b = logits[2 * i + 1]! / tau;
    const m = Math.max(a, b);
    const ea = Math.exp(a - m);
    const eb = Math.exp(b - m);
    return [ea / (ea + eb), eb / (ea + eb)];
  });
}

function entropy(p: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < p.length; i++) if (p[i]! > 0) h -= p[i]! * Math.log(p[i]!);
  return h;
}

/** Within-class subclass distributions q_{c,.} / p_c, for the blocks whose class mass is not negligible. */
function withinBlocks(q: Float32Array, S: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < N; i++) for (let c = 0; c < C; c++) {
    const block = Array.from(q.subarray(i * C * S + c * S, i * C * S + (c + 1) * S));
    const pc = block.reduce((a, b) => a + b, 0);
    if (pc > 1e-3) out.push(block.map((v) => v / pc));
  }
  return out;
}

const meanOf = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

test('subclasses S: targets are C*S wide, rows sum to 1, each class block sums to p_c at tau', () => {
  const tau = 2;
  const p = classProbs(tau);
  for (const S of [1, 3, 5]) {
    const proj = fit({ subclasses: S });
    assert.equal(proj.subclasses, S);
    for (const U of proj.U) assert.deepEqual([U.rows, U.columns], [D, S]);
    const q = targets(proj, 1, tau);
    assert.equal(q.length, N * C * S);
    let rowErr = 0;
    let blockErr = 0;
    for (let i = 0; i < N; i++) {
      let row = 0;
      for (let c = 0; c < C; c++) {
        let block = 0;
        for (let s = 0; s < S; s++) block += q[i * C * S + c * S + s]!;
        blockErr = Math.max(blockErr, Math.abs(block - p[i]![c]!));
        row += block;
      }
      rowErr = Math.max(rowErr, Math.abs(row - 1));
    }
    assert.ok(rowErr < 1e-5, `S=${S}: a row sums to 1 +- ${rowErr}`);
    assert.ok(blockErr < 1e-5, `S=${S}: a class block differs from p_c by ${blockErr}`);
    // With S > 1 the subclass split carries information: it is not uniform within the block.
    if (S > 1) {
      const spread = meanOf(withinBlocks(q, S).map((w) => Math.max(...w) - Math.min(...w)));
      assert.ok(spread > 0.1, `S=${S}: within-class distributions are nearly uniform (mean max-min ${spread})`);
    }
  }
});

test('beta: larger beta flattens the within-class subclass distribution; tiny beta approaches one-hot', () => {
  const S = 4;
  const proj = fit({ subclasses: S });
  const betas = [1e-3, 0.3, 1, 3, 100];
  const H = betas.map((beta) => meanOf(withinBlocks(targets(proj, beta, 1), S).map(entropy)));
  for (let i = 1; i < H.length; i++) assert.ok(H[i]! > H[i - 1]!, `entropy at beta=${betas[i]} (${H[i]}) <= at beta=${betas[i - 1]} (${H[i - 1]})`);
  const oneHot = meanOf(withinBlocks(targets(proj, 1e-3, 1), S).map((w) => Math.max(...w)));
  assert.ok(oneHot > 0.99, `beta=1e-3: mean within-class max probability ${oneHot}`);
  assert.ok(H[H.length - 1]! > 0.99 * Math.log(S), `beta=100: mean entropy ${H[H.length - 1]} should approach log S = ${Math.log(S)}`);
});

test('tau: larger tau moves the class blocks towards uniform', () => {
  const S = 3;
  const proj = fit({ subclasses: S });
  const taus = [0.5, 1, 2, 4, 8];
  const H = taus.map((tau) => {
    const q = targets(proj, 1, tau);
    return meanOf(Array.from({ length: N }, (_, i) => {
      const blocks = [0, 1].map((c) => q.subarray(i * C * S + c * S, i * C * S + (c + 1) * S).reduce((a, b) => a + b, 0));
      return entropy(blocks);
    }));
  });
  for (let i = 1; i < H.length; i++) assert.ok(H[i]! > H[i - 1]!, `block-sum entropy at tau=${taus[i]} (${H[i]}) <= at tau=${taus[i - 1]} (${H[i - 1]})`);
  assert.ok(H[0]! < 0.2 * Math.log(2), `tau=0.5: a confident teacher's blocks should be far from uniform (entropy ${H[0]})`);
});

test('alpha: the lelp loss changes with alpha, and depends on the labels only when alpha > 0', () => {
  const S = 3;
  const view: TeacherView = { n: N, classes: C, embeddingDim: D, logits, embedding: emb, groups: labels, head, seed: 0, studentHidden: 8 };
  const g = gaussian(rng(11));
  const student = tf.tensor2d(Float32Array.from({ length: N * C * S }, g), [N, C * S]);
  const out: StudentOutputs = { logits: student, hidden: tf.zeros([N, 8]) };
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), C), 'float32') as tf.Tensor2D);
  const yFlipped = tf.tidy(() => tf.sub(1, y) as tf.Tensor2D);
  const value = (alpha: number, onehot: tf.Tensor2D) => {
    const m = METHODS.lelp.prepare({ name: 'lelp', subclasses: S, beta: 1, tau: 2, alpha, nullSpace: true, rotate: true, projection: 'pca', assign: 'directions', whiten: false }, view);
    assert.equal(m.notes.headSource, 'graph');
    const q = tf.tensor2d(readAll(m.targets!), [N, C * S]);
    const l = m.loss(out, q, onehot);
    const v = l.dataSync()[0]!;
    tf.dispose([q, l]);
    return v;
  };
  const a0 = value(0, y);
  const a0flip = value(0, yFlipped);
  const a5 = value(0.5, y);
  const a5flip = value(0.5, yFlipped);
  const a1 = value(1, y);
  assert.equal(a0, a0flip, 'alpha=0: labels must not matter');
  assert.ok(Math.abs(a5 - a5flip) > 1e-3, `alpha=0.5: flipping the labels must change the loss (${a5} vs ${a5flip})`);
  assert.ok(a5 - a0 > 1e-3 && a1 - a5 > 1e-3, `the CE term grows with alpha: ${a0} < ${a5} < ${a1}`);
  // Linear in alpha: loss(1) - loss(0) = 2 * (loss(0.5) - loss(0)).
  assert.ok(Math.abs(a1 - a0 - 2 * (a5 - a0)) < 1e-4 * Math.max(1, a1), `not linear in alpha: ${a0}, ${a5}, ${a1}`);
  tf.dispose([student, out.hidden, y, yFlipped]);
});

test('nullSpace: on, z is unchanged by adding W^T v to h; off, it changes; headSource reports where W came from', () => {
  const S = 4;
  const on = fit({ subclasses: S });
  const lsq = fit({ subclasses: S }, false);
  const off = fit({ subclasses: S, nullSpace: false });
  const offWithHead = fit({ subclasses: S, nullSpace: false }, true);
  assert.equal(on.headSource, 'graph');
  assert.equal(on.W, head);
  assert.equal(lsq.headSource, 'least-squares');
  assert.ok(lsq.W && lsq.W !== head);
  assert.equal(off.headSource, 'none');
  assert.equal(off.W, null);
  assert.equal(offWithHead.headSource, 'none');
  // h' = h + W^T v_i with a different random v_i per example, large enough to move h by much.
  const g = gaussian(rng(5));
  const shift = (W: Matrix) => {
    const V = Matrix.from1DArray(N, C, Array.from({ length: N * C }, () => 20 * g()));
    const Hs = toMatrix(emb, N, D).add(V.mmul(W));
    return Float32Array.from(Hs.to1DArray());
  };
  // Random projections are not inside the null space themselves, so for them z depends on lelpCoordinates
  // projecting h; PCA directions of P h already are (W U_c = 0), which the next block checks separately.
  const onRandom = fit({ subclasses: S, projection: 'random' });
  const offRandom = fit({ subclasses: S, projection: 'random', nullSpace: false });
  for (const [proj, name] of [[on, 'graph head'], [lsq, 'least-squares head'], [onRandom, 'graph head, random projection']] as const) {
    const z = lelpCoordinates(proj, emb, N, D);
    const zs = lelpCoordinates(proj, shift(proj.W!), N, D);
    // Float32 rounding of h' is the only difference: ~1e-7 of |h'|, amplified by 1/std.
    const d = maxAbsDiff(z, zs);
    assert.ok(d < 1e-3 * maxAbs(z), `${name}: z moved by ${d} (|z| up to ${maxAbs(z)})`);
  }
  for (const [proj, name] of [[off, 'pca'], [offRandom, 'random projection']] as const) {
    const z = lelpCoordinates(proj, emb, N, D);
    const zs = lelpCoordinates(proj, shift(head), N, D);
    assert.ok(maxAbsDiff(z, zs) > 0.5, `nullSpace off, ${name}: z should move, moved by ${maxAbsDiff(z, zs)}`);
  }
  // And the null-space coordinates are not just the plain ones.
  assert.ok(maxAbsDiff(lelpCoordinates(on, emb, N, D), lelpCoordinates(off, emb, N, D)) > 0.1);
  // What was fitted lives in the null space: W mu_c = 0 and W U_c = 0 (PCA of P h). Without it, the top
  // directions of the raw embeddings are read by the head: W U_c is far from 0.
  const wNorm = Math.max(...[0, 1].map((c) => Math.hypot(...head.getRow(c))));
  for (let c = 0; c < C; c++) {
    const Wmu = head.mmul(Matrix.columnVector(Array.from(on.means[c]!))).to1DArray();
    const muNorm = Math.hypot(...on.means[c]!);
    assert.ok(maxAbs(Wmu) < 1e-9 * wNorm * muNorm, `class ${c}: W mu_c = ${Wmu}`);
    assert.ok(maxAbs(head.mmul(on.U[c]!).to1DArray()) < 1e-9 * wNorm, `class ${c}: W U_c is not 0`);
    const offRead = maxAbs(head.mmul(off.U[c]!).to1DArray());
    assert.ok(offRead > 0.05 * wNorm, `class ${c}, nullSpace off: W U_c only ${offRead} (|W row| ${wNorm})`);
  }
});

/** The head's bias read from the ONNX initializer 'head.bias'. */
function readBias(): Float32Array {
  const model = onnxProto.onnx.ModelProto.decode(readFileSync(TEACHER));
  const t = (model.graph!.initializer ?? []).find((x) => x.name === 'head.bias');
  assert.ok(t, 'initializer head.bias');
  assert.equal(t.dataType, 1);
  if (t.rawData && t.rawData.length) {
    const b = t.rawData;
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  return Float32Array.from(t.floatData ?? []);
}

test('readTeacherHead returns the 2x256 W that reproduces the logits; least squares recovers it', () => {
  assert.deepEqual([head.rows, head.columns], [C, D]);
  const b = readBias();
  assert.equal(b.length, C);
  const H = toMatrix(emb, N, D);
  const recon = H.mmul(head.transpose()).addRowVector(Array.from(b));
  const err = maxAbsDiff(recon.to1DArray(), logits);
  assert.ok(err < 1e-3, `embedding . W^T + b differs from the logits by ${err}`);
  // The shipped bias is ~0.04 and 0.06: leaving it out must break the 1e-3 match (so the check can fail).
  assert.ok(maxAbsDiff(H.mmul(head.transpose()).to1DArray(), logits) > 1e-2);
  // The least-squares fit on (embedding, logits). ReLU units that are 0 on every example cannot be identified:
  // the minimum-norm fit puts 0 there. On the live units it must match the graph's W.
  const fitted = fitLinearHead(H, toMatrix(logits, N, C));
  assert.deepEqual([fitted.rows, fitted.columns], [C, D]);
  const live: number[] = [];
  for (let j = 0; j < D; j++) if (H.getColumn(j).some((v) => v !== 0)) live.push(j);
  assert.ok(live.length > 100, `${live.length} live units`);
  const scale = maxAbs(head.to1DArray());
  for (let c = 0; c < C; c++) {
    const a = live.map((j) => fitted.get(c, j));
    const w = live.map((j) => head.get(c, j));
    const d = maxAbsDiff(a, w);
    assert.ok(d < 0.02 * scale, `row ${c}: least-squares W differs by ${d} (|W| up to ${scale})`);
    const cos = a.reduce((s, v, k) => s + v * w[k]!, 0) / Math.hypot(...a) / Math.hypot(...w);
    assert.ok(cos > 0.9999, `row ${c}: cosine ${cos}`);
    for (let j = 0; j < D; j++) if (!live.includes(j)) assert.ok(Math.abs(fitted.get(c, j)) < 1e-8, `dead unit ${j}: ${fitted.get(c, j)}`);
  }
  // Either W gives the same logits on the data up to a constant per class (the fit's own bias is not returned).
  const centred = (M: Matrix) => M.clone().subRowVector(M.mean('column')).to1DArray();
  const fitErr = maxAbsDiff(centred(H.mmul(fitted.transpose())), centred(H.mmul(head.transpose())));
  assert.ok(fitErr < 1e-3, `centred logits from the fitted W differ by up to ${fitErr}`);
});

test('rotate: U_c = V_c Q with Q orthogonal, same subspace as plain PCA, more equal variances', () => {
  const S = 4;
  const rot = fit({ subclasses: S, rotate: true });
  const pca = fit({ subclasses: S, rotate: false });
  for (let c = 0; c < C; c++) {
    const U = rot.U[c]!;
    const V = pca.U[c]!;
    const I = Matrix.eye(S);
    assert.ok(maxAbsDiff(U.transpose().mmul(U).to1DArray(), I.to1DArray()) < 1e-9, 'U^T U = I');
    assert.ok(maxAbsDiff(V.transpose().mmul(V).to1DArray(), I.to1DArray()) < 1e-9, 'V^T V = I');
    // Same subspace: U U^T = V V^T; and Q = V^T U is orthogonal with U = V Q.
    assert.ok(maxAbsDiff(U.mmul(U.transpose()).to1DArray(), V.mmul(V.transpose()).to1DArray()) < 1e-9, 'U U^T = V V^T');
    const Q = V.transpose().mmul(U);
    assert.ok(maxAbsDiff(Q.transpose().mmul(Q).to1DArray(), I.to1DArray()) < 1e-9, 'Q orthogonal');
    assert.ok(maxAbsDiff(V.mmul(Q).to1DArray(), U.to1DArray()) < 1e-9, 'U = V Q');
    // ... and Q is a real rotation, not the identity or a signed permutation.
    assert.ok(maxAbs(Q.to1DArray().map((v) => Math.min(Math.abs(v), Math.abs(Math.abs(v) - 1)))) > 0.1, 'Q mixes the directions');
    // Plain PCA's variances (std^2 before standardisation) are sorted; rotation evens them out.
    const vp = Array.from(pca.std[c]!, (s) => s * s);
    const vr = Array.from(rot.std[c]!, (s) => s * s);
    for (let s = 1; s < S; s++) assert.ok(vp[s]! <= vp[s - 1]! * (1 + 1e-9), `class ${c}: PCA variances not sorted: ${vp}`);
    // Total variance in the subspace is the same.
    assert.ok(Math.abs(meanOf(vp) - meanOf(vr)) < 1e-6 * meanOf(vp), `class ${c}: trace differs ${vp} vs ${vr}`);
    const ratio = (v: number[]) => Math.max(...v) / Math.min(...v);
    assert.ok(ratio(vr) < ratio(vp), `class ${c}: rotated max/min variance ${ratio(vr)} not below PCA's ${ratio(vp)}`);
  }
});

test("projection 'random': directions differ from PCA's and carry less variance", () => {
  const S = 4;
  const rnd = fit({ subclasses: S, rotate: false, projection: 'random' });
  const pca = fit({ subclasses: S, rotate: false });
  for (let c = 0; c < C; c++) {
    const R = rnd.U[c]!;
    const V = pca.U[c]!;
    for (let j = 0; j < S; j++) assert.ok(Math.abs(Math.hypot(...R.getColumn(j)) - 1) < 1e-9, 'unit-norm random direction');
    const cos = maxAbs(R.transpose().mmul(V).to1DArray());
    assert.ok(cos < 0.5, `class ${c}: a random direction is close to a PCA direction (|cos| ${cos})`);
    const vr = Array.from(rnd.std[c]!, (s) => s * s);
    const vp = Array.from(pca.std[c]!, (s) => s * s);
    assert.ok(Math.max(...vr) < vp[0]!, `class ${c}: a random direction has more variance (${Math.max(...vr)}) than the top PCA one (${vp[0]})`);
    assert.ok(vr.reduce((a, b) => a + b) < 0.5 * vp.reduce((a, b) => a + b), `class ${c}: random total variance ${vr} vs PCA ${vp}`);
  }
});

test('seed: the same seed reproduces exactly; another seed changes the rotation and the random projections', () => {
  const S = 4;
  for (const projection of ['pca', 'random'] as const) {
    const a = fit({ subclasses: S, seed: 1, projection });
    const b = fit({ subclasses: S, seed: 1, projection });
    const c = fit({ subclasses: S, seed: 2, projection });
    for (let k = 0; k < C; k++) {
      assert.deepEqual(a.U[k]!.to1DArray(), b.U[k]!.to1DArray(), `${projection}: same seed, same U`);
      assert.deepEqual(Array.from(a.std[k]!), Array.from(b.std[k]!));
      assert.ok(maxAbsDiff(a.U[k]!.to1DArray(), c.U[k]!.to1DArray()) > 0.1, `${projection}: another seed, same U`);
      const span = (U: Matrix) => U.mmul(U.transpose()).to1DArray();
      const spanDiff = maxAbsDiff(span(a.U[k]!), span(c.U[k]!));
      // PCA + rotation: only Q changes, the subspace does not. Random: the subspace itself changes.
      if (projection === 'pca') assert.ok(spanDiff < 1e-9, `pca: the seed changed the PCA subspace (${spanDiff})`);
      else assert.ok(spanDiff > 0.05, `random: the seed did not change the subspace (${spanDiff})`);
    }
    assert.deepEqual(Array.from(targets(a, 1, 1)), Array.from(targets(b, 1, 1)), `${projection}: same seed, same targets`);
    assert.ok(maxAbsDiff(targets(a, 1, 1), targets(c, 1, 1)) > 0.01, `${projection}: another seed, same targets`);
  }
  // Without rotation PCA uses no randomness at D <= 512: the seed must not matter.
  const p1 = fit({ subclasses: S, seed: 1, rotate: false });
  const p2 = fit({ subclasses: S, seed: 2, rotate: false });
  for (let k = 0; k < C; k++) assert.deepEqual(p1.U[k]!.to1DArray(), p2.U[k]!.to1DArray());
});

test('scaling: one scale per class keeps the directions\' relative variances, so rotation is what equalises them', () => {
  const S = BASE.subclasses;
  for (const rotate of [false, true]) {
    const proj = fit({ rotate });
    const z = lelpCoordinates(proj, emb, N, D);
    for (let c = 0; c < C; c++) {
      const rows = Array.from(labels.keys()).filter((i) => labels[i] === c);
      const sds = Array.from({ length: S }, (_, s) => {
        const v = rows.map((i) => z[i * C * S + c * S + s]!);
        const m = meanOf(v);
        return Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / (v.length - 1));
      });
      // Over its own examples, a class's coordinates have root-mean-square std 1: beta is scale-free.
      const rms = Math.sqrt(meanOf(sds.map((x) => x * x)));
      assert.ok(Math.abs(rms - 1) < 1e-9, `rotate=${rotate} class ${c}: rms std ${rms}`);
      // The relative spread of the directions is the projection's own (std / scale), not flattened to 1 each.
      sds.forEach((sd, s) => assert.ok(Math.abs(sd - proj.std[c]![s]! / proj.scale[c]!) < 1e-9));
      if (!rotate) assert.ok(sds[0]! > 1.5 * sds[S - 1]!, `class ${c}: without rotation the top direction dominates (${sds.map((x) => x.toFixed(2))})`);
    }
  }
});

test('oracle: the true fine label carries its class\'s mass, the other class\'s mass is spread evenly; it refuses data without fine labels', async () => {
  const raw = await readIdx(join(EXAMPLE_DIR, 'train-labels-idx1-ubyte.gz'));
  // label % 2 with data.labelMap [0, 1, 0, 1, ...]: raw label r is subclass floor(r / 2) of class r % 2.
  const subclass = Int32Array.from({ length: N }, (_, i) => Math.floor(raw.data[i]! / 2));
  const view: TeacherView = { n: N, classes: C, embeddingDim: D, logits, embedding: emb, groups: labels, head, seed: 0, studentHidden: 0, fine: { subclass, subclasses: 5 } };
  const tau = 2;
  const prepared = METHODS.oracle.prepare({ name: 'oracle', tau, alpha: 0 }, view);
  assert.equal(prepared.subclasses, 5);
  assert.deepEqual(prepared.lossSpec, { kind: 'lelp', tau, alpha: 0, classes: C, subclasses: 5 });
  const q = readAll(prepared.targets!);
  const p = classProbs(tau);
  for (let i = 0; i < N; i++) {
    for (let c = 0; c < C; c++) {
      for (let s = 0; s < 5; s++) {
        const want = c === labels[i] ? (s === subclass[i] ? p[i]![c]! : 0) : p[i]![c]! / 5;
        assert.ok(Math.abs(q[(i * C + c) * 5 + s]! - want) < 1e-6, `example ${i}, class ${c}, subclass ${s}: ${q[(i * C + c) * 5 + s]} vs ${want}`);
      }
    }
  }
  assert.throws(() => METHODS.oracle.prepare({ name: 'oracle', tau, alpha: 0 }, { ...view, fine: null }), (e: { code?: string; message: string; hint?: string }) => e.code === 'E_CONFIG' && /fine labels/.test(e.message) && /labelMap/.test(e.hint ?? ''));
});

test("assign 'signed': S/2 directions, each split by sign into a pair whose scores are z and -z; odd S is refused", () => {
  const S = 6;
  const proj = fit({ subclasses: S, assign: 'signed' });
  for (const U of proj.U) assert.deepEqual([U.rows, U.columns], [D, S / 2]);
  const z = lelpCoordinates(proj, emb, N, D);
  assert.equal(z.length, N * C * S);
  let pairErr = 0;
  for (let b = 0; b < N * C; b++) for (let k = 0; k < S / 2; k++) pairErr = Math.max(pairErr, Math.abs(z[b * S + 2 * k]! + z[b * S + 2 * k + 1]!));
  assert.equal(pairErr, 0);
  // Its scores are the 'directions' scores of the same S/2 directions, sign-duplicated (same seed, same rotation).
  const half = lelpCoordinates(fit({ subclasses: S / 2 }), emb, N, D);
  let same = 0;
  for (let b = 0; b < N * C; b++) for (let k = 0; k < S / 2; k++) same = Math.max(same, Math.abs(z[b * S + 2 * k]! - half[b * (S / 2) + k]!));
  assert.ok(same < 1e-9, `signed scores differ from the directions' by ${same}`);
  // Every pseudo-subclass is some example's most likely one within its own class.
  const q = targets(proj, 1, 1);
  const used = new Set<number>();
  for (let i = 0; i < N; i++) {
    const c = labels[i]!;
    const block = Array.from(q.subarray(i * C * S + c * S, i * C * S + (c + 1) * S));
    used.add(c * S + block.indexOf(Math.max(...block)));
  }
  assert.equal(used.size, C * S, `only ${used.size} of ${C * S} signed pseudo-subclasses are ever the top one`);
  assert.throws(() => fit({ subclasses: 5, assign: 'signed' }), /even/);
  const view: TeacherView = { n: N, classes: C, embeddingDim: D, logits, embedding: emb, groups: labels, head, seed: 0, studentHidden: 8 };
  assert.throws(() => METHODS.lelp.prepare({ name: 'lelp', subclasses: 5, beta: 1, tau: 1, alpha: 0, nullSpace: true, rotate: true, projection: 'pca', assign: 'signed', whiten: false }, view), (e: { code?: string; message: string }) => e.code === 'E_CONFIG' && /even/.test(e.message) && /5/.test(e.message));
});

test("assign 'kmeans': scores are scaled negative squared distances to the class's centres, every cluster is used; k-means recovers separated blobs", () => {
  const S = 4;
  const proj = fit({ subclasses: S, assign: 'kmeans' });
  assert.equal(proj.assign, 'kmeans');
  const z = lelpCoordinates(proj, emb, N, D);
  for (let c = 0; c < C; c++) {
    const rows = Array.from(labels.keys()).filter((i) => labels[i] === c);
    const counts = new Array(S).fill(0);
    let within = 0;
    for (const i of rows) {
      const block = Array.from(z.subarray(i * C * S + c * S, i * C * S + (c + 1) * S));
      assert.ok(block.every((v) => v <= 0), 'k-means scores are negative squared distances');
      const top = block.indexOf(Math.max(...block));
      counts[top]++;
      within += -block[top]!;
    }
    assert.ok(counts.every((k) => k >= 0.03 * rows.length), `class ${c}: a cluster is (nearly) empty: ${counts}`);
    // Scaled by the mean squared distance to the nearest centre: the nearest score averages -1 over the class.
    assert.ok(Math.abs(within / rows.length - 1) < 1e-6, `class ${c}: mean nearest scaled distance ${within / rows.length}`);
  }
  // k-means itself: three separated Gaussian blobs are recovered exactly, whatever the seed.
  const g = gaussian(rng(3));
  const truth = Int32Array.from({ length: 300 }, (_, i) => i % 3);
  const X = Matrix.from1DArray(300, 4, Array.from({ length: 1200 }, (_, k) => g() * 0.3 + (k % 4 === truth[Math.floor(k / 4)]! ? 5 : 0)));
  for (const seed of [1, 2, 3]) {
    const km = kmeans(X, 3, rng(seed));
    const map = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const want = map.get(km.assignment[i]!) ?? truth[i]!;
      map.set(km.assignment[i]!, want);
      assert.equal(want, truth[i], `seed ${seed}: example ${i} in a mixed cluster`);
    }
    assert.equal(map.size, 3);
    assert.ok(km.meanSquaredDistance < 4 * 0.09 * 1.3, `seed ${seed}: mean squared distance ${km.meanSquaredDistance}`);
  }
});

test('whiten: each principal coordinate gets unit variance over its class (without it, the top direction dominates)', () => {
  const S = 4;
  const white = fit({ subclasses: S, whiten: true, rotate: false });
  const plain = fit({ subclasses: S, rotate: false });
  for (let c = 0; c < C; c++) {
    for (const sd of white.std[c]!) assert.ok(Math.abs(sd - 1) < 1e-9, `class ${c}: whitened std ${white.std[c]}`);
    assert.ok(plain.std[c]![0]! > 1.5 * plain.std[c]![S - 1]!, `class ${c}: plain stds ${plain.std[c]}`);
    // Same directions, only rescaled: the columns of U are parallel.
    for (let s = 0; s < S; s++) {
      const a = white.U[c]!.getColumn(s);
      const b = plain.U[c]!.getColumn(s);
      const cos = a.reduce((t, v, k) => t + v * b[k]!, 0) / Math.hypot(...a) / Math.hypot(...b);
      assert.ok(Math.abs(Math.abs(cos) - 1) < 1e-9, `class ${c}, direction ${s}: cosine ${cos}`);
    }
  }
  assert.ok(maxAbsDiff(targets(white, 1, 1), targets(plain, 1, 1)) > 0.01, 'whitening changes the targets');
});
