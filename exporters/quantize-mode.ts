// What a quantized ONNX export is asked for: the quantization modes, calibration results and their valid
// values, with the validation and the canonical description (written into the model's metadata).

import { EdgeDistillError, oneOf } from '../pipeline/errors.ts';

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

/** The modes that store int8 weights. */
export type Int8Mode = Exclude<QuantMode, { kind: 'float16' }>;

export const QUANT_MODE_KINDS = ['float16', 'dynamic', 'static'] as const satisfies readonly QuantMode['kind'][];
export const CALIBRATION_METHODS = ['minmax', 'percentile'] as const satisfies readonly CalibrationMethod[];
/** Percentile used when none is given: clips the 0.01 % most extreme activation values at each point. */
export const DEFAULT_PERCENTILE = 99.99;

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

export function checkMode(mode: QuantMode): void {
  if (!QUANT_MODE_KINDS.includes(mode.kind)) {
    throw quantizeConfigError(`unknown quantization kind ${JSON.stringify(mode.kind)}`, `Use one of ${oneOf(QUANT_MODE_KINDS)}.`);
  }
  if (mode.kind === 'static') checkCalibrationMethod(mode.calibration);
}

export function checkCalibrationMethod(method: CalibrationMethod): void {
  if (!CALIBRATION_METHODS.includes(method)) {
    throw quantizeConfigError(`unknown calibration method ${JSON.stringify(method)}`, `Use one of ${oneOf(CALIBRATION_METHODS)}.`);
  }
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

export function quantizeConfigError(message: string, hint: string): EdgeDistillError {
  return new EdgeDistillError('E_CONFIG', `Cannot quantize the student: ${message}`, hint);
}
