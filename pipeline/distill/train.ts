// The training loop on TF.js (train.engine "tfjs"), shared by every method: seeded mini-batches, Adam, the method's
// loss; the default engine, "onnxruntime", does the same job in train-onnxruntime.ts. Plus batched in-memory prediction of class probabilities
// (the reference every exported artifact is compared against).
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../util/tfjs.ts';
import type { LoopConfig } from './recipe.ts';
import type { PreparedMethod } from './losses.ts';
import { batchOrder, oneHotRows, type TrainOptions, type TrainResult, type TrainSet } from './train-contract.ts';
import { trainOnOnnxruntime } from './train-onnxruntime.ts';
import { loadCheckpoint, saveCheckpoint, type CheckpointTensor } from './train-checkpoint.ts';
import { asRows, forEachBlock, type Rows } from '../data/rows.ts';
import { bestKeeper, engineTensors, learningRateAt, totalSteps, type BestKeeper } from './recipe.ts';
import { layerSpecs } from './architectures.ts';

/** The variables of the model's dense and conv kernels, in layer order. */
const kernelVariables = (model: tfl.LayersModel) => model.layers.filter((l) => ['Dense', 'Conv2D'].includes(l.getClassName())).map((l) => l.weights[0]!);

/** The model's dense and conv kernels (layer order, HWIO) handed to `edit` as arrays, and written back. */
export function editKernels(model: tfl.LayersModel, edit: (kernels: Float32Array[]) => void): void {
  const vars = kernelVariables(model);
  const kernels = vars.map((v) => Float32Array.from(v.read().dataSync() as Float32Array));
  edit(kernels);
  vars.forEach((v, i) => {
    const next = tf.tensor(kernels[i]!, v.shape as number[]);
    v.write(next);
    next.dispose();
  });
}

