// A small typed builder for ONNX models over onnx-proto: the only file that knows the on-disk format.
// Every field we write is typed here; exporters describe graphs with these types and never touch protobuf.
// Output is deterministic: the same calls give byte-identical bytes (no timestamps, metadata sorted by key).

import pkg from 'onnx-proto';
import { EdgeDistillError } from '../pipeline/errors.ts';

const { onnx } = pkg;

/** ONNX IR version written into every model (IR 8 = ONNX 1.10–1.12, what onnx-proto 8 encodes). */
export const ONNX_IR_VERSION = 8;
/** Default-domain opset: 17 (ONNX 1.12). Softmax-13 (single axis), ReduceSum-13 (axes as input). */
export const ONNX_OPSET = 17;
export const ONNX_PRODUCER_NAME = 'edge-distill';
/** Name of the symbolic batch dimension on every graph input and output. */
export const BATCH_DIM = 'batch';

/** TensorProto.DataType values we write. FLOAT16 elements are IEEE 754 binary16 bit patterns. */
export const OnnxDataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10 } as const;
export type OnnxDataType = (typeof OnnxDataType)[keyof typeof OnnxDataType];

/** Width in raw_data and little-endian writer of one element of each data type. */
const ELEMENTS = {
  [OnnxDataType.FLOAT]: { bytes: 4, set: (d, at, v) => d.setFloat32(at, v, true) },
  [OnnxDataType.UINT8]: { bytes: 1, set: (d, at, v) => d.setUint8(at, v) },
  [OnnxDataType.INT8]: { bytes: 1, set: (d, at, v) => d.setInt8(at, v) },
  [OnnxDataType.INT32]: { bytes: 4, set: (d, at, v) => d.setInt32(at, v, true) },
  [OnnxDataType.INT64]: { bytes: 8, set: (d, at, v) => d.setBigInt64(at, BigInt(v), true) },
  [OnnxDataType.FLOAT16]: { bytes: 2, set: (d, at, v) => d.setUint16(at, v, true) },
} satisfies Record<OnnxDataType, { bytes: number; set: (d: DataView, at: number, v: number) => void }>;

/**
 * The raw_data of `values` as `dataType`: little-endian, as ONNX stores it whatever the host. FLOAT16 takes
 * binary16 bit patterns; INT64 takes safe integers.
 */
export function littleEndianBytes(dataType: OnnxDataType, values: ArrayLike<number>): Uint8Array {
  const { bytes, set } = ELEMENTS[dataType];
  const raw = new Uint8Array(values.length * bytes);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) set(view, i * bytes, values[i]!);
  return raw;
}

/** AttributeProto.type values we write. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

/** A node attribute, tagged so that 1 (int) and 1.0 (float) cannot be confused. */
export type OnnxAttribute =
  | { type: 'int'; value: number }
  | { type: 'ints'; value: readonly number[] }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string };

/** Constructors for node attributes: `{ axis: attr.int(1), pads: attr.ints([1, 1, 1, 1]) }`. */
export const attr = {
  int: (value: number): OnnxAttribute => ({ type: 'int', value }),
  ints: (value: readonly number[]): OnnxAttribute => ({ type: 'ints', value }),
  float: (value: number): OnnxAttribute => ({ type: 'float', value }),
  string: (value: string): OnnxAttribute => ({ type: 'string', value }),
};

/** One dimension of a graph input/output: a fixed size or the symbolic batch dimension. */
export type OnnxDim = number | typeof BATCH_DIM;

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, OnnxAttribute>>;
  /** Unique node name; the builder derives one from opType when omitted. */
  name?: string;
}

export interface OnnxModelInfo {
  /** Graph name (GraphProto.name). */
  graphName: string;
  /** Written to ModelProto.producer_version, e.g. the package version. */
  producerVersion: string;
}

// The plain-object shapes protobufjs encodes (camelCase ONNX field names); internal to this file.
type TensorProto = pkg.onnx.ITensorProto;
type NodeProto = pkg.onnx.INodeProto;
type ValueInfoProto = pkg.onnx.IValueInfoProto;
type AttributeProto = pkg.onnx.IAttributeProto;

export class OnnxGraphBuilder {
  private readonly initializers: TensorProto[] = [];
  private readonly nodes: NodeProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly metadata = new Map<string, string>();
  /** Every tensor name defined so far (graph inputs, initializers, node outputs): ONNX graphs are SSA. */
  private readonly defined = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly opCounts = new Map<string, number>();

  constructor(private readonly info: OnnxModelInfo) {}

