// Quantization of any ONNX model, at the graph level: each MatMul, Gemm and Conv (grouped and depthwise too) whose
// weight is a constant float32 initializer is rewritten (int8 dynamic, int8 static QDQ, or float16 weights); every
// other node passes through in float, and the inputs, outputs, dynamic dims, opset and metadata stay as they were.
// The graph forms are those of our own students' quantized export (quantize-emitters.ts), which onnxruntime fuses
// into DynamicQuantizeMatMul / QGemm / QLinearConv; the math is quantize-math.ts's.
import onnxProto from 'onnx-proto';
import { EdgeDistillError } from '../pipeline/errors.ts';
import { OnnxDataType, littleEndianBytes } from './onnx-builder.ts';
import { float16Bits, quantizeBias, quantizeWeights, uint8ActivationParams } from './quantize-math.ts';
import type { ActivationRange, QuantMode } from './quantize-mode.ts';

const { onnx } = onnxProto;
type Model = onnxProto.onnx.ModelProto;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;
type Attribute = onnxProto.onnx.IAttributeProto;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(String(v)));
const AttrType = { FLOAT: 1, INT: 2 } as const;

/** A node this module can quantize: its float input, constant weight and bias, and the tensor its output QDQ goes on. */
export interface QuantTarget {
  /** The node's name, or `<op>_<index>` when it has none: how the per-layer report and `keepFloat` name it. */
  id: string;
  op: 'MatMul' | 'Gemm' | 'Conv';
  /** Position in graph.node. */
  index: number;
  input: string;
  weight: string;
  bias: string | null;
  /** The node's own output. */
  output: string;
  /**
   * Where static mode quantizes the result: the node's output, or the output of a Relu that is its only consumer
   * (then onnxruntime folds the Relu into the fused integer kernel).
   */
  quantizedOutput: string;
  /** Weight elements (for the size a layer costs kept in float). */
  weightElements: number;
}

export interface AnyQuantizeOptions {
  /** Static mode: the range of every target's input and quantizedOutput on calibration data (see calibrationTensors). */
  ranges?: ReadonlyMap<string, ActivationRange>;
  /** Targets (by id) left in float32: mixed precision. */
  keepFloat?: ReadonlySet<string>;
  /** Quantize only these targets (the per-layer report measures one layer at a time). */
  only?: ReadonlySet<string>;
  /** Extra graph outputs (float32 tensors of the graph), for calibration and the per-layer report. */
  exposeOutputs?: readonly string[];
}

/** Decodes an ONNX file; E_MODEL_FORMAT for bytes that are not a model. */
export function decodeOnnxModel(bytes: Uint8Array, path: string): Model {
  let m: Model;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw notQuantizable(path, `not an ONNX model (${(err as Error).message})`);
  }
  if (!m.graph || !num(m.irVersion)) throw notQuantizable(path, 'not an ONNX model (no ir_version or graph)');
  return m;
}