/** Trains `model` in place with the method's loss and Adam, on the engine `cfg.engine` names. */
export async function trainStudent(model: tfl.LayersModel, data: TrainSet, method: PreparedMethod, cfg: LoopConfig, opts: TrainOptions): Promise<TrainResult> {
  if (cfg.engine !== 'tfjs') return trainOnOnnxruntime(model, data, method, cfg, opts);
  const t0 = performance.now();
  const { n, features: F, labels, classes: C } = data;
  const x = asRows(data.x, n, F);
  const B = Math.min(cfg.batchSize, n);
  const optimizer = tf.train.adam(cfg.learningRate);
  const xb = new Float32Array(B * F);
  const yb = new Float32Array(B * C);
  const tb = method.targets ? new Float32Array(B * method.width) : null;
  const nextBatch = batchOrder(n, B, opts.seed);
  const steps = totalSteps(cfg, n, B);
  const stepsPerEpoch = Math.floor(n / B);
  const keeper = bestKeeper(cfg, opts, stepsPerEpoch);
  let lastLoss = NaN;
  let start = 0;
  if (opts.checkpoint) {
    const resumed = await resume(opts.checkpoint, model, method.variables, optimizer, steps, keeper);
    if (resumed.step === null) {
      keeper?.reset();
      if (resumed.reason) opts.progress.note(`train ${opts.label}: ${resumed.reason}`);
    } else {
      start = resumed.step;
      lastLoss = resumed.lastLoss;
      // The batches the steps before the checkpoint took: the random stream is where it was when it was saved.
      for (let s = 0; s < start; s++) nextBatch();
      opts.progress.note(`train ${opts.label}: resumed from its checkpoint at step ${start} of ${steps}`);
    }
  }
  // A view of the same layers that also exposes the penultimate activations (FitNet's hint loss reads them).
  const view = tfl.model({ inputs: model.inputs, outputs: [model.layers.at(-2)!.output as tfl.SymbolicTensor, model.outputs[0]!] });
  const kernels = kernelVariables(model);
  const step = opts.progress.step(`train ${opts.label}`, steps);
  if (start) step.tick(start, 'resumed');
  let ticked = start;
  let done = start;
  let stopped = keeper?.exhausted ?? false;
  for (let s = start; s < steps && !stopped; s++) {
    const batch = nextBatch();
    oneHotRows(labels, batch, C, yb);
    x.gather(batch, xb);
    if (tb) method.targets!.gather(batch, tb);
    const report = s === steps - 1 || s % 100 === 0 || (keeper?.due(s + 1, steps) ?? false);
    const xt = tf.tensor2d(xb, [B, F]);
    const yt = tf.tensor2d(yb, [B, C]);
    const tt = tb ? tf.tensor2d(tb, [B, method.width]) : null;
    const lr = learningRateAt(cfg, s, steps);
    (optimizer as unknown as { learningRate: number }).learningRate = lr;
    // minimize() tidies the forward/backward pass itself; only the batch tensors are ours to free.
    const loss = optimizer.minimize(() => {
      const [hidden, logits] = view.apply(xt, { training: true }) as tf.Tensor2D[];
      return method.loss({ logits: logits!, hidden: hidden! }, tt, yt);
    }, report);
    tf.dispose([xt, yt, ...(tt ? [tt] : [])]);
    if (cfg.weightDecay) {
      // Decoupled weight decay in float32, as the onnxruntime engine applies it.
      const f = Math.fround(1 - lr * cfg.weightDecay);
      for (const k of kernels) tf.tidy(() => {
        k.write(tf.mul(k.read(), tf.scalar(f)));
      });
    }
    if (opts.afterStep) editKernels(model, (kernels) => opts.afterStep!(s, kernels));
    if (loss) {
      lastLoss = (await loss.data())[0]!;
      loss.dispose();
    }
    done = s + 1;
    if (keeper?.due(done, steps)) {
      stopped = keeper.offer(done, await opts.evaluate!(layerSpecs(model.layers)), () => model.getWeights().map((w) => Float32Array.from(w.dataSync() as Float32Array)));
    }
    if (s % 50 === 49 || done === steps || stopped) {
      step.tick(done - ticked, `loss ${lastLoss.toFixed(4)}${keeper?.progress() ?? ''}`);
      ticked = done;
    }
    if (opts.checkpoint && (done % stepsPerEpoch === 0 || done === steps || stopped)) {
      saveCheckpoint(opts.checkpoint.file, { key: opts.checkpoint.key, step: done, steps, lastLoss, tensors: [...(await trainingState(model, method.variables, optimizer)), ...(keeper ? keeper.tensors() : [])] });
    }
  }
  const best = keeper?.state.weights ? keeper.state : null;
  if (best) {
    const weights = model.weights.map((w, i) => tf.tensor(best.weights![i]!, w.shape as number[]));
    model.setWeights(weights);
    tf.dispose(weights);
  }
  optimizer.dispose();
  tf.dispose(method.variables);
  const ms = performance.now() - t0;
  step.done(`loss ${lastLoss.toFixed(4)}${best ? keeper!.outcome(stopped, done) : ''}`);
  return { steps: done, finalLoss: lastLoss, ms, chosenStep: best?.step ?? done, chosenValidationAccuracy: best?.accuracy ?? null, earlyStopped: stopped };
}

/** Adam's running beta powers: not in getWeights(), and setWeights() recomputes them inexactly. */
type AdamInternals = { accBeta1: tf.Variable; accBeta2: tf.Variable };

/** The tensors a checkpoint holds, in order: model weights, method variables, Adam's weights, Adam's beta powers. */
async function trainingState(model: tfl.LayersModel, variables: tf.Variable[], optimizer: tf.AdamOptimizer): Promise<CheckpointTensor[]> {
  const adam = optimizer as unknown as AdamInternals;
  const named: { name: string; tensor: tf.Tensor }[] = [
    ...model.weights.map((w, i) => ({ name: `model/${i}`, tensor: w.read() })),
    ...variables.map((v, i) => ({ name: `method/${i}`, tensor: v as tf.Tensor })),
    ...(await optimizer.getWeights()).map((w, i) => ({ name: `adam/${i}`, tensor: w.tensor })),
    { name: 'adam/beta1Power', tensor: adam.accBeta1 },
    { name: 'adam/beta2Power', tensor: adam.accBeta2 },
  ];
  return named.map(({ name, tensor }) => ({ name, shape: tensor.shape, data: Float32Array.from(tensor.dataSync() as ArrayLike<number>) }));
}

