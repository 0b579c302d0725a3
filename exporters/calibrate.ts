// Calibration for static quantization: the range of each dense/conv2d layer's input, measured by running the
// reference forward pass on real examples one layer at a time.

import type { LayerSpec, StudentSpec } from '../pipeline/student/spec.ts';
import { EdgeDistillError, unsupportedLayer } from '../pipeline/errors.ts';
import { foldBatchNorms } from '../pipeline/student/fold.ts';
import { inputShape, isWeighted, layerOutputShape, sizeOf } from './onnx-graph.ts';
import type { Shape } from './onnx-graph.ts';
import { checkCalibrationMethod, DEFAULT_PERCENTILE, quantizeConfigError } from './quantize-mode.ts';
import type { ActivationRange, Calibration, CalibrationMethod } from './quantize-mode.ts';
import { forwardSpec } from './reference-forward.ts';

/**
 * Measures each dense/conv2d layer's input range on `n` real examples (x is [n, spec.features]), running the
 * reference forward pass one layer at a time. minmax: the observed min and max. percentile p: the p-th and
 * (100 − p)-th percentiles of all values at that point (linear interpolation between order statistics, as
 * numpy's default), which ignores rare outliers at the cost of clipping them.
 */
export function calibrate(student: StudentSpec, x: Float32Array, n: number, method: CalibrationMethod, percentile?: number): Calibration {
  checkCalibrationMethod(method);
  // The quantized exporter folds batch norms before it reads the calibration: measure the folded layers.
  const spec = foldBatchNorms(student);
  const addAt = spec.layers.findIndex((l) => l.kind === 'add');
  if (addAt >= 0) throw unsupportedLayer('add', addAt, 'Calibration for static quantization', 'Quantize this student with dynamic int8 or float16.');
  const p = method === 'percentile' ? (percentile ?? DEFAULT_PERCENTILE) : undefined;
  if (p !== undefined && !(p > 50 && p <= 100)) {
    throw quantizeConfigError(`calibration percentile must be in (50, 100], got ${p}`, `Use e.g. ${DEFAULT_PERCENTILE} (clips the 0.01 % most extreme values).`);
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
  let shape = inputShape(spec, 'quantized ONNX');
  let act = x;
  for (let i = 0; i <= last; i++) {
    const layer = spec.layers[i]!;
    if (isWeighted(layer)) layerInputs[i] = p === undefined ? minMax(act) : percentileRange(act, p);
    if (i === last) break;
    const next = layerOutputShape(layer, shape, `/layers.${i}`, 'quantized ONNX');
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

/** The observed min and max. */
export function minMax(v: Float32Array): ActivationRange {
  let min = Infinity;
  let max = -Infinity;
  for (const a of v) {
    if (a < min) min = a;
    if (a > max) max = a;
  }
  return { min, max };
}

/** The p-th and (100 − p)-th percentiles (linear interpolation between order statistics, as numpy's default). */
export function percentileRange(v: Float32Array, p: number): ActivationRange {
  const sorted = Float32Array.from(v).sort();
  const at = (q: number): number => {
    const h = (sorted.length - 1) * q;
    const lo = Math.floor(h);
    const hi = Math.min(lo + 1, sorted.length - 1);
    return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
  };
  return { min: at(1 - p / 100), max: at(p / 100) };
}
