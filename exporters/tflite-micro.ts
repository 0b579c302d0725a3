// The microcontroller bundle of an int8-in/out .tflite, for TFLite Micro: the model as a 16-byte aligned C array
// (model_data.h / model_data.cc, plain C++ that any toolchain compiles), the op resolver the firmware must build
// (model_ops.h, a MicroMutableOpResolver snippet), the input and output quantization, the flash size, and an
// estimate of the tensor arena: TFLite Micro's greedy planner replayed over the activations' lifetimes, plus a
// documented margin for its persistent allocations. The exact figure is what the interpreter reports on the device
// (MicroInterpreter::arena_used_bytes()); the estimate is for budgets before there is a device.
import { readTflite, type TfliteModel } from './tflite-read.ts';
import { TENSOR_TYPE_BYTES, TensorType } from './tflite-schema.ts';

/** TFLite Micro aligns every arena allocation to 16 bytes (MicroArenaBufferAlignment()). */
const ARENA_ALIGN = 16;

/**
 * Persistent allocations TFLite Micro makes besides the activations, estimated from the model: 1 KiB for the
 * interpreter, allocator and subgraph bookkeeping, 32 bytes per tensor (its TfLiteEvalTensor and a TfLiteTensor
 * header for the inputs and outputs), 64 bytes per op (node and registration), and each quantized conv, depthwise
 * or fully connected op's per-channel output multipliers and shifts (8 bytes per output channel).
 */
export const ARENA_MARGIN = { fixed: 1024, perTensor: 32, perOp: 64, perOutputChannel: 8 } as const;

/** The TFLite Micro resolver method of each op the student graphs use. */
const RESOLVER_METHOD: Record<string, string> = {
  ADD: 'AddAdd',
  AVERAGE_POOL_2D: 'AddAveragePool2D',
  CONCATENATION: 'AddConcatenation',
  CONV_2D: 'AddConv2D',
  DEPTHWISE_CONV_2D: 'AddDepthwiseConv2D',
  DEQUANTIZE: 'AddDequantize',
  FULLY_CONNECTED: 'AddFullyConnected',
  LOGISTIC: 'AddLogistic',
  MAX_POOL_2D: 'AddMaxPool2D',
  MEAN: 'AddMean',
  MUL: 'AddMul',
  PAD: 'AddPad',
  QUANTIZE: 'AddQuantize',
  RELU: 'AddRelu',
  RELU6: 'AddRelu6',
  RESHAPE: 'AddReshape',
  SOFTMAX: 'AddSoftmax',
  SUM: 'AddSum',
  TANH: 'AddTanh',
};

export interface MicroTensor {
  name: string;
  shape: number[];
  dtype: string;
  scale: number;
  zeroPoint: number;
}

export interface MicroInfo {
  /** The model's bytes: what the firmware's flash holds for it. */
  flashBytes: number;
  /** Estimated tensor arena: activations (greedy plan) + persistent margin, rounded up to 16 bytes. */
  arenaBytes: number;
  arena: { activationBytes: number; persistentBytes: number; method: string };
  /** Op names in first-use order, and the resolver's capacity (MicroMutableOpResolver<N>). */
  ops: string[];
  inputs: MicroTensor[];
  outputs: MicroTensor[];
}

const align = (n: number, a = ARENA_ALIGN) => Math.ceil(n / a) * a;
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * TFLite Micro's GreedyMemoryPlanner: buffers sorted by size (largest first), each placed at the lowest offset
 * where it overlaps no placed buffer whose lifetime (first op that writes it .. last op that reads it) intersects its
 * own. Inputs live from the start, outputs to the end. Returns the planned activation bytes.
 */
