// StudentSpec -> ONNX (IR 8, opset 17). Owns the translation of TF.js layer semantics into ONNX ops:
// NHWC input reshaped then transposed to ONNX's NCHW, HWIO kernels re-laid out as OIHW, TF 'same' padding
// as explicit pads, and flatten in TF.js's H, W, C order so the following dense kernel applies unchanged.

import type { LayerSpec, StudentSpec } from '../pipeline/student-spec.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import { attr, BATCH_DIM, OnnxGraphBuilder } from './onnx-builder.ts';

export interface OnnxExportOptions {
  /** Written to ModelProto.producer_version (the edge-distill version). */
  producerVersion: string;
  /**
   * Also output the raw logits and the penultimate activations under these names, so the model can serve as
   * a teacher (its embedding and logits) for another distillation. Only for students with subclasses == 1.
   */
  teacherOutputs?: { logits: string; embedding: string };
}

/** Metadata keys the exporter writes itself; spec.metadata may not give them other values. */
export const ONNX_METADATA_CLASSES = 'edge-distill.classes';
export const ONNX_METADATA_SUBCLASSES = 'edge-distill.subclasses';

/** Shape of the running activation per example. Images are NCHW inside the ONNX graph. */
type Shape = { kind: 'flat'; size: number } | { kind: 'image'; height: number; width: number; channels: number };

interface Emitted {
  tensor: string;
  shape: Shape;
}

/**
 * Builds the ONNX model of a student: input `spec.inputName` float32 [batch, features]; outputs
 * `outputNames.probs` [batch, C] and, when subclasses > 1, `outputNames.subclassLogits` [batch, C*S].
 * Same spec and options give byte-identical output.
 */
export function exportOnnx(spec: StudentSpec, opts: OnnxExportOptions): Uint8Array {
  const g = new OnnxGraphBuilder({ graphName: 'edge_distill_student', producerVersion: opts.producerVersion });
  g.addInput(spec.inputName, [BATCH_DIM, spec.features]);
  let cur = emitInput(g, spec);
  let penultimate = cur;
  spec.layers.forEach((layer, i) => {
    penultimate = cur;
    cur = emitLayer(g, layer, `/layers.${i}`, cur);
  });
  emitHead(g, spec, cur);
  if (opts.teacherOutputs) {
    const t = opts.teacherOutputs;
    if (spec.subclasses !== 1 || penultimate.shape.kind !== 'flat') throw specError('teacher outputs need subclasses == 1 and a flat penultimate layer');
    g.addNode({ opType: 'Identity', inputs: [cur.tensor], outputs: [t.logits], name: '/teacher/logits' });
    g.addNode({ opType: 'Identity', inputs: [penultimate.tensor], outputs: [t.embedding], name: '/teacher/embedding' });
    g.addOutput(t.logits, [BATCH_DIM, spec.classes]);
    g.addOutput(t.embedding, [BATCH_DIM, penultimate.shape.size]);
  }
  for (const [key, value] of Object.entries(metadataOf(spec))) g.setMetadata(key, value);
  return g.encode();
}

function emitInput(g: OnnxGraphBuilder, spec: StudentSpec): Emitted {
  if (!Number.isSafeInteger(spec.features) || spec.features < 1) {
    throw specError(`features must be a positive integer, got ${spec.features}`);
  }
  if (!spec.image) return { tensor: spec.inputName, shape: { kind: 'flat', size: spec.features } };
  const { height, width, channels } = spec.image;
  if (height * width * channels !== spec.features) {
    throw specError(`image ${height}x${width}x${channels} has ${height * width * channels} values, features is ${spec.features}`);
  }
  // Reshape's 0 copies the batch dimension, so the symbolic "batch" survives shape inference.
  const shape = g.addInt64Initializer('/input/nhwc_shape', [4], [0, height, width, channels]);
  const nhwc = g.addNode({ opType: 'Reshape', inputs: [spec.inputName, shape], outputs: ['/input/nhwc'] });
  const nchw = g.addNode({
    opType: 'Transpose',
    inputs: [nhwc],
    outputs: ['/input/nchw'],
    attributes: { perm: attr.ints([0, 3, 1, 2]) },
  });
  return { tensor: nchw, shape: { kind: 'image', height, width, channels } };
}

