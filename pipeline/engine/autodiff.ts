// Reverse-mode differentiation that writes ONNX: a small set of primitive ops, each with its gradient rule beside its
// forward rule. A Tracer records the forward graph as it is built (every shape is static: the batch is fixed), and
// `gradients` walks the record backwards, emitting the backward pass into the same graph. onnxruntime then runs
// forward, backward and the optimizer as one graph; nothing is differentiated numerically.
import { attr, OnnxGraphBuilder, type OnnxAttribute } from '../../exporters/onnx-builder.ts';

/** A float32 tensor of the graph, with its static shape. */
export interface Value {
  readonly name: string;
  readonly shape: readonly number[];
}

/** One recorded op: its inputs and output, and how a gradient of the output becomes gradients of the inputs. */
interface TapeEntry {
  inputs: readonly Value[];
  output: Value;
  /**
   * Given the output's gradient, one thunk per input that emits that input's gradient (null: none). Thunks, so that
   * gradients nobody needs (a data input's, say) are never written into the graph.
   */
  vjp: (g: Value) => ((() => Value) | null)[];
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

/** The numpy broadcast of two shapes (trailing dimensions aligned). */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new RangeError(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(Math.max(x, y));
  }
  return out;
}

/** A convolution's geometry beyond its kernel: strides [h, w], pads [top, left, bottom, right], groups. */
export interface ConvOptions {
  strides?: [number, number];
  pads?: [number, number, number, number];
  groups?: number;
}

export class Tracer {
  readonly builder: OnnxGraphBuilder;
  private readonly tape: TapeEntry[] = [];
  private readonly scalars = new Map<number, Value>();
  private readonly int64s = new Map<string, string>();
  /** Tensors made by nodes (not inputs or constants), and those already marked as graph outputs. */
  private readonly produced = new Set<string>();
  private readonly outputs = new Set<string>();
  private count = 0;

  constructor(graphName: string, producerVersion: string) {
    this.builder = new OnnxGraphBuilder({ graphName, producerVersion });
  }

  /** A fresh tensor name. */
  fresh(prefix: string): string {
    return `${prefix}_${this.count++}`;
  }

  /** A float32 graph input. */
  input(name: string, shape: readonly number[]): Value {
    this.builder.addInput(name, shape);
    return { name, shape };
  }

  /** A float32 constant. */
  constant(data: Float32Array, shape: readonly number[], prefix = 'const'): Value {
    const name = this.builder.addFloatInitializer(this.fresh(prefix), shape, data);
    return { name, shape };
  }

  /** A float32 scalar constant (shape []), one initializer per value. */
  scalar(v: number): Value {
    const key = Math.fround(v);
    if (!this.scalars.has(key)) this.scalars.set(key, this.constant(Float32Array.of(key), [], 'scalar'));
    return this.scalars.get(key)!;
  }

  /** An int64 constant (shapes, axes), shared by value. */
  int64(values: readonly number[]): string {
    const key = values.join(',');
    if (!this.int64s.has(key)) this.int64s.set(key, this.builder.addInt64Initializer(this.fresh('i64'), [values.length], values));
    return this.int64s.get(key)!;
  }

  /** Emits one node producing one float32 output of `shape`; records it for differentiation when `vjp` is given. */
  private emit(opType: string, inputs: readonly (Value | string)[], shape: readonly number[], attributes?: Record<string, OnnxAttribute>, vjp?: TapeEntry['vjp'], extraOutputs: string[] = []): Value {
    const name = this.fresh(opType.toLowerCase());
    this.builder.addNode({ opType, inputs: inputs.map((i) => (typeof i === 'string' ? i : i.name)), outputs: [name, ...extraOutputs], ...(attributes ? { attributes } : {}) });
    this.produced.add(name);
    const output = { name, shape: [...shape] };
    if (vjp) this.tape.push({ inputs: inputs.filter((i): i is Value => typeof i !== 'string'), output, vjp });
    return output;
  }

  // ---- primitive ops: forward rule, then gradient rule ----

