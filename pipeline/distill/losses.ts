// The distillation losses, one small documented unit each, and the method registry that pairs each method
// with its output width, its per-example targets and its loss. All losses are means over the batch.
import { tf } from '../util/tfjs.ts';
import type { MethodConfig, MethodName } from './schema.ts';
import { fitLelp, lelpTargets, type LelpProjection } from './lelp.ts';
import { permutation, rng, softmaxRows } from '../util/math.ts';
import { asRows, buildRows, forEachBlock, MemoryRows, readAll, type Rows } from '../data/rows.ts';
import type { Matrix } from 'ml-matrix';
import type { LossSpec } from '../engine/train-graph.ts';
import { EdgeDistillError } from '../errors.ts';

type T2 = tf.Tensor2D;

/** Cross-entropy with one-hot labels: CE(y, s) = -sum_k y_k log softmax(s)_k. */
export function crossEntropy(onehot: T2, logits: T2): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))));
}

/**
 * Temperature-scaled KL (Hinton et al. 2015): tau^2 * KL(t || softmax(s / tau))
 * = tau^2 * sum_k t_k (log t_k - log softmax(s / tau)_k). The tau^2 keeps gradient magnitudes comparable
 * across temperatures. Terms with t_k = 0 contribute 0.
 */
export function softKl(target: T2, logits: T2, tau: number): tf.Scalar {
  return tf.tidy(() => {
    const logT = tf.log(tf.maximum(target, 1e-30));
    const kl = tf.sum(tf.mul(target, tf.sub(logT, tf.logSoftmax(tf.div(logits, tau)))), 1);
    return tf.mul(tf.mean(kl), tau * tau);
  });
}

/** Class logits of a C*S subclass head: logit_c = logsumexp_s(l_{c,s}) (class-major blocks of S). */
export function classLogits(logits: T2, classes: number, subclasses: number): T2 {
  if (subclasses === 1) return logits;
  return tf.tidy(() => tf.logSumExp(tf.reshape(logits, [-1, classes, subclasses]), 2) as T2);
}

/**
 * Mean squared error per element: mean_{i,k} (a_ik - b_ik)^2 (FitNet's hint loss, Romero et al. 2015).
 */
export function meanSquaredError(a: T2, b: T2): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(a, b)));
}

/** What the teacher pass provides to a method, for the transfer set. */
export interface TeacherView {
  n: number;
  classes: number;
  embeddingDim: number;
  logits: Float32Array;
  /** [n, embeddingDim]: in memory or a row store. */
  embedding: Rows | Float32Array;
  /** Labels, or the teacher's argmax where the data is unlabeled. */
  groups: Int32Array;
  /** The teacher's final linear layer read from its graph (C x D), or null (then fitted where needed). */
  head: Matrix | null;
  seed: number;
  /** Width of the student's penultimate layer (FitNet's map starts there). */
  studentHidden: number;
  /** Where to keep the targets when the transfer set is too large for memory (anonymous files); null or absent: memory. */
  spillDir?: string | null;
  /** Each example's true subclass within its class, when the data has fine labels (Split.fine): the oracle's targets. */
  fine?: { subclass: Int32Array; subclasses: number } | null;
}

/** A student's training-time outputs: its logits and the activations of its penultimate layer. */
export interface StudentOutputs {
  logits: T2;
  hidden: T2;
}

export interface PreparedMethod {
  /** Logits per class the student emits (S for LELP, else 1). */
  subclasses: number;
  /** Per-example soft targets [n, width] (in memory or in a file, like the transfer set), or null for label-only training. */
  targets: Rows | null;
  width: number;
  loss(out: StudentOutputs, targets: T2 | null, onehot: T2): tf.Scalar;
  /**
   * The same loss for the onnxruntime engine, which compiles it into the training graph (engine/train-graph.ts).
   * Every method has one; a hand-made loss without it trains on TF.js only.
   */
  lossSpec?: LossSpec;
  /** Trainable variables of the loss itself (FitNet's linear map), freed after training. */
  variables: tf.Variable[];
  /** Facts worth reporting (e.g. where LELP's null space came from). */
  notes: Record<string, string | number | boolean>;
}

interface MethodImpl<M extends MethodConfig> {
  summary: string;
  prepare(cfg: M, t: TeacherView): PreparedMethod;
}

type ImplFor<N extends MethodName> = MethodImpl<Extract<MethodConfig, { name: N }>>;

/** LELP's (and the oracle's) loss over C*S subclass targets q: tau^2*KL(q || softmax(s/tau)) + alpha*CE(y, logsumexp classes). */
function subclassLoss(C: number, S: number, tau: number, alpha: number): PreparedMethod['loss'] {
  return (o, q, y) =>
    tf.tidy(() => {
      const kl = softKl(q!, o.logits, tau);
      return alpha > 0 ? tf.add(kl, tf.mul(crossEntropy(y, classLogits(o.logits, C, S)), alpha)) : kl;
    });
}

