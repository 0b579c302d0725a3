// StudentSpec -> quantized ONNX (int8 dynamic, int8 static QDQ, float16 weights). Owns the quantization math
// (symmetric int8 weights, asymmetric uint8 activations, float16 bits), calibration of activation ranges on
// real examples, and the graph form of each mode. Layer semantics (NHWC input, 'same' pads, H-W-C flatten,
// the class head) are those of onnx.ts, whose naming this file keeps (`/layers.<i>/...`).

import pkg from 'onnx-proto';
import type { LayerSpec, StudentSpec } from '../pipeline/student-spec.ts';
import { EdgeDistillError, oneOf } from '../pipeline/errors.ts';
import { attr, BATCH_DIM, OnnxDataType, OnnxGraphBuilder } from './onnx-builder.ts';
import type { OnnxAttribute } from './onnx-builder.ts';
import { hwioToOihw, ONNX_METADATA_CLASSES, ONNX_METADATA_SUBCLASSES } from './onnx.ts';
import { forwardSpec } from './reference-forward.ts';

const { onnx } = pkg;

export type CalibrationMethod = 'minmax' | 'percentile';

/**
 * How to quantize. Every int8 mode stores weights as symmetric int8 (zero point 0) and activations as
 * asymmetric uint8: u8×s8 is the pair onnxruntime's CPU kernels (QLinearConv, QGemm, DynamicQuantizeMatMul)
 * run fast on x86 and the only output of DynamicQuantizeLinear. `reduceRange` limits weights to |q| <= 63
 * (7 bits) so that those kernels cannot saturate on AVX2 without VNNI; then onnxruntime-node and -web agree.
 * Opset 17 throughout (QuantizeLinear/DequantizeLinear-13 take the per-channel `axis`).
 * - float16: weights (not biases) stored as float16 initializers, each Cast to float32 (constant-folded at
 *   load), so compute stays float32 and every runtime runs it like the fp32 model with rounded weights.
 * - dynamic: each dense/conv input is quantized at run time, per tensor over the whole batch (so a result can
 *   depend on the other examples in the batch): DynamicQuantizeLinear -> MatMulInteger / ConvInteger -> Cast
 *   -> Mul(input_scale · kernel_scale) -> Add(bias). The weight scale is applied after the integer product, so
 *   per-channel needs no per-channel zero point. onnxruntime fuses the dense form into DynamicQuantizeMatMul.
 * - static: QDQ with fixed activation ranges from `calibrate`. The QuantizeLinear of a layer's input sits right
 *   after the previous layer's activation (or at the graph input), so max pooling, transpose and flatten move
 *   uint8 (exact: they commute with a monotone quantizer). Dense and conv take DQ(x), DQ(w), DQ(int32 bias)
 *   and, unless last, are followed by Relu -> Q: onnxruntime fuses them into QGemm and QLinearConv, so the
 *   whole network runs in integer arithmetic.
 */
export type QuantMode =
  | { kind: 'float16' }
  | { kind: 'dynamic'; perChannel: boolean; reduceRange: boolean }
  | { kind: 'static'; perChannel: boolean; reduceRange: boolean; calibration: CalibrationMethod; percentile?: number };

export const QUANT_MODE_KINDS = ['float16', 'dynamic', 'static'] as const satisfies readonly QuantMode['kind'][];
export const CALIBRATION_METHODS = ['minmax', 'percentile'] as const satisfies readonly CalibrationMethod[];
/** Percentile used when none is given: clips the 0.01 % most extreme activation values at each point. */
export const DEFAULT_PERCENTILE = 99.99;
/** Metadata key holding the quantization mode as JSON (keys in a fixed order). */
export const ONNX_METADATA_QUANTIZATION = 'edge-distill.quantization';
/** Metadata key holding the number of calibration examples (static mode). */
export const ONNX_METADATA_CALIBRATION_EXAMPLES = 'edge-distill.calibration-examples';

export interface ActivationRange {
  min: number;
  max: number;
}

/** Activation ranges of a student measured on real examples; what static quantization needs. */
export interface Calibration {
  method: CalibrationMethod;
  /** The percentile used (method 'percentile' only). */
  percentile?: number;
  /** Number of examples the ranges were measured on. */
  examples: number;
  /** Indexed like spec.layers: the range of each dense/conv2d layer's input over all examples; null for other layers. */
  layerInputs: (ActivationRange | null)[];
}

export interface QuantizedOnnxExportOptions {
  /** Written to ModelProto.producer_version (the edge-distill version). */
  producerVersion: string;
  /** Required by the static mode, with the mode's method (and percentile). */
  calibration?: Calibration;
}

// ---------------------------------------------------------------------------------------------------------
// Quantization math: small pure functions.

/** Round half to even, the rounding of QuantizeLinear and DynamicQuantizeLinear. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // rounds .5 towards +Infinity
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Largest |q| of an int8 weight: 127, or 63 with reduceRange. With 7-bit weights the u8×s8 pair sums of
 * AVX2's vpmaddubsw stay within int16 (2·255·63 = 32130 <= 32767), so they cannot saturate.
 */
