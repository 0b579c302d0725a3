// Per-op rules for TF.js graph models (TensorFlow ops as the converter leaves them, fused ops included): output
// shapes (and small integer values, for Reshape targets and axes) and FLOPs under the conventions of flops.ts.
import {
  BATCHNORM_FLOPS, FLOPS_PER_MAC, SOFTMAX_FLOPS,
  broadcast, matmulShape, numel, sameOut, windowOut, type Shape, type Tensor,
} from './flops.ts';
import type { GraphAttr } from './tfjs-model-json.ts';

export interface GraphRuleContext {
  attr: Record<string, GraphAttr>;
  ins: (Tensor | undefined)[];
}
/** Output tensors and FLOPs; a missing field means unknown. */
export type GraphRule = (c: GraphRuleContext) => { outs?: (Tensor | undefined)[]; flops?: number };

/** AttrValue.s is bytes, which protobuf JSON writes as base64; hand-written files often hold the plain string. */
export function attrString(a: GraphAttr | undefined): string | undefined {
  if (a?.s === undefined) return undefined;
  const decoded = Buffer.from(a.s, 'base64');
  const plain = decoded.toString('utf8');
  return decoded.toString('base64').replace(/=+$/, '') === a.s.replace(/=+$/, '') && /^[\x20-\x7e]*$/.test(plain) ? plain : a.s;
}
const s = (c: GraphRuleContext, k: string): string | undefined => attrString(c.attr[k]);
const b = (c: GraphRuleContext, k: string): boolean => c.attr[k]?.b === true;
const listI = (c: GraphRuleContext, k: string): number[] | undefined => c.attr[k]?.list?.i?.map(Number);
const listS = (c: GraphRuleContext, k: string): string[] => (c.attr[k]?.list?.s ?? []).map((v) => attrString({ s: v })!);
const sh = (c: GraphRuleContext, i: number): Shape | undefined => c.ins[i]?.shape;
const val = (c: GraphRuleContext, i: number): number[] | undefined => c.ins[i]?.values;
const ax = (a: number, rank: number): number => (a < 0 ? a + rank : a);
const one = (shape: Shape | undefined, values?: number[]) => ({ outs: [{ shape, values }] });

/** Ops the converter fuses into _FusedMatMul / _FusedConv2D: 1 FLOP per output element each (batch norm 2). */
function fused(c: GraphRuleContext, out: Shape): number {
  return listS(c, 'fused_ops').reduce((a, op) => a + (op.startsWith('FusedBatchNorm') ? BATCHNORM_FLOPS : 1) * numel(out), 0);
}

function matmul(transA: string, transB: string): GraphRule {
  return (c) => {
    let [A, B] = [sh(c, 0), sh(c, 1)];
    if (!A || !B) return {};
    const swap = (x: Shape) => [...x.slice(0, -2), x[x.length - 1]!, x[x.length - 2]!];
    if (b(c, transA)) A = swap(A);
    if (b(c, transB)) B = swap(B);
    const r = matmulShape(A, B);
    return r ? { ...one(r.out), flops: FLOPS_PER_MAC * numel(r.out) * r.k + fused(c, r.out) } : {};
  };
}

/** Conv2D / DepthwiseConv2dNative (and fused forms): filter [kh, kw, in, out] or [kh, kw, in, multiplier]. */
function conv(depthwise: boolean): GraphRule {
  return (c) => {
    const [X, F] = [sh(c, 0), sh(c, 1)];
    if (!X || !F) return {};
    const nchw = s(c, 'data_format') === 'NCHW';
    const spAxes = nchw ? [2, 3] : [1, 2];
    const osp = window(c, X, spAxes, F.slice(0, 2));
    const cout = depthwise ? F[2]! * F[3]! : F[3]!;
    const out = nchw ? [X[0]!, cout, ...osp] : [X[0]!, ...osp, cout];
    return { ...one(out), flops: FLOPS_PER_MAC * numel(out) * F[0]! * F[1]! * (depthwise ? 1 : F[2]!) + fused(c, out) };
  };
}

