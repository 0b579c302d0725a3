// Per-op ONNX rules: the output shapes (and, for small integer tensors, values) of a node from its inputs, and
// its cost in FLOPs under the conventions of flops.ts. An op without a rule has an unknown cost. The context,
// helpers and the free data-movement ops are in onnx-layout-rules.ts.
import {
  BATCHNORM_FLOPS, FLOPS_PER_MAC, NORMALIZATION_FLOPS, SOFTMAX_FLOPS,
  broadcast, matmulShape, numel, sameOut, windowOut, type Shape, type Tensor,
} from './flops.ts';
import {
  ZERO_COST, axis, free, has, int, ints, out1, perOut, sh, str, val,
  type OpRule, type RuleContext,
} from './onnx-layout-rules.ts';

export type { Attr, OpRule, RuleContext, Tensor } from './onnx-layout-rules.ts';

function fold(c: RuleContext, f: (...v: number[]) => number): number[] | undefined {
  const vs = c.ins.map((t) => t?.values);
  if (vs.some((v) => !v) || c.ins.some((t) => !t?.shape || t.shape.length > 1)) return undefined;
  const n = Math.max(...vs.map((v) => v!.length));
  if (vs.some((v) => v!.length !== 1 && v!.length !== n)) return undefined;
  return Array.from({ length: n }, (_, i) => f(...vs.map((v) => v![v!.length === 1 ? 0 : i]!)));
}
const elementwise = (f?: (...v: number[]) => number): OpRule['shape'] => (c) => out1(broadcast(...c.ins.filter(Boolean).map((t) => t!.shape)), f ? fold(c, f) : undefined);

/** Conv/pool output dims from the spatial input dims (ONNX pads = [begin..., end...], auto_pad). */
function spatial(c: RuleContext, inSp: number[], kernel: number[]): number[] {
  const strides = ints(c, 'strides') ?? kernel.map(() => 1);
  const dil = ints(c, 'dilations') ?? kernel.map(() => 1);
  const pads = ints(c, 'pads') ?? [...kernel, ...kernel].map(() => 0);
  const auto = str(c, 'auto_pad', 'NOTSET');
  const ceil = int(c, 'ceil_mode', 0) === 1;
  return inSp.map((d, i) => {
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') return sameOut(d, strides[i]!);
    const pad = auto === 'VALID' ? 0 : pads[i]! + pads[i + kernel.length]!;
    return windowOut(d, kernel[i]!, strides[i]!, dil[i]!, pad, ceil);
  });
}

/** Conv-like ops: where the data, weight and bias inputs sit (QLinearConv interleaves scales and zero points). */
function convRule(x: number, w: number, b: number | null): OpRule {
  return {
    shape: (c) => {
      const [X, W] = [sh(c, x), sh(c, w)];
      if (!X || !W) return undefined;
      return out1([X[0]!, W[0]!, ...spatial(c, X.slice(2), ints(c, 'kernel_shape') ?? W.slice(2))]);
    },
    cost: (c, [o]) => {
      const W = sh(c, w);
      if (!o || !W) return undefined;
      return FLOPS_PER_MAC * numel(o) * numel(W.slice(1)) + (b !== null && has(c, b) ? numel(o) : 0);
    },
  };
}

/** ConvTranspose: every input element scatters into Cout/group * kernel outputs with a multiply-add each. */
const convTranspose: OpRule = {
  shape: (c) => {
    const [X, W] = [sh(c, 0), sh(c, 1)];
    if (!X || !W) return undefined;
    const k = ints(c, 'kernel_shape') ?? W.slice(2);
    const n = k.length;
    const strides = ints(c, 'strides') ?? k.map(() => 1);
    const dil = ints(c, 'dilations') ?? k.map(() => 1);
    const pads = ints(c, 'pads') ?? [...k, ...k].map(() => 0);
    const outPad = ints(c, 'output_padding') ?? k.map(() => 0);
    const same = str(c, 'auto_pad', 'NOTSET').startsWith('SAME');
    const sp = ints(c, 'output_shape')?.slice(-n) ?? X.slice(2).map((d, i) => (same ? d * strides[i]! : strides[i]! * (d - 1) + outPad[i]! + (k[i]! - 1) * dil[i]! + 1 - pads[i]! - pads[i + n]!));
    return out1([X[0]!, W[1]! * int(c, 'group', 1), ...sp]);
  },
  cost: (c, [o]) => {
    const [X, W] = [sh(c, 0), sh(c, 1)];
    if (!o || !X || !W) return undefined;
    return FLOPS_PER_MAC * numel(X) * numel(W.slice(1)) + (has(c, 2) ? numel(o) : 0);
  },
};

