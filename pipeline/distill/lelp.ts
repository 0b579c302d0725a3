// LELP (Loo et al. 2024, arXiv 2409.20449; spec in shared/lelp.md): pseudo-subclass targets mined from the
// teacher's embeddings. fitLelp computes the per-class projections once; lelpTargets turns teacher outputs
// into the C*S-way soft targets q_{c,s}(x) = p_c(x) * softmax_s(z_{c,.}(x) / beta).
import { Matrix } from 'ml-matrix';
import { fitLinearHead, projectNullSpace, randomDirections, randomOrthogonal, rng, softmaxRows, toMatrix, topPrincipalDirections } from '../util/math.ts';

export interface LelpOptions {
  subclasses: number;
  beta: number;
  tau: number;
  nullSpace: boolean;
  rotate: boolean;
  projection: 'pca' | 'random';
  seed: number;
}

export interface LelpProjection {
  classes: number;
  subclasses: number;
  /** The teacher's final linear layer W (C x D) whose null space h is projected onto, or null when disabled. */
  W: Matrix | null;
  /** Per class: mean of P h over the class (length D). */
  means: Float64Array[];
  /** Per class: D x S projection U_c = V_c Q_c. */
  U: Matrix[];
  /** Per class and direction: standard deviation of U_{c,s}^T (P h - mu_c) over the class's examples. */
  std: Float64Array[];
  /**
   * Per class: one scale, the root mean square of that class's direction stds. Coordinates are divided by it so
   * beta is scale-free, while the directions keep their relative variances: equalising those is the job of the
   * random rotation (without rotation the top principal direction dominates, as the paper's ablation intends).
   */
  scale: number[];
  /** Where W for the null space came from: the ONNX graph, a least-squares fit of (embedding, logits), or none. */
  headSource: 'graph' | 'least-squares' | 'none';
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
  const rand = rng(opts.seed);
  const H = toMatrix(embedding, n, D);
  const W = opts.nullSpace ? (head ?? fitLinearHead(H, toMatrix(logits, n, C))) : null;
  const PH = W ? projectNullSpace(H, W) : H; // rows are (P h)^T
  const means: Float64Array[] = [];
  const U: Matrix[] = [];
  const std: Float64Array[] = [];
  const scale: number[] = [];
  for (let c = 0; c < C; c++) {
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (groups[i] === c) rows.push(i);
    const Xc = rows.length ? PH.selection(rows, Array.from({ length: D }, (_, j) => j)) : new Matrix(1, D);
    const mu = Xc.mean('column');
    const centred = Xc.clone().subRowVector(mu);
    let V = opts.projection === 'pca' ? topPrincipalDirections(centred, S, rand).directions : randomDirections(D, S, rand);
    if (opts.rotate) V = V.mmul(randomOrthogonal(S, rand));
    const Z = centred.mmul(V);
    const sd = Float64Array.from({ length: S }, (_, s) => {
      const v = Z.getColumn(s);
      const m = v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
      const varc = v.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, v.length - 1);
      return Math.sqrt(varc);
    });
    means.push(Float64Array.from(mu));
    U.push(V);
    std.push(sd);
    const rms = Math.sqrt(sd.reduce((a, v) => a + v * v, 0) / S);
    scale.push(rms > 1e-12 ? rms : 1);
  }
  return { classes: C, subclasses: S, W, means, U, std, scale, headSource: !W ? 'none' : head ? 'graph' : 'least-squares' };
}

/** Scaled subclass coordinates z_{c,s}(x) = U_{c,s}^T (P h(x) - mu_c) / scale_c, as [n, C*S]. */
export function lelpCoordinates(proj: LelpProjection, embedding: Float32Array, n: number, D: number): Float64Array {
  const { classes: C, subclasses: S } = proj;
  let H = toMatrix(embedding, n, D);
  if (proj.W) H = projectNullSpace(H, proj.W);
  const z = new Float64Array(n * C * S);
  for (let c = 0; c < C; c++) {
    const Zc = H.clone().subRowVector(Array.from(proj.means[c]!)).mmul(proj.U[c]!);
    for (let i = 0; i < n; i++) for (let s = 0; s < S; s++) z[i * C * S + c * S + s] = Zc.get(i, s) / proj.scale[c]!;
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