export function weightQMax(reduceRange: boolean): number {
  return reduceRange ? 63 : 127;
}

/** Symmetric scale s = max|w| / qmax, as the float32 that is stored; 1 for an all-zero tensor (q = 0). */
export function symmetricScale(maxAbs: number, qmax: number): number {
  return maxAbs > 0 ? Math.fround(maxAbs / qmax) : 1;
}

/**
 * uint8 asymmetric parameters (DynamicQuantizeLinear's formula): widen [min, max] to include 0, then
 * s = (hi − lo) / 255 and zp = clamp(roundHalfEven(−lo / s), 0, 255), so that 0 is exactly representable.
 */
export function uint8ActivationParams(range: ActivationRange): { scale: number; zeroPoint: number } {
  const lo = Math.min(range.min, 0);
  const hi = Math.max(range.max, 0);
  if (!(hi > lo)) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((hi - lo) / 255);
  return { scale, zeroPoint: clamp(roundHalfEven(-lo / scale), 0, 255) };
}

export interface QuantizedWeights {
  /** q[i] = clamp(roundHalfEven(w[i] / scale[channel(i)]), −qmax, qmax). */
  q: Int8Array;
  /** One scale per output channel, or a single one (per-tensor). */
  scales: Float32Array;
}

/** Symmetric int8 quantization of a weight tensor; `channelOf(i)` gives element i's output channel. */
export function quantizeWeights(
  w: Float32Array,
  channels: number,
  channelOf: (i: number) => number,
  opts: { perChannel: boolean; reduceRange: boolean },
): QuantizedWeights {
  const qmax = weightQMax(opts.reduceRange);
  const maxAbs = new Float64Array(opts.perChannel ? channels : 1);
  const slot = (i: number): number => (opts.perChannel ? channelOf(i) : 0);
  for (let i = 0; i < w.length; i++) maxAbs[slot(i)] = Math.max(maxAbs[slot(i)]!, Math.abs(w[i]!));
  const scales = Float32Array.from(maxAbs, (m) => symmetricScale(m, qmax));
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) q[i] = clamp(roundHalfEven(w[i]! / scales[slot(i)]!), -qmax, qmax);
  return { q, scales };
}

/** IEEE 754 binary16 bits of a number, rounded to nearest even (overflow -> ±Infinity, subnormals kept). */
export function float16Bits(value: number): number {
  F32[0] = value;
  const x = U32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: m · 2^-24 with m = (1.mant · 2^23) · 2^(e − 14).
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    return sign | roundShift(full, shift);
  }
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  return sign | ((e << 10) + roundShift(mant, 13));
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** v >> shift, rounded to nearest even. */
function roundShift(v: number, shift: number): number {
  const m = v >>> shift;
  const rem = v & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && (m & 1) === 1) ? m + 1 : m;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

// ---------------------------------------------------------------------------------------------------------
// Calibration.

/**
 * Measures each dense/conv2d layer's input range on `n` real examples (x is [n, spec.features]), running the
 * reference forward pass one layer at a time. minmax: the observed min and max. percentile p: the p-th and
 * (100 − p)-th percentiles of all values at that point (linear interpolation between order statistics, as
 * numpy's default), which ignores rare outliers at the cost of clipping them.
 */
export function calibrate(spec: StudentSpec, x: Float32Array, n: number, method: CalibrationMethod, percentile?: number): Calibration {
  if (!CALIBRATION_METHODS.includes(method)) {
    throw configError(`unknown calibration method ${JSON.stringify(method)}`, `Use one of ${oneOf(CALIBRATION_METHODS)}.`);
  }
  const p = method === 'percentile' ? (percentile ?? DEFAULT_PERCENTILE) : undefined;
  if (p !== undefined && !(p > 50 && p <= 100)) {
    throw configError(`calibration percentile must be in (50, 100], got ${p}`, `Use e.g. ${DEFAULT_PERCENTILE} (clips the 0.01 % most extreme values).`);
  }
  if (!Number.isSafeInteger(n) || n < 1 || x.length !== n * spec.features) {
    throw new EdgeDistillError(
      'E_SHAPE_MISMATCH',
      `Cannot calibrate: ${x.length} input values are not ${n} examples of ${spec.features} features`,
      'Pass x as [n, features] row-major with n >= 1 (a few hundred real training examples are enough).',
    );
  }
  const last = spec.layers.reduce((at, l, i) => (isWeighted(l) ? i : at), -1);
  const layerInputs: (ActivationRange | null)[] = spec.layers.map(() => null);
  let shape = inputShape(spec);
  let act = x;
  for (let i = 0; i <= last; i++) {
    const layer = spec.layers[i]!;
    if (isWeighted(layer)) layerInputs[i] = p === undefined ? minMax(act) : percentileRange(act, p);
    if (i === last) break;
    const next = outputShape(layer, shape, `/layers.${i}`);
    act = runLayer(spec, layer, shape, next, act, n);
    shape = next;
  }
  return { method, ...(p === undefined ? {} : { percentile: p }), examples: n, layerInputs };
}