export function defaultOpset(m: Model): number {
  return num(m.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
}

/** The nodes that can be quantized, in graph order. */
export function quantTargets(m: Model): QuantTarget[] {
  const g = m.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const consumers = new Map<string, Node[]>();
  for (const n of g.node ?? []) for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const graphOutputs = new Set((g.output ?? []).map((o) => o.name ?? ''));
  const ids = new Set<string>();
  const out: QuantTarget[] = [];
  (g.node ?? []).forEach((n, index) => {
    const op = n.opType;
    if ((n.domain ?? '') !== '' || (op !== 'MatMul' && op !== 'Gemm' && op !== 'Conv')) return;
    const [input, weight, bias] = [n.input?.[0] ?? '', n.input?.[1] ?? '', n.input?.[2] ?? ''];
    const w = inits.get(weight);
    if (!input || inits.has(input) || !w || w.dataType !== OnnxDataType.FLOAT || isExternal(w)) return;
    const dims = (w.dims ?? []).map(num);
    if (op === 'Conv' ? dims.length < 3 : dims.length !== 2) return;
    const b = bias ? inits.get(bias) : undefined;
    if (bias && (!b || b.dataType !== OnnxDataType.FLOAT || isExternal(b))) return;
    if (op === 'Gemm') {
      const a = attrs(n);
      // Gemm with a transposed A, or a bias that is not one value per output column, stays float.
      if ((a.transA ?? 0) !== 0 || (b && numel(b) !== (a.transB ? dims[0] : dims[1]))) return;
    }
    if (op === 'Conv' && b && numel(b) !== dims[0]) return;
    if (op === 'MatMul' && bias) return;
    const output = n.output?.[0] ?? '';
    const next = consumers.get(output) ?? [];
    const relu = next.length === 1 && next[0]!.opType === 'Relu' && !graphOutputs.has(output) ? next[0]!.output![0]! : null;
    let id = n.name || `${op}_${index}`;
    while (ids.has(id)) id = `${id}_${index}`;
    ids.add(id);
    out.push({ id, op, index, input, weight, bias: bias || null, output, quantizedOutput: relu ?? output, weightElements: dims.reduce((p, d) => p * d, 1) });
  });
  return out;
}

/** The tensors whose ranges static quantization needs: each target's input and quantized output. */
export function calibrationTensors(targets: readonly QuantTarget[]): string[] {
  return [...new Set(targets.flatMap((t) => [t.input, t.quantizedOutput]))];
}

/**
 * The model reduced to the named graph outputs and the nodes that compute them, without metadata_props: how a plain
 * PyTorch export of a classifier looks (the tests and benchmarks make one from a model `teacher train` wrote).
 */
export function keepOutputs(m0: Model, names: readonly string[], producerName = 'pytorch'): Uint8Array {
  const m = onnx.ModelProto.decode(onnx.ModelProto.encode(m0).finish());
  const g = m.graph!;
  g.output = (g.output ?? []).filter((o) => names.includes(o.name ?? ''));
  const needed = new Set(names);
  const kept = [...(g.node ?? [])].reverse().filter((n) => (n.output ?? []).some((o) => needed.has(o)) && ((n.input ?? []).forEach((i) => needed.add(i)), true));
  g.node = kept.reverse();
  g.initializer = (g.initializer ?? []).filter((t) => needed.has(t.name ?? ''));
  m.metadataProps = [];
  m.producerName = producerName;
  return onnx.ModelProto.encode(m).finish();
}

/** The model with extra float32 graph outputs (shapes left to the runtime): for calibration and layer errors. */
export function withOutputs(m: Model, names: readonly string[]): Uint8Array {
  const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(m).finish());
  addOutputs(copy, names);
  return onnx.ModelProto.encode(copy).finish();
}

/**
 * The quantized model. Static mode needs `opts.ranges`; dynamic and static need opset >= 11 and 13 (per-axis
 * DequantizeLinear) respectively. Weights: symmetric int8 (`mode.reduceRange`: 7 bits), per-channel along the
 * output channel when `mode.perChannel`; activations asymmetric uint8.
 */