function matmulRule(a: number, b: number): OpRule {
  const m = (c: RuleContext) => matmulShape(sh(c, a), sh(c, b));
  return { shape: (c) => out1(m(c)?.out), cost: (c) => { const r = m(c); return r && FLOPS_PER_MAC * numel(r.out) * r.k; } };
}

const gemm: OpRule = {
  shape: (c) => {
    const [A, B] = [sh(c, 0), sh(c, 1)];
    if (!A || !B) return undefined;
    return out1([int(c, 'transA', 0) ? A[1]! : A[0]!, int(c, 'transB', 0) ? B[0]! : B[1]!]);
  },
  cost: (c, [o]) => {
    const A = sh(c, 0);
    if (!o || !A) return undefined;
    const k = int(c, 'transA', 0) ? A[0]! : A[1]!;
    return FLOPS_PER_MAC * numel(o) * k + (has(c, 2) ? numel(o) : 0);
  },
};

const pool: OpRule = {
  shape: (c) => {
    const X = sh(c, 0);
    const k = ints(c, 'kernel_shape');
    if (!X || !k) return undefined;
    const o = [X[0]!, X[1]!, ...spatial(c, X.slice(2), k)];
    return [{ shape: o }, { shape: o }]; // MaxPool's optional second output: the indices.
  },
  cost: (c, [o]) => (o ? numel(o) * numel(ints(c, 'kernel_shape') ?? [NaN]) : undefined),
};

const globalPool: OpRule = {
  shape: (c) => { const X = sh(c, 0); return X && out1([...X.slice(0, 2), ...X.slice(2).map(() => 1)]); },
  cost: (c) => { const X = sh(c, 0); return X && numel(X); },
};

function reduceShape(c: RuleContext, axesSince: number): Tensor[] | undefined {
  const X = sh(c, 0);
  if (!X) return undefined;
  const given = c.opset >= axesSince ? val(c, 1) : ints(c, 'axes');
  if (!given?.length && int(c, 'noop_with_empty_axes', 0)) return out1(X);
  const axes = new Set((given?.length ? given : X.map((_, i) => i)).map((a) => axis(a, X.length)));
  const keep = int(c, 'keepdims', 1) === 1;
  return out1(X.flatMap((d, i) => (axes.has(i) ? (keep ? [1] : []) : [d])));
}
const argReduce: OpRule = {
  shape: (c) => {
    const X = sh(c, 0);
    if (!X) return undefined;
    const a = axis(int(c, 'axis', 0), X.length);
    return out1(X.flatMap((d, i) => (i === a ? (int(c, 'keepdims', 1) ? [1] : []) : [d])));
  },
  cost: (c) => { const X = sh(c, 0); return X && numel(X); },
};
const reduce = (since: number): OpRule => ({ shape: (c) => reduceShape(c, since), cost: (c) => { const X = sh(c, 0); return X && numel(X); } });

const resize: OpRule = {
  shape: (c) => {
    const X = sh(c, 0);
    const sizes = c.opset >= 11 ? val(c, 3) : undefined;
    const scales = c.opset >= 11 ? val(c, 2) : c.opset >= 9 ? val(c, 1) : (c.attrs.scales as number[] | undefined);
    if (!X) return undefined;
    if (sizes?.length === X.length) return out1(sizes);
    return scales?.length === X.length ? out1(X.map((d, i) => Math.floor(d * scales[i]!))) : undefined;
  },
  // Nearest is a copy; linear/cubic interpolation is a multiply-add per tap: 2 (or 4) taps per resized axis.
  cost: (c, [o]) => {
    const X = sh(c, 0);
    if (!o || !X) return undefined;
    const mode = str(c, 'mode', 'nearest');
    if (mode === 'nearest') return 0;
    const axes = o.filter((d, i) => d !== X[i]).length;
    return FLOPS_PER_MAC * numel(o) * (mode === 'cubic' ? 4 : 2) ** axes;
  },
};

