// The layer semantics both ONNX exporters share: TF.js layers as ONNX ops (NHWC input reshaped then transposed
// to ONNX's NCHW, TF 'same' padding as explicit pads, flatten in TF.js's H, W, C order so the following dense
// kernel applies unchanged, the class head), the shape checks and the reserved metadata. How a dense or conv
// layer's weights are stored is left to a WeightedEmitter: float32 in onnx.ts, the quantized forms in
// quantize-emitters.ts.

import { convGeometry, kernelDims, poolDims, type Activation, type LayerSpec, type StudentSpec } from '../pipeline/student/spec.ts';
import { batchNormAffine } from '../pipeline/student/fold.ts';
import { EdgeDistillError, unsupportedLayer } from '../pipeline/errors.ts';
import { attr, BATCH_DIM } from './onnx-builder.ts';
import type { OnnxAttribute, OnnxGraphBuilder } from './onnx-builder.ts';

/** Metadata keys the exporters write themselves; spec.metadata may not give them other values. */
export const ONNX_METADATA_CLASSES = 'edge-distill.classes';
export const ONNX_METADATA_SUBCLASSES = 'edge-distill.subclasses';

/** Shape of the running activation per example. Images are NCHW inside the ONNX graph. */
export type Shape = { kind: 'flat'; size: number } | { kind: 'image'; height: number; width: number; channels: number };

/** The running activation: its tensor name, its shape and, for the quantized exporter, its quantization `Q`. */
export interface Emitted<Q = never> {
  tensor: string;
  shape: Shape;
  quant?: Q;
}

export type DenseLayer = Extract<LayerSpec, { kind: 'dense' }>;
export type ConvLayer = Extract<LayerSpec, { kind: 'conv2d' }>;

/** Which exporter is running: named in the messages of inconsistent-spec errors. */
export type ExportTarget = 'ONNX' | 'quantized ONNX';

export interface GraphContext {
  g: OnnxGraphBuilder;
  target: ExportTarget;
}

/** The graph form of the weighted layers. Each returns the layer's float32 output before its activation. */
export interface WeightedEmitter<C extends GraphContext, Q = never> {
  dense(ctx: C, layer: DenseLayer, p: string, x: Emitted<Q>): string;
  conv(ctx: C, layer: ConvLayer, p: string, x: Emitted<Q>, attributes: Record<string, OnnxAttribute>): string;
}

export function isWeighted(layer: LayerSpec): layer is DenseLayer | ConvLayer {
  return layer.kind === 'dense' || layer.kind === 'conv2d';
}

export function sizeOf(shape: Shape): number {
  return shape.kind === 'flat' ? shape.size : shape.height * shape.width * shape.channels;
}

/** The shape of the graph input per example, checked against spec.features. */
export function inputShape(spec: StudentSpec, target: ExportTarget): Shape {
  if (!Number.isSafeInteger(spec.features) || spec.features < 1) {
    throw specError(target, `features must be a positive integer, got ${spec.features}`);
  }
  if (!spec.image) return { kind: 'flat', size: spec.features };
  const { height, width, channels } = spec.image;
  if (height * width * channels !== spec.features) {
    throw specError(target, `image ${height}x${width}x${channels} has ${height * width * channels} values, features is ${spec.features}`);
  }
  return { kind: 'image', height, width, channels };
}