  /** a + b (numpy broadcasting). d/da = g summed over a's broadcast axes; likewise b. */
  add(a: Value, b: Value): Value {
    return this.emit('Add', [a, b], broadcastShape(a.shape, b.shape), undefined, (g) => [() => this.unbroadcast(g, a.shape), () => this.unbroadcast(g, b.shape)]);
  }

  /** a - b. d/da = g, d/db = -g (each summed over its broadcast axes). */
  sub(a: Value, b: Value): Value {
    return this.emit('Sub', [a, b], broadcastShape(a.shape, b.shape), undefined, (g) => [() => this.unbroadcast(g, a.shape), () => this.unbroadcast(this.neg(g), b.shape)]);
  }

  /** a * b elementwise. d/da = g * b, d/db = g * a. */
  mul(a: Value, b: Value): Value {
    return this.emit('Mul', [a, b], broadcastShape(a.shape, b.shape), undefined, (g) => [() => this.unbroadcast(this.mul(g, b), a.shape), () => this.unbroadcast(this.mul(g, a), b.shape)]);
  }

  /** a / b elementwise. d/da = g / b, d/db = -g * a / b^2. */
  div(a: Value, b: Value): Value {
    const y = this.emit('Div', [a, b], broadcastShape(a.shape, b.shape), undefined, (g) => [
      () => this.unbroadcast(this.div(g, b), a.shape),
      () => this.unbroadcast(this.neg(this.div(this.mul(g, y), b)), b.shape),
    ]);
    return y;
  }

  /** a * c for a constant c. */
  scale(a: Value, c: number): Value {
    return this.mul(a, this.scalar(c));
  }

  /** -x. */
  neg(x: Value): Value {
    return this.emit('Neg', [x], x.shape, undefined, (g) => [() => this.neg(g)]);
  }

  /** exp(x). d/dx = g * exp(x) (the output itself). */
  exp(x: Value): Value {
    const y = this.emit('Exp', [x], x.shape, undefined, (g) => [() => this.mul(g, y)]);
    return y;
  }

  /** log(x). d/dx = g / x. */
  log(x: Value): Value {
    return this.emit('Log', [x], x.shape, undefined, (g) => [() => this.div(g, x)]);
  }

  /** max(x, c) for a constant c (no gradient: used on targets only). */
  maxScalar(x: Value, c: number): Value {
    return this.emit('Max', [x, this.scalar(c)], x.shape);
  }

  /** sqrt(x). d/dx = g / (2 sqrt(x)) (the output read). */
  sqrt(x: Value): Value {
    const y = this.emit('Sqrt', [x], x.shape, undefined, (g) => [() => this.div(this.scale(g, 0.5), y)]);
    return y;
  }

  /** A 0/1 float mask from a comparison of y with a scalar (no gradient). */
  private compare(op: 'Greater' | 'Less', y: Value, c: number): string {
    const out = this.fresh(op.toLowerCase());
    this.builder.addNode({ opType: op, inputs: [y.name, this.scalar(c).name], outputs: [out] });
    return out;
  }

  /**
   * min(max(x, 0), 6) (ReLU6: ONNX Clip). d/dx = g where 0 < y < 6, else 0 (the output read, as relu does, so the
   * Clip can fuse into the conv before it).
   */
  relu6(x: Value): Value {
    const y = this.emit('Clip', [x, this.scalar(0), this.scalar(6)], x.shape, undefined, (g) => [
      () => {
        const inside = this.fresh('and');
        this.builder.addNode({ opType: 'And', inputs: [this.compare('Greater', y, 0), this.compare('Less', y, 6)], outputs: [inside] });
        return this.emit('Mul', [g, this.emit('Cast', [inside], y.shape, { to: attr.int(1) })], x.shape);
      },
    ]);
    return y;
  }

  /** The mean over the spatial axes of NCHW [B, C, H, W], as [B, C] (GlobalAveragePool). d/dx = g / (H*W) spread. */
  globalAvgPool(x: Value): Value {
    const [B, C, H, W] = x.shape as [number, number, number, number];
    const pooled = this.emit('GlobalAveragePool', [x], [B, C, 1, 1], undefined, (g) => [() => this.expand(this.scale(g, 1 / (H * W)), x.shape)]);
    return this.reshape(pooled, [B, C]);
  }

