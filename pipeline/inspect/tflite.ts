// `inspect` on any .tflite (ours or one written by Google's converter): exporters/tflite-read.ts parses it; this
// file turns it into ModelInfo, with FLOPs under the conventions of flops.ts (fused bias and activation counted as
// the separate ops other formats spell them with).
import { Slot } from '../../exporters/tflite-schema.ts';
import { readTflite, type TfliteModel, type TfliteTensor } from '../../exporters/tflite-read.ts';
import { FLOPS_PER_MAC, FlopCounter, SOFTMAX_FLOPS, numel } from './flops.ts';
import type { ModelInfo, TensorInfo } from './model-info.ts';

/** Estimated FLOPs of the main subgraph for one example (shapes divided by the first input's batch). */
function tfliteFlops(m: TfliteModel): ModelInfo['flops'] {
  const counter = new FlopCounter();
  const shape = (i: number | undefined) => (i === undefined || i < 0 ? undefined : m.tensors[i]?.shape);
  const batch = Math.max(1, shape(m.inputs[0])?.[0] ?? 1);
  for (const o of m.operators) {
    const out = shape(o.outputs[0]);
    const inp = shape(o.inputs[0]);
    const w = shape(o.inputs[1]);
    const outN = out ? numel(out) : undefined;
    // A bias input and a fused activation each cost 1 per output element, as a separate bias add or activation op does.
    const extras = (actSlot: number) => (outN ?? 0) * ((o.inputs[2] ?? -1) >= 0 ? 1 : 0) + (outN ?? 0) * ((o.options?.i8(actSlot) ?? 0) !== 0 ? 1 : 0);
    let f: number | undefined;
    switch (o.op) {
      case 'CONV_2D': // filter [O, kh, kw, I]
        f = outN !== undefined && w?.length === 4 ? FLOPS_PER_MAC * outN * w[1]! * w[2]! * w[3]! + extras(Slot.Conv2DOptions.fused_activation_function) : undefined;
        break;
      case 'DEPTHWISE_CONV_2D': // filter [1, kh, kw, C * multiplier]
        f = outN !== undefined && w?.length === 4 ? FLOPS_PER_MAC * outN * w[1]! * w[2]! + extras(Slot.DepthwiseConv2DOptions.fused_activation_function) : undefined;
        break;
      case 'FULLY_CONNECTED': // weights [units, inputs]
        f = outN !== undefined && w?.length === 2 ? FLOPS_PER_MAC * outN * w[1]! + extras(Slot.FullyConnectedOptions.fused_activation_function) : undefined;
        break;
      case 'MAX_POOL_2D':
      case 'AVERAGE_POOL_2D': {
        const fw = o.options?.i32(Slot.Pool2DOptions.filter_width);
        const fh = o.options?.i32(Slot.Pool2DOptions.filter_height);
        f = outN !== undefined && fw && fh ? outN * fw * fh : undefined;
        break;
      }
      case 'SOFTMAX':
      case 'LOG_SOFTMAX':
        f = outN === undefined ? undefined : SOFTMAX_FLOPS * outN;
        break;
      case 'MEAN':
      case 'SUM':
      case 'REDUCE_MAX':
        f = inp ? numel(inp) : undefined;
        break;
      case 'ADD':
        f = outN === undefined ? undefined : outN * ((o.options?.i8(Slot.AddOptions.fused_activation_function) ?? 0) !== 0 ? 2 : 1);
        break;
      case 'SUB':
      case 'MUL':
      case 'RELU':
      case 'RELU6':
      case 'LOGISTIC':
      case 'TANH':
      case 'EXP':
      case 'LOG':
      case 'HARD_SWISH':
      case 'QUANTIZE':
      case 'DEQUANTIZE':
        f = outN;
        break;
      case 'RESHAPE':
      case 'SQUEEZE':
      case 'TRANSPOSE':
      case 'PAD':
      case 'CONCATENATION':
      case 'SLICE':
      case 'STRIDED_SLICE':
        f = 0;
        break;
      default:
        f = undefined;
    }
    counter.add(o.op, f === undefined ? undefined : f / batch);
  }
  return counter.result();
}

function tensorInfo(t: TfliteTensor): TensorInfo {
  const shape = t.signature && t.signature.length === t.shape.length ? t.signature.map((d, k) => (d < 0 ? (k === 0 ? 'batch' : '?') : d)) : t.shape;
  return { name: t.name, shape, dtype: t.dtype, ...(t.quantization ? { quantization: { scale: t.quantization.scale, zeroPoint: t.quantization.zeroPoint } } : {}) };
}

/** `inspect`'s view of a .tflite (sizes are added by the caller). */
export function inspectTflite(path: string, bytes: Uint8Array): Omit<ModelInfo, 'bytes' | 'gzipBytes' | 'files'> {
  const m = readTflite(bytes, path);
  const ops: Record<string, number> = {};
  for (const o of m.operators) ops[o.op] = (ops[o.op] ?? 0) + 1;
  const parameters = m.tensors.filter((t) => m.buffers[t.buffer]!.length > 0).reduce((a, t) => a + numel(t.shape), 0);
  return {
    path,
    format: 'tflite',
    inputs: m.inputs.map((i) => tensorInfo(m.tensors[i]!)),
    outputs: m.outputs.map((i) => tensorInfo(m.tensors[i]!)),
    ops,
    parameters,
    flops: tfliteFlops(m),
    ...(m.description ? { producer: m.description } : {}),
    tflite: { schemaVersion: m.version, tensors: m.tensors.length, subgraphs: m.subgraphs, signatures: m.signatures.map((s) => s.key), metadata: Object.keys(m.metadata), opVersions: Object.fromEntries(m.operators.map((o) => [o.op, o.version])) },
  };
}
