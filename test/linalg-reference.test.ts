// projectNullSpace and topPrincipalDirections against an independent reference: numpy (Debian's
// /usr/bin/python3; the pyenv python3 on PATH has no numpy), on real Fashion-MNIST pixels and the shipped
// teacher's head; plus hand-checked tiny cases and a timing guard on the randomized (D > 512) path.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import { readIdx } from '../pipeline/data/idx.ts';
import { EXACT_PCA_MAX_DIM, gaussian, projectNullSpace, rng, topPrincipalDirections } from '../pipeline/util/math.ts';
import { readTeacherHead } from '../pipeline/teacher/head.ts';
import { EXAMPLE_DIR, ROOT, tempDir, maxAbsDiff } from './helpers.ts';

// numpy computes, for each task: null space: H @ (I - W^T pinv(W W^T) W); PCA: the top-k eigenpairs of
// the covariance Xc^T Xc / (n-1) by numpy.linalg.eigh, largest first. rcond=1e-10 (relative to the largest
// singular value) so a rank-deficient W W^T is handled the LAPACK way rather than by numpy's 1e-15 default.
const NUMPY = `
import json, sys, numpy as np
d = sys.argv[1]
tasks = json.load(open(d + '/tasks.json'))
out = {}
def load(name, r, c):
    return np.fromfile(d + '/' + name + '.bin', dtype='<f8').reshape(r, c)
for t in tasks:
    if t['kind'] == 'null':
        H = load(t['name'] + '_H', t['n'], t['D'])
        W = load(t['name'] + '_W', t['C'], t['D'])
        P = np.eye(t['D']) - W.T @ np.linalg.pinv(W @ W.T, rcond=1e-10) @ W
        out[t['name']] = {'PH': (H @ P).ravel().tolist()}
    else:
        X = load(t['name'] + '_X', t['n'], t['D'])
        w, V = np.linalg.eigh(X.T @ X / (t['n'] - 1))
        order = np.argsort(w)[::-1][:t['k']]
        out[t['name']] = {'values': w[order].tolist(), 'vectors': V[:, order].ravel().tolist()}
json.dump(out, open(d + '/out.json', 'w'))
`;

type Task = { kind: 'null'; name: string; n: number; D: number; C: number; H: Matrix; W: Matrix } | { kind: 'pca'; name: string; n: number; D: number; k: number; X: Matrix };
type Reference = Record<string, { PH?: number[]; values?: number[]; vectors?: number[] }>;

function writeF64(path: string, m: Matrix): void {
  writeFileSync(path, Buffer.from(Float64Array.from(m.to1DArray()).buffer));
}

