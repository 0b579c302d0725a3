// The training loop shared by every method: seeded mini-batches, Adam, the method's loss; plus batched
// in-memory prediction of class probabilities (the reference every exported artifact is compared against).
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from './tfjs.ts';
import type { Config } from './config.ts';
import type { PreparedMethod } from './losses.ts';
import { permutation, rng } from './math.ts';
import type { Progress } from './progress.ts';

export interface TrainSet {
  x: Float32Array; // [n, F]
  n: number;
  features: number;
  labels: Int32Array; // class per example (labels, or teacher argmax when unlabeled)
  classes: number;
}

export interface TrainResult {
  steps: number;
  finalLoss: number;
  ms: number;
}

export async function trainStudent(
  model: tfl.LayersModel,
  data: TrainSet,
  method: PreparedMethod,
  cfg: Config['train'],
  opts: {
    seed: number;
    progress: Progress;
    label: string;
    /** Called after each optimizer step (outside any tidy), e.g. to re-apply a pruning mask to the weights. */
    afterStep?: (step: number) => void;
  },
): Promise<TrainResult> {
  const t0 = performance.now();
  const { x, n, features: F, labels, classes: C } = data;
  const B = Math.min(cfg.batchSize, n);
  const rand = rng(opts.seed ^ 0x5eed);
  const optimizer = tf.train.adam(cfg.learningRate);
  const xb = new Float32Array(B * F);
  const yb = new Float32Array(B * C);
  const tb = method.targets ? new Float32Array(B * method.width) : null;
  let order = permutation(n, rand);
  let pos = 0;
  let lastLoss = NaN;
  // A view of the same layers that also exposes the penultimate activations (FitNet's hint loss reads them).
  const view = tfl.model({ inputs: model.inputs, outputs: [model.layers.at(-2)!.output as tfl.SymbolicTensor, model.outputs[0]!] });
  const step = opts.progress.step(`train ${opts.label}`, cfg.steps);
  for (let s = 0; s < cfg.steps; s++) {
    if (pos + B > n) {
      order = permutation(n, rand);
      pos = 0;
    }
    yb.fill(0);
    for (let k = 0; k < B; k++) {
      const i = order[pos + k]!;
      xb.set(x.subarray(i * F, (i + 1) * F), k * F);
      yb[k * C + labels[i]!] = 1;
      if (tb) tb.set(method.targets!.subarray(i * method.width, (i + 1) * method.width), k * method.width);
    }
    pos += B;
    const report = s === cfg.steps - 1 || s % 100 === 0;
    const xt = tf.tensor2d(xb, [B, F]);
    const yt = tf.tensor2d(yb, [B, C]);
    const tt = tb ? tf.tensor2d(tb, [B, method.width]) : null;
    // minimize() tidies the forward/backward pass itself; only the batch tensors are ours to free.
    const loss = optimizer.minimize(() => {
      const [hidden, logits] = view.apply(xt, { training: true }) as tf.Tensor2D[];
      return method.loss({ logits: logits!, hidden: hidden! }, tt, yt);
    }, report);
    tf.dispose([xt, yt, ...(tt ? [tt] : [])]);
    opts.afterStep?.(s);
    if (loss) {
      lastLoss = (await loss.data())[0]!;
      loss.dispose();
    }
    if (s % 50 === 49 || s === cfg.steps - 1) step.tick(s % 50 === 49 ? 50 : (s % 50) + 1, `loss ${lastLoss.toFixed(4)}`);
  }
  optimizer.dispose();
  tf.dispose(method.variables);
  const ms = performance.now() - t0;
  step.done(`loss ${lastLoss.toFixed(4)}`);
  return { steps: cfg.steps, finalLoss: lastLoss, ms };
}

/** Class probabilities [n, C] of a student emitting C*S logits: block sums of the C*S-way softmax. */
export function predictProbs(model: tfl.LayersModel, x: Float32Array, n: number, F: number, C: number, S: number): Float32Array {
  const out = new Float32Array(n * C);
  const chunk = 1024;
  for (let i = 0; i < n; i += chunk) {
    const b = Math.min(chunk, n - i);
    const p = tf.tidy(() => {
      const logits = model.predict(tf.tensor2d(x.subarray(i * F, (i + b) * F), [b, F])) as tf.Tensor2D;
      return tf.sum(tf.reshape(tf.softmax(logits), [b, C, S]), 2);
    });
    out.set(p.dataSync() as Float32Array, i * C);
    p.dispose();
  }
  return out;
}

/** Fraction of rows whose argmax equals the label. */
export function accuracy(probs: ArrayLike<number>, labels: ArrayLike<number>, C: number): number {
  let hit = 0;
  const n = labels.length;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c]! > probs[i * C + best]!) best = c;
    if (best === labels[i]) hit++;
  }
  return n ? hit / n : 0;
}
