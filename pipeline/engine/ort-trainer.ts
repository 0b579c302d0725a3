// Runs a compiled training step (train-graph.ts) on onnxruntime-node. Each step's batch is written into the same three
// input buffers (onnxruntime reads an input tensor's memory in place). With Adam on the host (the default) the
// parameters, moments and gradients live in a WasmAdam arena: the parameter tensors wrap its views, onnxruntime
// writes the gradients into it (pre-allocated outputs), and its SIMD loop updates them after each run. With Adam in
// the graph they stay in the tensors onnxruntime returned, which are fed straight back.
import { MessageChannel } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import '../../runtimes/ort-telemetry.ts';
import { kernelDims, type LayerSpec } from '../student/spec.ts';
import { hwioToOihw } from '../../exporters/onnx-graph.ts';
import { WasmAdam } from './wasm-adam.ts';
import { adamScalars, compileTrainStep, type AdamPlacement, type AdamSpec, type LossSpec, type ParamInfo, type TrainArch, type TrainGraph } from './train-graph.ts';

/** ONNX Conv weight [out, in, kh, kw] -> TF.js conv kernel [kh, kw, in, out]; `k` is kh = kw or [kh, kw]. */
export function oihwToHwio(w: Float32Array, k: number | [number, number], inC: number, outC: number): Float32Array {
  const [KH, KW] = typeof k === 'number' ? [k, k] : k;
  const kernel = new Float32Array(w.length);
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      for (let i = 0; i < inC; i++) {
        for (let o = 0; o < outC; o++) kernel[((kh * KW + kw) * inC + i) * outC + o] = w[((o * inC + i) * KH + kh) * KW + kw]!;
      }
    }
  }
  return kernel;
}

/**
 * Frees the memory of onnxruntime-node's returned copies now rather than at some later garbage collection.
 * The binding copies every output into a freshly allocated ArrayBuffer, even one the caller pre-allocated (1.30, 1.31).
 * Left to the collector, several steps' copies are freed together; glibc then returns the memory to the system, and the
 * next step's copies fault it back in page by page. That was 3-4 ms of a 13 ms phone-MLP step (benchmarks/train-speed.ts).
 * Transferring a buffer to a closed port detaches it and drops its memory at once, so each step's copy reuses the last
 * one's pages. A buffer the caller owns (a pre-allocated output the binding wrote in place) is never passed here.
 */
const sink = (() => {
  const { port1, port2 } = new MessageChannel();
  port2.close();
  port1.unref();
  return port1;
})();
export function freeNow(buffers: ArrayBufferLike[]): void {
  const owned = buffers.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer && b.byteLength > 0);
  if (owned.length > 0) sink.postMessage(null, owned);
}

type Conv = Extract<LayerSpec, { kind: 'conv2d' }>;
/** A conv kernel's layout arguments: [kh, kw], input channels per group, filters. */
const convDims = (l: Conv): [[number, number], number, number] => [kernelDims(l), l.inChannels / (l.groups ?? 1), l.filters];

/** A student parameter in the graph's layout (conv kernels OIHW), from its StudentSpec layer. */
export function paramFromSpec(p: ParamInfo, layers: readonly LayerSpec[]): Float32Array {
  if (!('layer' in p.owner)) throw new RangeError(`${p.name} is a loss parameter, not a layer's`);
  const l = layers[p.owner.layer]!;
  if (l.kind === 'batchNorm') return Float32Array.from(p.owner.field === 'gamma' ? l.gamma : l.beta);
  if (l.kind !== 'dense' && l.kind !== 'conv2d') throw new RangeError(`${p.name}: layer ${p.owner.layer} (${l.kind}) has no parameters`);
  if (p.owner.field === 'bias') return Float32Array.from(l.bias);
  return l.kind === 'conv2d' ? hwioToOihw(l.kernel, ...convDims(l)) : Float32Array.from(l.kernel);
}

/** Decoupled weight decay (AdamW): w <- w * (1 - lr * decay), rounded to float32 as the update is, in place. */
export function decayWeights(w: Float32Array, lr: number, decay: number): void {
  const f = Math.fround(1 - lr * decay);
  for (let i = 0; i < w.length; i++) w[i] = Math.fround(w[i]! * f);
}

/**
 * The layers with the trained parameters put back (conv kernels HWIO again) and, when given, the batch norms'
 * moving statistics (`moving`: mean then variance of each batch norm, in layer order).
 */