/** Run all tasks through numpy in one interpreter start. */
function numpyReference(tasks: Task[]): Reference {
  const dir = tempDir('linalg');
  for (const t of tasks) {
    if (t.kind === 'null') {
      writeF64(join(dir, `${t.name}_H.bin`), t.H);
      writeF64(join(dir, `${t.name}_W.bin`), t.W);
    } else writeF64(join(dir, `${t.name}_X.bin`), t.X);
  }
  writeFileSync(join(dir, 'tasks.json'), JSON.stringify(tasks.map(({ kind, name, n, D, ...rest }) => ({ kind, name, n, D, C: 'C' in rest ? rest.C : undefined, k: 'k' in rest ? rest.k : undefined }))));
  const r = spawnSync('/usr/bin/python3', ['-c', NUMPY, dir], { encoding: 'utf8' });
  try {
    if (r.status !== 0) throw new Error(`numpy reference failed: ${r.stderr || r.error?.message}`);
    return JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as Reference;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function centre(X: Matrix): Matrix {
  return X.clone().subRowVector(X.mean('column'));
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Singular values of V^T R for two D x k orthonormal bases: the cosines of the principal angles. */
function principalCosines(V: Matrix, R: Matrix): number[] {
  const M = V.transpose().mmul(R);
  // Eigenvalues of M^T M (k x k, symmetric) are the squared singular values.
  const G = M.transpose().mmul(M);
  return new EigenvalueDecomposition(G, { assumeSymmetric: true }).realEigenvalues.map((v) => Math.sqrt(Math.max(0, v)));
}

let pixels: Matrix; // 400 x 784, real Fashion-MNIST training images / 255
let crop: Matrix; // 400 x 484, the central 22 x 22 of the same images (exact path)
let head: Matrix; // the shipped teacher's 2 x 256 head
const tasks: Task[] = [];
let ref: Reference;

before(async () => {
  const { data } = await readIdx(join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz'));
  const n = 400;
  pixels = new Matrix(n, 784);
  crop = new Matrix(n, 484);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 784; p++) pixels.set(i, p, data[i * 784 + p]! / 255);
    for (let r = 0; r < 22; r++) for (let c = 0; c < 22; c++) crop.set(i, r * 22 + c, data[i * 784 + (r + 3) * 28 + c + 3]! / 255);
  }
  const read = readTeacherHead(join(EXAMPLE_DIR, 'teacher.onnx'), 'embedding', 'logits');
  assert.ok(read.W, read.reason);
  head = read.W;
  const g = gaussian(rng(42));
  const rand = (r: number, c: number) => Matrix.from1DArray(r, c, Array.from({ length: r * c }, g));
  const W3 = rand(3, 40);
  // Rank 2: the third row is row0 + 2 row1, so W W^T is singular and only the pseudo-inverse works.
  const Wdef = W3.clone();
  Wdef.setRow(2, W3.getRow(0).map((v, j) => v + 2 * W3.get(1, j)));
  tasks.push(
    { kind: 'null', name: 'teacherHead', n: 30, D: 256, C: 2, H: rand(30, 256), W: head },
    { kind: 'null', name: 'random3', n: 25, D: 40, C: 3, H: rand(25, 40), W: W3 },
    { kind: 'null', name: 'rankDeficient', n: 25, D: 40, C: 3, H: rand(25, 40), W: Wdef },
    { kind: 'pca', name: 'crop', n, D: 484, k: 6, X: centre(crop) },
    { kind: 'pca', name: 'pixels', n, D: 784, k: 5, X: centre(pixels) },
  );
  ref = numpyReference(tasks);
});

test('hand case: W = [[1,0,0],[0,1,0]] projects onto e3; W = [[1,1,0]] removes the mean of h1, h2', () => {
  const H = new Matrix([[1, 2, 3], [4, 5, 6], [-1, 0, 2]]);
  // P = I - W^T (W W^T)^+ W = diag(0, 0, 1): only the third coordinate survives.
  assert.ok(maxAbsDiff(projectNullSpace(H, new Matrix([[1, 0, 0], [0, 1, 0]])).to1DArray(), [0, 0, 3, 0, 0, 6, 0, 0, 2]) < 1e-12);
  // W = [1,1,0]: W W^T = 2, P h = h - (h1 + h2)/2 * (1,1,0). [1,2,3] -> [-0.5, 0.5, 3]; [4,5,6] -> [-0.5, 0.5, 6];
  // [-1,0,2] -> [-0.5, 0.5, 2].
  assert.ok(maxAbsDiff(projectNullSpace(H, new Matrix([[1, 1, 0]])).to1DArray(), [-0.5, 0.5, 3, -0.5, 0.5, 6, -0.5, 0.5, 2]) < 1e-12);
  // The input is not modified.
  assert.deepEqual(H.to2DArray(), [[1, 2, 3], [4, 5, 6], [-1, 0, 2]]);
});

test('hand case: a 2-D point cloud with a known principal axis', () => {
  // Points +-3u and +-1v with u = (cos 30deg, sin 30deg), v = (-sin 30deg, cos 30deg); the mean is 0.
  // Covariance = (2*9 u u^T + 2*1 v v^T) / (4 - 1) = 6 u u^T + (2/3) v v^T: axis u with variance 6, then v with 2/3.
  const a = Math.PI / 6;
  const u = [Math.cos(a), Math.sin(a)];
  const v = [-Math.sin(a), Math.cos(a)];
  const X = new Matrix([u.map((x) => 3 * x), u.map((x) => -3 * x), v, v.map((x) => -x)]);
  const { directions, variances } = topPrincipalDirections(X, 2);
  assert.ok(Math.abs(variances[0]! - 6) < 1e-12 && Math.abs(variances[1]! - 2 / 3) < 1e-12, `variances ${variances}`);
  const cos0 = directions.get(0, 0) * u[0]! + directions.get(1, 0) * u[1]!;
  const cos1 = directions.get(0, 1) * v[0]! + directions.get(1, 1) * v[1]!;
  assert.ok(Math.abs(Math.abs(cos0) - 1) < 1e-12, `first direction . u = ${cos0}`);
  assert.ok(Math.abs(Math.abs(cos1) - 1) < 1e-12, `second direction . v = ${cos1}`);
});

test('projectNullSpace equals numpy H (I - W^T pinv(W W^T) W): teacher head, random W, rank-deficient W', () => {
  for (const t of tasks) {
    if (t.kind !== 'null') continue;
    const ours = projectNullSpace(t.H, t.W);
    const theirs = ref[t.name]!.PH!;
    const d = maxAbsDiff(ours.to1DArray(), theirs);
    assert.ok(d < 1e-6 * maxAbs(t.H.to1DArray()), `${t.name}: max abs diff ${d}`);
    // The projection really removed something (else comparing with H itself would pass too).
    assert.ok(maxAbsDiff(t.H.to1DArray(), theirs) > 0.1, `${t.name}: P h == h, the test cannot tell`);
    // W P h = 0 for every row.
    assert.ok(maxAbs(ours.mmul(t.W.transpose()).to1DArray()) < 1e-9 * maxAbs(t.H.to1DArray()) * maxAbs(t.W.to1DArray()) * t.D);
  }
});

test(`topPrincipalDirections exact path (D = 484 <= ${EXACT_PCA_MAX_DIM}) equals numpy eigh on real pixels`, () => {
  const t = tasks.find((x) => x.name === 'crop')! as Extract<Task, { kind: 'pca' }>;
  assert.ok(t.D <= EXACT_PCA_MAX_DIM);
  const { directions, variances } = topPrincipalDirections(t.X, t.k);
  const r = ref.crop!;
  const V = Matrix.from1DArray(t.D, t.k, r.vectors!);
  for (let j = 0; j < t.k; j++) {
    const cos = directions.getColumnVector(j).transpose().mmul(V.getColumnVector(j)).get(0, 0);
    assert.ok(Math.abs(cos) > 0.9999, `column ${j}: |cos| = ${Math.abs(cos)}`);
    const rel = Math.abs(variances[j]! - r.values![j]!) / r.values![j]!;
    assert.ok(rel < 1e-9, `eigenvalue ${j}: ours ${variances[j]}, numpy ${r.values![j]}`);
    assert.ok(Math.abs(Math.hypot(...directions.getColumn(j)) - 1) < 1e-9, 'unit norm');
  }
});

test(`topPrincipalDirections randomized path (D = 784 > ${EXACT_PCA_MAX_DIM}) matches numpy's top-5 subspace and eigenvalues`, (t) => {
  const task = tasks.find((x) => x.name === 'pixels')! as Extract<Task, { kind: 'pca' }>;
  assert.ok(task.D > EXACT_PCA_MAX_DIM, 'this case must take the randomized path');
  const r = ref.pixels!;
  const V = Matrix.from1DArray(task.D, task.k, r.vectors!);
  for (const seed of [0, 7]) {
    const { directions, variances } = topPrincipalDirections(task.X, task.k, rng(seed));
    assert.ok(maxAbsDiff(directions.transpose().mmul(directions).to1DArray(), Matrix.eye(task.k).to1DArray()) < 1e-9, 'orthonormal columns');
    const cosines = principalCosines(directions, V);
    t.diagnostic(`seed ${seed}: principal-angle cosines ${cosines.map((c) => c.toFixed(7)).join(', ')}`);
    for (const c of cosines) assert.ok(c > 0.999, `seed ${seed}: principal-angle cosine ${c}`);
    const rel = variances.map((v, j) => Math.abs(v - r.values![j]!) / r.values![j]!);
    t.diagnostic(`seed ${seed}: eigenvalue relative errors ${rel.map((e) => e.toExponential(1)).join(', ')}`);
    rel.forEach((e, j) => assert.ok(e < 1e-3, `seed ${seed}, eigenvalue ${j}: ours ${variances[j]}, numpy ${r.values![j]}`));
  }
  // A random 5-d subspace of R^784 would be far from numpy's: the check can fail.
  const g = gaussian(rng(3));
  const Rq = new QrDecomposition(Matrix.from1DArray(task.D, task.k, Array.from({ length: task.D * task.k }, g))).orthogonalMatrix;
  assert.ok(Math.min(...principalCosines(Rq, V)) < 0.5);
});

// Runs in a child process so that an O(D^3) regression is killed instead of blocking the suite for minutes.
// Real structure: column j is pixel (j mod 784) of 500 real images, plus a little seeded noise.
const TIMING_CHILD = `
const { Matrix } = await import('ml-matrix');
const { gaussian, rng, topPrincipalDirections } = await import(process.env.MATH_URL);
const { readIdx } = await import(process.env.IDX_URL);
const { data } = await readIdx(process.env.IMAGES);
const n = 500, D = 4096, k = 5;
const g = gaussian(rng(9));
const X = new Matrix(n, D);
for (let i = 0; i < n; i++) for (let j = 0; j < D; j++) X.set(i, j, data[i * 784 + (j % 784)] / 255 + 0.01 * g());
const Xc = X.subRowVector(X.mean('column'));
const start = performance.now();
const { directions, variances } = topPrincipalDirections(Xc, k, rng(1));
const seconds = (performance.now() - start) / 1000;
const gram = directions.transpose().mmul(directions);
let orth = 0;
for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) orth = Math.max(orth, Math.abs(gram.get(i, j) - (i === j ? 1 : 0)));
console.log(JSON.stringify({ seconds, shape: [directions.rows, directions.columns], orth, variances }));
`;

test('topPrincipalDirections at D = 4096, n = 500, k = 5 runs in well under O(D^3) time', (t) => {
  const limit = 20;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', TIMING_CHILD], {
    encoding: 'utf8',
    timeout: (limit + 10) * 1000,
    env: {
      ...process.env,
      MATH_URL: pathToFileURL(join(ROOT, 'pipeline', 'util', 'math.ts')).href,
      IDX_URL: pathToFileURL(join(ROOT, 'pipeline', 'data', 'idx.ts')).href,
      IMAGES: join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz'),
    },
  });
  assert.ok(r.signal === null, `killed (${r.signal}) after ${limit + 10} s: topPrincipalDirections at D = 4096 is far too slow (an O(D^3) path?)`);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; shape: number[]; orth: number; variances: number[] };
  t.diagnostic(`topPrincipalDirections D=4096 n=500 k=5: ${out.seconds.toFixed(2)} s`);
  assert.deepEqual(out.shape, [4096, 5]);
  assert.ok(out.orth < 1e-9, `columns not orthonormal (${out.orth})`);
  const v = out.variances;
  for (let j = 1; j < 5; j++) assert.ok(v[j]! <= v[j - 1]! && v[j]! > 0, `variances ${v}`);
  assert.ok(out.seconds < limit, `took ${out.seconds.toFixed(1)} s: an O(D^3) path would be this slow`);
});