  /**
   * Batch normalisation in training mode, per channel (axis 1) of NCHW [B, C, H, W] or [B, C]: the batch's mean and
   * biased variance over every other axis, y = (x - mean) / sqrt(variance + epsilon) * gamma + beta (gamma, beta
   * [C]). Composed of primitive ops, so its gradient is theirs. Also returns the batch statistics [C] (the running
   * averages an exporter folds into the preceding conv are updated from them).
   */
  batchNorm(x: Value, gamma: Value, beta: Value, epsilon: number): { y: Value; mean: Value; variance: Value } {
    const C = x.shape[1]!;
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const perChannel = x.shape.map((d, i) => (i === 1 ? d : 1));
    const count = numel(x.shape) / C;
    const mean = this.scale(this.reduceSum(x, axes, true), 1 / count);
    const centred = this.sub(x, mean);
    const variance = this.scale(this.reduceSum(this.mul(centred, centred), axes, true), 1 / count);
    const normalised = this.div(centred, this.sqrt(this.add(variance, this.scalar(epsilon))));
    const y = this.add(this.mul(normalised, this.reshape(gamma, perChannel)), this.reshape(beta, perChannel));
    return { y, mean: this.reshape(mean, [C]), variance: this.reshape(variance, [C]) };
  }

  /**
   * max(x, 0). d/dx = g * sign(y): y = relu(x) is 0 or positive, so its sign is the 0/1 mask (two vectorised passes;
   * onnxruntime's Where, the obvious choice, runs ~5x slower on conv activations). The mask reads the output, not x,
   * so that x has Relu as its only consumer and onnxruntime can fuse the Relu into the Conv or Gemm that makes x.
   */
  relu(x: Value): Value {
    const y = this.emit('Relu', [x], x.shape, undefined, (g) => [() => this.emit('Mul', [g, this.emit('Cast', [this.compare('Greater', y, 0)], y.shape, { to: attr.int(1) })], x.shape)]);
    return y;
  }

  /**
   * A 2-D matrix product op(a) @ op(b), op = transpose when the flag is set (ONNX Gemm without bias).
   * With y = a @ b: d/da = g @ b^T, d/db = a^T @ g; the transposed cases follow by symmetry.
   */
  matmul(a: Value, b: Value, trans: { a?: boolean; b?: boolean } = {}): Value {
    const [ta, tb] = [Boolean(trans.a), Boolean(trans.b)];
    const [m, k] = ta ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [k2, n] = tb ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (a.shape.length !== 2 || b.shape.length !== 2 || k !== k2) throw new RangeError(`matmul: [${a.shape}]${ta ? 'T' : ''} @ [${b.shape}]${tb ? 'T' : ''}`);
    return this.emit('Gemm', [a, b], [m, n], { transA: attr.int(ta ? 1 : 0), transB: attr.int(tb ? 1 : 0) }, (g) => [
      () => (ta ? this.matmul(b, g, { a: tb, b: true }) : this.matmul(g, b, { b: !tb })),
      () => (tb ? this.matmul(g, a, { a: true, b: ta }) : this.matmul(a, g, { a: !ta })),
    ]);
  }

  /**
   * x @ w + b in one Gemm (b broadcast over rows). d/dx = g @ w^T, d/dw = x^T @ g, d/db = sum of g over rows.
   */
  linear(x: Value, w: Value, b: Value): Value {
    const [m, k] = x.shape as [number, number];
    const n = w.shape[1]!;
    if (w.shape[0] !== k || b.shape.length !== 1 || b.shape[0] !== n) throw new RangeError(`linear: [${x.shape}] @ [${w.shape}] + [${b.shape}]`);
    return this.emit('Gemm', [x, w, b], [m, n], undefined, (g) => [() => this.matmul(g, w, { b: true }), () => this.matmul(x, g, { a: true }), () => this.reduceSum(g, [0])]);
  }

