// The distillation losses, one small documented unit each, and the method registry that pairs each method
// with its output width, its per-example targets and its loss. All losses are means over the batch.
import { tf } from './tfjs.ts';
import type { MethodConfig, MethodName } from './config.ts';
import { fitLelp, lelpTargets, type LelpProjection } from './lelp.ts';
import { softmaxRows } from './math.ts';
import type { Matrix } from 'ml-matrix';

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
  embedding: Float32Array;
  /** Labels, or the teacher's argmax where the data is unlabeled. */
  groups: Int32Array;
  /** The teacher's final linear layer read from its graph (C x D), or null (then fitted where needed). */
  head: Matrix | null;
  seed: number;
  /** Width of the student's penultimate layer (FitNet's map starts there). */
  studentHidden: number;
}

/** A student's training-time outputs: its logits and the activations of its penultimate layer. */
export interface StudentOutputs {
  logits: T2;
  hidden: T2;
}

export interface PreparedMethod {
  /** Logits per class the student emits (S for LELP, else 1). */
  subclasses: number;
  /** Per-example soft targets [n, width], or null for label-only training. */
  targets: Float32Array | null;
  width: number;
  loss(out: StudentOutputs, targets: T2 | null, onehot: T2): tf.Scalar;
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

/** KD's loss: alpha*CE(y, s) + (1-alpha)*tau^2*KL(p_teacher(tau) || softmax(s/tau)). */
function kdLoss(s: T2, teacherProbs: T2, y: T2, tau: number, alpha: number): tf.Scalar {
  return tf.tidy(() => tf.add(tf.mul(crossEntropy(y, s), alpha), tf.mul(softKl(teacherProbs, s, tau), 1 - alpha)));
}

/** Per-dimension z-scores of the teacher embedding over the transfer set, so FitNet's gamma is scale-free. */
function standardise(x: Float32Array, n: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let j = 0; j < D; j++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += x[i * D + j]!;
    m /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[i * D + j]! - m) ** 2;
    const sd = Math.sqrt(v / Math.max(1, n - 1)) || 1;
    for (let i = 0; i < n; i++) out[i * D + j] = (x[i * D + j]! - m) / sd;
  }
  return out;
}

export const METHODS = {
  label: {
    summary: 'label-only: cross-entropy on the ground-truth labels (no teacher)',
    prepare: () => ({ subclasses: 1, targets: null, width: 0, variables: [], notes: {}, loss: (o, _t, y) => crossEntropy(y, o.logits) }),
  } satisfies ImplFor<'label'>,
  kd: {
    summary: 'vanilla KD (Hinton 2015): alpha*CE(y,s) + (1-alpha)*tau^2*KL(softmax(t/tau) || softmax(s/tau))',
    prepare: (cfg, t) => ({
      subclasses: 1,
      targets: Float32Array.from(softmaxRows(t.logits, t.n, t.classes, cfg.tau)),
      width: t.classes,
      variables: [],
      notes: { tau: cfg.tau, alpha: cfg.alpha },
      loss: (o, tt, y) => kdLoss(o.logits, tt!, y, cfg.tau, cfg.alpha),
    }),
  } satisfies ImplFor<'kd'>,
  fitnet: {
    summary: 'FitNet (Romero 2015) + KD: gamma*MSE(A h_s + b, z(h_t)) + KD loss, A learned jointly',
    prepare: (cfg, t) => {
      const C = t.classes;
      const D = t.embeddingDim;
      const probs = softmaxRows(t.logits, t.n, C, cfg.tau);
      const emb = standardise(t.embedding, t.n, D);
      // One target row: the teacher's softened class probabilities, then its standardised embedding.
      const targets = new Float32Array(t.n * (C + D));
      for (let i = 0; i < t.n; i++) {
        for (let c = 0; c < C; c++) targets[i * (C + D) + c] = probs[i * C + c]!;
        targets.set(emb.subarray(i * D, (i + 1) * D), i * (C + D) + C);
      }
      const A = tf.variable(tf.randomNormal([t.studentHidden, D], 0, 1 / Math.sqrt(t.studentHidden), 'float32', t.seed + 17), true, `fitnet_A_${t.seed}_${Date.now()}`);
      const b = tf.variable(tf.zeros([D]), true, `fitnet_b_${t.seed}_${Date.now()}`);
      return {
        subclasses: 1,
        targets,
        width: C + D,
        variables: [A, b],
        notes: { gamma: cfg.gamma, tau: cfg.tau, alpha: cfg.alpha },
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
      const proj: LelpProjection = fitLelp(t.embedding, t.logits, t.n, t.embeddingDim, t.classes, t.groups, { ...cfg, seed: t.seed }, t.head);
      const S = cfg.subclasses;
      return {
        subclasses: S,
        targets: lelpTargets(proj, t.embedding, t.logits, t.n, t.embeddingDim, cfg),
        width: t.classes * S,
        variables: [],
        notes: { subclasses: S, beta: cfg.beta, tau: cfg.tau, alpha: cfg.alpha, nullSpace: cfg.nullSpace, rotate: cfg.rotate, projection: cfg.projection, headSource: proj.headSource },
        loss: (o, q, y) =>
          tf.tidy(() => {
            const kl = softKl(q!, o.logits, cfg.tau);
            return cfg.alpha > 0 ? tf.add(kl, tf.mul(crossEntropy(y, classLogits(o.logits, t.classes, S)), cfg.alpha)) : kl;
          }),
      };
    },
  } satisfies ImplFor<'lelp'>,
} as const satisfies Record<MethodName, unknown>;

export function prepareMethod(cfg: MethodConfig, t: TeacherView): PreparedMethod {
  const impl = METHODS[cfg.name] as MethodImpl<MethodConfig>;
  return impl.prepare(cfg, t);
}