/** One layer through forwardSpec: a one-layer spec whose appended flatten exposes the output as its logits. */
function runLayer(spec: StudentSpec, layer: LayerSpec, shape: Shape, next: Shape, act: Float32Array, n: number): Float32Array {
  if (layer.kind === 'flatten') return act; // NHWC storage is already in H, W, C order.
  const step: StudentSpec = {
    inputName: spec.inputName,
    features: sizeOf(shape),
    ...(shape.kind === 'image' ? { image: { height: shape.height, width: shape.width, channels: shape.channels } } : {}),
    layers: [layer, { kind: 'flatten' }],
    classes: sizeOf(next),
    subclasses: 1,
    outputNames: spec.outputNames,
    metadata: {},
  };
  return forwardSpec(step, act, n).logits;
}

function minMax(v: Float32Array): ActivationRange {
  let min = Infinity;
  let max = -Infinity;
  for (const a of v) {
    if (a < min) min = a;
    if (a > max) max = a;
  }
  return { min, max };
}

function percentileRange(v: Float32Array, p: number): ActivationRange {
  const sorted = Float32Array.from(v).sort();
  const at = (q: number): number => {
    const h = (sorted.length - 1) * q;
    const lo = Math.floor(h);
    const hi = Math.min(lo + 1, sorted.length - 1);
    return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
  };
  return { min: at(1 - p / 100), max: at(p / 100) };
}

// ---------------------------------------------------------------------------------------------------------
// Export.

/** Shape of the running activation per example. Images are NCHW inside the ONNX graph. */
type Shape = { kind: 'flat'; size: number } | { kind: 'image'; height: number; width: number; channels: number };
type DenseLayer = Extract<LayerSpec, { kind: 'dense' }>;
type ConvLayer = Extract<LayerSpec, { kind: 'conv2d' }>;
type QuantParams = { scale: number; zeroPoint: number };

interface Emitted {
  tensor: string;
  shape: Shape;
  /** Set when the tensor is uint8: its parameters and the names of their initializers. */
  quant?: { scale: string; zeroPoint: string; params: QuantParams };
}

interface Ctx {
  g: OnnxGraphBuilder;
  t: TypedInitializers;
  mode: QuantMode;
}

/**
 * Builds the quantized ONNX model of a student, with the fp32 export's interface: input `spec.inputName`
 * float32 [batch, features]; outputs `outputNames.probs` [batch, C] and, when subclasses > 1,
 * `outputNames.subclassLogits` [batch, C*S]. Same spec, mode and options give byte-identical output.
 */
export function exportQuantizedOnnx(spec: StudentSpec, mode: QuantMode, opts: QuantizedOnnxExportOptions): Uint8Array {
  checkMode(mode);
  const params = mode.kind === 'static' ? staticParams(spec, mode, opts.calibration) : null;
  const g = new OnnxGraphBuilder({ graphName: 'edge_distill_student', producerVersion: opts.producerVersion });
  const ctx: Ctx = { g, t: new TypedInitializers(g), mode };
  const weighted = spec.layers.flatMap((l, i) => (isWeighted(l) ? [i] : []));
  g.addInput(spec.inputName, [BATCH_DIM, spec.features]);
  let cur: Emitted = { tensor: spec.inputName, shape: { kind: 'flat', size: spec.features } };
  // Static: quantize once at the input, so the NHWC -> NCHW reshape and transpose move uint8.
  if (params && weighted.length > 0) cur = quantize(ctx, cur, weighted[0]!, params[weighted[0]!]!, '/input');
  cur = emitInput(g, spec, cur);
  spec.layers.forEach((layer, i) => {
    const p = `/layers.${i}`;
    cur = emitLayer(ctx, layer, p, cur);
    const next = weighted.find((j) => j > i);
    if (params && isWeighted(layer) && next !== undefined) cur = quantize(ctx, cur, next, params[next]!, p);
  });
  emitHead(g, spec, cur);
  for (const [key, value] of Object.entries(metadataOf(spec, mode, opts.calibration))) g.setMetadata(key, value);
  return ctx.t.retype(g.encode());
}

/** The graph form of the weighted layers, per mode. Each returns the pre-activation float32 output. */
interface WeightedEmitter {
  dense(ctx: Ctx, layer: DenseLayer, p: string, x: Emitted): string;
  conv(ctx: Ctx, layer: ConvLayer, p: string, x: Emitted, convAttrs: Record<string, OnnxAttribute>): string;
}

