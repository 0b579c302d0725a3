// Compression of trained students. Structured pruning removes whole hidden units and conv filters, so the
// StudentSpec (and every artifact exported from it) is genuinely smaller; magnitude pruning zeroes single
// weights (same shapes, sparse kernels); fineTunePruned recovers accuracy with the student's own loss,
// optionally ramping magnitude sparsity up on Zhu & Gupta's schedule while it trains.
import type { LoopConfig } from './recipe.ts';
import { EdgeDistillError, unsupportedLayer } from '../errors.ts';
import type { PreparedMethod } from './losses.ts';
import { createProgress, type Progress } from '../util/progress.ts';
import type { LayerSpec, StudentSpec } from '../student/spec.ts';
import { buildTrainable, toStudentSpec } from './architectures.ts';
import { editKernels, trainStudent } from './train.ts';
import { trainLayersOnOnnxruntime } from './train-onnxruntime.ts';
import type { TrainResult, TrainSet } from './train-contract.ts';

type Weighted = Extract<LayerSpec, { kind: 'dense' | 'conv2d' }>;

const isWeighted = (l: LayerSpec): l is Weighted => l.kind === 'dense' || l.kind === 'conv2d';
/** Units of a weighted layer: the last axis of its kernel (dense [in, units], conv HWIO [.., filters]). */
const unitsOf = (l: Weighted): number => (l.kind === 'dense' ? l.units : l.filters);

function cloneLayer(l: LayerSpec): LayerSpec {
  return isWeighted(l) ? { ...l, kernel: Float32Array.from(l.kernel), bias: Float32Array.from(l.bias) } : { ...l };
}

function checkFraction(name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0 || v >= 1) {
    throw new EdgeDistillError('E_CONFIG', `${name} must be in [0, 1), got ${v}`, `Give the share of weights to remove, e.g. 0.5; 1 would remove everything.`);
  }
}

type BatchNorm = Extract<LayerSpec, { kind: 'batchNorm' }>;

/** A depthwise conv: one filter per channel (groups = inChannels = filters > 1); its kernel's last axis is the channel. */
const isDepthwise = (l: LayerSpec): boolean => l.kind === 'conv2d' && (l.groups ?? 1) > 1 && l.groups === l.inChannels && l.groups === l.filters;

/**
 * What a unit (dense unit, conv filter) of a pruned layer passes through on its way to the next layer that mixes
 * channels (its consumer): batch norms and depthwise convs act on each channel alone, so the unit's channel goes with
 * it; pooling, flatten and global pooling only move it.
 */
interface UnitPath {
  /** Index of the layer that mixes the channels again (dense or a conv with groups 1). */
  consumer: number;
  /** Indices of the per-channel layers in between (batch norms, depthwise convs), in order. */
  perChannel: number[];
}

/** The path from weighted layer `li` to its consumer, or null when no layer after it mixes channels. */
function unitPath(layers: readonly LayerSpec[], li: number): UnitPath | null {
  const perChannel: number[] = [];
  for (let j = li + 1; j < layers.length; j++) {
    const l = layers[j]!;
    if (l.kind === 'batchNorm' || isDepthwise(l)) perChannel.push(j);
    else if (l.kind === 'dense' || (l.kind === 'conv2d' && (l.groups ?? 1) === 1)) return { consumer: j, perChannel };
    else if (l.kind === 'add' || l.kind === 'conv2d') {
      throw unsupportedLayer(l.kind === 'add' ? 'a residual add' : 'a grouped (not depthwise) conv2d', j, 'Structured pruning', 'Use magnitude pruning (compress.prune.magnitude) for this student.');
    }
  }
  return null;
}

/**
 * Importance of each unit of `layer` (the last kernel axis): the scale of the unit's channel where the consumer reads
 * it, times the norm of what the consumer reads it with:
 *   importance_j = scale_j * ||W_out[rows of j, :]||_2
 * Without batch norms on the path, scale_j = ||(W_in[:, j], b_j)||_2: including the bias makes the product invariant
 * to ReLU's positive rescaling (a unit's incoming weights and bias times a > 0, its outgoing weights times 1/a leave
 * the network and the score unchanged); either norm alone is not. A batch norm re-scales the channel to |gamma_j|
 * (Network Slimming's criterion, Liu et al. 2017), and a depthwise conv multiplies it by the norm of its filter j.
 * Consumer rows belong to unit `r % units` in every case the students have: dense -> dense (row j), conv -> conv
 * (HWIO row (dy*kw+dx)*C + c), conv -> [maxpool] -> flatten -> dense (NHWC flatten row (y*W + x)*C + c) and
 * conv -> global average pool -> dense (row c).
 */
