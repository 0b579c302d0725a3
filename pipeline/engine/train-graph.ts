// The training-step compiler: a student's layers, a method's loss and Adam become one ONNX graph that takes a batch,
// the parameters and Adam's moments, and returns the loss, the new parameters and the new moments (with Adam on the
// host: the gradients), and each batch norm's batch statistics. The forward pass is the TF.js student's (same
// layouts, same layer order), so weights move between the engines unchanged except that conv kernels are OIHW here
// and HWIO in a StudentSpec.
import { convGeometry, kernelDims, type Activation, type LayerSpec } from '../student/spec.ts';
import { Tracer, type Value } from './autodiff.ts';

/** The shape of a student as the compiler needs it: its layers (weights unused) and its input. */
export interface TrainArch {
  features: number;
  /** NHWC image the flat input is reshaped to (CNN students); absent for MLPs. */
  image?: { height: number; width: number; channels: number };
  layers: readonly LayerSpec[];
}

/**
 * A method's loss over the student's logits s (width C*S), the one-hot labels y [B, C], and the per-example targets
 * t [B, W] when the method has them. Each formula is the one pipeline/distill/losses.ts trains with on TF.js.
 */
export type LossSpec =
  | { kind: 'label' }
  /** alpha*CE(y, s) + (1-alpha)*tau^2*KL(t || softmax(s/tau)); t = softmax(teacher/tau) [B, C]. */
  | { kind: 'kd'; tau: number; alpha: number }
  /** tau^2*KL(q || softmax(s/tau)) over C*S subclasses + alpha*CE(y, logsumexp over each class's S logits). */
  | { kind: 'lelp'; tau: number; alpha: number; classes: number; subclasses: number }
  /** KD on t[:, :C] + gamma*MSE(h A + b, t[:, C:]) with A [H, D], b [D] trained alongside; h the penultimate activations. */
  | { kind: 'fitnet'; tau: number; alpha: number; gamma: number; classes: number; embeddingDim: number };