const EMITTERS = {
  float16: {
    dense(ctx, l, p, x) {
      const w = float16Weight(ctx, `${p}/kernel`, [l.inputs, l.units], l.kernel);
      const b = ctx.g.addFloatInitializer(`${p}/bias`, [l.units], l.bias);
      return ctx.g.addNode({ opType: 'Gemm', inputs: [x.tensor, w, b], outputs: [`${p}/Gemm_output`], name: `${p}/Gemm` });
    },
    conv(ctx, l, p, x, attributes) {
      const k = l.kernelSize;
      const w = float16Weight(ctx, `${p}/kernel`, [l.filters, l.inChannels, k, k], hwioToOihw(l.kernel, k, l.inChannels, l.filters));
      const b = ctx.g.addFloatInitializer(`${p}/bias`, [l.filters], l.bias);
      return ctx.g.addNode({ opType: 'Conv', inputs: [x.tensor, w, b], outputs: [`${p}/Conv_output`], name: `${p}/Conv`, attributes });
    },
  },
  dynamic: {
    dense(ctx, l, p, x) {
      const N = l.units;
      const wq = int8Weight(ctx, p, [l.inputs, N], l.kernel, N, (i) => i % N, [N]);
      const xq = dynamicQuantize(ctx, p, x.tensor);
      const acc = ctx.g.addNode({ opType: 'MatMulInteger', inputs: [xq.q, wq.q, xq.zeroPoint], outputs: [`${p}/MatMulInteger_output`], name: `${p}/MatMulInteger` });
      const b = ctx.g.addFloatInitializer(`${p}/bias`, [N], l.bias);
      return rescale(ctx, p, acc, xq.scale, wq, b);
    },
    conv(ctx, l, p, x, attributes) {
      const { kernelSize: k, inChannels: I, filters: O } = l;
      const wq = int8Weight(ctx, p, [O, I, k, k], hwioToOihw(l.kernel, k, I, O), O, (i) => Math.floor(i / (I * k * k)), [O, 1, 1]);
      const xq = dynamicQuantize(ctx, p, x.tensor);
      const acc = ctx.g.addNode({
        opType: 'ConvInteger',
        inputs: [xq.q, wq.q, xq.zeroPoint],
        outputs: [`${p}/ConvInteger_output`],
        name: `${p}/ConvInteger`,
        attributes,
      });
      const b = ctx.g.addFloatInitializer(`${p}/bias`, [O, 1, 1], l.bias); // broadcasts over [batch, O, H, W]
      return rescale(ctx, p, acc, xq.scale, wq, b);
    },
  },
  static: {
    dense(ctx, l, p, x) {
      const N = l.units;
      const xf = dequantizeInput(ctx, p, x);
      const wq = int8Weight(ctx, p, [l.inputs, N], l.kernel, N, (i) => i % N, [N]);
      const w = dequantize(ctx, `${p}/kernel`, wq, 1);
      const b = int32Bias(ctx, p, l.bias, x, wq);
      // onnxruntime's QGemm fusion reads beta from the node, so it must be written out even at its default.
      const attributes = { alpha: attr.float(1), beta: attr.float(1) };
      return ctx.g.addNode({ opType: 'Gemm', inputs: [xf, w, b], outputs: [`${p}/Gemm_output`], name: `${p}/Gemm`, attributes });
    },
    conv(ctx, l, p, x, attributes) {
      const { kernelSize: k, inChannels: I, filters: O } = l;
      const xf = dequantizeInput(ctx, p, x);
      const wq = int8Weight(ctx, p, [O, I, k, k], hwioToOihw(l.kernel, k, I, O), O, (i) => Math.floor(i / (I * k * k)), [O]);
      const w = dequantize(ctx, `${p}/kernel`, wq, 0);
      const b = int32Bias(ctx, p, l.bias, x, wq);
      return ctx.g.addNode({ opType: 'Conv', inputs: [xf, w, b], outputs: [`${p}/Conv_output`], name: `${p}/Conv`, attributes });
    },
  },
} satisfies Record<QuantMode['kind'], WeightedEmitter>;

function emitLayer(ctx: Ctx, layer: LayerSpec, p: string, x: Emitted): Emitted {
  const { g } = ctx;
  const emitter: WeightedEmitter = EMITTERS[ctx.mode.kind];
  const shape = outputShape(layer, x.shape, p);
  switch (layer.kind) {
    case 'dense':
      checkWeights(p, layer.kernel.length, layer.inputs * layer.units, layer.bias.length, layer.units);
      return { tensor: activation(g, p, emitter.dense(ctx, layer, p, x), layer.activation), shape };
    case 'conv2d': {
      const k = layer.kernelSize;
      checkWeights(p, layer.kernel.length, k * k * layer.inChannels * layer.filters, layer.bias.length, layer.filters);
      // TF 'same' with stride 1 pads k-1 in total per axis, the odd one out at the end (bottom/right).
      const before = layer.padding === 'same' ? Math.floor((k - 1) / 2) : 0;
      const after = layer.padding === 'same' ? k - 1 - before : 0;
      const attributes = {
        kernel_shape: attr.ints([k, k]),
        pads: attr.ints([before, before, after, after]),
        strides: attr.ints([1, 1]),
        dilations: attr.ints([1, 1]),
        group: attr.int(1),
      };
      return { tensor: activation(g, p, emitter.conv(ctx, layer, p, x, attributes), layer.activation), shape };
    }
    case 'maxpool2d': {
      // TF.js pooling defaults: strides = poolSize, 'valid' padding -> floor; ONNX ceil_mode=0 with no pads matches.
      // On uint8 (static mode) this is exact: max commutes with a monotone quantizer.
      const s = layer.poolSize;
      const y = g.addNode({
        opType: 'MaxPool',
        inputs: [x.tensor],
        outputs: [`${p}/MaxPool_output`],
        name: `${p}/MaxPool`,
        attributes: { kernel_shape: attr.ints([s, s]), strides: attr.ints([s, s]) },
      });
      return { ...x, tensor: y, shape };
    }
    case 'flatten': {
      if (x.shape.kind === 'flat') return x; // TF.js Flatten of [batch, n] is the identity.
      // Back to NHWC first: TF.js flattens in H, W, C order and the next dense kernel's rows follow it.
      const nhwc = g.addNode({
        opType: 'Transpose',
        inputs: [x.tensor],
        outputs: [`${p}/Transpose_output`],
        name: `${p}/Transpose`,
        attributes: { perm: attr.ints([0, 2, 3, 1]) },
      });
      const y = g.addNode({ opType: 'Flatten', inputs: [nhwc], outputs: [`${p}/Flatten_output`], name: `${p}/Flatten`, attributes: { axis: attr.int(1) } });
      return { ...x, tensor: y, shape };
    }
  }
}