function unitImportance(layers: readonly LayerSpec[], layer: Weighted, path: UnitPath): Float64Array {
  const U = unitsOf(layer);
  const norms = (kernel: Float32Array, bias: Float32Array) => {
    const sq = new Float64Array(U);
    for (let r = 0; r < kernel.length; r++) sq[r % U]! += kernel[r]! ** 2;
    for (let j = 0; j < U; j++) sq[j]! += bias[j]! ** 2;
    return sq.map(Math.sqrt);
  };
  let scale = norms(layer.kernel, layer.bias);
  for (const j of path.perChannel) {
    const l = layers[j]!;
    if (l.kind === 'batchNorm') scale = Float64Array.from(l.gamma, Math.abs);
    else if (l.kind === 'conv2d') {
      const dw = norms(l.kernel, l.bias);
      scale = scale.map((v, c) => v * dw[c]!);
    }
  }
  const consumer = layers[path.consumer] as Weighted;
  const U2 = unitsOf(consumer);
  const outNorm = new Float64Array(U);
  for (let r = 0; r < consumer.kernel.length / U2; r++) {
    let s = 0;
    for (let k = 0; k < U2; k++) s += consumer.kernel[r * U2 + k]! ** 2;
    outNorm[r % U]! += s;
  }
  return scale.map((v, j) => v * Math.sqrt(outNorm[j]!));
}

/** A batch norm or depthwise conv with only the kept channels. */
function keepChannels(l: BatchNorm | Weighted, keep: boolean[]): LayerSpec {
  const kept = keep.filter(Boolean).length;
  const pick = (a: Float32Array) => a.filter((_, c) => keep[c]);
  if (l.kind === 'batchNorm') return { ...l, channels: kept, gamma: pick(l.gamma), beta: pick(l.beta), movingMean: pick(l.movingMean), movingVariance: pick(l.movingVariance) };
  if (l.kind !== 'conv2d') throw new Error('internal: only batch norms and depthwise convs are pruned per channel');
  return { ...l, kernel: keepColumns(l.kernel, l.filters, keep), bias: pick(l.bias), inChannels: kept, filters: kept, groups: kept };
}

/** Keeps the kernel entries (and, when given, bias entries) whose last-axis index passes `keep`. */
function keepColumns(a: Float32Array, U: number, keep: boolean[]): Float32Array {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (keep[i % U]) out.push(a[i]!);
  return Float32Array.from(out);
}

/** Keeps the kernel rows (length U2 each) whose unit `r % U` passes `keep`. */
function keepRows(a: Float32Array, U2: number, U: number, keep: boolean[]): Float32Array {
  const rows = a.length / U2;
  const out = new Float32Array((a.length / U) * keep.filter(Boolean).length);
  let o = 0;
  for (let r = 0; r < rows; r++) {
    if (!keep[r % U]) continue;
    out.set(a.subarray(r * U2, (r + 1) * U2), o);
    o += U2;
  }
  return out;
}

export interface StructuredPruneResult {
  spec: StudentSpec;
  /** Per spec layer (same indices as spec.layers): the original unit/filter indices removed, ascending. */
  removed: number[][];
}

/**
 * Removes the least important `fraction` of the units of every hidden dense layer and of the filters of every conv
 * layer with groups 1 (round(fraction * units), always keeping at least one), with everything that belongs to them:
 * their channel in the batch norms and depthwise convs on the way (MobileNet-style blocks), and the matching input
 * rows of the layer that consumes them (the next dense or conv with groups 1). The output layer is never pruned.
 * Layers are pruned front to back, so a layer's incoming norm counts only the inputs that survived. Ties go to the
 * lower index, so the result is deterministic. Returns a new spec; the input is not modified.
 */