  /**
   * An initializer of any data type we write, from its raw little-endian bytes (see `littleEndianBytes`):
   * `raw.byteLength` must be the product of dims times the element width. The bytes are copied.
   */
  addTypedInitializer(name: string, dims: readonly number[], dataType: OnnxDataType, raw: Uint8Array): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const width = ELEMENTS[dataType].bytes;
    if (raw.byteLength !== count * width) {
      throw new RangeError(`initializer "${name}": dims [${dims.join(', ')}] need ${count * width} bytes, got ${raw.byteLength}`);
    }
    return this.addInitializer({ name, dims: [...dims], dataType, rawData: raw.slice() });
  }

  /** A float32 initializer. `data.length` must equal the product of dims. */
  addFloatInitializer(name: string, dims: readonly number[], data: Float32Array): string {
    checkLength(name, dims, data.length);
    return this.addTypedInitializer(name, dims, OnnxDataType.FLOAT, littleEndianBytes(OnnxDataType.FLOAT, data));
  }

  /** An int64 initializer (shapes, axes). Values must be safe integers. */
  addInt64Initializer(name: string, dims: readonly number[], values: readonly number[]): string {
    checkLength(name, dims, values.length);
    const bad = values.find((v) => !Number.isSafeInteger(v));
    if (bad !== undefined) throw new RangeError(`int64 initializer "${name}": ${bad} is not a safe integer`);
    return this.addTypedInitializer(name, dims, OnnxDataType.INT64, littleEndianBytes(OnnxDataType.INT64, values));
  }

  /** Adds a node; returns its first output name so calls chain. */
  addNode(node: OnnxNode): string {
    for (const input of node.inputs) {
      // '' is ONNX's "optional input left out"; anything else must already exist (nodes are added in order).
      if (input !== '' && !this.defined.has(input)) {
        throw new RangeError(`node ${node.opType}: input "${input}" is not defined yet`);
      }
    }
    node.outputs.forEach((o) => this.define(o));
    const name = node.name ?? this.autoNodeName(node.opType);
    if (this.nodeNames.has(name)) throw nameClash(name, 'node');
    this.nodeNames.add(name);
    const attribute = Object.entries(node.attributes ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => encodeAttribute(key, value));
    this.nodes.push({ name, opType: node.opType, input: [...node.inputs], output: [...node.outputs], attribute });
    return node.outputs[0]!;
  }

  /** Declares a float32 graph input. */
  addInput(name: string, dims: readonly OnnxDim[]): string {
    this.define(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Declares a float32 graph output; the tensor must be produced by a node added before or after. */
  addOutput(name: string, dims: readonly OnnxDim[]): void {
    if (this.outputs.some((o) => o.name === name)) throw nameClash(name, 'graph output');
    this.outputs.push(valueInfo(name, dims));
  }

  /** Sets one metadata_props entry (written sorted by key). */
  setMetadata(key: string, value: string): void {
    this.metadata.set(key, value);
  }

  encode(): Uint8Array {
    for (const o of this.outputs) {
      if (!this.defined.has(o.name!)) throw new RangeError(`graph output "${o.name}" is not produced by any node`);
    }
    const model: pkg.onnx.IModelProto = {
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: ONNX_PRODUCER_NAME,
      producerVersion: this.info.producerVersion,
      graph: {
        name: this.info.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadataProps: [...this.metadata.keys()].sort().map((key) => ({ key, value: this.metadata.get(key)! })),
    };
    const problem = onnx.ModelProto.verify(model);
    if (problem) throw new Error(`internal: ONNX model does not verify: ${problem}`);
    return onnx.ModelProto.encode(model).finish();
  }

  private addInitializer(tensor: TensorProto & { name: string }): string {
    this.define(tensor.name);
    this.initializers.push(tensor);
    return tensor.name;
  }

  private define(name: string): void {
    if (name === '') throw new RangeError('empty tensor name');
    if (this.defined.has(name)) throw nameClash(name, 'tensor');
    this.defined.add(name);
  }

  private autoNodeName(opType: string): string {
    const n = this.opCounts.get(opType) ?? 0;
    this.opCounts.set(opType, n + 1);
    return `${opType}_${n}`;
  }
}

function valueInfo(name: string, dims: readonly OnnxDim[]): ValueInfoProto {
  const dim = dims.map((d) => (d === BATCH_DIM ? { dimParam: BATCH_DIM } : { dimValue: d }));
  return { name, type: { tensorType: { elemType: OnnxDataType.FLOAT, shape: { dim } } } };
}

function encodeAttribute(name: string, a: OnnxAttribute): AttributeProto {
  switch (a.type) {
    case 'int':
      if (!Number.isSafeInteger(a.value)) throw new RangeError(`attribute ${name}: ${a.value} is not an integer`);
      return { name, type: AttributeType.INT, i: a.value };
    case 'ints':
      if (!a.value.every(Number.isSafeInteger)) throw new RangeError(`attribute ${name}: non-integer in ${a.value}`);
      return { name, type: AttributeType.INTS, ints: [...a.value] };
    case 'float':
      return { name, type: AttributeType.FLOAT, f: a.value };
    case 'string':
      return { name, type: AttributeType.STRING, s: new TextEncoder().encode(a.value) };
  }
}

function checkLength(name: string, dims: readonly number[], length: number): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== length) {
    throw new RangeError(`initializer "${name}": dims [${dims.join(', ')}] need ${expected} values, got ${length}`);
  }
}

/** Names come partly from the user's config (input and output names), so a clash is a config problem. */
function nameClash(name: string, what: string): EdgeDistillError {
  return new EdgeDistillError(
    'E_CONFIG',
    `The ONNX graph would define the ${what} name "${name}" twice`,
    'Choose input and output names that differ from each other and from the generated names (which start with "/").',
  );
}