/** The running shape after a layer, with the same checks (and messages) as the fp32 exporter. */
function outputShape(layer: LayerSpec, x: Shape, p: string): Shape {
  switch (layer.kind) {
    case 'dense':
      if (x.kind !== 'flat') throw specError(`${p} dense needs a flat input; add a flatten layer before it`);
      if (x.size !== layer.inputs) throw specError(`${p} dense expects ${layer.inputs} inputs, gets ${x.size}`);
      return { kind: 'flat', size: layer.units };
    case 'conv2d': {
      if (x.kind !== 'image') throw specError(`${p} conv2d needs an image input (spec.image, before any flatten)`);
      const k = layer.kernelSize;
      if (x.channels !== layer.inChannels) throw specError(`${p} conv2d expects ${layer.inChannels} channels, gets ${x.channels}`);
      if (!Number.isSafeInteger(k) || k < 1) throw specError(`${p} conv2d kernelSize must be a positive integer, got ${k}`);
      const shrink = layer.padding === 'same' ? 0 : k - 1;
      const height = x.height - shrink;
      const width = x.width - shrink;
      if (height < 1 || width < 1) throw specError(`${p} conv2d ${k}x${k} 'valid' does not fit a ${x.height}x${x.width} map`);
      return { kind: 'image', height, width, channels: layer.filters };
    }
    case 'maxpool2d': {
      if (x.kind !== 'image') throw specError(`${p} maxpool2d needs an image input`);
      const s = layer.poolSize;
      if (!Number.isSafeInteger(s) || s < 1 || s > x.height || s > x.width) {
        throw specError(`${p} maxpool2d poolSize ${s} does not fit a ${x.height}x${x.width} map`);
      }
      return { kind: 'image', height: Math.floor((x.height - s) / s) + 1, width: Math.floor((x.width - s) / s) + 1, channels: x.channels };
    }
    case 'flatten':
      return x.kind === 'flat' ? x : { kind: 'flat', size: sizeOf(x) };
  }
}

function inputShape(spec: StudentSpec): Shape {
  if (!Number.isSafeInteger(spec.features) || spec.features < 1) {
    throw specError(`features must be a positive integer, got ${spec.features}`);
  }
  if (!spec.image) return { kind: 'flat', size: spec.features };
  const { height, width, channels } = spec.image;
  if (height * width * channels !== spec.features) {
    throw specError(`image ${height}x${width}x${channels} has ${height * width * channels} values, features is ${spec.features}`);
  }
  return { kind: 'image', height, width, channels };
}

function emitInput(g: OnnxGraphBuilder, spec: StudentSpec, x: Emitted): Emitted {
  const shape = inputShape(spec);
  if (shape.kind === 'flat') return x;
  // Reshape's 0 copies the batch dimension, so the symbolic "batch" survives shape inference.
  const dims = g.addInt64Initializer('/input/nhwc_shape', [4], [0, shape.height, shape.width, shape.channels]);
  const nhwc = g.addNode({ opType: 'Reshape', inputs: [x.tensor, dims], outputs: ['/input/nhwc'] });
  const nchw = g.addNode({ opType: 'Transpose', inputs: [nhwc], outputs: ['/input/nchw'], attributes: { perm: attr.ints([0, 3, 1, 2]) } });
  return { ...x, tensor: nchw, shape };
}

/**
 * probs = per-class block sums of softmax over the C*S logits (class-major: logit c*S + s is class c), as in
 * onnx.ts. With S = 1 that is a plain softmax.
 */