  /** Sum over `axes` (keepdims 0 or 1). d/dx = g broadcast back over the summed axes. */
  reduceSum(x: Value, axes: readonly number[], keepdims = false): Value {
    const ax = axes.map((a) => normAxis(a, x.shape.length));
    const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
    const shape = keepdims ? kept : x.shape.filter((_, i) => !ax.includes(i));
    return this.emit('ReduceSum', [x, this.int64(ax)], shape, { keepdims: attr.int(keepdims ? 1 : 0) }, (g) => [() => this.expand(this.reshape(g, kept), x.shape)]);
  }

  /** Mean over every element: a scalar. */
  mean(x: Value): Value {
    return this.scale(this.reduceSum(x, x.shape.map((_, i) => i)), 1 / numel(x.shape));
  }

  /** log softmax over `axis`. d/dx = g - softmax(x) * sum(g, axis). */
  logSoftmax(x: Value, axis = -1): Value {
    const ax = normAxis(axis, x.shape.length);
    const y = this.emit('LogSoftmax', [x], x.shape, { axis: attr.int(ax) }, (g) => [() => this.sub(g, this.mul(this.exp(y), this.reduceSum(g, [ax], true)))]);
    return y;
  }

  /** softmax over `axis`. d/dx = y * (g - sum(g * y, axis)). */
  softmax(x: Value, axis = -1): Value {
    const ax = normAxis(axis, x.shape.length);
    const y = this.emit('Softmax', [x], x.shape, { axis: attr.int(ax) }, (g) => [() => this.mul(y, this.sub(g, this.reduceSum(this.mul(g, y), [ax], true)))]);
    return y;
  }

  /** log sum exp over one axis (dropped). d/dx = g * exp(x - y): the softmax over that axis. */
  logSumExp(x: Value, axis: number): Value {
    const ax = normAxis(axis, x.shape.length);
    const kept = x.shape.map((d, i) => (i === ax ? 1 : d));
    const y = this.emit('ReduceLogSumExp', [x], x.shape.filter((_, i) => i !== ax), { axes: attr.ints([ax]), keepdims: attr.int(0) }, (g) => [
      () => this.mul(this.reshape(g, kept), this.exp(this.sub(x, this.reshape(y, kept)))),
    ]);
    return y;
  }

  /** Same data, another shape. d/dx = g reshaped back. */
  reshape(x: Value, shape: readonly number[]): Value {
    if (numel(shape) !== numel(x.shape)) throw new RangeError(`reshape [${x.shape}] to [${shape}]`);
    if (sameShape(shape, x.shape)) return x;
    return this.emit('Reshape', [x, this.int64(shape)], shape, undefined, (g) => [() => this.reshape(g, x.shape)]);
  }

  /** Axes permuted. d/dx = g permuted by the inverse permutation. */
  transpose(x: Value, perm: readonly number[]): Value {
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return this.emit('Transpose', [x], perm.map((p) => x.shape[p]!), { perm: attr.ints(perm) }, (g) => [() => this.transpose(g, inverse)]);
  }

  /** x broadcast to `shape` (no gradient rule needed: it only appears in backward passes). */
  expand(x: Value, shape: readonly number[]): Value {
    if (sameShape(x.shape, shape)) return x;
    return this.emit('Expand', [x, this.int64(shape)], shape, undefined, (g) => [() => this.unbroadcast(g, x.shape)]);
  }

  /** Columns [from, to) of a 2-D tensor (Slice). d/dx = g padded with zeros back to the full width. */
  sliceColumns(x: Value, from: number, to: number): Value {
    const [rows, cols] = x.shape as [number, number];
    return this.emit('Slice', [x, this.int64([from]), this.int64([to]), this.int64([1])], [rows, to - from], undefined, (g) => [
      () => this.emit('Pad', [g, this.int64([0, from, 0, cols - to])], [rows, cols]),
    ]);
  }

