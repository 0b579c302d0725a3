// The on-disk format of a TF.js graph model, typed field by field: model.json holds a TensorFlow GraphDef in
// protobuf's JSON mapping (the subset tfjs-converter's OperationMapper reads), a signature and a weights manifest.
// GraphDefBuilder collects nodes and their constant tensors; constants live in weights.bin, never inline,
// because the stock executor looks every Const up in the weight map by node name.
import type { tf } from '../pipeline/util/tfjs.ts';
import { concatBytes } from '../pipeline/util/fsutil.ts';

/** tensorflow.DataType names; the mapper accepts the enum's name as a string. */
export type GraphDataType = 'DT_FLOAT' | 'DT_INT32';

/** proto3 JSON writes int64 as decimal strings; the mapper parses both forms, TF's own converter writes strings. */
export interface TensorShapeJson {
  dim: { size: string }[];
}

/** tensorflow.AttrValue: exactly one field is set. `s` is bytes, hence base64 in JSON. */
export interface AttrValueJson {
  type?: GraphDataType;
  s?: string;
  i?: string;
  f?: number;
  b?: boolean;
  shape?: TensorShapeJson;
  list?: { s?: string[]; i?: string[] };
  tensor?: { dtype: GraphDataType; tensorShape: TensorShapeJson };
}

export interface NodeDefJson {
  name: string;
  op: string;
  input?: string[];
  attr: Record<string, AttrValueJson>;
}

export interface GraphDefJson {
  node: NodeDefJson[];
  library: Record<string, never>;
  /** GraphModel.modelVersion reports `${producer}.${minConsumer}`. */
  versions: { producer: number; minConsumer: number };
}

/** tensorflow.TensorInfo of a SignatureDef; `name` is `<node>:<output index>`. */
export interface TensorInfoJson {
  name: string;
  dtype: GraphDataType;
  tensorShape: TensorShapeJson;
}

export interface GraphModelJson {
  format: 'graph-model';
  generatedBy: string;
  convertedBy: string;
  modelTopology: GraphDefJson;
  /** Keys become model.inputNodes / outputNodes; the outputs' key order is the model's output order. */
  signature: { inputs: Record<string, TensorInfoJson>; outputs: Record<string, TensorInfoJson> };
  userDefinedMetadata: Record<string, string>;
  weightsManifest: tf.io.WeightsManifestConfig;
}

/** The GraphDef version TF 2.15 writes; every op emitted here predates it, so any TF-based tool accepts it. */
export const GRAPH_DEF_VERSIONS = { producer: 1645, minConsumer: 12 } as const;

/** -1 is TF's unknown dimension (the batch). */
export function shapeJson(dims: readonly number[]): TensorShapeJson {
  return { dim: dims.map((d) => ({ size: String(d) })) };
}

/** Attribute constructors in the JSON mapping the executor parses (it lowercases strings unless told not to). */
export const attr = {
  dtype: (t: GraphDataType): AttrValueJson => ({ type: t }),
  str: (s: string): AttrValueJson => ({ s: Buffer.from(s, 'utf8').toString('base64') }),
  strs: (ss: string[]): AttrValueJson => ({ list: { s: ss.map((s) => Buffer.from(s, 'utf8').toString('base64')) } }),
  int: (i: number): AttrValueJson => ({ i: String(i) }),
  ints: (is: number[]): AttrValueJson => ({ list: { i: is.map(String) } }),
  float: (f: number): AttrValueJson => ({ f }),
  bool: (b: boolean): AttrValueJson => ({ b }),
  shape: (dims: readonly number[]): AttrValueJson => ({ shape: shapeJson(dims) }),
};

export const FLOAT: Record<string, AttrValueJson> = { T: attr.dtype('DT_FLOAT') };

/** Nodes in creation order plus the weights their Const nodes stand for, in the same order. */
export class GraphDefBuilder {
  readonly nodes: NodeDefJson[] = [];
  private readonly specs: tf.io.WeightsManifestEntry[] = [];
  private readonly parts: Uint8Array[] = [];
  private readonly names = new Set<string>();

  /** Adds a node; returns its name, which is also how later nodes refer to its first output. */
  node(name: string, op: string, inputs: string[], attrs: Record<string, AttrValueJson>): string {
    if (this.names.has(name)) throw new Error(`GraphDefBuilder: duplicate node name ${JSON.stringify(name)}`);
    this.names.add(name);
    this.nodes.push({ name, op, ...(inputs.length ? { input: inputs } : {}), attr: attrs });
    return name;
  }

  placeholder(name: string, dims: readonly number[]): string {
    return this.node(name, 'Placeholder', [], { dtype: attr.dtype('DT_FLOAT'), shape: attr.shape(dims) });
  }

  constFloat(name: string, dims: readonly number[], values: Float32Array): string {
    return this.constant(name, dims, 'DT_FLOAT', 'float32', new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  constInt(name: string, dims: readonly number[], values: readonly number[]): string {
    const data = Int32Array.from(values);
    return this.constant(name, dims, 'DT_INT32', 'int32', new Uint8Array(data.buffer));
  }

  /** weights.bin: every constant's little-endian bytes back to back (TF.js decodes in host order; hosts are LE). */
  weights(): { specs: tf.io.WeightsManifestEntry[]; data: Uint8Array } {
    return { specs: this.specs.map((s) => ({ ...s })), data: concatBytes(this.parts) };
  }

  private constant(name: string, dims: readonly number[], dtype: GraphDataType, manifestDtype: 'float32' | 'int32', bytes: Uint8Array): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (bytes.byteLength !== count * 4) throw new Error(`GraphDefBuilder: ${name} has ${bytes.byteLength / 4} values, shape [${dims}] needs ${count}`);
    this.specs.push({ name, shape: [...dims], dtype: manifestDtype });
    // A copy: the caller's array may be a view into a larger buffer or change later.
    this.parts.push(bytes.slice());
    return this.node(name, 'Const', [], { value: { tensor: { dtype, tensorShape: shapeJson(dims) } }, dtype: attr.dtype(dtype) });
  }
}
