// A float64 interpreter of the float TfliteGraphs exporters/tflite.ts builds (its ops only), written from the TFLite
// op definitions: NHWC maps, OHWI filters, TF 'SAME' padding (the odd pad at the end), [units, inputs] fully
// connected weights, fused activations. Calibration runs it to record every tensor's range on real examples; it is
// not how artifacts are checked (LiteRT.js runs them, against the spec's own reference forward pass).
import { ActivationFunctionType, BuiltinOperator, Padding } from './tflite-schema.ts';
import type { TfliteGraph } from './tflite.ts';

function activate(v: number, act: number | undefined): number {
  if (act === ActivationFunctionType.RELU) return v > 0 ? v : 0;
  if (act === ActivationFunctionType.RELU6) return v < 0 ? 0 : v > 6 ? 6 : v;
  return v;
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** TF 'SAME' padding before the first element: half the total pad, the odd one at the end. */
function padBefore(size: number, k: number, stride: number, padding: number): number {
  if (padding === Padding.VALID) return 0;
  const out = Math.ceil(size / stride);
  return Math.floor(Math.max((out - 1) * stride + k - size, 0) / 2);
}

/**
 * Runs the graph on `input` (the graph input's full shape, batch included) and returns every tensor's values
 * (constants included), indexed like graph.tensors.
 */
export function interpretTflite(g: TfliteGraph, inputTensor: number, input: Float32Array): Float64Array[] {
  const values: Float64Array[] = g.tensors.map((t) => (t.data ? Float64Array.from(t.data) : new Float64Array(0)));
  values[inputTensor] = Float64Array.from(input);
  for (const o of g.operators) {
    const [a, b, c] = o.inputs.map((i) => values[i]!);
    const inShape = g.tensors[o.inputs[0]!]!.shape;
    const outShape = g.tensors[o.outputs[0]!]!.shape;
    const out = new Float64Array(numel(outShape));
    const act = o.options?.attrs.act;
    switch (o.code) {
      case BuiltinOperator.RESHAPE:
        out.set(a!);
        break;
      case BuiltinOperator.FULLY_CONNECTED: {
        const [B, units] = outShape as [number, number];
        const inputs = g.tensors[o.inputs[1]!]!.shape[1]!;
        for (let n = 0; n < B; n++) for (let u = 0; u < units; u++) {
          let s = c ? c[u]! : 0;
          for (let i = 0; i < inputs; i++) s += a![n * inputs + i]! * b![u * inputs + i]!;
          out[n * units + u] = activate(s, act);
        }
        break;
      }
      case BuiltinOperator.CONV_2D:
      case BuiltinOperator.DEPTHWISE_CONV_2D: {
        const depthwise = o.code === BuiltinOperator.DEPTHWISE_CONV_2D;
        const [B, H, W, Cin] = inShape as [number, number, number, number];
        const [, OH, OW, O] = outShape as [number, number, number, number];
        const [, kh, kw] = g.tensors[o.inputs[1]!]!.shape as [number, number, number, number];
        const { padding = Padding.SAME, stride = 1 } = o.options!.attrs;
        const [pt, pl] = [padBefore(H, kh, stride, padding), padBefore(W, kw, stride, padding)];
        for (let n = 0; n < B; n++) for (let y = 0; y < OH; y++) for (let x = 0; x < OW; x++) for (let f = 0; f < O; f++) {
          let s = c ? c[f]! : 0;
          for (let i = 0; i < kh; i++) {
            const iy = y * stride + i - pt;
            if (iy < 0 || iy >= H) continue;
            for (let j = 0; j < kw; j++) {
              const ix = x * stride + j - pl;
              if (ix < 0 || ix >= W) continue;
              const at = ((n * H + iy) * W + ix) * Cin;
              if (depthwise) s += a![at + f]! * b![(i * kw + j) * O + f]!;
              else for (let ci = 0; ci < Cin; ci++) s += a![at + ci]! * b![((f * kh + i) * kw + j) * Cin + ci]!;
            }
          }
          out[((n * OH + y) * OW + x) * O + f] = activate(s, act);
        }
        break;
      }
      case BuiltinOperator.MAX_POOL_2D: {
        const [B, H, W, C] = inShape as [number, number, number, number];
        const [, OH, OW] = outShape as [number, number, number, number];
        const [ph, pw] = o.options!.attrs.pool!;
        for (let n = 0; n < B; n++) for (let y = 0; y < OH; y++) for (let x = 0; x < OW; x++) for (let ch = 0; ch < C; ch++) {
          let m = -Infinity;
          for (let i = 0; i < ph; i++) for (let j = 0; j < pw; j++) m = Math.max(m, a![((n * H + y * ph + i) * W + x * pw + j) * C + ch]!);
          out[((n * OH + y) * OW + x) * C + ch] = m;
        }
        break;
      }
      case BuiltinOperator.MUL:
      case BuiltinOperator.ADD: {
        // The second operand is the same shape, or one value per channel (the last axis).
        const C = inShape.at(-1)!;
        const perChannel = b!.length === C && out.length !== C;
        for (let k = 0; k < out.length; k++) {
          const r = perChannel ? b![k % C]! : b![k]!;
          out[k] = activate(o.code === BuiltinOperator.MUL ? a![k]! * r : a![k]! + r, act);
        }
        break;
      }
      case BuiltinOperator.MEAN: {
        // Over height and width of an NHWC map.
        const [B, H, W, C] = inShape as [number, number, number, number];
        for (let n = 0; n < B; n++) for (let ch = 0; ch < C; ch++) {
          let s = 0;
          for (let p = 0; p < H * W; p++) s += a![(n * H * W + p) * C + ch]!;
          out[n * C + ch] = s / (H * W);
        }
        break;
      }
      case BuiltinOperator.SUM: {
        // Over the last axis.
        const S = inShape.at(-1)!;
        for (let k = 0; k < out.length; k++) {
          let s = 0;
          for (let j = 0; j < S; j++) s += a![k * S + j]!;
          out[k] = s;
        }
        break;
      }
      case BuiltinOperator.SOFTMAX: {
        const K = inShape.at(-1)!;
        for (let r = 0; r < out.length / K; r++) {
          let m = -Infinity;
          for (let j = 0; j < K; j++) m = Math.max(m, a![r * K + j]!);
          let t = 0;
          for (let j = 0; j < K; j++) t += out[r * K + j] = Math.exp(a![r * K + j]! - m);
          for (let j = 0; j < K; j++) out[r * K + j]! /= t;
        }
        break;
      }
      default:
        throw new Error(`interpretTflite: op ${o.code} is not one the student graphs use`);
    }
    values[o.outputs[0]!] = out;
  }
  return values;
}