export function quantizeAnyOnnx(m0: Model, mode: QuantMode, opts: AnyQuantizeOptions = {}): Uint8Array {
  const m = onnx.ModelProto.decode(onnx.ModelProto.encode(m0).finish());
  const g = m.graph!;
  const opset = defaultOpset(m);
  const need = mode.kind === 'static' ? 13 : mode.kind === 'dynamic' ? 11 : 1;
  if (opset < need) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `the model's opset is ${opset}; ${mode.kind} quantization needs opset ${need} or later`, 'Export the model with a newer opset (PyTorch: torch.onnx.export(..., opset_version=17)), or choose another mode.');
  }
  const targets = quantTargets(m).filter((t) => !opts.keepFloat?.has(t.id) && (!opts.only || opts.only.has(t.id)));
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const names = new Set<string>([...inits.keys(), ...(g.input ?? []).map((i) => i.name ?? ''), ...(g.node ?? []).flatMap((n) => n.output ?? [])]);
  const nodeNames = new Set((g.node ?? []).map((n) => n.name ?? ''));
  const fresh = (base: string): string => {
    let name = base;
    for (let k = 1; names.has(name); k++) name = `${base}_${k}`;
    names.add(name);
    return name;
  };
  const newInits: Tensor[] = [];
  const init = (base: string, dims: number[], dataType: OnnxDataType, values: ArrayLike<number>): string => {
    const name = fresh(base);
    newInits.push({ name, dims, dataType, rawData: littleEndianBytes(dataType, values) });
    return name;
  };
  const node = (opType: string, input: string[], outputBases: string[], attribute: Attribute[] = []): string[] => {
    const output = outputBases.map(fresh);
    let name = `${output[0]}_${opType}`;
    while (nodeNames.has(name)) name += '_';
    nodeNames.add(name);
    return (pending.push({ opType, input, output, name, attribute }), output);
  };
  let pending: Node[] = [];
  const byIndex = new Map(targets.map((t) => [t.index, t]));
  const used = new Set<string>();

  if (mode.kind === 'float16') {
    // Every float32 weight of a target (and its bias) is stored as float16 and Cast back: compute stays float32.
    for (const t of targets) {
      for (const name of [t.weight, t.bias]) {
        if (!name || used.has(name)) continue;
        used.add(name);
        const w = inits.get(name)!;
        const half = init(`${name}_float16`, (w.dims ?? []).map(num), OnnxDataType.FLOAT16, Uint16Array.from(floatData(w), float16Bits));
        pending.push({ opType: 'Cast', input: [half], output: [name], name: `${name}_Cast`, attribute: [{ name: 'to', type: AttrType.INT, i: OnnxDataType.FLOAT }] });
      }
    }
    const cast = pending;
    const castOut = new Set(cast.map((n) => n.output![0]!));
    g.initializer = [...(g.initializer ?? []).filter((t) => !castOut.has(t.name ?? '')), ...newInits];
    g.node = [...cast, ...(g.node ?? [])];
    return finish(m, opts);
  }

  const ranges = opts.ranges;
  if (mode.kind === 'static' && !ranges) throw new Error('internal: static quantization needs calibration ranges');
  const range = (tensor: string): ActivationRange => {
    const r = ranges!.get(tensor);
    if (!r) throw new Error(`internal: no calibration range for ${tensor}`);
    return r;
  };
  // Static: the dequantized name of each float tensor that went through QuantizeLinear -> DequantizeLinear.
  const dequantized = new Map<string, { tensor: string; scale: number }>();
  const qdq = (tensor: string, r: ActivationRange, into?: string): { tensor: string; scale: number } => {
    const p = uint8ActivationParams(r);
    const s = init(`${tensor}_scale`, [], OnnxDataType.FLOAT, [p.scale]);
    const z = init(`${tensor}_zero_point`, [], OnnxDataType.UINT8, [p.zeroPoint]);
    const [q] = node('QuantizeLinear', [tensor, s, z], [`${tensor}_quantized`]);
    if (into) names.add(into);
    const [dq] = into ? (pending.push({ opType: 'DequantizeLinear', input: [q!, s, z], output: [into], name: `${into}_DequantizeLinear`, attribute: [] }), [into]) : node('DequantizeLinear', [q!, s, z], [`${tensor}_dequantized`]);
    return { tensor: dq!, scale: p.scale };
  };
  // Static: the Relu after a quantized node, by its output, which gets QuantizeLinear -> DequantizeLinear in its place.
  const reluOutputs = new Set(mode.kind === 'static' ? targets.filter((x) => x.quantizedOutput !== x.output).map((x) => x.quantizedOutput) : []);
  const rewritten: Node[] = [];
  (g.node ?? []).forEach((n, index) => {
    pending = [];
    // A tensor that static mode quantizes is produced under another name and re-emitted, under its own, by its DequantizeLinear.
    const t = byIndex.get(index);
    const input = n.input ?? [];
    if (!t) {
      const out = n.output?.[0];
      if (out === undefined || !reluOutputs.has(out)) {
        rewritten.push(n);
        return;
      }
      const raw = fresh(`${out}_float`);
      rewritten.push({ ...n, output: [raw] });
      dequantized.set(out, qdq(raw, range(out), out));
      rewritten.push(...pending);
      return;
    }
    const a = attrs(n);
    const w = inits.get(t.weight)!;
    const dims = (w.dims ?? []).map(num);
    const data = floatData(w);
    const bias = t.bias ? floatData(inits.get(t.bias)!) : null;
    const x = input[0]!;
    if (mode.kind === 'dynamic') {
      // [K, N] weights for MatMulInteger (a Gemm's transB undone, its alpha folded into the scale); [O, C/g, ...] for ConvInteger.
      let W = data;
      let wDims = dims;
      if (t.op === 'Gemm' && a.transB) [W, wDims] = [transpose2d(data, dims[0]!, dims[1]!), [dims[1]!, dims[0]!]];
      const O = t.op === 'Conv' ? dims[0]! : wDims[1]!;
      const per = W.length / O;
      const channelOf = t.op === 'Conv' ? (i: number) => Math.floor(i / per) : (i: number) => i % O;
      const { q, scales } = quantizeWeights(W, O, channelOf, mode);
      const alpha = t.op === 'Gemm' ? (a.alpha ?? 1) : 1;
      const wq = init(`${t.weight}_quantized`, wDims, OnnxDataType.INT8, q);
      const scaleDims = mode.perChannel ? (t.op === 'Conv' ? [O, ...dims.slice(2).map(() => 1)] : [O]) : [];
      const ws = init(`${t.weight}_scale`, scaleDims, OnnxDataType.FLOAT, Float32Array.from(scales, (s) => s * alpha));
      const [xq, xs, xz] = node('DynamicQuantizeLinear', [x], [`${x}_quantized`, `${x}_scale`, `${x}_zero_point`]);
      const [acc] = node(t.op === 'Conv' ? 'ConvInteger' : 'MatMulInteger', [xq!, wq, xz!], [`${t.output}_int32`], t.op === 'Conv' ? (n.attribute ?? []) : []);
      const [f] = node('Cast', [acc!], [`${t.output}_cast`], [{ name: 'to', type: AttrType.INT, i: OnnxDataType.FLOAT }]);
      const [s] = node('Mul', [xs!, ws], [`${t.output}_rescale`]);
      if (bias) {
        const [prod] = node('Mul', [f!, s!], [`${t.output}_product`]);
        const beta = t.op === 'Gemm' ? (a.beta ?? 1) : 1;
        const b = init(`${t.bias}_bias`, t.op === 'Conv' ? [O, ...dims.slice(2).map(() => 1)] : [O], OnnxDataType.FLOAT, Float32Array.from(bias, (v) => v * beta));
        pending.push({ opType: 'Add', input: [prod!, b], output: [t.output], name: fresh(`${t.id}_Add`), attribute: [] });
      } else {
        pending.push({ opType: 'Mul', input: [f!, s!], output: [t.output], name: fresh(`${t.id}_Mul`), attribute: [] });
      }
      rewritten.push(...pending);
      return;
    }
    // Static QDQ: DQ(Q(x)), DQ(int8 w), DQ(int32 bias) -> the node -> Q -> DQ back to the output's own name.
    const xin = dequantized.get(x) ?? (dequantized.set(x, qdq(x, range(x))), dequantized.get(x)!);
    // Output channels sit on axis 0 of a Conv filter and of a Gemm B with transB, on axis 1 of a MatMul/Gemm [K, N] B.
    const axis = t.op === 'Conv' || (t.op === 'Gemm' && a.transB) ? 0 : 1;
    const O = dims[axis]!;
    const inner = dims.slice(axis + 1).reduce((p, d) => p * d, 1);
    const { q, scales } = quantizeWeights(data, O, (i) => Math.floor(i / inner) % O, mode);
    const wq = init(`${t.weight}_quantized`, dims, OnnxDataType.INT8, q);
    const ws = init(`${t.weight}_scale`, scales.length > 1 ? [O] : [], OnnxDataType.FLOAT, scales);
    const wz = init(`${t.weight}_zero_point`, scales.length > 1 ? [O] : [], OnnxDataType.INT8, new Int8Array(scales.length));
    const [wd] = node('DequantizeLinear', [wq, ws, wz], [`${t.weight}_dequantized`], [{ name: 'axis', type: AttrType.INT, i: axis }]);
    const inputs = [xin.tensor, wd!];
    if (bias) {
      const beta = t.op === 'Gemm' ? (a.beta ?? 1) : 1;
      const bq = quantizeBias(Float32Array.from(bias, (v) => v * beta), xin.scale, scales);
      const bqName = init(`${t.bias}_quantized`, [bias.length], OnnxDataType.INT32, bq.q);
      const bs = init(`${t.bias}_scale`, bq.scales.length > 1 ? [bias.length] : [], OnnxDataType.FLOAT, bq.scales);
      const [bd] = node('DequantizeLinear', [bqName, bs], [`${t.bias}_dequantized`], [{ name: 'axis', type: AttrType.INT, i: 0 }]);
      inputs.push(bd!);
    }
    // A Gemm's beta was folded into the int32 bias; onnxruntime's QGemm fusion reads alpha and beta from the node.
    const attribute = t.op === 'Gemm' ? [...(n.attribute ?? []).filter((at) => at.name !== 'beta' && at.name !== 'alpha'), { name: 'alpha', type: AttrType.FLOAT, f: a.alpha ?? 1 }, { name: 'beta', type: AttrType.FLOAT, f: 1 }] : (n.attribute ?? []);
    if (t.quantizedOutput === t.output) {
      const raw = fresh(`${t.output}_float`);
      pending.push({ ...n, input: inputs, output: [raw], attribute });
      dequantized.set(t.output, qdq(raw, range(t.output), t.output));
    } else {
      pending.push({ ...n, input: inputs, attribute });
    }
    rewritten.push(...pending);
  });
  const replaced = new Set(targets.flatMap((t) => [t.weight, ...(t.bias ? [t.bias] : [])]));
  // A weight another (float) node still reads stays.
  const stillRead = new Set(rewritten.flatMap((n) => n.input ?? []));
  g.initializer = [...(g.initializer ?? []).filter((t) => !replaced.has(t.name ?? '') || stillRead.has(t.name ?? '')), ...newInits];
  g.node = rewritten;
  return finish(m, opts);
}

