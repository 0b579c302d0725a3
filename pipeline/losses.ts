// The distillation losses, one small documented unit each, and the method registry that pairs each method
// with its output width, its per-example targets and its loss. All losses are means over the batch.
import { tf } from './tfjs.ts';
import type { MethodConfig, MethodName } from './config.ts';
import { fitLelp, lelpTargets, type LelpProjection } from './lelp.ts';
import { softmaxRows } from './math.ts';

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

/** What the teacher pass provides to a method, for the transfer set. */
export interface TeacherView {
  n: number;
  classes: number;
  embeddingDim: number;
  logits: Float32Array;
  embedding: Float32Array;
  /** Labels, or the teacher's argmax where the data is unlabeled. */
  groups: Int32Array;
  seed: number;
}

export interface PreparedMethod {
  /** Logits per class the student emits (S for LELP, else 1). */
  subclasses: number;
  /** Per-example soft targets [n, width], or null for label-only training. */
  targets: Float32Array | null;
  width: number;
  loss(logits: T2, targets: T2 | null, onehot: T2): tf.Scalar;
  /** Facts worth reporting (e.g. where LELP's null space came from). */
  notes: Record<string, string | number | boolean>;
}

interface MethodImpl<M extends MethodConfig> {
  summary: string;
  prepare(cfg: M, t: TeacherView): PreparedMethod;
}

type ImplFor<N extends MethodName> = MethodImpl<Extract<MethodConfig, { name: N }>>;

export const METHODS = {
  label: {
    summary: 'label-only: cross-entropy on the ground-truth labels (no teacher)',
    prepare: () => ({ subclasses: 1, targets: null, width: 0, notes: {}, loss: (s, _t, y) => crossEntropy(y, s) }),
  } satisfies ImplFor<'label'>,
  kd: {
    summary: 'vanilla KD (Hinton 2015): alpha*CE(y,s) + (1-alpha)*tau^2*KL(softmax(t/tau) || softmax(s/tau))',
    prepare: (cfg, t) => ({
      subclasses: 1,
      targets: Float32Array.from(softmaxRows(t.logits, t.n, t.classes, cfg.tau)),
      width: t.classes,
      notes: { tau: cfg.tau, alpha: cfg.alpha },
      loss: (s, tt, y) =>
        tf.tidy(() => tf.add(tf.mul(crossEntropy(y, s), cfg.alpha), tf.mul(softKl(tt!, s, cfg.tau), 1 - cfg.alpha))),
    }),
  } satisfies ImplFor<'kd'>,
  lelp: {
    summary: 'LELP (Loo et al. 2024): tau^2*KL(q || softmax(s/tau)) over C*S pseudo-subclasses + alpha*CE(y, logsumexp classes)',
    prepare: (cfg, t) => {
      const proj: LelpProjection = fitLelp(t.embedding, t.logits, t.n, t.embeddingDim, t.classes, t.groups, { ...cfg, seed: t.seed });
      const S = cfg.subclasses;
      return {
        subclasses: S,
        targets: lelpTargets(proj, t.embedding, t.logits, t.n, t.embeddingDim, cfg),
        width: t.classes * S,
        notes: { subclasses: S, beta: cfg.beta, tau: cfg.tau, alpha: cfg.alpha, nullSpace: cfg.nullSpace, rotate: cfg.rotate, projection: cfg.projection, headSource: proj.headSource },
        loss: (s, q, y) =>
          tf.tidy(() => {
            const kl = softKl(q!, s, cfg.tau);
            return cfg.alpha > 0 ? tf.add(kl, tf.mul(crossEntropy(y, classLogits(s, t.classes, S)), cfg.alpha)) : kl;
          }),
      };
    },
  } satisfies ImplFor<'lelp'>,
} as const;

export function prepareMethod(cfg: MethodConfig, t: TeacherView): PreparedMethod {
  const impl = METHODS[cfg.name] as MethodImpl<MethodConfig>;
  return impl.prepare(cfg, t);
}
