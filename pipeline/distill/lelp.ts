// LELP (Loo et al. 2024, arXiv 2409.20449; spec in shared/lelp.md): pseudo-subclass targets mined from the
// teacher's embeddings. fitLelp computes the per-class projections once; lelpTargets turns teacher outputs
// into the C*S-way soft targets q_{c,s}(x) = p_c(x) * softmax_s(z_{c,.}(x) / beta).
//
// How z is formed is an option (`assign`), measured on validation (docs/lelp.md):
// - 'kmeans' (the config's default): S k-means clusters per class in its top principal subspace,
//   z_{c,s} = -|y - m_s|^2 (scaled);
// - 'directions' (the paper): z_{c,s} = U_{c,s}^T (P h - mu_c), one pseudo-subclass per (rotated) principal direction;
// - 'signed': S/2 directions, each split by its sign into two pseudo-subclasses (z and -z).
// `whiten` divides each principal coordinate by its standard deviation before any of the three.
import { Matrix } from 'ml-matrix';
import { fitLinearHead, projectNullSpace, randomDirections, randomOrthogonal, rng, softmaxRows, toMatrix, topPrincipalDirections } from '../util/math.ts';

export type LelpAssign = 'directions' | 'signed' | 'kmeans';

export interface LelpOptions {
  subclasses: number;
  beta: number;
  tau: number;
  nullSpace: boolean;
  rotate: boolean;
  projection: 'pca' | 'random';
  seed: number;
  /** How the pseudo-subclasses are formed. */
  assign: LelpAssign;
  /** Divide each principal coordinate by its standard deviation. */
  whiten: boolean;
}

/** The k-means assignment works in each class's top principal subspace of at most this many dimensions. */
export const KMEANS_DIMS = 32;

export interface LelpProjection {
  classes: number;
  subclasses: number;
  assign: LelpAssign;
  /** The teacher's final linear layer W (C x D) whose null space h is projected onto, or null when disabled. */
  W: Matrix | null;
  /** Per class: mean of P h over the class (length D). */
  means: Float64Array[];
  /** Per class: D x K basis (K = S directions, S/2 signed, up to KMEANS_DIMS for k-means), whitening and rotation folded in. */
  U: Matrix[];
  /** Per class and basis direction: standard deviation of U_{c,k}^T (P h - mu_c) over the class's examples. */
  std: Float64Array[];
  /**
   * Per class: one scale. Directions: the root mean square of that class's direction stds, so beta is scale-free while
   * the directions keep their relative variances (equalising those is the rotation's job). K-means: the mean squared
   * distance of the class's examples to their nearest centre.
   */
  scale: number[];
  /** Per class, k-means only: S x K cluster centres in the basis's coordinates. */
  centres: Matrix[] | null;
  /** Where W for the null space came from: the ONNX graph, a least-squares fit of (embedding, logits), or none. */
  headSource: 'graph' | 'least-squares' | 'none';
}

/** Basis directions per class for an assignment: S directions, S/2 for signed ones, a subspace for k-means. */
function basisSize(assign: LelpAssign, S: number, D: number): number {
  if (assign === 'signed') {
    if (S % 2 !== 0 || S < 2) throw new RangeError(`LELP assign "signed" needs an even number of subclasses (each direction gives two), got ${S}`);
    return S / 2;
  }
  return assign === 'kmeans' ? Math.min(D, KMEANS_DIMS) : S;
}

/**
 * Fit the projections on the transfer set. `groups[i]` is the class used to pick example i's PCA group:
 * its label, or the teacher's argmax for unlabeled data.
 */
export function fitLelp(
  embedding: Float32Array,
  logits: Float32Array,
  n: number,
  D: number,
  C: number,
  groups: Int32Array,
  opts: LelpOptions,
  /** The teacher's final layer read from its graph, when it could be; otherwise W is fitted by least squares. */
  head: Matrix | null = null,
): LelpProjection {
  const S = opts.subclasses;
  const assign = opts.assign;
  const K = basisSize(assign, S, D);
  const rand = rng(opts.seed);
  const H = toMatrix(embedding, n, D);
  const W = opts.nullSpace ? (head ?? fitLinearHead(H, toMatrix(logits, n, C))) : null;
  const PH = W ? projectNullSpace(H, W) : H; // rows are (P h)^T
  const means: Float64Array[] = [];
  const U: Matrix[] = [];
  const std: Float64Array[] = [];
  const scale: number[] = [];
  const centres: Matrix[] = [];
  for (let c = 0; c < C; c++) {
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (groups[i] === c) rows.push(i);
    const Xc = rows.length ? PH.selection(rows, Array.from({ length: D }, (_, j) => j)) : new Matrix(1, D);
    const mu = Xc.mean('column');
    const centred = Xc.clone().subRowVector(mu);
    let V = opts.projection === 'pca' ? topPrincipalDirections(centred, K, rand).directions : randomDirections(D, K, rand);
    if (opts.whiten) {
      const sd = columnStds(centred.mmul(V));
      const top = Math.max(...sd);
      V = V.mulRowVector(sd.map((v) => (v > 1e-9 * top && v > 0 ? 1 / v : 0)));
    }
    if (opts.rotate && assign !== 'kmeans') V = V.mmul(randomOrthogonal(K, rand)); // distances do not change under a rotation
    const Z = centred.mmul(V);
    const sd = Float64Array.from(columnStds(Z));
    means.push(Float64Array.from(mu));
    U.push(V);
    std.push(sd);
    if (assign === 'kmeans') {
      const km = kmeans(Z, S, rand);
      centres.push(km.centres);
      scale.push(km.meanSquaredDistance > 1e-12 ? km.meanSquaredDistance : 1);
    } else {
      const rms = Math.sqrt(sd.reduce((a, v) => a + v * v, 0) / K);
      scale.push(rms > 1e-12 ? rms : 1);
    }
  }
  return { classes: C, subclasses: S, assign, W, means, U, std, scale, centres: assign === 'kmeans' ? centres : null, headSource: !W ? 'none' : head ? 'graph' : 'least-squares' };
}