/** KD's loss: alpha*CE(y, s) + (1-alpha)*tau^2*KL(p_teacher(tau) || softmax(s/tau)). */
function kdLoss(s: T2, teacherProbs: T2, y: T2, tau: number, alpha: number): tf.Scalar {
  return tf.tidy(() => tf.add(tf.mul(crossEntropy(y, s), alpha), tf.mul(softKl(teacherProbs, s, tau), 1 - alpha)));
}

/**
 * Per-dimension mean and standard deviation of the teacher embedding over the transfer set (two passes over its
 * blocks), so FitNet's targets are z-scores and its gamma is scale-free.
 */
function embeddingStats(x: Rows): { mean: Float64Array; sd: Float64Array } {
  const { n, width: D } = x;
  const mean = new Float64Array(D);
  forEachBlock(x, (b, _from, count) => {
    for (let i = 0; i < count; i++) for (let j = 0; j < D; j++) mean[j] += b[i * D + j]!;
  });
  for (let j = 0; j < D; j++) mean[j] /= n;
  const v = new Float64Array(D);
  forEachBlock(x, (b, _from, count) => {
    for (let i = 0; i < count; i++) for (let j = 0; j < D; j++) v[j] += (b[i * D + j]! - mean[j]!) ** 2;
  });
  return { mean, sd: v.map((s) => Math.sqrt(s / Math.max(1, n - 1)) || 1) };
}

/** LELP's projections are fitted on at most this many transfer-set rows (a seeded sample beyond it): memory stays flat. */
export const LELP_FIT_ROWS = 65_536;

/** The rows LELP's projections are fitted on: all of them up to LELP_FIT_ROWS, else a seeded sample (ascending). */
export function lelpFitRows(n: number, seed: number): Int32Array | null {
  if (n <= LELP_FIT_ROWS) return null;
  return permutation(n, rng(seed ^ 0x1e1f)).slice(0, LELP_FIT_ROWS).sort();
}