/** Output spatial dims under padding SAME / VALID / EXPLICIT (explicit_paddings: a [before, after] pair per dim). */
function window(c: GraphRuleContext, X: Shape, spAxes: number[], k: number[]): number[] {
  const strides = listI(c, 'strides') ?? [1, 1, 1, 1];
  const dil = listI(c, 'dilations') ?? [1, 1, 1, 1];
  const pads = listI(c, 'explicit_paddings') ?? [];
  const padding = s(c, 'padding');
  return spAxes.map((a, i) => (padding === 'SAME' ? sameOut(X[a]!, strides[a]!) : windowOut(X[a]!, k[i]!, strides[a]!, dil[a]!, padding === 'EXPLICIT' ? (pads[2 * a] ?? 0) + (pads[2 * a + 1] ?? 0) : 0)));
}

const pool: GraphRule = (c) => {
  const X = sh(c, 0);
  const k = listI(c, 'ksize');
  if (!X || !k) return {};
  const spAxes = s(c, 'data_format') === 'NCHW' ? [2, 3] : [1, 2];
  const osp = window(c, X, spAxes, spAxes.map((a) => k[a]!));
  const out = [...X];
  spAxes.forEach((a, i) => (out[a] = osp[i]!));
  return { ...one(out), flops: numel(out) * spAxes.reduce((p, a) => p * k[a]!, 1) };
};

function fold(c: GraphRuleContext, f: (x: number, y: number) => number): number[] | undefined {
  const [x, y] = [val(c, 0), val(c, 1)];
  if (!x || !y || (x.length !== y.length && x.length !== 1 && y.length !== 1)) return undefined;
  return Array.from({ length: Math.max(x.length, y.length) }, (_, i) => f(x[x.length === 1 ? 0 : i]!, y[y.length === 1 ? 0 : i]!));
}
const binary = (f?: (x: number, y: number) => number): GraphRule => (c) => {
  const out = broadcast(sh(c, 0), sh(c, 1));
  return out ? { ...one(out, f ? fold(c, f) : undefined), flops: numel(out) } : {};
};
/** Same shape, `per` FLOPs per element; only the free ones (Identity, Cast) pass values on. */
const unary = (per: number): GraphRule => (c) => { const X = sh(c, 0); return X ? { outs: [{ shape: X, values: per === 0 ? val(c, 0) : undefined }], flops: per * numel(X) } : {}; };
/** Data movement: shape only, free. */
const free = (f: (c: GraphRuleContext, X: Shape) => Shape | undefined, values?: (c: GraphRuleContext) => number[] | undefined): GraphRule => (c) => {
  const X = sh(c, 0);
  const out = X && f(c, X);
  return out ? { ...one(out, values?.(c)), flops: 0 } : { flops: 0 };
};

const reshape = free((c, X) => {
  const t = val(c, 1);
  if (!t) return undefined;
  const known = t.filter((d) => d !== -1).reduce((a, d) => a * d, 1);
  return t.map((d) => (d === -1 ? numel(X) / known : d));
}, (c) => val(c, 0));

const reduce: GraphRule = (c) => {
  const [X, axes] = [sh(c, 0), val(c, 1)];
  if (!X || !axes) return {};
  const set = new Set(axes.map((a) => ax(a, X.length)));
  const keep = b(c, 'keep_dims');
  return { ...one(X.flatMap((d, i) => (set.has(i) ? (keep ? [1] : []) : [d]))), flops: numel(X) };
};

