// The training loop on the onnxruntime engine (train.engine "onnxruntime"): the TF.js student's layers and initial
// weights, the method's loss (PreparedMethod.lossSpec) and TF.js's Adam compiled into one ONNX step (pipeline/engine),
// the same seeded batches as the TF.js loop, checkpoints after every epoch, and the trained weights written back into
// the TF.js model, so that prediction, export and everything after training are the same for both engines.
import { cpus } from 'node:os';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../util/tfjs.ts';
import { EdgeDistillError } from '../errors.ts';
import type { PreparedMethod } from './losses.ts';
import { asRows } from '../data/rows.ts';
import { layerSpecs } from './architectures.ts';
import { batchOrder, oneHotRows, type TrainOptions, type TrainResult, type TrainSet } from './train-contract.ts';
import { loadCheckpoint, saveCheckpoint, type CheckpointTensor } from './train-checkpoint.ts';
import { OrtTrainer, paramFromSpec, type TrainerState } from '../engine/ort-trainer.ts';
import { TFJS_ADAM, trainParams, type ParamInfo, type TrainArch } from '../engine/train-graph.ts';
import { kernelDims, type LayerSpec } from '../student/spec.ts';
import { TOOL_VERSION } from '../util/versions.ts';
import { bestKeeper, engineTensors, learningRateAt, totalSteps, type LoopConfig } from './recipe.ts';

/** The student as the compiler sees it: its input (an NHWC image when the model starts with a Reshape) and layers. */
function archOf(model: tfl.LayersModel, features: number): TrainArch {
  const reshape = model.layers[0]?.getClassName() === 'Reshape' ? (model.layers[0].getConfig() as { targetShape: number[] }).targetShape : null;
  return {
    features,
    ...(reshape ? { image: { height: reshape[0]!, width: reshape[1]!, channels: reshape[2]! } } : {}),
    layers: layerSpecs(model.layers),
  };
}

/** The tensors a checkpoint of this engine holds: parameters, first and second moments, the two beta powers. */
function checkpointTensors(params: ParamInfo[], s: TrainerState): CheckpointTensor[] {
  return [
    ...params.flatMap((p, i) => [
      { name: `ort/param/${p.name}`, shape: p.shape, data: s.params[i]! },
      { name: `ort/m/${p.name}`, shape: p.shape, data: s.m[i]! },
      { name: `ort/v/${p.name}`, shape: p.shape, data: s.v[i]! },
    ]),
    { name: 'ort/beta1Power', shape: [], data: Float32Array.of(s.powers.beta1) },
    { name: 'ort/beta2Power', shape: [], data: Float32Array.of(s.powers.beta2) },
    ...s.moving.map((data, j) => ({ name: `ort/moving/${j}`, shape: [data.length], data })),
  ];
}

/**
 * A checkpoint's state when it was written by this engine for these parameters, else null. `moving`: the sizes of the
 * batch norms' moving statistics (mean, variance, per batch norm in layer order).
 */
function stateFrom(tensors: CheckpointTensor[], params: ParamInfo[], moving: number[]): TrainerState | null {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const get = (name: string, shape: number[]) => {
    const t = byName.get(name);
    return t && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]) ? t.data : null;
  };
  const state: TrainerState = { params: [], m: [], v: [], powers: { beta1: 0, beta2: 0 }, moving: [] };
  for (const [j, size] of moving.entries()) {
    const data = get(`ort/moving/${j}`, [size]);
    if (!data) return null;
    state.moving.push(data);
  }
  for (const p of params) {
    const [w, m, v] = [get(`ort/param/${p.name}`, p.shape), get(`ort/m/${p.name}`, p.shape), get(`ort/v/${p.name}`, p.shape)];
    if (!w || !m || !v) return null;
    state.params.push(w);
    state.m.push(m);
    state.v.push(v);
  }
  const [b1, b2] = [get('ort/beta1Power', []), get('ort/beta2Power', [])];
  if (!b1 || !b2) return null;
  state.powers = { beta1: b1[0]!, beta2: b2[0]! };
  return state;
}

/** Writes trained layers back into the TF.js model they came from (archOf). */
function writeBack(model: tfl.LayersModel, layers: readonly LayerSpec[]): void {
  const weights = layers.flatMap((l: LayerSpec) =>
    l.kind === 'dense' ? [tf.tensor(l.kernel, [l.inputs, l.units]), tf.tensor1d(l.bias)] : l.kind === 'conv2d' ? [tf.tensor(l.kernel, [...kernelDims(l), l.inChannels / (l.groups ?? 1), l.filters]), tf.tensor1d(l.bias)] : [],
  );
  model.setWeights(weights);
  tf.dispose(weights);
}

/** Trains a TF.js model's student on onnxruntime and writes the trained weights back into the model. */
export async function trainOnOnnxruntime(model: tfl.LayersModel, data: TrainSet, method: PreparedMethod, cfg: LoopConfig, opts: TrainOptions): Promise<TrainResult> {
  const arch = archOf(model, data.features);
  const { layers, result } = await trainLayersOnOnnxruntime(arch, data, method, cfg, opts);
  writeBack(model, layers);
  return result;
}

/**
 * Trains a student given as layers (StudentSpec's, with their initial weights) on onnxruntime: the method's loss,
 * TF.js's Adam, seeded batches, checkpoints with exact resume. Returns the trained layers (batch norms with their
 * moving statistics). Frees the method's TF.js variables.
 */