export function planActivations(m: TfliteModel): number {
  const constant = (t: number) => m.buffers[m.tensors[t]!.buffer]!.length > 0;
  const last = m.operators.length;
  const life = new Map<number, { first: number; lastUse: number; size: number }>();
  const touch = (t: number, at: number) => {
    if (t < 0 || constant(t)) return;
    const d = m.tensors[t]!;
    const l = life.get(t) ?? { first: at, lastUse: at, size: align(numel(d.shape) * (TENSOR_TYPE_BYTES[TensorType[d.dtype.toUpperCase() as keyof typeof TensorType]] ?? 4)) };
    l.first = Math.min(l.first, at);
    l.lastUse = Math.max(l.lastUse, at);
    life.set(t, l);
  };
  for (const t of m.inputs) touch(t, 0);
  m.operators.forEach((o, k) => {
    for (const t of o.inputs) touch(t, k);
    for (const t of o.outputs) touch(t, k);
  });
  for (const t of m.outputs) touch(t, last);
  const buffers = [...life.values()].sort((a, b) => b.size - a.size || a.first - b.first);
  const placed: { offset: number; size: number; first: number; lastUse: number }[] = [];
  let total = 0;
  for (const b of buffers) {
    const clashes = placed.filter((p) => p.first <= b.lastUse && b.first <= p.lastUse).sort((x, y) => x.offset - y.offset);
    let offset = 0;
    for (const p of clashes) {
      if (offset + b.size <= p.offset) break;
      offset = Math.max(offset, p.offset + p.size);
    }
    placed.push({ ...b, offset });
    total = Math.max(total, offset + b.size);
  }
  return total;
}

function microTensor(m: TfliteModel, t: number): MicroTensor {
  const d = m.tensors[t]!;
  return { name: d.name, shape: d.shape, dtype: d.dtype, scale: d.quantization?.scale[0] ?? 0, zeroPoint: d.quantization?.zeroPoint[0] ?? 0 };
}

/** What a firmware needs to know about an int8-in/out model. */
export function microInfo(bytes: Uint8Array): MicroInfo {
  const m = readTflite(bytes);
  const activationBytes = planActivations(m);
  let channels = 0;
  for (const o of m.operators) {
    if (o.op === 'CONV_2D' || o.op === 'DEPTHWISE_CONV_2D' || o.op === 'FULLY_CONNECTED') channels += m.tensors[o.outputs[0]!]!.shape.at(-1) ?? 0;
  }
  const persistentBytes = ARENA_MARGIN.fixed + ARENA_MARGIN.perTensor * m.tensors.length + ARENA_MARGIN.perOp * m.operators.length + ARENA_MARGIN.perOutputChannel * channels;
  const ops = [...new Set(m.operators.map((o) => o.op))];
  return {
    flashBytes: bytes.length,
    arenaBytes: align(activationBytes + persistentBytes),
    arena: { activationBytes, persistentBytes, method: 'greedy planner over activation lifetimes (as TFLite Micro) + persistent margin (exporters/tflite-micro.ts ARENA_MARGIN); an estimate: measure arena_used_bytes() on the device' },
    ops,
    inputs: m.inputs.map((t) => microTensor(m, t)),
    outputs: m.outputs.map((t) => microTensor(m, t)),
  };
}