/** StridedSlice in the common forms (shape[0], x[:, a:b]); ellipsis and new-axis masks stay unknown. */
const stridedSlice = free((c, X) => {
  const [begin, end, strides] = [val(c, 1), val(c, 2), val(c, 3)];
  const mask = (k: string) => Number(c.attr[k]?.i ?? 0);
  if (!begin || !end || !strides || mask('ellipsis_mask') || mask('new_axis_mask')) return undefined;
  const out: number[] = [];
  X.forEach((d, i) => {
    if (i >= begin.length) return void out.push(d);
    const st = strides[i]!;
    const norm = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, st > 0 ? 0 : -1), st > 0 ? d : d - 1);
    const lo = mask('begin_mask') & (1 << i) ? (st > 0 ? 0 : d - 1) : norm(begin[i]!);
    const hi = mask('end_mask') & (1 << i) ? (st > 0 ? d : -1) : norm(end[i]!);
    if (!(mask('shrink_axis_mask') & (1 << i))) out.push(Math.max(0, Math.ceil((hi - lo) / st)));
  });
  return out;
}, (c) => {
  const [x, begin] = [val(c, 0), val(c, 1)];
  // shape[i] with shrink_axis: the one value, which Reshape targets are often built from.
  return x && begin?.length === 1 && Number(c.attr.shrink_axis_mask?.i ?? 0) & 1 ? [x[ax(begin[0]!, x.length)]!] : undefined;
});

