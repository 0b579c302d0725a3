// The context every ONNX op rule receives, the attribute/input helpers, and the rules of the free
// data-movement ops (Reshape, Transpose, Gather, Concat, ...): their output shapes, folding the small integer
// tensors that Shape -> Gather -> Concat -> Reshape chains compute, so that later shapes stay known.
import { broadcast, numel, type Shape, type Tensor } from './flops.ts';

export type Attr = number | number[] | string | string[] | Tensor;

export type { Tensor };

export interface RuleContext {
  attrs: Record<string, Attr>;
  ins: (Tensor | undefined)[];
  opset: number;
  /** How many outputs the node declares (Split without sizes divides evenly among them). */
  outputs: number;
}

export interface OpRule {
  shape?: (c: RuleContext) => (Tensor | undefined)[] | undefined;
  /** FLOPs of the node; undefined when unknowable from what is known. */
  cost: (c: RuleContext, out: (Shape | undefined)[]) => number | undefined;
}

// ---- attribute and input helpers ----
export const int = (c: RuleContext, k: string, d: number): number => (typeof c.attrs[k] === 'number' ? (c.attrs[k] as number) : d);
export const ints = (c: RuleContext, k: string): number[] | undefined => (Array.isArray(c.attrs[k]) ? (c.attrs[k] as number[]) : undefined);
export const str = (c: RuleContext, k: string, d: string): string => (typeof c.attrs[k] === 'string' ? (c.attrs[k] as string) : d);
export const sh = (c: RuleContext, i: number): Shape | undefined => c.ins[i]?.shape;
export const val = (c: RuleContext, i: number): number[] | undefined => c.ins[i]?.values;
export const has = (c: RuleContext, i: number): boolean => c.ins.length > i && c.ins[i] !== undefined;
export const axis = (a: number, rank: number): number => (a < 0 ? a + rank : a);
/** Attribute before opset `since`, an input from it on (axes, pads, split, ...). */
export const attrOrInput = (c: RuleContext, k: string, i: number, since: number): number[] | undefined => (c.opset >= since ? val(c, i) : ints(c, k));
export const out1 = (shape: Shape | undefined, values?: number[]): Tensor[] => [{ shape, values }];
export const perOut = (k: number) => (_: RuleContext, o: (Shape | undefined)[]) => (o[0] ? k * numel(o[0]) : undefined);
export const free = (): number => 0;

export const same: OpRule['shape'] = (c) => out1(sh(c, 0), val(c, 0));

const reshape: OpRule['shape'] = (c) => {
  const X = sh(c, 0);
  const target = c.opset >= 5 ? val(c, 1) : ints(c, 'shape');
  if (!X || !target) return undefined;
  const dims = target.map((d, i) => (d === 0 && !int(c, 'allowzero', 0) ? X[i]! : d));
  const known = dims.filter((d) => d !== -1).reduce((a, d) => a * d, 1);
  return out1(dims.map((d) => (d === -1 ? numel(X) / known : d)), val(c, 0));
};

const flatten: OpRule['shape'] = (c) => {
  const X = sh(c, 0);
  if (!X) return undefined;
  const a = axis(int(c, 'axis', 1), X.length);
  return out1([numel(X.slice(0, a)), numel(X.slice(a))], val(c, 0));
};

const transpose: OpRule['shape'] = (c) => {
  const X = sh(c, 0);
  if (!X) return undefined;
  const perm = ints(c, 'perm') ?? X.map((_, i) => X.length - 1 - i);
  return out1(perm.map((p) => X[p]!), X.length <= 1 ? val(c, 0) : undefined);
};

const squeeze: OpRule['shape'] = (c) => {
  const X = sh(c, 0);
  if (!X) return undefined;
  const axes = new Set((attrOrInput(c, 'axes', 1, 13) ?? X.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => axis(a, X.length)));
  return out1(X.filter((_, i) => !axes.has(i)), val(c, 0));
};

const unsqueeze: OpRule['shape'] = (c) => {
  const X = sh(c, 0);
  const given = attrOrInput(c, 'axes', 1, 13);
  if (!X || !given) return undefined;
  const rank = X.length + given.length;
  const axes = new Set(given.map((a) => axis(a, rank)));
  const rest = [...X];
  return out1(Array.from({ length: rank }, (_, i) => (axes.has(i) ? 1 : rest.shift()!)), val(c, 0));
};

const concat: OpRule['shape'] = (c) => {
  const xs = c.ins.map((t) => t?.shape);
  if (!xs.length || xs.some((s) => !s)) return undefined;
  const a = axis(int(c, 'axis', 0), xs[0]!.length);
  const o = [...xs[0]!];
  o[a] = xs.reduce((s, x) => s + x![a]!, 0);
  const vs = c.ins.map((t) => t?.values);
  return out1(o, o.length === 1 && vs.every(Boolean) ? vs.flatMap((v) => v!) : undefined);
};

