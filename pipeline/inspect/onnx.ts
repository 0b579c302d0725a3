// ONNX files for `inspect`: decodes the ModelProto (onnx-proto) into inputs, outputs, op histogram, parameter
// count and the graph view the FLOP estimate walks (onnx-flops.ts).
import onnxProto from 'onnx-proto';
import { EdgeDistillError } from '../errors.ts';
import type { Shape } from './flops.ts';
import type { ModelInfo, TensorInfo } from './model-info.ts';
import { onnxFlops, type Attr, type OnnxGraphView, type Tensor } from './onnx-flops.ts';

const { onnx } = onnxProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type ValueInfo = onnxProto.onnx.IValueInfoProto;

const ONNX_TYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};
/** Values are only decoded for tensors this small: shape arithmetic needs a handful, weights need none. */
const MAX_FOLDED = 4096;

/** protobufjs gives int64 fields as number or Long; shapes and attributes fit a double. */
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(String(v)));

export type OnnxModelInfo = Omit<ModelInfo, 'bytes' | 'gzipBytes' | 'files'>;

export function inspectOnnx(path: string, bytes: Uint8Array): OnnxModelInfo {
  let m: onnxProto.onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw notOnnx(path, (err as Error).message);
  }
  // Protobuf decodes many byte strings without complaint; a real model has an IR version and a graph.
  if (!m.graph || !num(m.irVersion)) throw notOnnx(path, 'no ir_version or graph');
  const g = m.graph;
  const initializers = g.initializer ?? [];
  const initNames = new Set(initializers.map((t) => t.name ?? ''));
  const inputs = (g.input ?? []).filter((i) => !initNames.has(i.name ?? ''));
  const opset = num(m.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);

  const ops: Record<string, number> = {};
  for (const n of g.node ?? []) ops[n.opType ?? '?'] = (ops[n.opType ?? '?'] ?? 0) + 1;

  const declared = new Map<string, Shape>();
  for (const v of [...(g.valueInfo ?? []), ...(g.output ?? [])]) {
    const s = batchOne(v);
    if (s) declared.set(v.name ?? '', s);
  }
  const view: OnnxGraphView = {
    nodes: (g.node ?? []).map((n) => ({
      opType: n.opType ?? '',
      domain: n.domain ?? '',
      inputs: n.input ?? [],
      outputs: n.output ?? [],
      attrs: Object.fromEntries((n.attribute ?? []).map((a) => [a.name ?? '', attrValue(a)])),
    })),
    initializers: new Map(initializers.map((t) => [t.name ?? '', tensorOf(t)])),
    inputs: new Map(inputs.map((i) => [i.name ?? '', batchOne(i)])),
    declared,
    opset,
  };
  const { flops, shapes } = onnxFlops(view);
  const outputs = (g.output ?? []).map((o) => {
    const info = tensorInfo(o);
    const inferred = shapes.get(info.name);
    // An output declared without a shape gets the inferred one, its first dim as the batch.
    return info.shape.length || !inferred ? info : { ...info, shape: inferred.map((d, i) => (i === 0 ? 'batch' : d)) };
  });
  return {
    path,
    format: 'onnx',
    inputs: inputs.map(tensorInfo),
    outputs,
    ops,
    parameters: initializers.reduce((a, t) => a + (t.dims ?? []).reduce((p: number, d) => p * num(d), 1), 0),
    flops,
    producer: `${m.producerName ?? ''} ${m.producerVersion ?? ''}`.trim() || undefined,
    opset,
  };
}

function notOnnx(path: string, why: string): EdgeDistillError {
  return new EdgeDistillError('E_MODEL_FORMAT', `${path} is not an ONNX model (${why})`, 'Pass a .onnx file (e.g. from torch.onnx.export or edge-distill export) or a TF.js model.json or its folder.');
}

function dims(v: ValueInfo): onnxProto.onnx.TensorShapeProto.IDimension[] | undefined {
  return v.type?.tensorType?.shape?.dim ?? undefined;
}

function tensorInfo(v: ValueInfo): TensorInfo {
  const elem = v.type?.tensorType?.elemType ?? 0;
  return {
    name: v.name ?? '',
    shape: (dims(v) ?? []).map((d) => (d.dimParam ? d.dimParam : num(d.dimValue ?? 0) > 0 ? num(d.dimValue) : '?')),
    dtype: ONNX_TYPES[elem] ?? (elem ? `onnx type ${elem}` : 'unknown'),
  };
}

/** The static shape with a free first dim (symbolic, 0 or -1) as batch 1; undefined if any other dim is not static. */
function batchOne(v: ValueInfo): Shape | undefined {
  const ds = dims(v);
  if (!ds) return undefined;
  const shape = ds.map((d, i) => {
    const n = d.dimParam ? NaN : num(d.dimValue ?? 0);
    return i === 0 && !(n > 0) ? 1 : n;
  });
  return shape.every((d) => Number.isSafeInteger(d) && d >= 0) ? shape : undefined;
}

function tensorOf(t: TensorProto): Tensor {
  const shape = (t.dims ?? []).map(num);
  const n = shape.reduce((a, d) => a * d, 1);
  return { shape, values: n <= MAX_FOLDED ? tensorValues(t, n) : undefined };
}

/** Values of a small numeric tensor, from its typed field or little-endian raw_data; undefined if external or exotic. */
function tensorValues(t: TensorProto, n: number): number[] | undefined {
  const type = t.dataType ?? 0;
  const typed = [t.floatData, t.int32Data, t.int64Data, t.doubleData, t.uint64Data].find((a) => a && a.length === n);
  if (typed && n > 0) return Array.from(typed as ArrayLike<unknown>, num);
  const raw = t.rawData;
  if (!raw || raw.length === 0) return n === 0 ? [] : undefined;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const read: Record<number, [number, (o: number) => number]> = {
    1: [4, (o) => view.getFloat32(o, true)], 2: [1, (o) => view.getUint8(o)], 3: [1, (o) => view.getInt8(o)],
    6: [4, (o) => view.getInt32(o, true)], 7: [8, (o) => Number(view.getBigInt64(o, true))], 11: [8, (o) => view.getFloat64(o, true)],
  };
  const r = read[type];
  if (!r || raw.length !== r[0] * n) return undefined;
  return Array.from({ length: n }, (_, i) => r[1](i * r[0]));
}

function attrValue(a: onnxProto.onnx.IAttributeProto): Attr {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.INT: return num(a.i ?? 0);
    case T.FLOAT: return a.f ?? 0;
    case T.STRING: return Buffer.from(a.s ?? []).toString('utf8');
    case T.INTS: return (a.ints ?? []).map(num);
    case T.FLOATS: return a.floats ?? [];
    case T.STRINGS: return (a.strings ?? []).map((s) => Buffer.from(s).toString('utf8'));
    case T.TENSOR: return a.t ? tensorOf(a.t) : {};
    default:
      // Old exporters leave `type` unset: go by the field that is filled. Graphs and sparse tensors: no rule reads them.
      if (a.ints?.length) return a.ints.map(num);
      if (a.floats?.length) return a.floats;
      if (a.t) return tensorOf(a.t);
      if (a.s?.length) return Buffer.from(a.s).toString('utf8');
      if (a.strings?.length) return a.strings.map((s) => Buffer.from(s).toString('utf8'));
      return a.f ? a.f : num(a.i ?? 0);
  }
}