/** The running shape after a layer, checking that the layer fits its input (not its weights: `emitLayer` does). */
export function layerOutputShape(layer: LayerSpec, x: Shape, p: string, target: ExportTarget): Shape {
  switch (layer.kind) {
    case 'dense':
      if (x.kind !== 'flat') throw specError(target, `${p} dense needs a flat input; add a flatten layer before it`);
      if (x.size !== layer.inputs) throw specError(target, `${p} dense expects ${layer.inputs} inputs, gets ${x.size}`);
      return { kind: 'flat', size: layer.units };
    case 'conv2d': {
      if (x.kind !== 'image') throw specError(target, `${p} conv2d needs an image input (spec.image, before any flatten)`);
      const [kh, kw] = kernelDims(layer);
      const { strides: s = 1, groups = 1 } = layer;
      if (x.channels !== layer.inChannels) throw specError(target, `${p} conv2d expects ${layer.inChannels} channels, gets ${x.channels}`);
      if (![kh, kw, s, groups].every((v) => Number.isSafeInteger(v) && v >= 1)) throw specError(target, `${p} conv2d kernel [${kh}, ${kw}], strides ${s} and groups ${groups} must be positive integers`);
      if (layer.inChannels % groups !== 0 || layer.filters % groups !== 0) throw specError(target, `${p} conv2d: ${groups} groups do not divide ${layer.inChannels} input and ${layer.filters} output channels`);
      const { height, width } = convGeometry(layer, x.height, x.width);
      if (height < 1 || width < 1) throw specError(target, `${p} conv2d ${kh}x${kw} 'valid' does not fit a ${x.height}x${x.width} map`);
      return { kind: 'image', height, width, channels: layer.filters };
    }
    case 'batchNorm': {
      const channels = x.kind === 'image' ? x.channels : x.size;
      if (channels !== layer.channels) throw specError(target, `${p} batchNorm expects ${layer.channels} channels, gets ${channels}`);
      return x;
    }
    case 'globalAvgPool':
      if (x.kind !== 'image') throw specError(target, `${p} globalAvgPool needs an image input`);
      return { kind: 'flat', size: x.channels };
    case 'add':
      return x;
    case 'maxpool2d': {
      if (x.kind !== 'image') throw specError(target, `${p} maxpool2d needs an image input`);
      const [ph, pw] = poolDims(layer);
      if (![ph, pw].every(Number.isSafeInteger) || ph < 1 || pw < 1 || ph > x.height || pw > x.width) {
        throw specError(target, `${p} maxpool2d poolSize ${JSON.stringify(layer.poolSize)} does not fit a ${x.height}x${x.width} map`);
      }
      // TF.js pooling defaults: strides = poolSize, 'valid' padding -> floor.
      return { kind: 'image', height: Math.floor((x.height - ph) / ph) + 1, width: Math.floor((x.width - pw) / pw) + 1, channels: x.channels };
    }
    case 'flatten':
      return x.kind === 'flat' ? x : { kind: 'flat', size: sizeOf(x) };
  }
}

/** From graph input `tensor` [batch, features] to the first layer's input: NCHW for images, as is otherwise. */
export function emitInput(ctx: GraphContext, spec: StudentSpec, tensor: string): Emitted {
  const { g } = ctx;
  const shape = inputShape(spec, ctx.target);
  if (shape.kind === 'flat') return { tensor, shape };
  // Reshape's 0 copies the batch dimension, so the symbolic "batch" survives shape inference.
  const dims = g.addInt64Initializer('/input/nhwc_shape', [4], [0, shape.height, shape.width, shape.channels]);
  const nhwc = g.addNode({ opType: 'Reshape', inputs: [tensor, dims], outputs: ['/input/nhwc'] });
  const nchw = g.addNode({ opType: 'Transpose', inputs: [nhwc], outputs: ['/input/nchw'], attributes: { perm: attr.ints([0, 3, 1, 2]) } });
  return { tensor: nchw, shape };
}

/**
 * One layer, named `<p>/<Op>`. Max pooling and flatten keep x's quantization: on uint8 they are exact, as they
 * commute with a monotone quantizer. A weighted layer's output is float32. `earlier`: the outputs of the layers
 * before it (an add reads one of them).
 */
