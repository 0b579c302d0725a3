// Runs a compiled training step (train-graph.ts) on onnxruntime-node. Each step's batch is written into the same three
// input buffers (onnxruntime reads an input tensor's memory in place). With Adam on the host (the default) the
// parameters, moments and gradients live in a WasmAdam arena: the parameter tensors wrap its views, onnxruntime
// writes the gradients into it (pre-allocated outputs), and its SIMD loop updates them after each run. With Adam in
// the graph they stay in the tensors onnxruntime returned, which are fed straight back.
import * as ort from 'onnxruntime-node';
import '../../runtimes/ort-telemetry.ts';
import type { LayerSpec, StudentSpec } from '../student/spec.ts';
import { hwioToOihw } from '../../exporters/onnx-graph.ts';
import { WasmAdam } from './wasm-adam.ts';
import { adamScalars, compileTrainStep, type AdamPlacement, type AdamSpec, type LossSpec, type ParamInfo, type TrainArch, type TrainGraph } from './train-graph.ts';

/** ONNX Conv weight [out, in, k, k] -> TF.js conv kernel [k, k, in, out]. */
export function oihwToHwio(w: Float32Array, k: number, inC: number, outC: number): Float32Array {
  const kernel = new Float32Array(w.length);
  for (let kh = 0; kh < k; kh++) {
    for (let kw = 0; kw < k; kw++) {
      for (let i = 0; i < inC; i++) {
        for (let o = 0; o < outC; o++) kernel[((kh * k + kw) * inC + i) * outC + o] = w[((o * inC + i) * k + kh) * k + kw]!;
      }
    }
  }
  return kernel;
}

type Weighted = Extract<LayerSpec, { kind: 'dense' | 'conv2d' }>;

/** A student parameter in the graph's layout (conv kernels OIHW), from its StudentSpec layer. */
export function paramFromSpec(p: ParamInfo, layers: readonly LayerSpec[]): Float32Array {
  if (!('layer' in p.owner)) throw new RangeError(`${p.name} is a loss parameter, not a layer's`);
  const l = layers[p.owner.layer] as Weighted;
  if (p.owner.field === 'bias') return Float32Array.from(l.bias);
  return l.kind === 'conv2d' ? hwioToOihw(l.kernel, l.kernelSize, l.inChannels, l.filters) : Float32Array.from(l.kernel);
}

/** The layers with the trained parameters put back (conv kernels HWIO again). */
export function layersWithParams(layers: readonly LayerSpec[], params: readonly ParamInfo[], values: readonly Float32Array[]): LayerSpec[] {
  const out = layers.map((l) => ({ ...l })) as LayerSpec[];
  params.forEach((p, i) => {
    if (!('layer' in p.owner)) return;
    const l = out[p.owner.layer] as Weighted;
    const v = values[i]!;
    if (p.owner.field === 'bias') l.bias = Float32Array.from(v);
    else l.kernel = l.kind === 'conv2d' ? oihwToHwio(v, l.kernelSize, l.inChannels, l.filters) : Float32Array.from(v);
  });
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
}

export class OrtTrainer {
  private readonly feeds: Record<string, ort.Tensor> = {};
  private readonly xb: Float32Array;
  private readonly yb: Float32Array;
  private readonly tb: Float32Array | null;
  /** 'host' placement: the parameters, moments and gradients, updated in place (the parameter tensors wrap them). */
  private readonly host: WasmAdam | null;
  /** 'host' placement: the outputs onnxruntime writes into (the loss and the gradients in `host`). */
  private readonly fetches: Record<string, ort.Tensor> = {};
  /** The running beta powers after the steps taken so far (TF.js starts them at beta1, beta2). */
  readonly powers: BetaPowers;
  /** Wall time spent inside onnxruntime's session.run so far (the rest of a step is JavaScript's share). */
  runMs = 0;

  private constructor(
    readonly graph: TrainGraph,
    private readonly session: ort.InferenceSession,
    private readonly adam: AdamSpec,
    dims: { features: number; classes: number },
    initial: readonly Float32Array[],
    resume: Omit<TrainerState, 'params'> | null,
  ) {
    const { names, params, batch } = graph;
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
    return new OrtTrainer(graph, session, adam, { features: arch.features, classes: opts.classes }, initial, resume ?? null);
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
    const out = this.host ? await this.session.run(this.feeds, this.fetches) : await this.session.run(this.feeds);
    this.runMs += performance.now() - t0;
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
    return ((this.host ? this.fetches : out)[names.loss]!.data as Float32Array)[0]!;
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
      kernels.push(l.kind === 'conv2d' ? { i, conv: l, values: oihwToHwio(live, l.kernelSize, l.inChannels, l.filters) } : { i, conv: null, values: live });
    });
    edit(kernels.map((k) => k.values));
    for (const k of kernels) if (k.conv) this.live(k.i).set(hwioToOihw(k.values, k.conv.kernelSize, k.conv.inChannels, k.conv.filters));
  }

  /** Copies of the current parameters and moments (graph layout, ParamInfo order) and the beta powers. */
  state(): TrainerState {
    const { names, params } = this.graph;
    const read = (name: string) => Float32Array.from(this.feeds[name]!.data as Float32Array);
    if (this.host) return { params: this.host.w.map((a) => a.slice()), m: this.host.m.map((a) => a.slice()), v: this.host.v.map((a) => a.slice()), powers: { ...this.powers } };
    return { params: params.map((_, i) => read(names.param(i))), m: params.map((_, i) => read(names.m(i))), v: params.map((_, i) => read(names.v(i))), powers: { ...this.powers } };
  }

  /** The student's layers with the current parameters. */
  layers(spec: Pick<StudentSpec, 'layers'>): LayerSpec[] {
    return layersWithParams(spec.layers, this.graph.params, this.state().params);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