export function layersWithParams(layers: readonly LayerSpec[], params: readonly ParamInfo[], values: readonly Float32Array[], moving: readonly Float32Array[] = []): LayerSpec[] {
  const out = layers.map((l) => ({ ...l })) as LayerSpec[];
  params.forEach((p, i) => {
    if (!('layer' in p.owner)) return;
    const l = out[p.owner.layer]!;
    const v = Float32Array.from(values[i]!);
    if (l.kind === 'batchNorm') {
      if (p.owner.field === 'gamma') l.gamma = v;
      else l.beta = v;
    } else if (l.kind === 'dense' || l.kind === 'conv2d') {
      if (p.owner.field === 'bias') l.bias = v;
      else l.kernel = l.kind === 'conv2d' ? oihwToHwio(v, ...convDims(l)) : v;
    }
  });
  let j = 0;
  for (const l of out) {
    if (l.kind !== 'batchNorm' || j >= moving.length) continue;
    l.movingMean = Float32Array.from(moving[j++]!);
    l.movingVariance = Float32Array.from(moving[j++]!);
  }
  return out;
}

export interface OrtTrainerOptions {
  batch: number;
  classes: number;
  /** onnxruntime's intra-op threads; a fixed count gives the same result every run. */
  threads: number;
  producerVersion: string;
  /** Where Adam's update runs (train-graph.ts AdamPlacement); 'host' by default: measured faster (train-speed.ts). */
  adamIn?: AdamPlacement;
}

/** TF.js's Adam state beyond the moments: the running powers of beta1 and beta2 (float32, as TF.js keeps them). */
export interface BetaPowers {
  beta1: number;
  beta2: number;
}

/** What a checkpoint needs to resume a trainer exactly: parameters and moments (graph layout) and the beta powers. */
export interface TrainerState {
  params: Float32Array[];
  m: Float32Array[];
  v: Float32Array[];
  powers: BetaPowers;
  /** Each batch norm's moving mean, then moving variance, in layer order (empty without batch norms). */
  moving: Float32Array[];
}

export class OrtTrainer {
  private readonly feeds: Record<string, ort.Tensor> = {};
  private readonly xb: Float32Array;
  private readonly yb: Float32Array;
  private readonly tb: Float32Array | null;
  /** 'host' placement: the parameters, moments and gradients, updated in place (the parameter tensors wrap them). */
  private readonly host: WasmAdam | null;
  /**
   * Pre-allocated outputs onnxruntime writes into: each batch norm's batch statistics and, with Adam on the host, the
   * loss and the gradients (in `host`). Adam in the graph reads everything else from what run() returns.
   */
  private readonly fetches: Record<string, ort.Tensor> = {};
  /** Each batch norm's moving mean and variance (TrainerState.moving), updated after every step, and momentum. */
  private readonly moving: Float32Array[] = [];
  private readonly momentum: number[] = [];
  /** The running beta powers after the steps taken so far (TF.js starts them at beta1, beta2). */
  readonly powers: BetaPowers;
  /** Wall time spent inside onnxruntime's session.run so far (the rest of a step is JavaScript's share). */
  runMs = 0;