function emitHead(g: OnnxGraphBuilder, spec: StudentSpec, x: Emitted): void {
  const { classes: C, subclasses: S, outputNames } = spec;
  if (!Number.isSafeInteger(C) || C < 1 || !Number.isSafeInteger(S) || S < 1) {
    throw specError(`classes and subclasses must be positive integers, got ${C} and ${S}`);
  }
  if (x.shape.kind !== 'flat' || x.shape.size !== C * S) {
    const got = x.shape.kind === 'flat' ? `${x.shape.size} values` : 'an image (missing flatten?)';
    throw specError(`the last layer must emit classes*subclasses = ${C * S} logits, it emits ${got}`);
  }
  const softmax = { axis: attr.int(1) };
  if (S === 1) {
    g.addNode({ opType: 'Softmax', inputs: [x.tensor], outputs: [outputNames.probs], name: '/head/Softmax', attributes: softmax });
    g.addOutput(outputNames.probs, [BATCH_DIM, C]);
    return;
  }
  g.addNode({ opType: 'Identity', inputs: [x.tensor], outputs: [outputNames.subclassLogits], name: '/head/Identity' });
  const sub = g.addNode({ opType: 'Softmax', inputs: [x.tensor], outputs: ['/head/Softmax_output'], name: '/head/Softmax', attributes: softmax });
  const blocksShape = g.addInt64Initializer('/head/blocks_shape', [3], [0, C, S]);
  const blocks = g.addNode({ opType: 'Reshape', inputs: [sub, blocksShape], outputs: ['/head/Reshape_output'], name: '/head/Reshape' });
  const axes = g.addInt64Initializer('/head/sum_axes', [1], [2]);
  g.addNode({ opType: 'ReduceSum', inputs: [blocks, axes], outputs: [outputNames.probs], name: '/head/ReduceSum', attributes: { keepdims: attr.int(0) } });
  g.addOutput(outputNames.probs, [BATCH_DIM, C]);
  g.addOutput(outputNames.subclassLogits, [BATCH_DIM, C * S]);
}

function activation(g: OnnxGraphBuilder, p: string, x: string, kind: 'relu' | 'linear'): string {
  if (kind === 'linear') return x;
  return g.addNode({ opType: 'Relu', inputs: [x], outputs: [`${p}/Relu_output`], name: `${p}/Relu` });
}

// --- building blocks of the quantized forms -------------------------------------------------------------

/** float16 initializer `<name>_float16` and a Cast to float32 producing `<name>` (constant-folded by runtimes). */
function float16Weight(ctx: Ctx, name: string, dims: number[], w: Float32Array): string {
  const half = ctx.t.float16(`${name}_float16`, dims, Uint16Array.from(w, float16Bits));
  return ctx.g.addNode({ opType: 'Cast', inputs: [half], outputs: [name], name: `${name}_Cast`, attributes: { to: attr.int(OnnxDataType.FLOAT) } });
}

interface Int8WeightNames {
  q: string;
  scale: string;
  scales: Float32Array;
}

/** `<p>/kernel_quantized` (int8) and `<p>/kernel_scale` (`scaleDims` per-channel, scalar per-tensor). */
function int8Weight(
  ctx: Ctx,
  p: string,
  dims: number[],
  w: Float32Array,
  channels: number,
  channelOf: (i: number) => number,
  scaleDims: number[],
): Int8WeightNames {
  const mode = ctx.mode as Exclude<QuantMode, { kind: 'float16' }>;
  const { q, scales } = quantizeWeights(w, channels, channelOf, mode);
  const sDims = mode.perChannel ? scaleDims : [];
  return {
    q: ctx.t.int8(`${p}/kernel_quantized`, dims, q),
    scale: ctx.g.addFloatInitializer(`${p}/kernel_scale`, sDims, scales),
    scales,
  };
}

/** DynamicQuantizeLinear: uint8 `<p>/input_quantized` with its run-time scale and zero point. */
function dynamicQuantize(ctx: Ctx, p: string, x: string): { q: string; scale: string; zeroPoint: string } {
  const outputs = [`${p}/input_quantized`, `${p}/input_scale`, `${p}/input_zero_point`];
  ctx.g.addNode({ opType: 'DynamicQuantizeLinear', inputs: [x], outputs, name: `${p}/DynamicQuantizeLinear` });
  return { q: outputs[0]!, scale: outputs[1]!, zeroPoint: outputs[2]! };
}

/** int32 accumulator -> float: Cast, then Mul by input_scale · kernel_scale, then Add(bias). */
function rescale(ctx: Ctx, p: string, acc: string, inputScale: string, w: Int8WeightNames, bias: string): string {
  const { g } = ctx;
  const f = g.addNode({ opType: 'Cast', inputs: [acc], outputs: [`${p}/Cast_output`], name: `${p}/Cast`, attributes: { to: attr.int(OnnxDataType.FLOAT) } });
  const s = g.addNode({ opType: 'Mul', inputs: [inputScale, w.scale], outputs: [`${p}/scale`], name: `${p}/scale_Mul` });
  const y = g.addNode({ opType: 'Mul', inputs: [f, s], outputs: [`${p}/Mul_output`], name: `${p}/Mul` });
  return g.addNode({ opType: 'Add', inputs: [y, bias], outputs: [`${p}/Add_output`], name: `${p}/Add` });
}

