// Full-integer int8 post-training quantization of a student's TFLite graph, per the TFLite 8-bit spec:
// - activations: asymmetric int8 per tensor, [min, max] measured on real examples (widened to include 0);
//   scale = (max - min) / 255, zero point = round(-128 - min / scale);
// - conv and depthwise filters: symmetric int8 per output channel (axis 0 of OHWI, axis 3 of [1, kh, kw, C]);
//   fully connected weights: symmetric int8 per tensor; weights in [-127, 127], zero point 0;
// - biases: int32, scale = input scale x weight scale (per channel where the weights are), zero point 0;
// - the spec's output constraints: max pool and reshape keep their input's parameters, softmax outputs scale 1/256,
//   zero point -128.
// Two boundary forms: float in/out (QUANTIZE after the input, DEQUANTIZE before each output: apps and JS runtimes,
// which refuse int8 model I/O) and int8 in/out (TFLite Micro). The integer graph between the edges is the same.
import { EdgeDistillError } from '../pipeline/errors.ts';
import type { StudentSpec } from '../pipeline/student/spec.ts';
import { interpretTflite } from './tflite-interpret.ts';
import { quantizeBias, quantizeWeights, roundHalfEven } from './quantize-math.ts';
import { buildTfliteGraph, tfliteMetadata, TfliteGraph, type TfliteExportOptions, type TfliteQuantization } from './tflite.ts';
import { BuiltinOperator, TensorType, type BuiltinOperatorCode } from './tflite-schema.ts';

export type TfliteIo = 'float' | 'int8';

/** Each tensor of the student's float graph: its [min, max] over the calibration examples (tfliteRanges). */
export interface TfliteRanges {
  ranges: { min: number; max: number }[];
}

export interface TfliteInt8Options extends TfliteExportOptions {
  io: TfliteIo;
  /**
   * Real examples ([n, spec.features]) whose activation ranges set the activations' parameters, or the ranges
   * tfliteRanges already measured on them (both boundary forms of one student then share one calibration pass).
   */
  calibration: { x: Float32Array; n: number } | TfliteRanges;
}

/** The op versions Google's converter gives these ops with int8 tensors (tflite/tools/versioning/op_version.cc). */
const INT8_VERSION: Partial<Record<BuiltinOperatorCode, number>> = {
  [BuiltinOperator.CONV_2D]: 3,
  [BuiltinOperator.DEPTHWISE_CONV_2D]: 3,
  [BuiltinOperator.FULLY_CONNECTED]: 4,
  [BuiltinOperator.MAX_POOL_2D]: 2,
  [BuiltinOperator.ADD]: 2,
  [BuiltinOperator.MUL]: 2,
  [BuiltinOperator.MEAN]: 2,
  [BuiltinOperator.SUM]: 2,
  [BuiltinOperator.SOFTMAX]: 2,
  [BuiltinOperator.RESHAPE]: 1,
  [BuiltinOperator.QUANTIZE]: 1,
  [BuiltinOperator.DEQUANTIZE]: 2,
};

/** Calibration runs this many examples at a time through the float graph. */
const CALIBRATION_CHUNK = 32;

/** int8 activation parameters of a range, as the TFLite converter computes them. */
export function int8ActivationParams(min: number, max: number): TfliteQuantization {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (!(hi > lo)) return { scale: [1], zeroPoint: [0] };
  const scale = Math.fround((hi - lo) / 255);
  return { scale: [scale], zeroPoint: [Math.max(-128, Math.min(127, roundHalfEven(-128 - lo / scale)))] };
}

/** Each tensor's [min, max] over the calibration examples (constants and int32 tensors included; unused for them). */
export function tfliteRanges(spec: StudentSpec, x: Float32Array, n: number): TfliteRanges {
  if (!Number.isSafeInteger(n) || n < 1 || x.length !== n * spec.features) {
    throw new EdgeDistillError('E_SHAPE_MISMATCH', `Cannot calibrate the int8 .tflite: ${x.length} values are not ${n} examples of ${spec.features} features`, 'Pass real training examples as [n, features] with n >= 1.');
  }
  let ranges: { min: number; max: number }[] | null = null;
  for (let from = 0; from < n; from += CALIBRATION_CHUNK) {
    const count = Math.min(CALIBRATION_CHUNK, n - from);
    const { graph, inputs } = buildTfliteGraph(spec, { batch: count });
    const values = interpretTflite(graph, inputs[0]![1], x.subarray(from * spec.features, (from + count) * spec.features));
    ranges ??= values.map(() => ({ min: Infinity, max: -Infinity }));
    values.forEach((v, i) => {
      const r = ranges![i]!;
      for (const a of v) {
        if (a < r.min) r.min = a;
        if (a > r.max) r.max = a;
      }
    });
  }
  return { ranges: ranges! };
}