// ---- the table ----
const UNARY = ['Relu', 'LeakyRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu', 'Celu', 'Gelu', 'Softplus', 'Softsign', 'Mish', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Neg', 'Abs', 'Erf', 'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos', 'Clip', 'Not', 'IsNaN', 'IsInf', 'ThresholdedRelu', 'Shrink', 'QuantizeLinear', 'DequantizeLinear'];
const BINARY: Record<string, ((a: number, b: number) => number) | undefined> = {
  Add: (a, b) => a + b, Sub: (a, b) => a - b, Mul: (a, b) => a * b, Div: (a, b) => (Number.isInteger(a) && Number.isInteger(b) ? Math.trunc(a / b) : a / b),
  Pow: undefined, Mod: undefined, PRelu: undefined, Equal: undefined, Greater: undefined, GreaterOrEqual: undefined, Less: undefined, LessOrEqual: undefined, And: undefined, Or: undefined, Xor: undefined, Where: undefined, BitShift: undefined,
};
const VARIADIC = ['Max', 'Min', 'Sum', 'Mean'];
/** Element-wise compute ops keep the shape but not the values (unlike Identity/Cast's `same`). */
const like0: OpRule['shape'] = (c) => out1(sh(c, 0));
const ONNX_RULES: Record<string, OpRule> = {
  ...Object.fromEntries(Object.entries(ZERO_COST).map(([op, shape]) => [op, { shape, cost: free }])),
  ...Object.fromEntries(UNARY.map((op) => [op, { shape: like0, cost: perOut(1) }])),
  ...Object.fromEntries(Object.entries(BINARY).map(([op, f]) => [op, { shape: elementwise(f), cost: perOut(1) }])),
  ...Object.fromEntries(VARIADIC.map((op) => [op, { shape: elementwise(), cost: (c: RuleContext, o: (Shape | undefined)[]) => (o[0] ? Math.max(1, c.ins.length - 1) * numel(o[0]) : undefined) }])),
  ...Object.fromEntries(['Softmax', 'LogSoftmax', 'Hardmax'].map((op) => [op, { shape: like0, cost: perOut(SOFTMAX_FLOPS) }])),
  BatchNormalization: { shape: like0, cost: perOut(BATCHNORM_FLOPS) },
  // y (like x), then the scalar scale and zero point it chose.
  DynamicQuantizeLinear: { shape: (c) => [{ shape: sh(c, 0) }, { shape: [] }, { shape: [] }], cost: perOut(1) },
  ...Object.fromEntries(['LayerNormalization', 'InstanceNormalization', 'GroupNormalization', 'LpNormalization', 'MeanVarianceNormalization'].map((op) => [op, { shape: like0, cost: perOut(NORMALIZATION_FLOPS) }])),
  Gemm: gemm,
  MatMul: matmulRule(0, 1),
  MatMulInteger: matmulRule(0, 1),
  QLinearMatMul: matmulRule(0, 3),
  Conv: convRule(0, 1, 2),
  ConvInteger: convRule(0, 1, null),
  QLinearConv: convRule(0, 3, 8),
  ConvTranspose: convTranspose,
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  ...Object.fromEntries(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'].map((op) => [op, reduce(18)])),
  ReduceSum: reduce(13),
  ArgMax: argReduce,
  ArgMin: argReduce,
  Resize: resize,
  Upsample: resize,
};

/** The rule of a default-domain op; own keys only, so an op named like an Object method is simply unknown. */
export function onnxRule(op: string): OpRule | undefined {
  return Object.hasOwn(ONNX_RULES, op) ? ONNX_RULES[op] : undefined;
}