/** QuantizeLinear to the uint8 parameters of layer `j`'s input: `/layers.<j>/input_scale` and `_zero_point`. */
function quantize(ctx: Ctx, x: Emitted, j: number, params: QuantParams, p: string): Emitted {
  const scale = ctx.g.addFloatInitializer(`/layers.${j}/input_scale`, [], Float32Array.of(params.scale));
  const zeroPoint = ctx.t.uint8(`/layers.${j}/input_zero_point`, [], Uint8Array.of(params.zeroPoint));
  const q = ctx.g.addNode({ opType: 'QuantizeLinear', inputs: [x.tensor, scale, zeroPoint], outputs: [`${p}/QuantizeLinear_output`], name: `${p}/QuantizeLinear` });
  return { tensor: q, shape: x.shape, quant: { scale, zeroPoint, params } };
}

function dequantizeInput(ctx: Ctx, p: string, x: Emitted): string {
  if (!x.quant) throw new Error(`internal: ${p} expects a quantized input in static mode`);
  return ctx.g.addNode({
    opType: 'DequantizeLinear',
    inputs: [x.tensor, x.quant.scale, x.quant.zeroPoint],
    outputs: [`${p}/input_dequantized`],
    name: `${p}/input_DequantizeLinear`,
  });
}

/**
 * The bias as int32 with scale input_scale · kernel_scale (per channel when the kernel is), dequantized to
 * `<p>/bias`: the form QLinearConv / QGemm add straight to their int32 accumulator.
 */
function int32Bias(ctx: Ctx, p: string, bias: Float32Array, x: Emitted, w: Int8WeightNames): string {
  const sx = x.quant!.params.scale; // dequantizeInput has checked that x is quantized
  const perChannel = w.scales.length > 1;
  const scale = Float32Array.from(w.scales, (s) => Math.fround(sx * s));
  const q = Int32Array.from(bias, (v, o) => clamp(roundHalfEven(v / scale[perChannel ? o : 0]!), -(2 ** 31), 2 ** 31 - 1));
  const qName = ctx.t.int32(`${p}/bias_quantized`, [bias.length], q);
  const sName = ctx.g.addFloatInitializer(`${p}/bias_scale`, perChannel ? [bias.length] : [], scale);
  return ctx.g.addNode({
    opType: 'DequantizeLinear',
    inputs: [qName, sName],
    outputs: [`${p}/bias`],
    name: `${p}/bias_DequantizeLinear`,
    attributes: { axis: attr.int(0) },
  });
}

/**
 * DequantizeLinear of an int8 weight to `name`; `axis` is its output-channel axis (used when per-channel).
 * The zero point (int8 zeros) is written out although it is the default: onnxruntime's QGemm fusion only
 * matches a weight DequantizeLinear that has one.
 */
function dequantize(ctx: Ctx, name: string, w: Int8WeightNames, axis: number): string {
  const zeroPoint = ctx.t.int8(`${name}_zero_point`, w.scales.length > 1 ? [w.scales.length] : [], new Int8Array(w.scales.length));
  return ctx.g.addNode({
    opType: 'DequantizeLinear',
    inputs: [w.q, w.scale, zeroPoint],
    outputs: [name],
    name: `${name}_DequantizeLinear`,
    attributes: { axis: attr.int(axis) },
  });
}

// --- validation and metadata ------------------------------------------------------------------------------

function isWeighted(layer: LayerSpec): layer is DenseLayer | ConvLayer {
  return layer.kind === 'dense' || layer.kind === 'conv2d';
}

function sizeOf(shape: Shape): number {
  return shape.kind === 'flat' ? shape.size : shape.height * shape.width * shape.channels;
}

function checkMode(mode: QuantMode): void {
  if (!QUANT_MODE_KINDS.includes(mode.kind)) {
    throw configError(`unknown quantization kind ${JSON.stringify(mode.kind)}`, `Use one of ${oneOf(QUANT_MODE_KINDS)}.`);
  }
  if (mode.kind === 'static' && !CALIBRATION_METHODS.includes(mode.calibration)) {
    throw configError(`unknown calibration method ${JSON.stringify(mode.calibration)}`, `Use one of ${oneOf(CALIBRATION_METHODS)}.`);
  }
}

/** uint8 parameters of every weighted layer's input (indexed like spec.layers), from a matching calibration. */
function staticParams(spec: StudentSpec, mode: Extract<QuantMode, { kind: 'static' }>, cal: Calibration | undefined): (QuantParams | null)[] {
  const hint = `Run calibrate(spec, x, n, ${JSON.stringify(mode.calibration)}${mode.percentile === undefined ? '' : `, ${mode.percentile}`}) on this student and pass it as opts.calibration.`;
  if (!cal) throw configError('static quantization needs activation ranges (opts.calibration is missing)', hint);
  const percentile = mode.calibration === 'percentile' ? (mode.percentile ?? DEFAULT_PERCENTILE) : undefined;
  if (cal.method !== mode.calibration || cal.percentile !== percentile) {
    const got = cal.method + (cal.percentile === undefined ? '' : ` ${cal.percentile}`);
    const want = mode.calibration + (percentile === undefined ? '' : ` ${percentile}`);
    throw configError(`the calibration was measured with ${got}, the mode asks for ${want}`, hint);
  }
  if (cal.layerInputs.length !== spec.layers.length || spec.layers.some((l, i) => isWeighted(l) !== (cal.layerInputs[i] != null))) {
    throw configError('the calibration does not belong to this student (its layers differ)', hint);
  }
  return cal.layerInputs.map((r) => (r ? uint8ActivationParams(r) : null));
}