  private constructor(
    readonly graph: TrainGraph,
    private readonly session: ort.InferenceSession,
    private adam: AdamSpec,
    dims: { features: number; classes: number },
    initial: readonly Float32Array[],
    resume: Omit<TrainerState, 'params'> | null,
    layers: readonly LayerSpec[],
  ) {
    const { names, params, batch } = graph;
    graph.batchNorms.forEach((li, j) => {
      const bn = layers[li] as Extract<LayerSpec, { kind: 'batchNorm' }>;
      this.momentum.push(bn.momentum);
      this.moving.push(Float32Array.from(resume?.moving[2 * j] ?? bn.movingMean), Float32Array.from(resume?.moving[2 * j + 1] ?? bn.movingVariance));
      this.fetches[names.batchMean(j)] = new ort.Tensor('float32', new Float32Array(bn.channels), [bn.channels]);
      this.fetches[names.batchVariance(j)] = new ort.Tensor('float32', new Float32Array(bn.channels), [bn.channels]);
    });
    this.xb = new Float32Array(batch * dims.features);
    this.yb = new Float32Array(batch * dims.classes);
    this.tb = names.targets ? new Float32Array(batch * graph.targetWidth) : null;
    // onnxruntime-node reads an input tensor's memory in place: refilling these buffers is how a batch goes in.
    this.feeds[names.x] = new ort.Tensor('float32', this.xb, [batch, dims.features]);
    this.feeds[names.y] = new ort.Tensor('float32', this.yb, [batch, dims.classes]);
    if (names.targets) this.feeds[names.targets] = new ort.Tensor('float32', this.tb!, [batch, graph.targetWidth]);
    this.host = graph.adamIn === 'host' ? WasmAdam.create(params.map((_, i) => initial[i]!.length)) : null;
    if (this.host) this.fetches[names.loss] = new ort.Tensor('float32', new Float32Array(1), []);
    params.forEach((p, i) => {
      const zeros = () => new Float32Array(initial[i]!.length);
      if (this.host) {
        this.host.w[i]!.set(initial[i]!);
        this.host.m[i]!.set(resume?.m[i] ?? zeros());
        this.host.v[i]!.set(resume?.v[i] ?? zeros());
        this.feeds[names.param(i)] = new ort.Tensor('float32', this.host.w[i]!, p.shape);
        this.fetches[names.gradOut(i)] = new ort.Tensor('float32', this.host.g[i]!, p.shape);
      } else {
        this.feeds[names.param(i)] = new ort.Tensor('float32', Float32Array.from(initial[i]!), p.shape);
        this.feeds[names.m(i)] = new ort.Tensor('float32', Float32Array.from(resume?.m[i] ?? zeros()), p.shape);
        this.feeds[names.v(i)] = new ort.Tensor('float32', Float32Array.from(resume?.v[i] ?? zeros()), p.shape);
      }
    });
    this.powers = resume ? { ...resume.powers } : { beta1: Math.fround(adam.beta1), beta2: Math.fround(adam.beta2) };
  }