const UNARY = ['Relu', 'Relu6', 'Elu', 'Selu', 'Sigmoid', 'Tanh', 'LeakyRelu', 'Softplus', 'Softsign', 'Exp', 'Log', 'Sqrt', 'Rsqrt', 'Square', 'Neg', 'Abs', 'Erf', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos', 'ClipByValue', 'LogicalNot'];
const BINARY: Record<string, ((x: number, y: number) => number) | undefined> = {
  Add: (x, y) => x + y, AddV2: (x, y) => x + y, Sub: (x, y) => x - y, Mul: (x, y) => x * y, FloorDiv: (x, y) => Math.floor(x / y),
  RealDiv: undefined, Div: undefined, Maximum: undefined, Minimum: undefined, Pow: undefined, SquaredDifference: undefined, FloorMod: undefined,
  Prelu: undefined, Greater: undefined, GreaterEqual: undefined, Less: undefined, LessEqual: undefined, Equal: undefined, NotEqual: undefined, LogicalAnd: undefined, LogicalOr: undefined,
};

const GRAPH_RULES: Record<string, GraphRule> = {
  ...Object.fromEntries(['Identity', 'StopGradient', 'Snapshot', 'Cast', 'PreventGradient'].map((op) => [op, unary(0)])),
  IdentityN: (c) => ({ outs: c.ins, flops: 0 }),
  NoOp: () => ({ outs: [], flops: 0 }),
  ...Object.fromEntries(UNARY.map((op) => [op, unary(1)])),
  ...Object.fromEntries(Object.entries(BINARY).map(([op, f]) => [op, binary(f)])),
  BiasAdd: (c) => { const X = sh(c, 0); return X ? { ...one(X), flops: numel(X) } : {}; },
  AddN: (c) => { const out = broadcast(...c.ins.map((t) => t?.shape)); return out ? { ...one(out), flops: (c.ins.length - 1) * numel(out) } : {}; },
  Softmax: unary(SOFTMAX_FLOPS), LogSoftmax: unary(SOFTMAX_FLOPS),
  FusedBatchNorm: unary(BATCHNORM_FLOPS), FusedBatchNormV2: unary(BATCHNORM_FLOPS), FusedBatchNormV3: unary(BATCHNORM_FLOPS),
  MatMul: matmul('transpose_a', 'transpose_b'), _FusedMatMul: matmul('transpose_a', 'transpose_b'),
  BatchMatMul: matmul('adj_x', 'adj_y'), BatchMatMulV2: matmul('adj_x', 'adj_y'), BatchMatMulV3: matmul('adj_x', 'adj_y'),
  Conv2D: conv(false), _FusedConv2D: conv(false), DepthwiseConv2dNative: conv(true), FusedDepthwiseConv2dNative: conv(true),
  MaxPool: pool, AvgPool: pool,
  Mean: reduce, Sum: reduce, Max: reduce, Min: reduce, Prod: reduce, All: reduce, Any: reduce,
  Reshape: reshape,
  StridedSlice: stridedSlice,
  Shape: free((_, X) => [X.length], (c) => sh(c, 0)),
  Squeeze: free((c, X) => {
    const dims = new Set((listI(c, 'squeeze_dims') ?? listI(c, 'axis') ?? X.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => ax(a, X.length)));
    return X.filter((_, i) => !dims.has(i));
  }, (c) => val(c, 0)),
  ExpandDims: free((c, X) => { const a = val(c, 1)?.[0]; if (a === undefined) return undefined; const o = [...X]; o.splice(ax(a, X.length + 1), 0, 1); return o; }, (c) => val(c, 0)),
  Transpose: free((c, X) => val(c, 1)?.map((p) => X[p]!)),
  ConcatV2: (c) => {
    const xs = c.ins.slice(0, -1).map((t) => t?.shape);
    const a = val(c, c.ins.length - 1)?.[0];
    if (a === undefined || !xs.length || xs.some((x) => !x)) return { flops: 0 };
    const o = [...xs[0]!];
    const i = ax(a, o.length);
    o[i] = xs.reduce((sum, x) => sum + x![i]!, 0);
    const vs = c.ins.slice(0, -1).map((t) => t?.values);
    return { ...one(o, o.length === 1 && vs.every(Boolean) ? vs.flatMap((v) => v!) : undefined), flops: 0 };
  },
  Pack: (c) => {
    const X = sh(c, 0);
    if (!X) return { flops: 0 };
    const o = [...X];
    o.splice(ax(Number(c.attr.axis?.i ?? 0), X.length + 1), 0, c.ins.length);
    const vs = c.ins.map((t) => t?.values);
    return { ...one(o, X.length === 0 && vs.every((v) => v?.length === 1) ? vs.map((v) => v![0]!) : undefined), flops: 0 };
  },
  Fill: (c) => ({ ...one(val(c, 0)), flops: 0 }),
  Pad: free((c, X) => { const p = val(c, 1); return p && X.map((d, i) => d + p[2 * i]! + p[2 * i + 1]!); }),
  PadV2: free((c, X) => { const p = val(c, 1); return p && X.map((d, i) => d + p[2 * i]! + p[2 * i + 1]!); }),
  MirrorPad: free((c, X) => { const p = val(c, 1); return p && X.map((d, i) => d + p[2 * i]! + p[2 * i + 1]!); }),
  GatherV2: free((c, X) => {
    const [I, a] = [sh(c, 1), val(c, 2)?.[0] ?? 0];
    return I && [...X.slice(0, ax(a, X.length)), ...I, ...X.slice(ax(a, X.length) + 1)];
  }),
  ArgMax: (c) => { const [X, a] = [sh(c, 0), val(c, 1)?.[0]]; return X && a !== undefined ? { ...one(X.filter((_, i) => i !== ax(a, X.length))), flops: numel(X) } : {}; },
  ResizeNearestNeighbor: free((c, X) => { const size = val(c, 1); return size && [X[0]!, size[0]!, size[1]!, X[3]!]; }),
  // Bilinear: a multiply-add per tap, 4 taps per output (the ONNX Resize 'linear' convention).
  ResizeBilinear: (c) => { const [X, size] = [sh(c, 0), val(c, 1)]; if (!X || !size) return {}; const o = [X[0]!, size[0]!, size[1]!, X[3]!]; return { ...one(o), flops: FLOPS_PER_MAC * 4 * numel(o) }; },
};

export function graphRule(op: string): GraphRule | undefined {
  return Object.hasOwn(GRAPH_RULES, op) ? GRAPH_RULES[op] : undefined;
}