/** The mode as JSON with keys in a fixed order, the percentile made explicit. */
export function describeQuantMode(mode: QuantMode): string {
  switch (mode.kind) {
    case 'float16':
      return JSON.stringify({ kind: mode.kind });
    case 'dynamic':
      return JSON.stringify({ kind: mode.kind, perChannel: mode.perChannel, reduceRange: mode.reduceRange });
    case 'static': {
      const percentile = mode.calibration === 'percentile' ? { percentile: mode.percentile ?? DEFAULT_PERCENTILE } : {};
      return JSON.stringify({ kind: mode.kind, perChannel: mode.perChannel, reduceRange: mode.reduceRange, calibration: mode.calibration, ...percentile });
    }
  }
}

function metadataOf(spec: StudentSpec, mode: QuantMode, cal: Calibration | undefined): Record<string, string> {
  const own: Record<string, string> = {
    [ONNX_METADATA_CLASSES]: String(spec.classes),
    [ONNX_METADATA_SUBCLASSES]: String(spec.subclasses),
    [ONNX_METADATA_QUANTIZATION]: describeQuantMode(mode),
  };
  if (mode.kind === 'static' && cal) own[ONNX_METADATA_CALIBRATION_EXAMPLES] = String(cal.examples);
  for (const [key, value] of Object.entries(own)) {
    const given = spec.metadata[key];
    if (given !== undefined && given !== value) {
      throw new EdgeDistillError(
        'E_CONFIG',
        `Metadata key "${key}" is reserved for the ONNX exporter (it writes "${value}", the spec says "${given}")`,
        'Remove that key from the metadata; the exporter derives it from the model.',
      );
    }
  }
  return { ...spec.metadata, ...own };
}

function checkWeights(p: string, kernelLen: number, kernelWant: number, biasLen: number, biasWant: number): void {
  if (kernelLen !== kernelWant) throw specError(`${p} kernel has ${kernelLen} values, its shape needs ${kernelWant}`);
  if (biasLen !== biasWant) throw specError(`${p} bias has ${biasLen} values, its shape needs ${biasWant}`);
}

function specError(message: string): EdgeDistillError {
  return new EdgeDistillError(
    'E_SHAPE_MISMATCH',
    `Cannot export the student to quantized ONNX: ${message}`,
    'The StudentSpec is inconsistent; this is a bug in the code that built it from the trained model, please report it.',
  );
}

function configError(message: string, hint: string): EdgeDistillError {
  return new EdgeDistillError('E_CONFIG', `Cannot quantize the student: ${message}`, hint);
}

// --- typed initializers --------------------------------------------------------------------------------

/** TensorProto.DataType values the builder cannot write yet. */
const TensorType = { UINT8: 2, INT8: 3, INT32: 6, FLOAT16: 10 } as const;

/**
 * int8 / uint8 / int32 / float16 initializers. OnnxGraphBuilder writes only float32 and int64, so each is
 * declared to the builder as a float32 placeholder of the right shape (keeping its SSA and name checks) and
 * retyped in the encoded model. Goes away once the builder has a typed-initializer method.
 */
class TypedInitializers {
  private readonly pending = new Map<string, { dataType: number; raw: Uint8Array }>();

  constructor(private readonly g: OnnxGraphBuilder) {}

  int8(name: string, dims: number[], data: Int8Array): string {
    return this.add(name, dims, TensorType.INT8, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  uint8(name: string, dims: number[], data: Uint8Array): string {
    return this.add(name, dims, TensorType.UINT8, data);
  }
  int32(name: string, dims: number[], data: Int32Array): string {
    const raw = new Uint8Array(data.length * 4);
    const view = new DataView(raw.buffer);
    data.forEach((v, i) => view.setInt32(i * 4, v, true));
    return this.add(name, dims, TensorType.INT32, raw);
  }
  float16(name: string, dims: number[], bits: Uint16Array): string {
    const raw = new Uint8Array(bits.length * 2);
    const view = new DataView(raw.buffer);
    bits.forEach((v, i) => view.setUint16(i * 2, v, true));
    return this.add(name, dims, TensorType.FLOAT16, raw);
  }

  /** Rewrites the placeholders of the encoded model into their real types. Deterministic. */
  retype(bytes: Uint8Array): Uint8Array {
    if (this.pending.size === 0) return bytes;
    const model = onnx.ModelProto.decode(bytes);
    let done = 0;
    for (const t of model.graph?.initializer ?? []) {
      const typed = this.pending.get(t.name ?? '');
      if (!typed) continue;
      t.dataType = typed.dataType;
      t.rawData = typed.raw;
      done++;
    }
    if (done !== this.pending.size) throw new Error('internal: a typed initializer is missing from the encoded model');
    return onnx.ModelProto.encode(model).finish();
  }

  private add(name: string, dims: number[], dataType: number, raw: Uint8Array): string {
    this.g.addFloatInitializer(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)));
    this.pending.set(name, { dataType, raw: raw.slice() });
    return name;
  }
}