export async function trainLayersOnOnnxruntime(arch: TrainArch, data: TrainSet, method: PreparedMethod, cfg: LoopConfig, opts: TrainOptions): Promise<{ layers: LayerSpec[]; result: TrainResult }> {
  const t0 = performance.now();
  if (!method.lossSpec) throw new EdgeDistillError('E_CONFIG', 'this loss has no form the onnxruntime engine can compile', 'Train it with train.engine "tfjs".');
  const { n, features: F, labels, classes: C } = data;
  const x = asRows(data.x, n, F);
  const B = Math.min(cfg.batchSize, n);
  const nextBatch = batchOrder(n, B, opts.seed);
  const lossParams = method.variables.map((v) => Float32Array.from(v.dataSync() as Float32Array));
  const adam = { learningRate: cfg.learningRate, ...TFJS_ADAM };
  const trainerOptions = { batch: B, classes: C, threads: cfg.threads ?? cpus().length, producerVersion: TOOL_VERSION };

  const steps = totalSteps(cfg, n, B);
  const stepsPerEpoch = Math.floor(n / B);
  const keeper = bestKeeper(cfg, opts, stepsPerEpoch);
  let start = 0;
  let lastLoss = NaN;
  let resumed: TrainerState | null = null;
  // The parameters the graph will have, to read a checkpoint against before compiling anything.
  const infos = trainParams(arch, method.lossSpec);
  if (opts.checkpoint) {
    const { checkpoint, reason } = loadCheckpoint(opts.checkpoint.file, opts.checkpoint.key);
    const moving = arch.layers.flatMap((l) => (l.kind === 'batchNorm' ? [l.channels, l.channels] : []));
    resumed = checkpoint && checkpoint.steps === steps && (!keeper || keeper.restore(checkpoint.tensors)) ? stateFrom(engineTensors(checkpoint.tensors), infos, moving) : null;
    if (!resumed) keeper?.reset();
    if (checkpoint && resumed) {
      start = checkpoint.step;
      lastLoss = checkpoint.lastLoss;
      for (let s = 0; s < start; s++) nextBatch();
      opts.progress.note(`train ${opts.label}: resumed from its checkpoint at step ${start} of ${steps}`);
    } else if (checkpoint) {
      opts.progress.note(`train ${opts.label}: ${opts.checkpoint.file} does not fit this student; training starts over`);
    } else if (reason !== 'no checkpoint') {
      opts.progress.note(`train ${opts.label}: ${reason}`);
    }
  }
  const initial = resumed?.params ?? infos.map((p, i) => ('layer' in p.owner ? paramFromSpec(p, arch.layers) : lossParams[i - (infos.length - lossParams.length)]!));
  const trainer = await OrtTrainer.create(arch, method.lossSpec, adam, initial, trainerOptions, resumed ?? undefined);
  let layers: LayerSpec[];
  let done = start;
  // A run resumed after its early stop has nothing left to do.
  let stopped = keeper?.exhausted ?? false;
  try {
    const step = opts.progress.step(`train ${opts.label}`, steps);
    if (start) step.tick(start, 'resumed');
    let ticked = start;
    const batch = trainer.batch;
    for (let s = start; s < steps && !stopped; s++) {
      const rows = nextBatch();
      oneHotRows(labels, rows, C, batch.y);
      x.gather(rows, batch.x);
      if (batch.targets) method.targets!.gather(rows, batch.targets);
      const lr = learningRateAt(cfg, s, steps);
      trainer.setLearningRate(lr);
      lastLoss = await trainer.step();
      if (cfg.weightDecay) trainer.decayKernels(lr, cfg.weightDecay);
      if (opts.afterStep) trainer.editKernels(arch.layers, (kernels) => opts.afterStep!(s, kernels));
      done = s + 1;
      if (keeper?.due(done, steps)) {
        const snap = trainer.snapshot();
        stopped = keeper.offer(done, await opts.evaluate!(trainer.layersOf(arch, snap)), () => snap);
      }
      if (s % 50 === 49 || done === steps || stopped) {
        step.tick(done - ticked, `loss ${lastLoss.toFixed(4)}${keeper?.progress() ?? ''}`);
        ticked = done;
      }
      if (opts.checkpoint && (done % stepsPerEpoch === 0 || done === steps || stopped)) {
        saveCheckpoint(opts.checkpoint.file, { key: opts.checkpoint.key, step: done, steps, lastLoss, tensors: [...checkpointTensors(trainer.graph.params, trainer.state()), ...(keeper ? keeper.tensors() : [])] });
      }
    }
    layers = keeper?.state.weights ? trainer.layersOf(arch, keeper.state.weights) : trainer.layers(arch);
    step.done(`loss ${lastLoss.toFixed(4)}${keeper?.outcome(stopped, done) ?? ''}`);
  } finally {
    await trainer.release();
  }
  tf.dispose(method.variables);
  const chosen = keeper?.state.weights ? keeper.state : null;
  return { layers, result: { steps: done, finalLoss: lastLoss, ms: performance.now() - t0, chosenStep: chosen?.step ?? done, chosenValidationAccuracy: chosen?.accuracy ?? null, earlyStopped: stopped } };
}