function columnStds(Z: Matrix): number[] {
  return Array.from({ length: Z.columns }, (_, s) => {
    const v = Z.getColumn(s);
    const m = v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
    return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, v.length - 1));
  });
}

/** Squared Euclidean distance between row i of X and row j of M (both row-major, `w` wide). */
function dist2(X: Float64Array, i: number, M: Float64Array, j: number, w: number): number {
  let d = 0;
  for (let k = 0; k < w; k++) d += (X[i * w + k]! - M[j * w + k]!) ** 2;
  return d;
}

/**
 * Lloyd's k-means with seeded k-means++ seeding, until the assignment stops changing (at most 100 rounds). An empty
 * cluster is re-seeded at the point farthest from its centre. Returns the centres (k x w) and the mean squared
 * distance of the points to their nearest centre.
 */
export function kmeans(Xm: Matrix, k: number, rand: () => number): { centres: Matrix; assignment: Int32Array; meanSquaredDistance: number } {
  const n = Xm.rows;
  const w = Xm.columns;
  const X = Float64Array.from(Xm.to1DArray());
  const M = new Float64Array(k * w);
  const assignment = new Int32Array(n).fill(-1);
  if (n === 0) return { centres: new Matrix(k, w), assignment, meanSquaredDistance: 0 };
  const setCentre = (j: number, i: number) => M.set(X.subarray(i * w, (i + 1) * w), j * w);
  // k-means++: each next centre drawn with probability proportional to the squared distance to the nearest chosen one.
  const near = new Float64Array(n).fill(Infinity);
  setCentre(0, Math.floor(rand() * n));
  for (let j = 1; j < k; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += near[i] = Math.min(near[i]!, dist2(X, i, M, j - 1, w));
    let r = rand() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) if ((r -= near[i]!) <= 0) { pick = i; break; }
    setCentre(j, pick);
  }
  const d = new Float64Array(n);
  for (let round = 0; round < 100; round++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bd = Infinity;
      for (let j = 0; j < k; j++) {
        const v = dist2(X, i, M, j, w);
        if (v < bd) { bd = v; best = j; }
      }
      d[i] = bd;
      if (assignment[i] !== best) { assignment[i] = best; changed++; }
    }
    if (changed === 0) break;
    const counts = new Int32Array(k);
    M.fill(0);
    for (let i = 0; i < n; i++) {
      const j = assignment[i]!;
      counts[j]!++;
      for (let c = 0; c < w; c++) M[j * w + c] += X[i * w + c]!;
    }
    for (let j = 0; j < k; j++) {
      if (counts[j]) for (let c = 0; c < w; c++) M[j * w + c] /= counts[j]!;
      else {
        let far = 0;
        for (let i = 1; i < n; i++) if (d[i]! > d[far]!) far = i;
        setCentre(j, far);
        d[far] = 0;
      }
    }
  }
  let total = 0;
  for (let i = 0; i < n; i++) total += d[i]!;
  return { centres: Matrix.from1DArray(k, w, M), assignment, meanSquaredDistance: total / n };
}

/** Subclass scores z_{c,s}(x) before the temperature beta, as [n, C*S] (see the header for each assignment). */
export function lelpCoordinates(proj: LelpProjection, embedding: Float32Array, n: number, D: number): Float64Array {
  const { classes: C, subclasses: S } = proj;
  let H = toMatrix(embedding, n, D);
  if (proj.W) H = projectNullSpace(H, proj.W);
  const z = new Float64Array(n * C * S);
  for (let c = 0; c < C; c++) {
    const Zc = H.clone().subRowVector(Array.from(proj.means[c]!)).mmul(proj.U[c]!);
    const sc = proj.scale[c]!;
    const K = Zc.columns;
    const Y = proj.assign === 'kmeans' ? Float64Array.from(Zc.to1DArray()) : null;
    const M = proj.assign === 'kmeans' ? Float64Array.from(proj.centres![c]!.to1DArray()) : null;
    for (let i = 0; i < n; i++) {
      const at = i * C * S + c * S;
      if (proj.assign === 'kmeans') for (let s = 0; s < S; s++) z[at + s] = -dist2(Y!, i, M!, s, K) / sc;
      else if (proj.assign === 'signed') {
        for (let k = 0; k < S / 2; k++) {
          const v = Zc.get(i, k) / sc;
          z[at + 2 * k] = v;
          z[at + 2 * k + 1] = -v;
        }
      } else for (let s = 0; s < S; s++) z[at + s] = Zc.get(i, s) / sc;
    }
  }
  return z;
}

/** Soft targets q_{c,s} = p_c * softmax_s(z_{c,.} / beta), with p = softmax(logits / tau). Rows sum to 1. */
export function lelpTargets(
  proj: LelpProjection,
  embedding: Float32Array,
  logits: Float32Array,
  n: number,
  D: number,
  opts: { beta: number; tau: number },
): Float32Array {
  const { classes: C, subclasses: S } = proj;
  const p = softmaxRows(logits, n, C, opts.tau);
  const z = lelpCoordinates(proj, embedding, n, D);
  const sub = softmaxRows(z, n * C, S, opts.beta); // each (example, class) block of S is one row
  const q = new Float32Array(n * C * S);
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) {
    const k = i * C * S + c * S + s;
    q[k] = p[i * C + c]! * sub[k]!;
  }
  return q;
}
