// The contract of `edge-distill inspect`: what it reports about a model file, field by field. `--json` prints
// exactly this object, so scripts may rely on every field below; implementations live in inspect*.ts.

/** The model formats inspect reads. */
export type ModelFormat = 'onnx' | 'tfjs-layers' | 'tfjs-graph' | 'tflite';

/** A graph input or output. */
export interface TensorInfo {
  name: string;
  /** Static dims as numbers; a symbolic dim by its name (ONNX dim_param), a free batch dim as 'batch', an unknown one as '?'; [] when the rank is unknown. */
  shape: (number | string)[];
  /** 'float32', 'int64', ...; 'unknown' when the file does not say. */
  dtype: string;
  /** Quantized tensors (TFLite int8/uint8): real = scale * (q - zeroPoint), one entry per tensor or per channel. */
  quantization?: { scale: number[]; zeroPoint: number[] };
}

/**
 * Estimated floating-point operations for one example (any free batch dim set to 1). Conventions (see
 * flops.ts): a multiply-add is 2 FLOPs, element-wise ops 1 per output element, pooling the kernel
 * size per output element, softmax 5 per element; data movement (reshape, transpose, gather, ...) is free.
 */
export interface FlopsEstimate {
  perExample: number;
  /** True when the cost of some ops is unknown (shape not inferable, or op not modelled): perExample is a lower bound. */
  lowerBound: boolean;
  /** FLOPs by op type (ONNX op_type, TF.js layer class or graph-model op); ops of cost 0 are left out. */
  byOp: Record<string, number>;
  /** Op types whose cost is unknown, with how many nodes of each. Empty when the estimate is complete. */
  unknown: Record<string, number>;
  /** Why the estimate is a lower bound, in words; absent when it is complete. */
  note?: string;
}

export interface ModelInfo {
  /** The file inspected (model.json for TF.js, even when a folder was given). */
  path: string;
  format: ModelFormat;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Op histogram: ONNX op_type, TF.js layer class_name, or graph-model op -> count. */
  ops: Record<string, number>;
  /** Elements of all stored weights (ONNX initializers, TF.js weightsManifest entries). */
  parameters: number;
  flops: FlopsEstimate;
  /** Bytes on disk of everything the model needs: the .onnx, or model.json plus all its weight files. */
  bytes: number;
  /** gzip size of those files concatenated: roughly what a web deployment transfers. */
  gzipBytes: number;
  /** The files counted in `bytes`, model file first. */
  files: string[];
  /** Who wrote the file: ONNX producer_name/version, TF.js generatedBy/convertedBy. */
  producer?: string;
  /** ONNX default-domain opset. */
  opset?: number;
  /** TFLite only: the schema version, tensor and subgraph counts, signature keys, metadata names, each op's version. */
  tflite?: { schemaVersion: number; tensors: number; subgraphs: number; signatures: string[]; metadata: string[]; opVersions: Record<string, number> };
}
