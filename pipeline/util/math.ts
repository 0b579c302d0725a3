// Small pure numeric functions used by the distillation methods. Each states its formula; tests compare them
// with hand-computed values. Matrices are row-major Float32Array/Float64Array with explicit sizes.
import { Matrix, EigenvalueDecomposition, QrDecomposition, pseudoInverse, solve } from 'ml-matrix';

/** Seeded PRNG (mulberry32): uniform in [0, 1). Same seed -> same sequence on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples by Box-Muller from a uniform source. */
export function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Fisher-Yates shuffle of 0..n-1 with a seeded source. */
export function permutation(n: number, rand: () => number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** Row-wise softmax(x / T): out_i = exp(x_i/T - m) / sum_j exp(x_j/T - m), m = max_j x_j/T (for stability). */
export function softmaxRows(x: ArrayLike<number>, rows: number, cols: number, T = 1): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]! / T);
    let s = 0;
    for (let c = 0; c < cols; c++) s += out[r * cols + c] = Math.exp(x[r * cols + c]! / T - m);
    for (let c = 0; c < cols; c++) out[r * cols + c]! /= s;
  }
  return out;
}

/** logsumexp(x) = m + log sum_i exp(x_i - m). */
export function logSumExp(x: ArrayLike<number>, start = 0, len = x.length): number {
  let m = -Infinity;
  for (let i = 0; i < len; i++) m = Math.max(m, x[start + i]!);
  let s = 0;
  for (let i = 0; i < len; i++) s += Math.exp(x[start + i]! - m);
  return m + Math.log(s);
}

/** Index of the largest value in each row. */
export function argmaxRows(x: ArrayLike<number>, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (x[r * cols + c]! > x[r * cols + best]!) best = c;
    out[r] = best;
  }
  return out;
}

export function toMatrix(x: ArrayLike<number>, rows: number, cols: number): Matrix {
  const m = new Matrix(rows, cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m.set(r, c, x[r * cols + c]!);
  return m;
}

/**
 * Projection onto the null space of W (C x D), applied to the rows of H (n x D) without forming the D x D
 * projector: P h = h - W^T (W W^T)^+ W h. It removes from h every direction the teacher's final linear layer
 * reads, i.e. what plain KD on the logits already transfers. Cost O(n D C), so D = 4096 is cheap.
 */
export function projectNullSpace(H: Matrix, W: Matrix): Matrix {
  const G = pseudoInverse(W.mmul(W.transpose())); // C x C
  return H.clone().sub(H.mmul(W.transpose()).mmul(G).mmul(W));
}

/** Least-squares fit of logits ~ h W^T + b; returns W (C x D). Used when the teacher's last layer is unknown. */
export function fitLinearHead(h: Matrix, logits: Matrix): Matrix {
  const coef = fitAffine(h, logits);
  return coef.subMatrix(0, h.columns - 1, 0, coef.columns - 1).transpose();
}

/** The rows of h with a column of ones appended: the design matrix of an affine map. */
export function withBias(h: Matrix): Matrix {
  const X = new Matrix(h.rows, h.columns + 1);
  X.setSubMatrix(h, 0, 0);
  for (let r = 0; r < h.rows; r++) X.set(r, h.columns, 1);
  return X;
}

/** Least-squares affine map from the rows of h to the rows of y: (D+1) x K, the bias last (minimum norm, via SVD). */
export function fitAffine(h: Matrix, y: Matrix): Matrix {
  return solve(withBias(h), y, true);
}

/** Widths up to this use the exact covariance eigendecomposition; wider ones the randomized method. */
export const EXACT_PCA_MAX_DIM = 512;

/**
 * Top-k principal directions of the rows of Xc (already centred), as a D x k matrix with unit-norm columns,
 * largest variance first, and their variances (eigenvalues of Xc^T Xc / (n-1)).
 * D <= 512: eigendecomposition of the D x D covariance (exact, O(D^3)). Wider: randomized subspace iteration
 * (Halko, Martinsson & Tropp 2011, alg. 4.4) with oversampling 10 and 4 power iterations, O(n D k) per pass.
 */
export function topPrincipalDirections(Xc: Matrix, k: number, rand: () => number = rng(0)): { directions: Matrix; variances: number[] } {
  const D = Xc.columns;
  const denom = Math.max(1, Xc.rows - 1);
  if (D <= EXACT_PCA_MAX_DIM) {
    const evd = new EigenvalueDecomposition(Xc.transpose().mmul(Xc).div(denom), { assumeSymmetric: true });
    const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k);
    const V = new Matrix(D, k);
    order.forEach(([, i], j) => V.setColumn(j, evd.eigenvectorMatrix.getColumn(i)));
    return { directions: V, variances: order.map(([v]) => Math.max(0, v)) };
  }
  const l = Math.min(D, k + 10);
  const g = gaussian(rand);
  let Q = new QrDecomposition(Xc.transpose().mmul(Xc.mmul(Matrix.from1DArray(D, l, Array.from({ length: D * l }, g))))).orthogonalMatrix;
  for (let it = 0; it < 4; it++) Q = new QrDecomposition(Xc.transpose().mmul(Xc.mmul(Q))).orthogonalMatrix; // D x l
  // Rayleigh-Ritz: the small l x l problem Q^T C Q gives the directions within the subspace.
  const XQ = Xc.mmul(Q);
  const evd = new EigenvalueDecomposition(XQ.transpose().mmul(XQ).div(denom), { assumeSymmetric: true });
  const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k);
  const V = new Matrix(D, k);
  order.forEach(([, i], j) => V.setColumn(j, Q.mmul(Matrix.columnVector(evd.eigenvectorMatrix.getColumn(i))).getColumn(0)));
  return { directions: V, variances: order.map(([v]) => Math.max(0, v)) };
}

/** A k x k random orthogonal matrix: Q of the QR decomposition of a Gaussian matrix, signs fixed by R's diagonal. */
export function randomOrthogonal(k: number, rand: () => number): Matrix {
  const g = gaussian(rand);
  const A = new Matrix(k, k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) A.set(i, j, g());
  const qr = new QrDecomposition(A);
  const Q = qr.orthogonalMatrix;
  const R = qr.upperTriangularMatrix;
  // Multiply column j by sign(R_jj) so Q is uniformly (Haar) distributed rather than biased by QR's convention.
  for (let j = 0; j < k; j++) if (R.get(j, j) < 0) Q.setColumn(j, Q.getColumn(j).map((v) => -v));
  return Q;
}

/** k random unit-norm directions in R^D (the paper's random-projection ablation). */
export function randomDirections(D: number, k: number, rand: () => number): Matrix {
  const g = gaussian(rand);
  const V = new Matrix(D, k);
  for (let j = 0; j < k; j++) {
    const col = Array.from({ length: D }, g);
    const norm = Math.sqrt(col.reduce((acc, v) => acc + v * v, 0)) || 1; // no argument spread: D may be large
    V.setColumn(j, col.map((v) => v / norm));
  }
  return V;
}