  /**
   * 2-D convolution, NCHW input [B, Cin, H, W], OIHW weight [Cout, Cin/groups, kh, kw], with strides, pads
   * [top, left, bottom, right] (ONNX order) and groups (groups = Cin = Cout: depthwise), and an optional bias [Cout].
   * A 1-D convolution is the case H = kh = 1.
   * - d/dx, stride 1: Conv(g, w flipped): each group's in and out channels swapped, the kernel rotated by 180 degrees,
   *   padding k-1-pad; the sums of ConvTranspose(g, w), which onnxruntime runs ~10x slower than Conv. Strided:
   *   ConvTranspose(g, w) with output_padding restoring the input's size.
   * - d/dw: im2col and one matrix product. The kh*kw shifted (and strided) views of the padded input, laid out as
   *   P [Cin*kh*kw, B*Ho*Wo], against g^T [Cout, B*Ho*Wo]: dw = g^T P^T (per group: a batched MatMul).
   * - d/dbias: g summed over batch and space.
   */
  conv2d(x: Value, w: Value, opts: ConvOptions = {}, bias?: Value): Value {
    const [B, Cin, H, W] = x.shape as [number, number, number, number];
    const [Cout, cinG, kh, kw] = w.shape as [number, number, number, number];
    const groups = opts.groups ?? 1;
    const [sh, sw] = opts.strides ?? [1, 1];
    const [pt, pl, pb, pr] = opts.pads ?? [0, 0, 0, 0];
    if (cinG * groups !== Cin || Cout % groups !== 0) throw new RangeError(`conv2d: input has ${Cin} channels, weight [${w.shape}] with ${groups} group(s)`);
    const Ho = Math.floor((H + pt + pb - kh) / sh) + 1;
    const Wo = Math.floor((W + pl + pr - kw) / sw) + 1;
    if (Ho < 1 || Wo < 1) throw new RangeError(`conv2d: a ${kh}x${kw} kernel does not fit a ${H}x${W} input with pads [${opts.pads}]`);
    const coutG = Cout / groups;
    const attrs = { pads: attr.ints([pt, pl, pb, pr]), kernel_shape: attr.ints([kh, kw]), strides: attr.ints([sh, sw]), group: attr.int(groups) };
    const kk = kh * kw;
    const N = B * Ho * Wo;
    return this.emit('Conv', bias ? [x, w, bias] : [x, w], [B, Cout, Ho, Wo], attrs, (g) => [
      () => {
        if (sh !== 1 || sw !== 1) {
          const outputPadding = [H - ((Ho - 1) * sh + kh - pt - pb), W - ((Wo - 1) * sw + kw - pl - pr)];
          return this.emit('ConvTranspose', [g, w], x.shape, { ...attrs, output_padding: attr.ints(outputPadding) });
        }
        const back = [kh - 1 - pt, kw - 1 - pl, kh - 1 - pb, kw - 1 - pr];
        if (back.some((p) => p < 0)) throw new RangeError(`conv2d: pads [${opts.pads}] larger than the kernel's ${kh}x${kw} less one`);
        const perGroup = this.reshape(w, [groups, coutG, cinG, kk]);
        const swapped = this.reshape(this.transpose(perGroup, [0, 2, 1, 3]), [Cin, coutG, kh, kw]);
        const flipped = this.emit('Slice', [swapped, this.int64([-1, -1]), this.int64([-kh - 1, -kw - 1]), this.int64([2, 3]), this.int64([-1, -1])], swapped.shape);
        return this.emit('Conv', [g, flipped], x.shape, { pads: attr.ints(back), kernel_shape: attr.ints([kh, kw]), group: attr.int(groups) });
      },
      () => {
        const [Hp, Wp] = [H + pt + pb, W + pl + pr];
        const padded = pt + pl + pb + pr > 0 ? this.emit('Pad', [x, this.int64([0, 0, pt, pl, 0, 0, pb, pr])], [B, Cin, Hp, Wp]) : x;
        const xt = this.transpose(padded, [1, 0, 2, 3]);
        const views: Value[] = [];
        for (let dy = 0; dy < kh; dy++) {
          for (let dx = 0; dx < kw; dx++) {
            const ends = [dy + sh * (Ho - 1) + 1, dx + sw * (Wo - 1) + 1];
            const view = this.emit('Slice', [xt, this.int64([dy, dx]), this.int64(ends), this.int64([2, 3]), this.int64([sh, sw])], [Cin, B, Ho, Wo]);
            views.push(this.reshape(view, [Cin, 1, N]));
          }
        }
        const patches = views.length === 1 ? views[0]! : this.emit('Concat', views, [Cin, kk, N], { axis: attr.int(1) });
        const gt = this.reshape(this.transpose(g, [1, 0, 2, 3]), [Cout, N]);
        if (groups === 1) return this.reshape(this.matmul(gt, this.reshape(patches, [Cin * kk, N]), { b: true }), w.shape);
        const gtT = this.transpose(this.reshape(gt, [groups, coutG, N]), [0, 2, 1]);
        const dw = this.emit('MatMul', [this.reshape(patches, [groups, cinG * kk, N]), gtT], [groups, cinG * kk, coutG]);
        return this.reshape(this.transpose(dw, [0, 2, 1]), w.shape);
      },
      ...(bias ? [() => this.reduceSum(g, [0, 2, 3])] : []),
    ]);
  }