const gather: OpRule['shape'] = (c) => {
  const [X, I] = [sh(c, 0), sh(c, 1)];
  if (!X || !I) return undefined;
  const a = axis(int(c, 'axis', 0), X.length);
  const [xv, iv] = [val(c, 0), val(c, 1)];
  const values = X.length === 1 && xv && iv ? iv.map((i) => xv[i < 0 ? i + xv.length : i]!) : undefined;
  return out1([...X.slice(0, a), ...I, ...X.slice(a + 1)], values);
};

const shapeOp: OpRule['shape'] = (c) => {
  const X = sh(c, 0);
  if (!X) return undefined;
  const v = X.slice(int(c, 'start', 0), typeof c.attrs.end === 'number' ? (c.attrs.end as number) : undefined);
  return out1([v.length], v);
};

const slice: OpRule['shape'] = (c) => {
  const X = sh(c, 0);
  if (!X) return undefined;
  const [starts, ends] = c.opset >= 10 ? [val(c, 1), val(c, 2)] : [ints(c, 'starts'), ints(c, 'ends')];
  if (!starts || !ends) return undefined;
  const axes = (c.opset >= 10 ? val(c, 3) : ints(c, 'axes')) ?? starts.map((_, i) => i);
  const steps = (c.opset >= 10 ? val(c, 4) : undefined) ?? starts.map(() => 1);
  const o = [...X];
  let values = val(c, 0);
  axes.forEach((ax, i) => {
    const a = axis(ax, X.length);
    const d = X[a]!;
    const step = steps[i]!;
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
    const s = step > 0 ? clamp(starts[i]!, 0, d) : clamp(starts[i]!, -1, d - 1);
    const e = step > 0 ? clamp(ends[i]!, 0, d) : clamp(ends[i]!, -1, d - 1);
    o[a] = Math.max(0, Math.ceil((e - s) / step));
    if (values && X.length === 1) values = Array.from({ length: o[a]! }, (_, j) => values![s + j * step]!);
  });
  return out1(o, X.length === 1 ? values : undefined);
};

const constant: OpRule['shape'] = (c) => {
  const t = c.attrs.value;
  if (t && typeof t === 'object' && !Array.isArray(t)) return [t];
  for (const k of ['value_int', 'value_float']) if (typeof c.attrs[k] === 'number') return out1([], [c.attrs[k] as number]);
  for (const k of ['value_ints', 'value_floats']) if (Array.isArray(c.attrs[k])) return out1([(c.attrs[k] as number[]).length], c.attrs[k] as number[]);
  return undefined;
};

const split: OpRule['shape'] = (c) => {
  const X = sh(c, 0);
  if (!X) return undefined;
  const a = axis(int(c, 'axis', 0), X.length);
  const per = Math.ceil(X[a]! / c.outputs); // Without sizes: equal parts, the last one smaller.
  const sizes = attrOrInput(c, 'split', 1, 13) ?? Array.from({ length: c.outputs }, (_, i) => (i < c.outputs - 1 ? per : X[a]! - per * i));
  return sizes.map((s) => ({ shape: X.map((d, i) => (i === a ? s : d)) }));
};

const pad: OpRule['shape'] = (c) => {
  const X = sh(c, 0);
  const pads = attrOrInput(c, 'pads', 1, 11);
  if (!X || !pads) return undefined;
  const axes = (val(c, 3) ?? X.map((_, i) => i)).map((a) => axis(a, X.length));
  const o = [...X];
  axes.forEach((a, i) => (o[a] = o[a]! + pads[i]! + pads[i + axes.length]!));
  return out1(o);
};

/** Ops that only move or describe data: free, but their shapes matter downstream. */
export const ZERO_COST: Record<string, OpRule['shape']> = {
  Identity: same, Cast: same, CastLike: same, Dropout: same, Reshape: reshape, Flatten: flatten, Transpose: transpose,
  Squeeze: squeeze, Unsqueeze: unsqueeze, Concat: concat, Gather: gather, Shape: shapeOp, Slice: slice, Constant: constant, Split: split, Pad: pad,
  Size: (c) => { const X = sh(c, 0); return X && out1([], [numel(X)]); },
  ConstantOfShape: (c) => { const s = val(c, 0); return s && out1(s); },
  Expand: (c) => { const s = val(c, 1); return s && out1(broadcast(sh(c, 0), s)); },
  Tile: (c) => { const [X, r] = [sh(c, 0), val(c, 1)]; return X && r && out1(X.map((d, i) => d * r[i]!)); },
  Range: (c) => { const [s, l, d] = [val(c, 0)?.[0], val(c, 1)?.[0], val(c, 2)?.[0]]; if (s === undefined || l === undefined || !d) return undefined; const n = Math.max(0, Math.ceil((l - s) / d)); return out1([n], Array.from({ length: n }, (_, i) => s + i * d)); },
};

