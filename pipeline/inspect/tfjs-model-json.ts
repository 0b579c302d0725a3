// The parts of a TF.js model.json that `inspect` reads, typed field by field (after tfjs-core/src/io/types.ts),
// for both layers models (Keras topology) and graph models (TensorFlow GraphDef as JSON).

/** One stored tensor; `quantization` means it is stored as uint8/uint16/float16 and dequantized on load. */
export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool' | 'string' | 'complex64' | string;
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16' | string; scale?: number; min?: number };
}

export interface WeightsGroup {
  /** Files relative to model.json's folder, read in order and concatenated. */
  paths: string[];
  weights: WeightEntry[];
}

/** A Keras layer as serialised by TF.js / tf.keras (inbound_nodes absent in Sequential models). */
export interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name?: string };
  /** Keras 2 / TF.js: [[[layer, nodeIndex, tensorIndex, kwargs], ...], ...]; Keras 3: [{ args, kwargs }, ...]. */
  inbound_nodes?: unknown[];
}

export interface KerasModelConfig {
  class_name: string;
  /** Sequential models of old Keras versions store the layer list directly as the config. */
  config:
    | KerasLayer[]
    | { name?: string; layers?: KerasLayer[]; input_layers?: [string, number, number][]; output_layers?: [string, number, number][] };
}

/** A GraphDef node; attribute values follow TensorFlow's AttrValue JSON (bytes base64, int64 as strings). */
export interface GraphNode {
  name: string;
  op: string;
  /** "node", "node:1" (second output) or "^node" (control dependency). */
  input?: string[];
  attr?: Record<string, GraphAttr>;
}

export interface GraphTensorShape {
  dim?: { size?: string | number }[];
  unknownRank?: boolean;
}

export interface GraphAttr {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  shape?: GraphTensorShape;
  tensor?: { dtype?: string; tensorShape?: GraphTensorShape; intVal?: number[]; floatVal?: number[] };
  list?: { s?: string[]; i?: (string | number)[]; f?: number[]; type?: string[] };
}

export interface SignatureTensor {
  name?: string;
  dtype?: string;
  tensorShape?: GraphTensorShape;
}

export interface TfjsModelJson {
  format?: string;
  generatedBy?: string | null;
  convertedBy?: string | null;
  /** Layers: a KerasModelConfig (tf.keras wraps it as { model_config, keras_version }); graph: { node, library, versions }. */
  modelTopology?: (Partial<KerasModelConfig> & { model_config?: KerasModelConfig; node?: GraphNode[] }) | null;
  weightsManifest?: WeightsGroup[];
  /** Graph models: the serving signature's inputs and outputs, keyed by name. */
  signature?: { inputs?: Record<string, SignatureTensor>; outputs?: Record<string, SignatureTensor> };
}

/** Which of the two formats a parsed model.json is; null when it is neither. */
export function tfjsFormat(j: TfjsModelJson): 'tfjs-layers' | 'tfjs-graph' | null {
  const t = j.modelTopology;
  if (!t || typeof t !== 'object') return null;
  if (j.format === 'graph-model' || Array.isArray(t.node)) return Array.isArray(t.node) ? 'tfjs-graph' : null;
  if (t.model_config?.class_name || t.class_name) return 'tfjs-layers';
  return null;
}