function emitLayer(g: OnnxGraphBuilder, layer: LayerSpec, p: string, x: Emitted): Emitted {
  switch (layer.kind) {
    case 'dense': {
      if (x.shape.kind !== 'flat') throw specError(`${p} dense needs a flat input; add a flatten layer before it`);
      if (x.shape.size !== layer.inputs) throw specError(`${p} dense expects ${layer.inputs} inputs, gets ${x.shape.size}`);
      checkWeights(p, layer.kernel.length, layer.inputs * layer.units, layer.bias.length, layer.units);
      // Gemm with transB=0 takes the Keras [inputs, units] kernel as is.
      const w = g.addFloatInitializer(`${p}/kernel`, [layer.inputs, layer.units], layer.kernel);
      const b = g.addFloatInitializer(`${p}/bias`, [layer.units], layer.bias);
      const y = g.addNode({ opType: 'Gemm', inputs: [x.tensor, w, b], outputs: [`${p}/Gemm_output`], name: `${p}/Gemm` });
      return { tensor: activation(g, p, y, layer.activation), shape: { kind: 'flat', size: layer.units } };
    }
    case 'conv2d': {
      if (x.shape.kind !== 'image') throw specError(`${p} conv2d needs an image input (spec.image, before any flatten)`);
      const { height, width, channels } = x.shape;
      const k = layer.kernelSize;
      if (channels !== layer.inChannels) throw specError(`${p} conv2d expects ${layer.inChannels} channels, gets ${channels}`);
      if (!Number.isSafeInteger(k) || k < 1) throw specError(`${p} conv2d kernelSize must be a positive integer, got ${k}`);
      checkWeights(p, layer.kernel.length, k * k * layer.inChannels * layer.filters, layer.bias.length, layer.filters);
      // TF 'same' with stride 1 pads k-1 in total per axis, the odd one out at the end (bottom/right).
      const before = layer.padding === 'same' ? Math.floor((k - 1) / 2) : 0;
      const after = layer.padding === 'same' ? k - 1 - before : 0;
      const outH = height + before + after - k + 1;
      const outW = width + before + after - k + 1;
      if (outH < 1 || outW < 1) throw specError(`${p} conv2d ${k}x${k} 'valid' does not fit a ${height}x${width} map`);
      const w = g.addFloatInitializer(
        `${p}/kernel`,
        [layer.filters, layer.inChannels, k, k],
        hwioToOihw(layer.kernel, k, layer.inChannels, layer.filters),
      );
      const b = g.addFloatInitializer(`${p}/bias`, [layer.filters], layer.bias);
      const y = g.addNode({
        opType: 'Conv',
        inputs: [x.tensor, w, b],
        outputs: [`${p}/Conv_output`],
        name: `${p}/Conv`,
        attributes: {
          kernel_shape: attr.ints([k, k]),
          pads: attr.ints([before, before, after, after]),
          strides: attr.ints([1, 1]),
          dilations: attr.ints([1, 1]),
          group: attr.int(1),
        },
      });
      const shape: Shape = { kind: 'image', height: outH, width: outW, channels: layer.filters };
      return { tensor: activation(g, p, y, layer.activation), shape };
    }
    case 'maxpool2d': {
      if (x.shape.kind !== 'image') throw specError(`${p} maxpool2d needs an image input`);
      const s = layer.poolSize;
      if (!Number.isSafeInteger(s) || s < 1 || s > x.shape.height || s > x.shape.width) {
        throw specError(`${p} maxpool2d poolSize ${s} does not fit a ${x.shape.height}x${x.shape.width} map`);
      }
      // TF.js pooling defaults: strides = poolSize, 'valid' padding -> floor; ONNX ceil_mode=0 with no pads matches.
      const y = g.addNode({
        opType: 'MaxPool',
        inputs: [x.tensor],
        outputs: [`${p}/MaxPool_output`],
        name: `${p}/MaxPool`,
        attributes: { kernel_shape: attr.ints([s, s]), strides: attr.ints([s, s]) },
      });
      const height = Math.floor((x.shape.height - s) / s) + 1;
      const width = Math.floor((x.shape.width - s) / s) + 1;
      return { tensor: y, shape: { kind: 'image', height, width, channels: x.shape.channels } };
    }
    case 'flatten': {
      if (x.shape.kind === 'flat') return x; // TF.js Flatten of [batch, n] is the identity.
      // Back to NHWC first: TF.js flattens in H, W, C order and the next dense kernel's rows follow it.
      const nhwc = g.addNode({
        opType: 'Transpose',
        inputs: [x.tensor],
        outputs: [`${p}/Transpose_output`],
        name: `${p}/Transpose`,
        attributes: { perm: attr.ints([0, 2, 3, 1]) },
      });
      const y = g.addNode({
        opType: 'Flatten',
        inputs: [nhwc],
        outputs: [`${p}/Flatten_output`],
        name: `${p}/Flatten`,
        attributes: { axis: attr.int(1) },
      });
      return { tensor: y, shape: { kind: 'flat', size: x.shape.height * x.shape.width * x.shape.channels } };
    }
  }
}