  /** Compiles the step for `arch` and `loss` and opens it with `initial` parameters (graph layout, ParamInfo order). */
  static async create(arch: TrainArch, loss: LossSpec, adam: AdamSpec, initial: readonly Float32Array[], opts: OrtTrainerOptions, resume?: Omit<TrainerState, 'params'>): Promise<OrtTrainer> {
    const graph = compileTrainStep(arch, loss, adam, { batch: opts.batch, classes: opts.classes, producerVersion: opts.producerVersion, adamIn: opts.adamIn ?? 'host' });
    const session = await ort.InferenceSession.create(graph.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    return new OrtTrainer(graph, session, adam, { features: arch.features, classes: opts.classes }, initial, resume ?? null, arch.layers);
  }

  /** The batch buffers to fill before `step`: x [B, F], one-hot y [B, C], targets [B, W] (null without targets). */
  get batch(): { x: Float32Array; y: Float32Array; targets: Float32Array | null } {
    return { x: this.xb, y: this.yb, targets: this.tb };
  }

  /** One Adam step on the batch in the buffers; returns the loss before the step. */
  async step(): Promise<number> {
    const { names, params, adamIn } = this.graph;
    const s = adamScalars(this.adam, this.powers.beta1, this.powers.beta2);
    if (adamIn === 'graph') {
      this.feeds[names.stepSize] = new ort.Tensor('float32', Float32Array.of(s.stepSize), []);
      this.feeds[names.epsilonHat] = new ort.Tensor('float32', Float32Array.of(s.epsilonHat), []);
    }
    const t0 = performance.now();
    // The graph placement fetches everything it returns; the host one fills its pre-allocated outputs.
    const out = this.host ? await this.session.run(this.feeds, this.fetches) : await this.session.run(this.feeds);
    this.runMs += performance.now() - t0;
    const previous = this.host ? [] : Object.values(this.feeds);
    // Moving averages as TF.js's BatchNormalization keeps them: moving -= (moving - batch) * (1 - momentum).
    this.graph.batchNorms.forEach((_, j) => {
      const decay = Math.fround(1 - this.momentum[j]!);
      const batch = [names.batchMean(j), names.batchVariance(j)].map((n) => ((this.host ? this.fetches : out)[n]!.data as Float32Array));
      for (const k of [0, 1]) {
        const m = this.moving[2 * j + k]!;
        const b = batch[k]!;
        for (let c = 0; c < m.length; c++) m[c] = Math.fround(m[c]! - Math.fround(Math.fround(m[c]! - b[c]!) * decay));
      }
    });
    params.forEach((_, i) => {
      if (this.host) {
        // onnxruntime-node filled the pre-allocated outputs: the gradients are in the arena.
        this.host.update(i, this.adam, s);
      } else {
        this.feeds[names.param(i)] = out[names.paramOut(i)]!;
        this.feeds[names.m(i)] = out[names.mOut(i)]!;
        this.feeds[names.v(i)] = out[names.vOut(i)]!;
      }
    });
    this.powers.beta1 = Math.fround(this.powers.beta1 * Math.fround(this.adam.beta1));
    this.powers.beta2 = Math.fround(this.powers.beta2 * Math.fround(this.adam.beta2));
    const loss = ((this.host ? this.fetches : out)[names.loss]!.data as Float32Array)[0]!;
    // What no one reads any more: with Adam on the host, every copy the binding returned (the pre-allocated outputs hold
    // the values); with Adam in the graph, last step's parameters and moments, replaced by this step's outputs.
    const kept = new Set<ArrayBufferLike>([...Object.values(this.feeds), ...Object.values(this.fetches)].map((t) => (t.data as Float32Array).buffer));
    freeNow([...(this.host ? Object.values(out) : previous)].map((t) => (t.data as Float32Array).buffer).filter((b) => !kept.has(b)));
    return loss;
  }

  /** Adam's learning rate from the next step on (a schedule sets it before every step). */
  setLearningRate(learningRate: number): void {
    this.adam = { ...this.adam, learningRate };
  }

  /** Decoupled weight decay: every dense and conv kernel w <- w * (1 - lr * decay) in float32, in place. */
  decayKernels(lr: number, decay: number): void {
    this.graph.params.forEach((p, i) => {
      if ('layer' in p.owner && p.owner.field === 'kernel') decayWeights(this.live(i), lr, decay);
    });
  }

  /** Copies of the parameters (ParamInfo order) then the batch norms' moving statistics: what `restore` takes. */
  snapshot(): Float32Array[] {
    const s = this.state();
    return [...s.params, ...s.moving];
  }

  /** The student's layers with the parameters and moving statistics of a `snapshot`. */
  layersOf(spec: { layers: readonly LayerSpec[] }, snap: readonly Float32Array[]): LayerSpec[] {
    const n = this.graph.params.length;
    return layersWithParams(spec.layers, this.graph.params, snap.slice(0, n), snap.slice(n));
  }

  /** The array onnxruntime reads parameter i from at the next step (graph layout): a change to it is trained on. */
  private live(i: number): Float32Array {
    return this.host ? this.host.w[i]! : (this.feeds[this.graph.names.param(i)]!.data as Float32Array);
  }

  /**
   * The live dense and conv kernels of the student's `layers` handed to `edit` in StudentSpec's layout (layer order,
   * conv HWIO), to change in place before the next step: dense kernels where onnxruntime reads them, conv kernels
   * through an HWIO copy written back.
   */
  editKernels(layers: readonly LayerSpec[], edit: (kernels: Float32Array[]) => void): void {
    const kernels: { i: number; conv: Extract<LayerSpec, { kind: 'conv2d' }> | null; values: Float32Array }[] = [];
    this.graph.params.forEach((p, i) => {
      if (!('layer' in p.owner) || p.owner.field !== 'kernel') return;
      const l = layers[p.owner.layer]!;
      const live = this.live(i);
      kernels.push(l.kind === 'conv2d' ? { i, conv: l, values: oihwToHwio(live, ...convDims(l)) } : { i, conv: null, values: live });
    });
    edit(kernels.map((k) => k.values));
    for (const k of kernels) if (k.conv) this.live(k.i).set(hwioToOihw(k.values, ...convDims(k.conv)));
  }

  /** Copies of the current parameters and moments (graph layout, ParamInfo order) and the beta powers. */
  state(): TrainerState {
    const { names, params } = this.graph;
    const read = (name: string) => Float32Array.from(this.feeds[name]!.data as Float32Array);
    const moving = this.moving.map((a) => a.slice());
    if (this.host) return { params: this.host.w.map((a) => a.slice()), m: this.host.m.map((a) => a.slice()), v: this.host.v.map((a) => a.slice()), powers: { ...this.powers }, moving };
    return { params: params.map((_, i) => read(names.param(i))), m: params.map((_, i) => read(names.m(i))), v: params.map((_, i) => read(names.v(i))), powers: { ...this.powers }, moving };
  }

  /** The student's layers with the current parameters. */
  layers(spec: { layers: readonly LayerSpec[] }): LayerSpec[] {
    const s = this.state();
    return layersWithParams(spec.layers, this.graph.params, s.params, s.moving);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