export function structuredPrune(spec: StudentSpec, fraction: number): StructuredPruneResult {
  checkFraction('fraction', fraction);
  const layers = spec.layers.map(cloneLayer);
  const removed: number[][] = layers.map(() => []);
  for (let li = 0; li < layers.length; li++) {
    const layer = layers[li]!;
    if (!isWeighted(layer) || (layer.kind === 'conv2d' && (layer.groups ?? 1) !== 1)) continue;
    const path = unitPath(layers, li);
    if (!path) continue;
    const consumer = layers[path.consumer] as Weighted;
    const U = unitsOf(layer);
    const U2 = unitsOf(consumer);
    if ((consumer.kernel.length / U2) % U !== 0) {
      throw new EdgeDistillError('E_SHAPE_MISMATCH', `layer ${path.consumer} has ${consumer.kernel.length / U2} input rows, not a multiple of layer ${li}'s ${U} units`, 'Prune a spec written by edge-distill (toStudentSpec or a checkpoint).');
    }
    const drop = Math.min(U - 1, Math.round(fraction * U));
    if (drop === 0) continue;
    const score = unitImportance(layers, layer, path);
    const order = Array.from({ length: U }, (_, j) => j).sort((a, b) => score[a]! - score[b]! || a - b);
    removed[li] = order.slice(0, drop).sort((a, b) => a - b);
    const keep = Array.from({ length: U }, () => true);
    for (const j of removed[li]) keep[j] = false;
    const kept = U - drop;
    layers[li] = layer.kind === 'dense'
      ? { ...layer, kernel: keepColumns(layer.kernel, U, keep), bias: keepColumns(layer.bias, U, keep), units: kept }
      : { ...layer, kernel: keepColumns(layer.kernel, U, keep), bias: keepColumns(layer.bias, U, keep), filters: kept };
    for (const j of path.perChannel) {
      layers[j] = keepChannels(layers[j] as BatchNorm | Weighted, keep);
      removed[j] = removed[li];
    }
    const kernel = keepRows(consumer.kernel, U2, U, keep);
    layers[path.consumer] = consumer.kind === 'dense'
      ? { ...consumer, kernel, inputs: kernel.length / U2 }
      : { ...consumer, kernel, inChannels: kept };
  }
  return { spec: { ...spec, layers }, removed };
}

/**
 * Keep-mask of a kernel with its `k` smallest |w| pruned (0) and the rest kept (1). Entries already pruned in
 * `prev` stay pruned and count towards k first (masks never grow back); when they alone exceed k, they are
 * all the mask prunes. Ties in |w| go to the lower index.
 */
export function magnitudeMask(kernel: Float32Array, k: number, prev?: Uint8Array): Uint8Array {
  const n = kernel.length;
  const keys = new Float32Array(n);
  let already = 0;
  for (let i = 0; i < n; i++) {
    const gone = prev !== undefined && prev[i] === 0;
    if (gone) already++;
    keys[i] = gone ? -1 : Math.abs(kernel[i]!);
  }
  const count = Math.min(n, Math.max(k, already));
  const mask = new Uint8Array(n).fill(1);
  if (count === 0) return mask;
  const threshold = keys.slice().sort()[count - 1]!;
  let pruned = 0;
  for (let i = 0; i < n; i++) {
    if (keys[i]! < threshold) {
      mask[i] = 0;
      pruned++;
    }
  }
  for (let i = 0; i < n && pruned < count; i++) {
    if (keys[i] === threshold) {
      mask[i] = 0;
      pruned++;
    }
  }
  return mask;
}

/**
 * Zeroes the smallest-|w| `sparsity` share of every kernel (round(sparsity * size) entries per layer, the
 * output layer included); biases are kept. Per layer rather than one global threshold, because layer scales
 * differ (the 784-input first layer has far smaller weights than the head) and a global cut would empty the
 * small-scale layers first. Returns a new spec.
 */
export function magnitudePrune(spec: StudentSpec, sparsity: number): StudentSpec {
  checkFraction('sparsity', sparsity);
  const layers = spec.layers.map((l) => {
    if (!isWeighted(l)) return { ...l };
    const mask = magnitudeMask(l.kernel, Math.round(sparsity * l.kernel.length));
    return { ...l, kernel: l.kernel.map((v, i) => (mask[i] ? v : 0)), bias: Float32Array.from(l.bias) };
  });
  return { ...spec, layers };
}

/** Share of kernel weights (biases excluded) that are exactly zero. */
export function sparsityOf(spec: StudentSpec): number {
  let zeros = 0;
  let total = 0;
  for (const l of spec.layers) {
    if (!isWeighted(l)) continue;
    total += l.kernel.length;
    for (const v of l.kernel) if (v === 0) zeros++;
  }
  return total ? zeros / total : 0;
}

/**
 * Gradual pruning schedule (Zhu & Gupta 2017, "To prune, or not to prune"), with pruning starting at step 0
 * and updating every step: s_t = s_f + (s_i - s_f) * (1 - t/T)^3 for 0 <= t <= T, s_f after T. Prunes fast
 * while many redundant weights remain and slowly as the target nears.
 */