/** Adam exactly as TF.js's AdamOptimizer: moments, then bias corrections by the running beta powers, then the step. */
export interface AdamSpec {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** TF.js's defaults (tf.train.adam(lr)): beta1 0.9, beta2 0.999, epsilon the float32 backend's 1e-7. */
export const TFJS_ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;

/** One trainable tensor: where it lives in the student (layer index and field) or in the loss (FitNet's map). */
export interface ParamInfo {
  name: string;
  /** Shape in the graph: dense kernels [in, out], conv kernels OIHW [out, in / groups, kh, kw], biases and batch norm's gamma and beta [n]. */
  shape: number[];
  owner: { layer: number; field: ParamField } | { loss: 'A' | 'b' };
}

/** The trained arrays of a layer: a dense or conv layer's kernel and bias, a batch norm's gamma and beta. */
export type ParamField = 'kernel' | 'bias' | 'gamma' | 'beta';

/**
 * Where Adam's update runs: 'graph', as ONNX elementwise ops (12 passes over every parameter, each a kernel launch
 * of its own), or 'host', one fused SIMD loop over each parameter (wasm-adam.ts) after the graph returned the
 * gradients. Both compute the same formula in float32.
 */
export type AdamPlacement = 'graph' | 'host';

export interface TrainGraph {
  model: Uint8Array;
  adamIn: AdamPlacement;
  params: ParamInfo[];
  /** The layer index of each batch norm, in order: the j-th has outputs batchMean(j) and batchVariance(j). */
  batchNorms: number[];
  batch: number;
  /** Width of the targets input (0: the method takes none). */
  targetWidth: number;
  /** Graph input and output names, in the order the runner feeds and reads them. */
  names: {
    x: string;
    y: string;
    targets: string | null;
    /** Scalars fed each step (adamScalars): -lr * sqrt(1 - beta2^t) / (1 - beta1^t) and eps * sqrt(1 - beta2^t). */
    stepSize: string;
    epsilonHat: string;
    loss: string;
    param(i: number): string;
    m(i: number): string;
    v(i: number): string;
    /** 'graph': the updated parameter and moments; 'host': the gradient (gradOut), and the three are ''. */
    paramOut(i: number): string;
    mOut(i: number): string;
    vOut(i: number): string;
    gradOut(i: number): string;
    /** The j-th batch norm's batch mean and (biased) variance [C], for its moving averages. */
    batchMean(j: number): string;
    batchVariance(j: number): string;
  };
}

/** An activation in the graph. */
function activate(t: Tracer, h: Value, a: Activation): Value {
  return a === 'relu' ? t.relu(h) : a === 'relu6' ? t.relu6(h) : h;
}

/**
 * The student's forward pass in training mode: logits [B, width], the input of its last layer (FitNet's hint
 * point), and each batch norm's batch mean and variance [C] (stats, in layer order), from which the moving
 * averages are updated. Feature maps are NCHW inside the graph.
 */
export function emitForward(t: Tracer, arch: TrainArch, x: Value, params: Value[]): { logits: Value; penultimate: Value; stats: { mean: Value; variance: Value }[] } {
  const B = x.shape[0]!;
  let h = x;
  let p = 0;
  if (arch.image) {
    const { height: H, width: W, channels: C } = arch.image;
    h = t.transpose(t.reshape(h, [B, H, W, C]), [0, 3, 1, 2]);
  }
  let penultimate = h;
  const outputs: Value[] = [];
  const stats: { mean: Value; variance: Value }[] = [];
  arch.layers.forEach((l, i) => {
    if (i === arch.layers.length - 1) penultimate = h;
    if (l.kind === 'dense') {
      h = activate(t, t.linear(h, params[p]!, params[p + 1]!), l.activation);
      p += 2;
    } else if (l.kind === 'conv2d') {
      const s = l.strides ?? 1;
      const [, , H, W] = h.shape as [number, number, number, number];
      const { pads } = convGeometry(l, H, W);
      h = activate(t, t.conv2d(h, params[p]!, { pads, strides: [s, s], groups: l.groups ?? 1 }, params[p + 1]!), l.activation);
      p += 2;
    } else if (l.kind === 'batchNorm') {
      const bn = t.batchNorm(h, params[p]!, params[p + 1]!, l.epsilon);
      stats.push({ mean: bn.mean, variance: bn.variance });
      h = activate(t, bn.y, l.activation);
      p += 2;
    } else if (l.kind === 'maxpool2d') {
      h = t.maxPool(h, l.poolSize);
    } else if (l.kind === 'globalAvgPool') {
      h = t.globalAvgPool(h);
    } else if (l.kind === 'add') {
      const from = outputs[l.from];
      if (!from || from.shape.join() !== h.shape.join()) throw new RangeError(`layer ${i}: add of layer ${l.from}, whose output is not [${h.shape}]`);
      h = t.add(h, from);
    } else if (h.shape.length === 4) {
      // TF.js flattens NHWC in H, W, C order: the dense kernel after it expects that order.
      const [b, C, H, W] = h.shape as [number, number, number, number];
      h = t.reshape(t.transpose(h, [0, 2, 3, 1]), [b, H * W * C]);
    } // (a flatten of flat activations is the identity, as in TF.js)
    outputs.push(h);
  });
  return { logits: h, penultimate, stats };
}

/** Cross-entropy with one-hot labels: -mean_i sum_k y_ik log softmax(s)_ik. */
function crossEntropy(t: Tracer, y: Value, s: Value): Value {
  return t.neg(t.scale(t.reduceSum(t.mul(y, t.logSoftmax(s)), [0, 1]), 1 / s.shape[0]!));
}

/** tau^2 * mean_i sum_k q_ik (log q_ik - log softmax(s/tau)_ik); q_ik = 0 terms contribute 0 (log clamped at 1e-30). */
function softKl(t: Tracer, q: Value, s: Value, tau: number): Value {
  const logQ = t.log(t.maxScalar(q, 1e-30));
  const kl = t.reduceSum(t.mul(q, t.sub(logQ, t.logSoftmax(t.scale(s, 1 / tau)))), [0, 1]);
  return t.scale(kl, (tau * tau) / s.shape[0]!);
}

function kdLoss(t: Tracer, s: Value, teacherProbs: Value, y: Value, tau: number, alpha: number): Value {
  return t.add(t.scale(crossEntropy(t, y, s), alpha), t.scale(softKl(t, teacherProbs, s, tau), 1 - alpha));
}

/**
 * The method's loss (a scalar) from the student's logits [B, W], its penultimate activations (FitNet), the one-hot
 * labels y [B, C] and the targets [B, W'] (null for label-only); `fitnet`: the hint map's A [H, D] and b [D].
 */
export function emitLoss(t: Tracer, loss: LossSpec, v: { logits: Value; penultimate: Value; y: Value; targets: Value | null; fitnet: [Value, Value] | null }): Value {
  const { logits, y, targets } = v;
  const B = logits.shape[0]!;
  switch (loss.kind) {
    case 'label':
      return crossEntropy(t, y, logits);
    case 'kd':
      return kdLoss(t, logits, targets!, y, loss.tau, loss.alpha);
    case 'lelp': {
      const kl = softKl(t, targets!, logits, loss.tau);
      if (loss.alpha === 0) return kl;
      return t.add(kl, t.scale(crossEntropy(t, y, t.logSumExp(t.reshape(logits, [B, loss.classes, loss.subclasses]), 2)), loss.alpha));
    }
    case 'fitnet': {
      const [A, b] = v.fitnet!;
      const probs = t.sliceColumns(targets!, 0, loss.classes);
      const emb = t.sliceColumns(targets!, loss.classes, loss.classes + loss.embeddingDim);
      const diff = t.sub(t.add(t.matmul(v.penultimate, A), b), emb);
      return t.add(kdLoss(t, logits, probs, y, loss.tau, loss.alpha), t.scale(t.mean(t.mul(diff, diff)), loss.gamma));
    }
  }
}

/** The parameters of a student's layers, in layer order: kernel then bias, or batch norm's gamma then beta (graph layouts). */
export function paramInfos(arch: TrainArch): ParamInfo[] {
  const out: ParamInfo[] = [];
  const pair = (i: number, fields: [ParamField, number[]][]) => fields.forEach(([field, shape]) => out.push({ name: `l${i}_${field}`, shape, owner: { layer: i, field } }));
  arch.layers.forEach((l, i) => {
    if (l.kind === 'dense') pair(i, [['kernel', [l.inputs, l.units]], ['bias', [l.units]]]);
    else if (l.kind === 'conv2d') pair(i, [['kernel', [l.filters, l.inChannels / (l.groups ?? 1), ...kernelDims(l)]], ['bias', [l.filters]]]);
    else if (l.kind === 'batchNorm') pair(i, [['gamma', [l.channels]], ['beta', [l.channels]]]);
  });
  return out;
}

/** Everything a step trains, in graph input order: the student's parameters, then the loss's own (FitNet's A, b). */
export function trainParams(arch: TrainArch, loss: LossSpec): ParamInfo[] {
  const infos = paramInfos(arch);
  if (loss.kind === 'fitnet') {
    const last = arch.layers.at(-1) as Extract<LayerSpec, { kind: 'dense' }>;
    infos.push({ name: 'fitnet_A', shape: [last.inputs, loss.embeddingDim], owner: { loss: 'A' } }, { name: 'fitnet_b', shape: [loss.embeddingDim], owner: { loss: 'b' } });
  }
  return infos;
}

/** The width of the logits: the last layer's units. */
function logitsWidth(arch: TrainArch): number {
  const last = arch.layers.at(-1);
  if (!last || last.kind !== 'dense') throw new RangeError('a student ends with a dense layer');
  return last.units;
}

/**
 * One Adam training step as an ONNX graph: forward, loss, gradients of every parameter (analytic, by the rules of
 * autodiff.ts), and TF.js's Adam update. `classes`: width of the one-hot labels.
 */
export function compileTrainStep(arch: TrainArch, loss: LossSpec, adam: AdamSpec, opts: { batch: number; classes: number; producerVersion: string; adamIn?: AdamPlacement }): TrainGraph {
  const adamIn = opts.adamIn ?? 'graph';
  const t = new Tracer('edge_distill_train_step', opts.producerVersion);
  const B = opts.batch;
  const C = opts.classes;
  const width = logitsWidth(arch);
  const targetWidth = loss.kind === 'label' ? 0 : loss.kind === 'kd' ? C : loss.kind === 'lelp' ? width : loss.classes + loss.embeddingDim;
  const x = t.input('x', [B, arch.features]);
  const y = t.input('y', [B, C]);
  const targets = targetWidth ? t.input('targets', [B, targetWidth]) : null;
  const stepSize = adamIn === 'graph' ? t.input('step_size', []) : null;
  const epsilonHat = adamIn === 'graph' ? t.input('epsilon_hat', []) : null;
  const infos = trainParams(arch, loss);
  const params = infos.map((p) => t.input(p.name, p.shape));
  const ms = adamIn === 'graph' ? infos.map((p) => t.input(`${p.name}__m`, p.shape)) : [];
  const vs = adamIn === 'graph' ? infos.map((p) => t.input(`${p.name}__v`, p.shape)) : [];

  const { logits, penultimate, stats } = emitForward(t, arch, x, params);
  const lossValue = emitLoss(t, loss, { logits, penultimate, y, targets, fitnet: loss.kind === 'fitnet' ? (params.slice(-2) as [Value, Value]) : null });
  const grads = t.gradients(lossValue, params);

  // Adam (tfjs-core adam_optimizer.ts): m' = b1 m + (1-b1) g; v' = b2 v + (1-b2) g^2;
  // w' = w - lr * (m' / (1 - b1^t)) / (sqrt(v' / (1 - b2^t)) + eps), computed in the equal form
  // w' = w + stepSize * m' / (sqrt(v') + epsHat) with the scalars of adamScalars: 12 elementwise passes, not 14.
  const lossOut = t.output(lossValue).name;
  const outs = grads.map((g, i) => {
    if (adamIn === 'host') return { w: '', m: '', v: '', g: t.output(g).name };
    const m = t.add(t.scale(ms[i]!, adam.beta1), t.scale(g, 1 - adam.beta1));
    const v = t.add(t.scale(vs[i]!, adam.beta2), t.scale(t.mul(g, g), 1 - adam.beta2));
    const w = t.add(t.mul(t.div(m, t.add(t.sqrt(v), epsilonHat!)), stepSize!), params[i]!);
    return { w: t.output(w).name, m: t.output(m).name, v: t.output(v).name, g: '' };
  });
  const statOuts = stats.map((st) => ({ mean: t.output(st.mean).name, variance: t.output(st.variance).name }));
  const name = (i: number) => infos[i]!.name;
  return {
    model: t.encode(),
    batchNorms: arch.layers.flatMap((l, i) => (l.kind === 'batchNorm' ? [i] : [])),
    adamIn,
    params: infos,
    batch: B,
    targetWidth,
    names: {
      x: 'x', y: 'y', targets: targets ? 'targets' : null, stepSize: 'step_size', epsilonHat: 'epsilon_hat', loss: lossOut,
      param: name, m: (i) => `${name(i)}__m`, v: (i) => `${name(i)}__v`,
      paramOut: (i) => outs[i]!.w, mOut: (i) => outs[i]!.m, vOut: (i) => outs[i]!.v, gradOut: (i) => outs[i]!.g,
      batchMean: (j) => statOuts[j]!.mean, batchVariance: (j) => statOuts[j]!.variance,
    },
  };
}

/**
 * The step's two scalars for the step about to be taken, from TF.js's running beta powers p1 = beta1^t and
 * p2 = beta2^t (float32, as TF.js keeps them): stepSize = -lr * sqrt(1 - p2) / (1 - p1), epsHat = eps * sqrt(1 - p2).
 */
export function adamScalars(adam: AdamSpec, p1: number, p2: number): { stepSize: number; epsilonHat: number } {
  const root = Math.sqrt(1 - p2);
  return { stepSize: Math.fround((-adam.learningRate * root) / (1 - p1)), epsilonHat: Math.fround(adam.epsilon * root) };
}