export function emitLayer<C extends GraphContext, Q>(ctx: C, emitter: WeightedEmitter<C, Q>, layer: LayerSpec, p: string, x: Emitted<Q>, earlier: readonly Emitted<Q>[] = []): Emitted<Q> {
  const { g } = ctx;
  const shape = layerOutputShape(layer, x.shape, p, ctx.target);
  switch (layer.kind) {
    case 'dense':
      checkWeights(ctx.target, p, layer.kernel.length, layer.inputs * layer.units, layer.bias.length, layer.units);
      return { tensor: activation(g, p, emitter.dense(ctx, layer, p, x), layer.activation), shape };
    case 'conv2d': {
      const [kh, kw] = kernelDims(layer);
      checkWeights(ctx.target, p, layer.kernel.length, kh * kw * (layer.inChannels / (layer.groups ?? 1)) * layer.filters, layer.bias.length, layer.filters);
      return { tensor: activation(g, p, emitter.conv(ctx, layer, p, x, convAttributes(layer, x.shape)), layer.activation), shape };
    }
    case 'batchNorm': {
      // Left unfolded (foldBatchNorms folds it into a conv or dense before it where it can): x * scale + shift per channel.
      if (x.quant !== undefined) throw unsupportedLayer('batchNorm on quantized activations', Number(p.split('.').at(-1)), ctx.target);
      const C = layer.channels;
      const { scale, shift } = batchNormAffine(layer);
      const dims = x.shape.kind === 'image' ? [C, 1, 1] : [C];
      const scaled = g.addNode({ opType: 'Mul', inputs: [x.tensor, g.addFloatInitializer(`${p}/scale`, dims, scale)], outputs: [`${p}/Mul_output`], name: `${p}/Mul` });
      const y = g.addNode({ opType: 'Add', inputs: [scaled, g.addFloatInitializer(`${p}/shift`, dims, shift)], outputs: [`${p}/Add_output`], name: `${p}/Add` });
      return { tensor: activation(g, p, y, layer.activation), shape };
    }
    case 'globalAvgPool': {
      if (x.quant !== undefined) throw unsupportedLayer('globalAvgPool on quantized activations', Number(p.split('.').at(-1)), ctx.target);
      const pooled = g.addNode({ opType: 'GlobalAveragePool', inputs: [x.tensor], outputs: [`${p}/GlobalAveragePool_output`], name: `${p}/GlobalAveragePool` });
      const y = g.addNode({ opType: 'Flatten', inputs: [pooled], outputs: [`${p}/Flatten_output`], name: `${p}/Flatten`, attributes: { axis: attr.int(1) } });
      return { tensor: y, shape };
    }
    case 'add': {
      const from = earlier[layer.from];
      if (!from) throw specError(ctx.target, `${p} add refers to layer ${layer.from}, which does not come before it`);
      if (x.quant !== undefined || from.quant !== undefined) throw unsupportedLayer('add on quantized activations', Number(p.split('.').at(-1)), ctx.target);
      if (JSON.stringify(from.shape) !== JSON.stringify(x.shape)) throw specError(ctx.target, `${p} add: layer ${layer.from}'s output ${JSON.stringify(from.shape)} is not the shape ${JSON.stringify(x.shape)} it is added to`);
      return { tensor: g.addNode({ opType: 'Add', inputs: [x.tensor, from.tensor], outputs: [`${p}/Add_output`], name: `${p}/Add` }), shape };
    }
    case 'maxpool2d': {
      // ONNX ceil_mode=0 with no pads matches TF.js's 'valid' pooling.
      const s = poolDims(layer);
      const y = g.addNode({
        opType: 'MaxPool',
        inputs: [x.tensor],
        outputs: [`${p}/MaxPool_output`],
        name: `${p}/MaxPool`,
        attributes: { kernel_shape: attr.ints(s), strides: attr.ints(s) },
      });
      return { ...x, tensor: y, shape };
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
      const y = g.addNode({ opType: 'Flatten', inputs: [nhwc], outputs: [`${p}/Flatten_output`], name: `${p}/Flatten`, attributes: { axis: attr.int(1) } });
      return { ...x, tensor: y, shape };
    }
  }
}

/** Conv / ConvInteger attributes of a conv2d on an x.height x x.width map. */
function convAttributes(layer: ConvLayer, x: Shape): Record<string, OnnxAttribute> {
  const { height: H, width: W } = x as Extract<Shape, { kind: 'image' }>;
  const s = layer.strides ?? 1;
  return {
    kernel_shape: attr.ints(kernelDims(layer)),
    pads: attr.ints(convGeometry(layer, H, W).pads),
    strides: attr.ints([s, s]),
    dilations: attr.ints([1, 1]),
    group: attr.int(layer.groups ?? 1),
  };
}

/**
 * probs = per-class block sums of softmax over the C*S logits (class-major: logit c*S + s is class c).
 * With S = 1 that is a plain softmax.
 */