/** Restore a checkpoint of this training job into the fresh model, method variables and optimizer; step null if none. */
async function resume(
  ck: { file: string; key: string },
  model: tfl.LayersModel,
  variables: tf.Variable[],
  optimizer: tf.AdamOptimizer,
  steps: number,
  keeper: BestKeeper | null,
): Promise<{ step: number | null; lastLoss: number; reason: string }> {
  const { checkpoint, reason } = loadCheckpoint(ck.file, ck.key);
  if (!checkpoint) return { step: null, lastLoss: NaN, reason: reason === 'no checkpoint' ? '' : reason };
  if (keeper && !keeper.restore(checkpoint.tensors)) return { step: null, lastLoss: NaN, reason: `${ck.file} does not fit this student; training starts over` };
  const t = engineTensors(checkpoint.tensors);
  const nModel = model.weights.length;
  const nVars = variables.length;
  const adamWeights = t.slice(nModel + nVars, -2);
  const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  const fits =
    checkpoint.steps === steps &&
    t.length >= nModel + nVars + 3 &&
    model.weights.every((w, i) => sameShape(w.shape as number[], t[i]!.shape)) &&
    variables.every((v, i) => sameShape(v.shape, t[nModel + i]!.shape)) &&
    adamWeights.length % 2 === 1;
  if (!fits) return { step: null, lastLoss: NaN, reason: `${ck.file} does not fit this student; training starts over` };
  const tensor = (c: CheckpointTensor) => tf.tensor(c.data, c.shape, 'float32');
  const weights = t.slice(0, nModel).map(tensor);
  model.setWeights(weights);
  tf.dispose(weights);
  variables.forEach((v, i) => tf.tidy(() => v.assign(tensor(t[nModel + i]!))));
  // getWeights() order: the iteration count (an int32 scalar), then the first moments, then the second moments.
  const [iter, ...moments] = adamWeights;
  await optimizer.setWeights([{ name: 'iter', tensor: tf.scalar(iter!.data[0]!, 'int32') }, ...moments.map((m) => ({ name: m.name, tensor: tensor(m) }))]);
  const adam = optimizer as unknown as AdamInternals;
  tf.tidy(() => {
    adam.accBeta1.assign(tf.reshape(tensor(t.at(-2)!), []));
    adam.accBeta2.assign(tf.reshape(tensor(t.at(-1)!), []));
  });
  return { step: checkpoint.step, lastLoss: checkpoint.lastLoss, reason: '' };
}

/** Class probabilities [n, C] of a student emitting C*S logits: block sums of the C*S-way softmax. */
export function predictProbs(model: tfl.LayersModel, x: Rows | Float32Array, n: number, F: number, C: number, S: number): Float32Array {
  return predictInBlocks(x, n, F, C, (block, b) => {
    const p = tf.tidy(() => {
      const logits = model.predict(tf.tensor2d(block, [b, F])) as tf.Tensor2D;
      return tf.sum(tf.reshape(tf.softmax(logits), [b, C, S]), 2);
    });
    const probs = p.dataSync() as Float32Array;
    p.dispose();
    return probs;
  }, 1024);
}

/** Class probabilities [n, C] of rows in memory or in a file, computed `step` rows at a time by `f`. */
export function predictInBlocks(x: Rows | Float32Array, n: number, F: number, C: number, f: (block: Float32Array, count: number) => Float32Array, step = 4096): Float32Array {
  const out = new Float32Array(n * C);
  forEachBlock(asRows(x, n, F), (b, from, count) => out.set(f(b, count), from * C), step);
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