/**
 * probs = per-class block sums of softmax over the C*S logits (class-major: logit c*S + s is class c).
 * With S = 1 that is a plain softmax.
 */
function emitHead(g: OnnxGraphBuilder, spec: StudentSpec, x: Emitted): void {
  const { classes: C, subclasses: S, outputNames } = spec;
  if (!Number.isSafeInteger(C) || C < 1 || !Number.isSafeInteger(S) || S < 1) {
    throw specError(`classes and subclasses must be positive integers, got ${C} and ${S}`);
  }
  if (x.shape.kind !== 'flat' || x.shape.size !== C * S) {
    const got = x.shape.kind === 'flat' ? `${x.shape.size} values` : 'an image (missing flatten?)';
    throw specError(`the last layer must emit classes*subclasses = ${C * S} logits, it emits ${got}`);
  }
  const softmax = { axis: attr.int(1) }; // Softmax-13: normalises along exactly this axis.
  if (S === 1) {
    g.addNode({ opType: 'Softmax', inputs: [x.tensor], outputs: [outputNames.probs], name: '/head/Softmax', attributes: softmax });
    g.addOutput(outputNames.probs, [BATCH_DIM, C]);
    return;
  }
  g.addNode({ opType: 'Identity', inputs: [x.tensor], outputs: [outputNames.subclassLogits], name: '/head/Identity' });
  const sub = g.addNode({
    opType: 'Softmax',
    inputs: [x.tensor],
    outputs: ['/head/Softmax_output'],
    name: '/head/Softmax',
    attributes: softmax,
  });
  const blocksShape = g.addInt64Initializer('/head/blocks_shape', [3], [0, C, S]);
  const blocks = g.addNode({ opType: 'Reshape', inputs: [sub, blocksShape], outputs: ['/head/Reshape_output'], name: '/head/Reshape' });
  const axes = g.addInt64Initializer('/head/sum_axes', [1], [2]); // ReduceSum-13 takes axes as an input.
  g.addNode({
    opType: 'ReduceSum',
    inputs: [blocks, axes],
    outputs: [outputNames.probs],
    name: '/head/ReduceSum',
    attributes: { keepdims: attr.int(0) },
  });
  g.addOutput(outputNames.probs, [BATCH_DIM, C]);
  g.addOutput(outputNames.subclassLogits, [BATCH_DIM, C * S]);
}

function activation(g: OnnxGraphBuilder, p: string, x: string, kind: 'relu' | 'linear'): string {
  if (kind === 'linear') return x;
  return g.addNode({ opType: 'Relu', inputs: [x], outputs: [`${p}/Relu_output`], name: `${p}/Relu` });
}

/** TF.js conv kernel [kh, kw, in, out] -> ONNX Conv weight [out, in, kh, kw]. */
export function hwioToOihw(kernel: Float32Array, k: number, inC: number, outC: number): Float32Array {
  const w = new Float32Array(kernel.length);
  for (let kh = 0; kh < k; kh++) {
    for (let kw = 0; kw < k; kw++) {
      for (let i = 0; i < inC; i++) {
        for (let o = 0; o < outC; o++) {
          w[((o * inC + i) * k + kh) * k + kw] = kernel[((kh * k + kw) * inC + i) * outC + o]!;
        }
      }
    }
  }
  return w;
}

function metadataOf(spec: StudentSpec): Record<string, string> {
  const own: Record<string, string> = {
    [ONNX_METADATA_CLASSES]: String(spec.classes),
    [ONNX_METADATA_SUBCLASSES]: String(spec.subclasses),
  };
  for (const [key, value] of Object.entries(own)) {
    const given = spec.metadata[key];
    if (given !== undefined && given !== value) {
      throw new EdgeDistillError(
        'E_CONFIG',
        `Metadata key "${key}" is reserved for the ONNX exporter (it writes "${value}", the spec says "${given}")`,
        'Remove that key from the metadata; the exporter derives it from the model.',
      );
    }
  }
  return { ...spec.metadata, ...own };
}

function checkWeights(p: string, kernelLen: number, kernelWant: number, biasLen: number, biasWant: number): void {
  if (kernelLen !== kernelWant) throw specError(`${p} kernel has ${kernelLen} values, its shape needs ${kernelWant}`);
  if (biasLen !== biasWant) throw specError(`${p} bias has ${biasLen} values, its shape needs ${biasWant}`);
}

function specError(message: string): EdgeDistillError {
  return new EdgeDistillError(
    'E_SHAPE_MISMATCH',
    `Cannot export the student to ONNX: ${message}`,
    'The StudentSpec is inconsistent; this is a bug in the code that built it from the trained model, please report it.',
  );
}