/** The bundle's source files: model_data.h / .cc (the array and the quantization constants) and model_ops.h. */
export function microSources(bytes: Uint8Array, info: MicroInfo, provenance: string): Record<'model_data.h' | 'model_data.cc' | 'model_ops.h', string> {
  const unsupported = info.ops.filter((o) => !RESOLVER_METHOD[o]);
  if (unsupported.length) throw new Error(`no TFLite Micro resolver method known for ${unsupported.join(', ')}`);
  const quant = (kind: string, list: MicroTensor[]) =>
    list.flatMap((t, i) => [
      `// ${kind} ${i}: "${t.name}", ${t.dtype} [${t.shape.join(', ')}]: real = scale * (q - zero_point)`,
      `#define EDGE_DISTILL_${kind}${i}_SCALE ${t.scale.toPrecision(9)}f`,
      `#define EDGE_DISTILL_${kind}${i}_ZERO_POINT (${t.zeroPoint})`,
      `#define EDGE_DISTILL_${kind}${i}_ELEMENTS ${numel(t.shape)}`,
    ]);
  const header = [
    `// ${provenance}`,
    `// The model for TFLite Micro: tflite::GetModel(g_model_data). Flash: ${info.flashBytes} bytes.`,
    `// Tensor arena: about ${info.arenaBytes} bytes (${info.arena.activationBytes} planned for activations + ${info.arena.persistentBytes} persistent margin; an estimate).`,
    '#ifndef EDGE_DISTILL_MODEL_DATA_H_',
    '#define EDGE_DISTILL_MODEL_DATA_H_',
    '',
    '#ifdef __cplusplus',
    'extern "C" {',
    '#endif',
    'extern const unsigned char g_model_data[];',
    'extern const unsigned int g_model_data_len;',
    '#ifdef __cplusplus',
    '}',
    '#endif',
    '',
    `#define EDGE_DISTILL_ARENA_BYTES_ESTIMATE ${info.arenaBytes}`,
    ...quant('INPUT', info.inputs),
    ...quant('OUTPUT', info.outputs),
    '',
    '#endif  // EDGE_DISTILL_MODEL_DATA_H_',
    '',
  ].join('\n');
  const rows: string[] = [];
  for (let i = 0; i < bytes.length; i += 12) rows.push('  ' + Array.from(bytes.subarray(i, i + 12), (b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ') + ',');
  const data = [
    `// ${provenance}`,
    '#include "model_data.h"',
    '',
    '// 16-byte aligned: TFLite Micro reads the flatbuffer in place.',
    `alignas(16) const unsigned char g_model_data[] = {`,
    ...rows,
    '};',
    `const unsigned int g_model_data_len = ${bytes.length};`,
    '',
  ].join('\n');
  const ops = [
    `// ${provenance}`,
    `// The ${info.ops.length} ops this model uses: build the resolver with RegisterModelOps(resolver).`,
    '#ifndef EDGE_DISTILL_MODEL_OPS_H_',
    '#define EDGE_DISTILL_MODEL_OPS_H_',
    '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"',
    '',
    `using ModelOpResolver = tflite::MicroMutableOpResolver<${info.ops.length}>;`,
    '',
    'inline TfLiteStatus RegisterModelOps(ModelOpResolver& resolver) {',
    ...info.ops.map((o) => `  if (resolver.${RESOLVER_METHOD[o]}() != kTfLiteOk) return kTfLiteError;  // ${o}`),
    '  return kTfLiteOk;',
    '}',
    '',
    '#endif  // EDGE_DISTILL_MODEL_OPS_H_',
    '',
  ].join('\n');
  return { 'model_data.h': header, 'model_data.cc': data, 'model_ops.h': ops };
}

/**
 * The integer graph of an int8 model, without its float edges (QUANTIZE after a float input, DEQUANTIZE before a
 * float output) and without names: the ops in order with their versions, and each tensor's shape, type, quantization
 * and constant bytes. Two models with the same integer graph compute the same integers.
 */
export function integerGraph(bytes: Uint8Array): string {
  const m = readTflite(bytes);
  const edge = (op: string) => op === 'QUANTIZE' || op === 'DEQUANTIZE';
  const describe = (t: number) => {
    const d = m.tensors[t]!;
    const b = m.buffers[d.buffer]!;
    return { shape: d.shape, dtype: d.dtype, q: d.quantization, data: b.length ? Buffer.from(bytes.subarray(b.offset, b.offset + b.length)).toString('base64') : null };
  };
  return JSON.stringify(m.operators.filter((o) => !edge(o.op)).map((o) => ({ op: o.op, version: o.version, inputs: o.inputs.map(describe), outputs: o.outputs.map(describe) })));
}