export function emitHead(ctx: GraphContext, spec: StudentSpec, x: Emitted<unknown>): void {
  const { g } = ctx;
  const { classes: C, subclasses: S, outputNames } = spec;
  if (!Number.isSafeInteger(C) || C < 1 || !Number.isSafeInteger(S) || S < 1) {
    throw specError(ctx.target, `classes and subclasses must be positive integers, got ${C} and ${S}`);
  }
  if (x.shape.kind !== 'flat' || x.shape.size !== C * S) {
    const got = x.shape.kind === 'flat' ? `${x.shape.size} values` : 'an image (missing flatten?)';
    throw specError(ctx.target, `the last layer must emit classes*subclasses = ${C * S} logits, it emits ${got}`);
  }
  const softmax = { axis: attr.int(1) }; // Softmax-13: normalises along exactly this axis.
  if (S === 1) {
    g.addNode({ opType: 'Softmax', inputs: [x.tensor], outputs: [outputNames.probs], name: '/head/Softmax', attributes: softmax });
    g.addOutput(outputNames.probs, [BATCH_DIM, C]);
    return;
  }
  g.addNode({ opType: 'Identity', inputs: [x.tensor], outputs: [outputNames.subclassLogits], name: '/head/Identity' });
  const sub = g.addNode({ opType: 'Softmax', inputs: [x.tensor], outputs: ['/head/Softmax_output'], name: '/head/Softmax', attributes: softmax });
  const blocksShape = g.addInt64Initializer('/head/blocks_shape', [3], [0, C, S]);
  const blocks = g.addNode({ opType: 'Reshape', inputs: [sub, blocksShape], outputs: ['/head/Reshape_output'], name: '/head/Reshape' });
  const axes = g.addInt64Initializer('/head/sum_axes', [1], [2]); // ReduceSum-13 takes axes as an input.
  g.addNode({ opType: 'ReduceSum', inputs: [blocks, axes], outputs: [outputNames.probs], name: '/head/ReduceSum', attributes: { keepdims: attr.int(0) } });
  g.addOutput(outputNames.probs, [BATCH_DIM, C]);
  g.addOutput(outputNames.subclassLogits, [BATCH_DIM, C * S]);
}

function activation(g: OnnxGraphBuilder, p: string, x: string, kind: Activation): string {
  if (kind === 'linear') return x;
  if (kind === 'relu6') {
    const bounds = [g.addFloatInitializer(`${p}/relu6_min`, [], Float32Array.of(0)), g.addFloatInitializer(`${p}/relu6_max`, [], Float32Array.of(6))];
    return g.addNode({ opType: 'Clip', inputs: [x, ...bounds], outputs: [`${p}/Clip_output`], name: `${p}/Clip` });
  }
  return g.addNode({ opType: 'Relu', inputs: [x], outputs: [`${p}/Relu_output`], name: `${p}/Relu` });
}

/**
 * TF.js conv kernel [kh, kw, in, out] -> ONNX Conv weight [out, in, kh, kw]; `k` is kh = kw or [kh, kw], `inC` the
 * input channels per group.
 */
export function hwioToOihw(kernel: Float32Array, k: number | [number, number], inC: number, outC: number): Float32Array {
  const [KH, KW] = typeof k === 'number' ? [k, k] : k;
  const w = new Float32Array(kernel.length);
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      for (let i = 0; i < inC; i++) {
        for (let o = 0; o < outC; o++) {
          w[((o * inC + i) * KH + kh) * KW + kw] = kernel[((kh * KW + kw) * inC + i) * outC + o]!;
        }
      }
    }
  }
  return w;
}

/** A conv2d layer's ONNX weight: its dims [out, in / groups, kh, kw] and values. */
export function convWeight(l: ConvLayer): { dims: number[]; data: Float32Array } {
  const [kh, kw] = kernelDims(l);
  const inPerGroup = l.inChannels / (l.groups ?? 1);
  return { dims: [l.filters, inPerGroup, kh, kw], data: hwioToOihw(l.kernel, [kh, kw], inPerGroup, l.filters) };
}

/** spec.metadata plus the exporter's own keys (classes, subclasses, then `extra`), which it may not contradict. */
export function metadataOf(spec: StudentSpec, extra: Record<string, string> = {}): Record<string, string> {
  const own: Record<string, string> = {
    [ONNX_METADATA_CLASSES]: String(spec.classes),
    [ONNX_METADATA_SUBCLASSES]: String(spec.subclasses),
    ...extra,
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

function checkWeights(target: ExportTarget, p: string, kernelLen: number, kernelWant: number, biasLen: number, biasWant: number): void {
  if (kernelLen !== kernelWant) throw specError(target, `${p} kernel has ${kernelLen} values, its shape needs ${kernelWant}`);
  if (biasLen !== biasWant) throw specError(target, `${p} bias has ${biasLen} values, its shape needs ${biasWant}`);
}

export function specError(target: ExportTarget, message: string): EdgeDistillError {
  return new EdgeDistillError(
    'E_SHAPE_MISMATCH',
    `Cannot export the student to ${target}: ${message}`,
    'The StudentSpec is inconsistent; this is a bug in the code that built it from the trained model, please report it.',
  );
}