  /**
   * Max pooling NCHW, window and stride `k`, no padding (floor). d/dx = g scattered to the argmax of each window:
   * MaxPool's Indices output fed to MaxUnpool with the input's shape.
   */
  maxPool(x: Value, k: number | [number, number]): Value {
    const [B, C, H, W] = x.shape as [number, number, number, number];
    const [kh, kw] = typeof k === 'number' ? [k, k] : k;
    const indices = this.fresh('maxpool_idx');
    const y = this.emit('MaxPool', [x], [B, C, Math.floor(H / kh), Math.floor(W / kw)], { kernel_shape: attr.ints([kh, kw]), strides: attr.ints([kh, kw]) }, (g) => [
      () => this.emit('MaxUnpool', [g.name, indices, this.int64(x.shape)], x.shape, { kernel_shape: attr.ints([kh, kw]), strides: attr.ints([kh, kw]) }),
    ], [indices]);
    return y;
  }

  /** g summed down to `shape` over the axes that broadcasting expanded. */
  private unbroadcast(g: Value, shape: readonly number[]): Value {
    if (sameShape(g.shape, shape)) return g;
    const lead = g.shape.length - shape.length;
    const axes = g.shape.map((d, i) => (i < lead || (shape[i - lead] === 1 && d !== 1) ? i : -1)).filter((i) => i >= 0);
    return this.reshape(this.reduceSum(g, axes, true), shape);
  }

  /**
   * The gradients of scalar `loss` with respect to each of `wrt`, emitted into the graph (reverse mode over the
   * recorded ops). A Value that `loss` does not depend on gets a zero gradient.
   */
  gradients(loss: Value, wrt: readonly Value[]): Value[] {
    if (loss.shape.length !== 0) throw new RangeError(`gradients: the loss must be a scalar, got [${loss.shape}]`);
    // Only ops between a wrt value and the loss need a backward rule.
    const needed = new Set(wrt.map((w) => w.name));
    for (const e of this.tape) if (e.inputs.some((i) => needed.has(i.name))) needed.add(e.output.name);
    const grads = new Map<string, Value>([[loss.name, this.scalar(1)]]);
    const entries = this.tape.slice();
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      const g = grads.get(e.output.name);
      if (!g || !needed.has(e.output.name)) continue;
      const gs = e.vjp(this.expand(g, e.output.shape));
      e.inputs.forEach((input, j) => {
        if (!gs[j] || !needed.has(input.name)) return;
        const gi = gs[j]();
        const prev = grads.get(input.name);
        grads.set(input.name, prev ? this.add(prev, gi) : gi);
      });
    }
    return wrt.map((w) => grads.get(w.name) ?? this.constant(new Float32Array(numel(w.shape)), w.shape, 'zero_grad'));
  }

  /**
   * Marks `v` as a graph output (float32, its static shape) under its own name, so that nothing is copied; a tensor
   * that is a graph input, a constant or already an output goes out through an Identity. Returns the output.
   */
  output(v: Value): Value {
    if (this.outputs.has(v.name) || !this.produced.has(v.name)) {
      const name = this.fresh('out');
      this.builder.addNode({ opType: 'Identity', inputs: [v.name], outputs: [name] });
      v = { name, shape: v.shape };
    }
    this.outputs.add(v.name);
    this.builder.addOutput(v.name, v.shape);
    return v;
  }

  encode(): Uint8Array {
    return this.builder.encode();
  }
}
