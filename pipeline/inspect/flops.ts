// FLOP-counting conventions and the shape arithmetic shared by the ONNX, TF.js layers and TF.js graph-model
// inspectors, so that the same network costs the same in every format it is exported to.
//
// Conventions (those of onnx-tool and fvcore's "FLOPs = 2 x MACs" mode, so numbers compare with papers):
// - a multiply-add is 2 FLOPs: Gemm/MatMul/Dense = 2*M*K*N, Conv = 2 * output elements * (Cin/group * kh * kw);
//   integer and quantized variants (MatMulInteger, ConvInteger, QLinear*) count the same, as "operations";
// - a bias add, an activation, any element-wise op: 1 per output element (an n-ary sum: n-1 per element);
// - pooling: the kernel size per output element; global pooling and reductions: 1 per input element;
// - softmax: 5 per element (max, subtract, exp, sum, divide); batch norm at inference: 2 (scale, shift);
//   layer/instance/group norm: 5 (mean, subtract, square-sum, divide, scale-shift);
// - data movement is free: reshape, transpose, flatten, gather, slice, concat, pad, cast, identity, dropout.
import type { FlopsEstimate } from './model-info.ts';

/** A fully known static shape (batch already set to 1). Unknown shapes are `undefined`, never partial. */
export type Shape = number[];

/** What is known of a tensor while propagating: its shape, and its values when small and computable (shape arithmetic). */
export interface Tensor {
  shape?: Shape;
  values?: number[];
}

export const FLOPS_PER_MAC = 2;
export const SOFTMAX_FLOPS = 5;
export const BATCHNORM_FLOPS = 2;
export const NORMALIZATION_FLOPS = 5;

/** Keras/TF.js activation names -> FLOPs per element. Unlisted names count as 1, like any element-wise op. */
const ACTIVATION_FLOPS: Record<string, number> = { linear: 0, softmax: SOFTMAX_FLOPS, log_softmax: SOFTMAX_FLOPS };

export function activationFlops(name: string | undefined | null): number {
  if (!name) return 0;
  return ACTIVATION_FLOPS[name.toLowerCase()] ?? 1;
}

export function numel(shape: Shape): number {
  return shape.reduce((a, d) => a * d, 1);
}

export function isShape(s: unknown): s is Shape {
  return Array.isArray(s) && s.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/** Numpy broadcasting of any number of shapes; undefined if one is unknown or they do not broadcast. */
export function broadcast(...shapes: (Shape | undefined)[]): Shape | undefined {
  if (!shapes.length || shapes.some((s) => !s)) return undefined;
  const rank = Math.max(...shapes.map((s) => s!.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes as Shape[]) {
      const x = s[s.length - rank + i] ?? 1;
      if (x === 1) continue;
      if (d !== 1 && d !== x) return undefined;
      d = x;
    }
    out.push(d);
  }
  return out;
}

/** Numpy matmul shape (1-D operands promoted then dropped); K is the contracted length. */
export function matmulShape(a: Shape | undefined, b: Shape | undefined): { out: Shape; k: number } | undefined {
  if (!a || !b || !a.length || !b.length) return undefined;
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k = a2[a2.length - 1]!;
  if (b2[b2.length - 2] !== k) return undefined;
  const batch = broadcast(a2.slice(0, -2), b2.slice(0, -2));
  if (!batch) return undefined;
  const out = [...batch, ...(a.length === 1 ? [] : [a2[a2.length - 2]!]), ...(b.length === 1 ? [] : [b2[b2.length - 1]!])];
  return { out, k };
}

/** Output length of a conv/pool window along one axis with explicit pads (ONNX and TF 'VALID'/explicit). */
export function windowOut(size: number, kernel: number, stride: number, dilation: number, padTotal: number, ceil = false): number {
  const span = dilation * (kernel - 1) + 1;
  const steps = (size + padTotal - span) / stride;
  return Math.max(0, (ceil ? Math.ceil(steps) : Math.floor(steps)) + 1);
}

/** Output length under TF 'SAME' / ONNX SAME_UPPER|SAME_LOWER padding: the input length divided by the stride, rounded up. */
export function sameOut(size: number, stride: number): number {
  return Math.ceil(size / stride);
}

/** Accumulates per-op FLOPs and the ops whose cost is unknown, then states the estimate. */
export class FlopCounter {
  private readonly byOp: Record<string, number> = {};
  private readonly unknownOps: Record<string, number> = {};

  add(op: string, flops: number | undefined): void {
    if (flops === undefined || !Number.isFinite(flops)) {
      this.unknownOps[op] = (this.unknownOps[op] ?? 0) + 1;
      return;
    }
    if (flops > 0) this.byOp[op] = (this.byOp[op] ?? 0) + flops;
  }

  result(): FlopsEstimate {
    const perExample = Object.values(this.byOp).reduce((a, b) => a + b, 0);
    const unknown = this.unknownOps;
    const lowerBound = Object.keys(unknown).length > 0;
    const list = Object.entries(unknown).map(([op, n]) => `${op}×${n}`).join(', ');
    return {
      perExample,
      lowerBound,
      byOp: this.byOp,
      unknown,
      ...(lowerBound ? { note: `lower bound: cost unknown for ${list} (shape not inferable or op not modelled)` } : {}),
    };
  }
}

/** 12.7 M, 3.1 G: FLOPs and parameter counts for humans. */
export function humanCount(n: number): string {
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [scale, unit] of units) if (n >= scale) return `${(n / scale).toFixed(1)} ${unit}`;
  return String(n);
}