export function polynomialSparsity(t: number, T: number, target: number, initial = 0): number {
  const r = T <= 0 ? 1 : Math.min(1, Math.max(0, t / T));
  return target + (initial - target) * (1 - r) ** 3;
}

export interface FineTuneOptions {
  /** The transfer set the method's targets belong to. */
  data: TrainSet;
  /** The distillation loss (e.g. the one the student was trained with); its subclasses must match the spec. */
  method: PreparedMethod;
  /** Steps, batch size and Adam learning rate of the fine-tuning. */
  train: LoopConfig;
  seed: number;
  progress?: Progress;
  /**
   * Gradual magnitude pruning while fine-tuning: per-layer sparsity follows polynomialSparsity from `initial`
   * (default 0) to `target` over `rampSteps` steps (default 3/4 of the steps, leaving the rest to recover at
   * the target), and the mask is re-applied after every optimizer step. Kernel weights that are zero in the
   * given spec count as already pruned.
   */
  sparsity?: { target: number; initial?: number; rampSteps?: number };
}

export interface FineTuneResult {
  spec: StudentSpec;
  train: TrainResult;
  /** Kernel sparsity (share of exact zeros) after each step; empty without a sparsity schedule. */
  sparsity: number[];
}

/** Fine-tunes a (pruned) spec with a prepared distillation loss; deterministic for a given seed. */
export async function fineTunePruned(spec: StudentSpec, opts: FineTuneOptions): Promise<FineTuneResult> {
  if (opts.method.subclasses !== spec.subclasses) {
    throw new EdgeDistillError('E_SHAPE_MISMATCH', `the method emits ${opts.method.subclasses} subclasses per class, the student ${spec.subclasses}`, 'Fine-tune with the method the student was distilled with.');
  }
  const sched = opts.sparsity;
  if (sched) {
    checkFraction('sparsity.target', sched.target);
    checkFraction('sparsity.initial', sched.initial ?? 0);
  }
  const trace: number[] = [];
  let afterStep: ((step: number, kernels: readonly Float32Array[]) => void) | undefined;
  let first: ((kernels: Float32Array[]) => void) | undefined;
  if (sched) {
    let masks: Uint8Array[] | null = null;
    const T = sched.rampSteps ?? Math.round(0.75 * opts.train.steps);
    // Step t's mask: the previous mask plus the smallest weights up to s_t, applied to the kernels in place.
    const prune = (t: number, kernels: readonly Float32Array[]): number => {
      masks ??= kernels.map((w) => Uint8Array.from(w, (x) => (x === 0 ? 0 : 1)));
      const s = polynomialSparsity(t, T, sched.target, sched.initial ?? 0);
      let zeros = 0;
      let total = 0;
      kernels.forEach((w, i) => {
        masks![i] = magnitudeMask(w, Math.round(s * w.length), masks![i]);
        for (let j = 0; j < w.length; j++) if (!masks![i]![j]) w[j] = 0;
        for (const x of w) if (x === 0) zeros++;
        total += w.length;
      });
      return zeros / total;
    };
    first = (kernels) => prune(0, kernels);
    afterStep = (step, kernels) => trace.push(prune(step + 1, kernels));
  }
  const trainOpts = { seed: opts.seed, progress: opts.progress ?? createProgress({ quiet: true }), label: 'fine-tune pruned', ...(afterStep ? { afterStep } : {}) };
  if (opts.train.engine !== 'tfjs') {
    // The onnxruntime engine trains the spec's layers as they are: batch norms and depthwise convs included.
    const layers = spec.layers.map(cloneLayer);
    first?.(layers.filter(isWeighted).map((l) => l.kernel));
    const arch = { features: spec.features, ...(spec.image ? { image: spec.image } : {}), layers };
    const { layers: tuned, result } = await trainLayersOnOnnxruntime(arch, opts.data, opts.method, opts.train, trainOpts);
    return { spec: { ...spec, layers: tuned }, train: result, sparsity: trace };
  }
  const model = buildTrainable(spec);
  try {
    if (first) editKernels(model, first);
    const train = await trainStudent(model, opts.data, opts.method, opts.train, trainOpts);
    // Only the layers are read back; the rest of the spec (image, head, names, metadata) is unchanged.
    const read = toStudentSpec(model, { features: spec.features, featureShape: [spec.features], arch: { arch: 'mlp', hidden: [] }, classes: spec.classes, subclasses: spec.subclasses, metadata: {} });
    return { spec: { ...spec, layers: read.layers }, train, sparsity: trace };
  } finally {
    model.dispose();
  }
}