/** The full-integer int8 .tflite of a student (see the header), calibrated on `opts.calibration`. */
export function exportTfliteInt8(spec: StudentSpec, opts: TfliteInt8Options): Uint8Array {
  const c = opts.calibration;
  const { ranges } = 'ranges' in c ? c : tfliteRanges(spec, c.x, c.n);
  const { graph: f, inputs, outputs } = buildTfliteGraph(spec, opts);
  const inputIndex = inputs[0]![1];

  // Activation parameters, in op order so constrained outputs can copy their input's.
  const params: (TfliteQuantization | undefined)[] = f.tensors.map(() => undefined);
  const measured = (t: number) => int8ActivationParams(ranges[t]!.min, ranges[t]!.max);
  params[inputIndex] = measured(inputIndex);
  for (const o of f.operators) {
    const out = o.outputs[0]!;
    if (o.code === BuiltinOperator.RESHAPE || o.code === BuiltinOperator.MAX_POOL_2D) params[out] = params[o.inputs[0]!];
    else if (o.code === BuiltinOperator.SOFTMAX) params[out] = { scale: [1 / 256], zeroPoint: [-128] };
    else params[out] = measured(out);
  }

  const g = new TfliteGraph();
  const map = new Map<number, number>(); // float tensor -> int8 graph tensor
  const ioInputs: [string, number][] = [];
  const inT = f.tensors[inputIndex]!;
  if (opts.io === 'float') {
    const floatIn = g.tensor(inT.name, inT.shape);
    const q = g.tensor(`${inT.name}_int8`, inT.shape, TensorType.INT8, params[inputIndex]);
    g.op(BuiltinOperator.QUANTIZE, [floatIn], [q], undefined, INT8_VERSION[BuiltinOperator.QUANTIZE]);
    ioInputs.push([inT.name, floatIn]);
    map.set(inputIndex, q);
  } else {
    const q = g.tensor(inT.name, inT.shape, TensorType.INT8, params[inputIndex]);
    ioInputs.push([inT.name, q]);
    map.set(inputIndex, q);
  }
  const outputNames = new Set(outputs.map(([, i]) => i));
  const activation = (t: number): number => {
    if (!map.has(t)) {
      const d = f.tensors[t]!;
      // A graph output's int8 tensor keeps the name only where it is itself the output (int8 I/O).
      const name = outputNames.has(t) && opts.io === 'float' ? `${d.name}_int8` : d.name;
      map.set(t, g.tensor(name, d.shape, TensorType.INT8, params[t]));
    }
    return map.get(t)!;
  };
  const int32 = (t: number) => {
    const d = f.tensors[t]!;
    return g.constant(d.name, d.shape, d.data as Int32Array, TensorType.INT32);
  };

  for (const o of f.operators) {
    const inputsQ: number[] = [];
    const sIn = params[o.inputs[0]!]!.scale[0]!;
    o.inputs.forEach((t, k) => {
      const d = f.tensors[t]!;
      if (!d.data) return void inputsQ.push(activation(t));
      if (d.type === TensorType.INT32) return void inputsQ.push(int32(t));
      const w = d.data as Float32Array;
      switch (o.code) {
        case BuiltinOperator.CONV_2D:
        case BuiltinOperator.DEPTHWISE_CONV_2D:
        case BuiltinOperator.FULLY_CONNECTED: {
          const weights = f.tensors[o.inputs[1]!]!;
          const depthwise = o.code === BuiltinOperator.DEPTHWISE_CONV_2D;
          const perChannel = o.code !== BuiltinOperator.FULLY_CONNECTED;
          const O = depthwise ? weights.shape[3]! : weights.shape[0]!;
          const per = (weights.data as Float32Array).length / O;
          const qw = quantizeWeights(weights.data as Float32Array, O, depthwise ? (i) => i % O : (i) => Math.floor(i / per), { perChannel, reduceRange: false });
          if (k === 1) {
            inputsQ.push(g.constant(d.name, d.shape, qw.q, TensorType.INT8, { scale: Array.from(qw.scales), zeroPoint: Array.from(qw.scales, () => 0), dimension: depthwise ? 3 : 0 }));
          } else {
            const qb = quantizeBias(w, Math.fround(sIn), qw.scales);
            inputsQ.push(g.constant(d.name, d.shape, qb.q, TensorType.INT32, { scale: Array.from(qb.scales), zeroPoint: Array.from(qb.scales, () => 0), dimension: 0 }));
          }
          break;
        }
        case BuiltinOperator.MUL: {
          const qw = quantizeWeights(w, 1, () => 0, { perChannel: false, reduceRange: false });
          inputsQ.push(g.constant(d.name, d.shape, qw.q, TensorType.INT8, { scale: Array.from(qw.scales), zeroPoint: [0] }));
          break;
        }
        case BuiltinOperator.ADD: {
          let [lo, hi] = [Infinity, -Infinity];
          for (const v of w) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
          const p = int8ActivationParams(lo, hi);
          const q = Int8Array.from(w, (v) => Math.max(-128, Math.min(127, roundHalfEven(v / p.scale[0]!) + p.zeroPoint[0]!)));
          inputsQ.push(g.constant(d.name, d.shape, q, TensorType.INT8, p));
          break;
        }
        default:
          throw new Error(`exportTfliteInt8: a float constant feeds op ${o.code}`);
      }
    });
    g.op(o.code, inputsQ, o.outputs.map(activation), o.options, INT8_VERSION[o.code] ?? o.version);
  }

  const ioOutputs: [string, number][] = outputs.map(([name, t]) => {
    if (opts.io === 'int8') return [name, map.get(t)!];
    const floatOut = g.tensor(name, f.tensors[t]!.shape);
    g.op(BuiltinOperator.DEQUANTIZE, [map.get(t)!], [floatOut], undefined, INT8_VERSION[BuiltinOperator.DEQUANTIZE]);
    return [name, floatOut];
  });
  return g.finish({ inputs: ioInputs, outputs: ioOutputs }, tfliteMetadata(spec, opts));
}