function finish(m: Model, opts: AnyQuantizeOptions): Uint8Array {
  if (opts.exposeOutputs?.length) addOutputs(m, opts.exposeOutputs);
  return onnx.ModelProto.encode(m).finish();
}

function addOutputs(m: Model, names: readonly string[]): void {
  const g = m.graph!;
  const have = new Set((g.output ?? []).map((o) => o.name ?? ''));
  for (const name of names) if (!have.has(name)) g.output = [...(g.output ?? []), { name, type: { tensorType: { elemType: OnnxDataType.FLOAT } } }];
}

/** A float32 initializer's values (raw_data or float_data). */
export function floatData(t: Tensor): Float32Array {
  const n = numel(t);
  if (t.rawData && t.rawData.length) {
    const raw = t.rawData;
    if (raw.length !== n * 4) throw badInitializer(t, `${raw.length} bytes of raw_data for ${n} float32 values`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
  }
  const f = t.floatData ?? [];
  if (f.length !== n) throw badInitializer(t, `${f.length} float_data values for ${n}`);
  return Float32Array.from(f);
}

function numel(t: Tensor): number {
  return (t.dims ?? []).reduce((p: number, d) => p * num(d), 1);
}

function isExternal(t: Tensor): boolean {
  return num(t.dataLocation ?? 0) === 1;
}

function attrs(n: Node): Record<string, number> {
  return Object.fromEntries((n.attribute ?? []).map((a) => [a.name ?? '', num(a.type) === AttrType.FLOAT ? num(a.f) : num(a.i)]));
}

function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

function badInitializer(t: Tensor, why: string): EdgeDistillError {
  return new EdgeDistillError('E_MODEL_FORMAT', `the model's initializer ${JSON.stringify(t.name)} has ${why} (dims [${(t.dims ?? []).join(', ')}])`, 'The file is damaged or was written by a broken exporter: export the model again.');
}

function notQuantizable(path: string, why: string): EdgeDistillError {
  return new EdgeDistillError('E_MODEL_FORMAT', `${path} cannot be quantized: ${why}`, 'Pass an ONNX model file (.onnx).');
}