export const METHODS = {
  label: {
    summary: 'label-only: cross-entropy on the ground-truth labels (no teacher)',
    prepare: () => ({ subclasses: 1, targets: null, width: 0, variables: [], notes: {}, loss: (o, _t, y) => crossEntropy(y, o.logits), lossSpec: { kind: 'label' } }),
  } satisfies ImplFor<'label'>,
  kd: {
    summary: 'vanilla KD (Hinton 2015): alpha*CE(y,s) + (1-alpha)*tau^2*KL(softmax(t/tau) || softmax(s/tau))',
    prepare: (cfg, t) => ({
      subclasses: 1,
      targets: buildRows(t.spillDir ?? null, t.n, t.classes, (from, count) => Float32Array.from(softmaxRows(t.logits.subarray(from * t.classes, (from + count) * t.classes), count, t.classes, cfg.tau))),
      width: t.classes,
      variables: [],
      notes: { tau: cfg.tau, alpha: cfg.alpha },
      loss: (o, tt, y) => kdLoss(o.logits, tt!, y, cfg.tau, cfg.alpha),
      lossSpec: { kind: 'kd', tau: cfg.tau, alpha: cfg.alpha },
    }),
  } satisfies ImplFor<'kd'>,
  fitnet: {
    summary: 'FitNet (Romero 2015) + KD: gamma*MSE(A h_s + b, z(h_t)) + KD loss, A learned jointly',
    prepare: (cfg, t) => {
      const C = t.classes;
      const D = t.embeddingDim;
      const embedding = asRows(t.embedding, t.n, D);
      const { mean, sd } = embeddingStats(embedding);
      // One target row: the teacher's softened class probabilities, then its standardised embedding.
      const targets = buildRows(t.spillDir ?? null, t.n, C + D, (from, count) => {
        const probs = softmaxRows(t.logits.subarray(from * C, (from + count) * C), count, C, cfg.tau);
        const emb = embedding.read(from, count);
        const out = new Float32Array(count * (C + D));
        for (let i = 0; i < count; i++) {
          for (let c = 0; c < C; c++) out[i * (C + D) + c] = probs[i * C + c]!;
          for (let j = 0; j < D; j++) out[i * (C + D) + C + j] = (emb[i * D + j]! - mean[j]!) / sd[j]!;
        }
        return out;
      });
      const A = tf.variable(tf.randomNormal([t.studentHidden, D], 0, 1 / Math.sqrt(t.studentHidden), 'float32', t.seed + 17), true, `fitnet_A_${t.seed}_${Date.now()}`);
      const b = tf.variable(tf.zeros([D]), true, `fitnet_b_${t.seed}_${Date.now()}`);
      return {
        subclasses: 1,
        targets,
        width: C + D,
        variables: [A, b],
        notes: { gamma: cfg.gamma, tau: cfg.tau, alpha: cfg.alpha },
        lossSpec: { kind: 'fitnet', tau: cfg.tau, alpha: cfg.alpha, gamma: cfg.gamma, classes: C, embeddingDim: D },
        loss: (o, tt, y) =>
          tf.tidy(() => {
            const [p, e] = tf.split(tt!, [C, D], 1) as [T2, T2];
            const hint = meanSquaredError(tf.add(tf.matMul(o.hidden, A), b), e);
            return tf.add(kdLoss(o.logits, p, y, cfg.tau, cfg.alpha), tf.mul(hint, cfg.gamma));
          }),
      };
    },
  } satisfies ImplFor<'fitnet'>,
  lelp: {
    summary: 'LELP (Loo et al. 2024): tau^2*KL(q || softmax(s/tau)) over C*S pseudo-subclasses + alpha*CE(y, logsumexp classes)',
    prepare: (cfg, t) => {
      const { classes: C, embeddingDim: D } = t;
      if (cfg.assign === 'signed' && cfg.subclasses % 2 !== 0) {
        throw new EdgeDistillError('E_CONFIG', `LELP assign "signed" splits each direction in two, so subclasses must be even; got ${cfg.subclasses}`, 'Set method.subclasses to an even number (e.g. 4 or 6), or use assign "directions".');
      }
      const embedding = asRows(t.embedding, t.n, D);
      // The projections from (a sample of) the transfer set; the targets for every row, a block at a time.
      const fit = lelpFitRows(t.n, t.seed);
      const proj: LelpProjection = fit
        ? fitLelp(embedding.gather(fit), new MemoryRows(t.logits, t.n, C).gather(fit), fit.length, D, C, Int32Array.from(fit, (i) => t.groups[i]!), { ...cfg, seed: t.seed }, t.head)
        : fitLelp(readAll(embedding), t.logits, t.n, D, C, t.groups, { ...cfg, seed: t.seed }, t.head);
      const S = cfg.subclasses;
      return {
        subclasses: S,
        // 4,096 rows a block: lelpTargets holds several float64 copies of a block's embeddings.
        targets: buildRows(t.spillDir ?? null, t.n, C * S, (from, count) => lelpTargets(proj, embedding.read(from, count), t.logits.subarray(from * C, (from + count) * C), count, D, cfg), 4096),
        width: t.classes * S,
        variables: [],
        lossSpec: { kind: 'lelp', tau: cfg.tau, alpha: cfg.alpha, classes: C, subclasses: S },
        notes: { subclasses: S, beta: cfg.beta, tau: cfg.tau, alpha: cfg.alpha, nullSpace: cfg.nullSpace, rotate: cfg.rotate, projection: cfg.projection, assign: cfg.assign, whiten: cfg.whiten, headSource: proj.headSource, ...(fit ? { fittedOnRows: fit.length } : {}) },
        loss: subclassLoss(C, S, cfg.tau, cfg.alpha),
      };
    },
  } satisfies ImplFor<'lelp'>,
  oracle: {
    summary: 'oracle subclasses: LELP\'s loss with the true fine labels as the subclasses (the ceiling of pseudo-subclass methods)',
    prepare: (cfg, t) => {
      const fine = t.fine;
      if (!fine) {
        throw new EdgeDistillError('E_CONFIG', 'the oracle method needs fine labels, and this transfer set has none', 'Give data.labelMap from fine raw labels to the classes (e.g. [0, 1, 0, 1, ...] for label % 2): the raw label is then each example\'s subclass.');
      }
      const { classes: C } = t;
      const S = fine.subclasses;
      return {
        subclasses: S,
        targets: buildRows(t.spillDir ?? null, t.n, C * S, (from, count) => oracleTargets(t.logits.subarray(from * C, (from + count) * C), t.groups.subarray(from, from + count), fine.subclass.subarray(from, from + count), count, C, S, cfg.tau)),
        width: C * S,
        variables: [],
        lossSpec: { kind: 'lelp', tau: cfg.tau, alpha: cfg.alpha, classes: C, subclasses: S },
        notes: { subclasses: S, tau: cfg.tau, alpha: cfg.alpha },
        loss: subclassLoss(C, S, cfg.tau, cfg.alpha),
      };
    },
  } satisfies ImplFor<'oracle'>,
} as const satisfies Record<MethodName, unknown>;

/**
 * The oracle's C*S-way targets: the teacher's class probabilities p_c (temperature tau) with x's own class's mass on
 * its true subclass, every other class's mass spread evenly over its S subclasses. Each row sums to 1, as LELP's do.
 */
export function oracleTargets(logits: Float32Array, classOf: Int32Array, subclass: Int32Array, n: number, C: number, S: number, tau: number): Float32Array {
  const p = softmaxRows(logits, n, C, tau);
  const q = new Float32Array(n * C * S);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) {
      const mass = p[i * C + c]!;
      if (c === classOf[i]) q[(i * C + c) * S + subclass[i]!] = mass;
      else for (let s = 0; s < S; s++) q[(i * C + c) * S + s] = mass / S;
    }
  }
  return q;
}

export function prepareMethod(cfg: MethodConfig, t: TeacherView): PreparedMethod {
  const impl = METHODS[cfg.name] as MethodImpl<MethodConfig>;
  return impl.prepare(cfg, t);
}
