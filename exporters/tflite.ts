// A StudentSpec as a TFLite (LiteRT) flatbuffer: the tables of tflite-schema.ts written with the `flatbuffers`
// Builder. NHWC activations as in the spec, OHWI conv filters ([1, kh, kw, C] depthwise), [units, inputs] fully
// connected weights, explicit strides and padding, buffer 0 empty, the TFL3 identifier, op versions as low as the
// op's types allow, and one SignatureDef ('serving_default') naming the input and the outputs. The batch is fixed
// (LiteRT.js and TFLite Micro want static shapes): 1 by default.
import * as flatbuffers from 'flatbuffers';
import { EdgeDistillError } from '../pipeline/errors.ts';
import { DEPLOY_FILE, DEPLOY_METADATA_KEY, TFLITE_BATCH } from './deploy.ts';
import { foldBatchNorms, batchNormAffine } from '../pipeline/student/fold.ts';
import { convGeometry, kernelDims, poolDims, type Activation, type StudentSpec } from '../pipeline/student/spec.ts';
import {
  ActivationFunctionType,
  BuiltinOperator,
  BuiltinOptions,
  Padding,
  PLACEHOLDER_FOR_GREATER_OP_CODES,
  Slot,
  TensorType,
  TFLITE_IDENTIFIER,
  TFLITE_SCHEMA_VERSION,
  type BuiltinOperatorCode,
  type TensorTypeCode,
} from './tflite-schema.ts';

/** Per-tensor (one scale) or per-channel (`dimension` says which axis) affine quantization: real = scale * (q - zeroPoint). */
export interface TfliteQuantization {
  scale: number[];
  zeroPoint: number[];
  dimension?: number;
}

export interface TensorDef {
  name: string;
  shape: number[];
  type: TensorTypeCode;
  buffer: number;
  quantization?: TfliteQuantization;
  /** A constant's values (what its buffer holds). */
  data?: ConstData;
}

/** An op's options: the union member written, the table writer, and the values it writes (read by calibration). */
export interface OpOptions {
  type: number;
  write: (b: flatbuffers.Builder) => number;
  attrs: { padding?: number; stride?: number; act?: number; pool?: [number, number]; shape?: number[]; keepDims?: boolean };
}

export interface OperatorDef {
  code: BuiltinOperatorCode;
  version: number;
  inputs: number[];
  outputs: number[];
  options?: OpOptions;
}

export type ConstData = Float32Array | Int32Array | Int8Array | Uint8Array;

/** A TFLite subgraph under construction: tensors, constant buffers and operators, serialised by `finish`. */
export class TfliteGraph {
  readonly tensors: TensorDef[] = [];
  readonly operators: OperatorDef[] = [];
  /** Constants written so far: constant k has buffer k + 1 (buffer 0 is the empty one every other tensor points at). */
  private constants = 0;

  /** A tensor computed at run time (an input, an activation, an output). */
  tensor(name: string, shape: number[], type: TensorTypeCode = TensorType.FLOAT32, quantization?: TfliteQuantization): number {
    this.tensors.push({ name, shape, type, buffer: 0, ...(quantization ? { quantization } : {}) });
    return this.tensors.length - 1;
  }

  /** A constant tensor with its own buffer (little-endian bytes of `data`). */
  constant(name: string, shape: number[], data: ConstData, type: TensorTypeCode, quantization?: TfliteQuantization): number {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`constant ${name}: ${data.length} values for shape [${shape}]`);
    this.tensors.push({ name, shape, type, buffer: ++this.constants, data, ...(quantization ? { quantization } : {}) });
    return this.tensors.length - 1;
  }

  op(code: BuiltinOperatorCode, inputs: number[], outputs: number[], options?: OpOptions, version = 1): void {
    this.operators.push({ code, version, inputs, outputs, ...(options ? { options } : {}) });
  }

  /** The whole model: one subgraph, its signature, and metadata entries (name -> bytes, each in its own buffer). */
  finish(io: { inputs: [string, number][]; outputs: [string, number][] }, metadata: [string, Uint8Array][] = [], description = 'edge-distill'): Uint8Array {
    // Buffers: the empty one, the constants' little-endian bytes in buffer order, then the metadata.
    const constantBytes = this.tensors.flatMap((t) => (t.data ? [new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)] : []));
    const allBuffers = [new Uint8Array(0), ...constantBytes, ...metadata.map(([, bytes]) => bytes)];
    const b = new flatbuffers.Builder(1024 + allBuffers.reduce((a, x) => a + x.length + 32, 0));
    // Identical vectors are written once and shared (a flatbuffer may point at one vector from many tables): a
    // per-channel tensor's zero points are all 0, as long as its channel count, and a layer's filter and bias
    // (and every layer of the same width) share them, which saves 8 bytes per channel in an int8 model.
    const shared = new Map<string, number>();
    const once = (key: string, write: () => number) => {
      let off = shared.get(key);
      if (off === undefined) shared.set(key, (off = write()));
      return off;
    };
    const ints = (xs: number[]) => once(`i32:${xs.join(',')}`, () => createI32(b, xs));
    const offsets = (xs: number[]) => {
      b.startVector(4, xs.length, 4);
      for (let i = xs.length - 1; i >= 0; i--) b.addOffset(xs[i]!);
      return b.endVector();
    };
    // Operator codes: one per (builtin, version), in first-use order.
    const codes: { code: number; version: number }[] = [];
    const codeIndex = (o: OperatorDef) => {
      let i = codes.findIndex((c) => c.code === o.code && c.version === o.version);
      if (i < 0) i = codes.push({ code: o.code, version: o.version }) - 1;
      return i;
    };
    const opIndices = this.operators.map(codeIndex);

    // Buffer data aligned to 16 bytes, as the schema asks (force_align: 16).
    const bufferOffsets = allBuffers.map((data) => {
      let dataOff = 0;
      if (data.length) {
        b.startVector(1, data.length, 16);
        for (let i = data.length - 1; i >= 0; i--) b.addInt8(data[i]!);
        dataOff = b.endVector();
      }
      b.startObject(3);
      if (dataOff) b.addFieldOffset(Slot.Buffer.data, dataOff, 0);
      return b.endObject();
    });

    const tensorOffsets = this.tensors.map((t) => {
      const name = b.createString(t.name);
      const shape = ints(t.shape);
      let quant = 0;
      if (t.quantization) {
        const q = t.quantization;
        const scale = once(`f32:${q.scale.join(',')}`, () => createF32(b, q.scale));
        const zp = once(`i64:${q.zeroPoint.join(',')}`, () => {
          b.startVector(8, q.zeroPoint.length, 8);
          for (let i = q.zeroPoint.length - 1; i >= 0; i--) b.addInt64(BigInt(q.zeroPoint[i]!));
          return b.endVector();
        });
        b.startObject(7);
        b.addFieldOffset(Slot.QuantizationParameters.scale, scale, 0);
        b.addFieldOffset(Slot.QuantizationParameters.zero_point, zp, 0);
        b.addFieldInt32(Slot.QuantizationParameters.quantized_dimension, q.dimension ?? 0, 0);
        quant = b.endObject();
      }
      b.startObject(8);
      b.addFieldOffset(Slot.Tensor.shape, shape, 0);
      b.addFieldInt8(Slot.Tensor.type, t.type, 0);
      b.addFieldInt32(Slot.Tensor.buffer, t.buffer, 0);
      b.addFieldOffset(Slot.Tensor.name, name, 0);
      if (quant) b.addFieldOffset(Slot.Tensor.quantization, quant, 0);
      return b.endObject();
    });

    const operatorOffsets = this.operators.map((o, k) => {
      const inputs = ints(o.inputs);
      const outputs = ints(o.outputs);
      const options = o.options ? o.options.write(b) : 0;
      b.startObject(6);
      b.addFieldInt32(Slot.Operator.opcode_index, opIndices[k]!, 0);
      b.addFieldOffset(Slot.Operator.inputs, inputs, 0);
      b.addFieldOffset(Slot.Operator.outputs, outputs, 0);
      if (o.options) {
        b.addFieldInt8(Slot.Operator.builtin_options_type, o.options.type, 0);
        b.addFieldOffset(Slot.Operator.builtin_options, options, 0);
      }
      return b.endObject();
    });

    const subgraphName = b.createString('main');
    const tensorsVec = offsets(tensorOffsets);
    const inputsVec = ints(io.inputs.map(([, i]) => i));
    const outputsVec = ints(io.outputs.map(([, i]) => i));
    const operatorsVec = offsets(operatorOffsets);
    b.startObject(5);
    b.addFieldOffset(Slot.SubGraph.tensors, tensorsVec, 0);
    b.addFieldOffset(Slot.SubGraph.inputs, inputsVec, 0);
    b.addFieldOffset(Slot.SubGraph.outputs, outputsVec, 0);
    b.addFieldOffset(Slot.SubGraph.operators, operatorsVec, 0);
    b.addFieldOffset(Slot.SubGraph.name, subgraphName, 0);
    const subgraph = b.endObject();

    const codeOffsets = codes.map((c) => {
      b.startObject(4);
      b.addFieldInt8(Slot.OperatorCode.deprecated_builtin_code, Math.min(c.code, PLACEHOLDER_FOR_GREATER_OP_CODES), 0);
      b.addFieldInt32(Slot.OperatorCode.version, c.version, 1);
      b.addFieldInt32(Slot.OperatorCode.builtin_code, c.code, 0);
      return b.endObject();
    });

    const tensorMaps = (list: [string, number][]) =>
      offsets(
        list.map(([name, index]) => {
          const n = b.createString(name);
          b.startObject(2);
          b.addFieldOffset(Slot.TensorMap.name, n, 0);
          b.addFieldInt32(Slot.TensorMap.tensor_index, index, 0);
          return b.endObject();
        }),
      );
    const sigInputs = tensorMaps(io.inputs);
    const sigOutputs = tensorMaps(io.outputs);
    const sigKey = b.createString('serving_default');
    b.startObject(5);
    b.addFieldOffset(Slot.SignatureDef.inputs, sigInputs, 0);
    b.addFieldOffset(Slot.SignatureDef.outputs, sigOutputs, 0);
    b.addFieldOffset(Slot.SignatureDef.signature_key, sigKey, 0);
    b.addFieldInt32(Slot.SignatureDef.subgraph_index, 0, 0);
    const signature = b.endObject();

    const metadataOffsets = metadata.map(([name], k) => {
      const n = b.createString(name);
      b.startObject(2);
      b.addFieldOffset(Slot.Metadata.name, n, 0);
      b.addFieldInt32(Slot.Metadata.buffer, 1 + constantBytes.length + k, 0);
      return b.endObject();
    });

    const codesVec = offsets(codeOffsets);
    const subgraphsVec = offsets([subgraph]);
    const desc = b.createString(description);
    const buffersVec = offsets(bufferOffsets);
    const metadataVec = offsets(metadataOffsets);
    const signaturesVec = offsets([signature]);
    b.startObject(8);
    b.addFieldInt32(Slot.Model.version, TFLITE_SCHEMA_VERSION, 0);
    b.addFieldOffset(Slot.Model.operator_codes, codesVec, 0);
    b.addFieldOffset(Slot.Model.subgraphs, subgraphsVec, 0);
    b.addFieldOffset(Slot.Model.description, desc, 0);
    b.addFieldOffset(Slot.Model.buffers, buffersVec, 0);
    if (metadata.length) b.addFieldOffset(Slot.Model.metadata, metadataVec, 0);
    b.addFieldOffset(Slot.Model.signature_defs, signaturesVec, 0);
    const model = b.endObject();
    b.finish(model, TFLITE_IDENTIFIER);
    return b.asUint8Array().slice();
  }
}

function createI32(b: flatbuffers.Builder, xs: number[]): number {
  b.startVector(4, xs.length, 4);
  for (let i = xs.length - 1; i >= 0; i--) b.addInt32(xs[i]!);
  return b.endVector();
}

function createF32(b: flatbuffers.Builder, xs: number[]): number {
  b.startVector(4, xs.length, 4);
  for (let i = xs.length - 1; i >= 0; i--) b.addFloat32(xs[i]!);
  return b.endVector();
}

const FUSED: Record<Activation, number> = { linear: ActivationFunctionType.NONE, relu: ActivationFunctionType.RELU, relu6: ActivationFunctionType.RELU6 };

/** Options tables for the ops the student graphs use. */
export const options = {
  conv2d: (padding: number, stride: number, act: number): OpOptions => ({
    type: BuiltinOptions.Conv2DOptions,
    attrs: { padding, stride, act },
    write: (b: flatbuffers.Builder) => {
      b.startObject(7);
      b.addFieldInt8(Slot.Conv2DOptions.padding, padding, -1); // written even when 0 (SAME): explicit
      b.addFieldInt32(Slot.Conv2DOptions.stride_w, stride, -1);
      b.addFieldInt32(Slot.Conv2DOptions.stride_h, stride, -1);
      b.addFieldInt8(Slot.Conv2DOptions.fused_activation_function, act, 0);
      b.addFieldInt32(Slot.Conv2DOptions.dilation_w_factor, 1, 0);
      b.addFieldInt32(Slot.Conv2DOptions.dilation_h_factor, 1, 0);
      return b.endObject();
    },
  }),
  depthwise: (padding: number, stride: number, act: number): OpOptions => ({
    type: BuiltinOptions.DepthwiseConv2DOptions,
    attrs: { padding, stride, act },
    write: (b: flatbuffers.Builder) => {
      b.startObject(7);
      b.addFieldInt8(Slot.DepthwiseConv2DOptions.padding, padding, -1);
      b.addFieldInt32(Slot.DepthwiseConv2DOptions.stride_w, stride, -1);
      b.addFieldInt32(Slot.DepthwiseConv2DOptions.stride_h, stride, -1);
      b.addFieldInt32(Slot.DepthwiseConv2DOptions.depth_multiplier, 1, -1);
      b.addFieldInt8(Slot.DepthwiseConv2DOptions.fused_activation_function, act, 0);
      b.addFieldInt32(Slot.DepthwiseConv2DOptions.dilation_w_factor, 1, 0);
      b.addFieldInt32(Slot.DepthwiseConv2DOptions.dilation_h_factor, 1, 0);
      return b.endObject();
    },
  }),
  pool: (ph: number, pw: number): OpOptions => ({
    type: BuiltinOptions.Pool2DOptions,
    attrs: { pool: [ph, pw] },
    write: (b: flatbuffers.Builder) => {
      b.startObject(6);
      b.addFieldInt8(Slot.Pool2DOptions.padding, Padding.VALID, -1);
      b.addFieldInt32(Slot.Pool2DOptions.stride_w, pw, -1);
      b.addFieldInt32(Slot.Pool2DOptions.stride_h, ph, -1);
      b.addFieldInt32(Slot.Pool2DOptions.filter_width, pw, -1);
      b.addFieldInt32(Slot.Pool2DOptions.filter_height, ph, -1);
      b.addFieldInt8(Slot.Pool2DOptions.fused_activation_function, ActivationFunctionType.NONE, -1);
      return b.endObject();
    },
  }),
  fullyConnected: (act: number): OpOptions => ({
    type: BuiltinOptions.FullyConnectedOptions,
    attrs: { act },
    write: (b: flatbuffers.Builder) => {
      b.startObject(5);
      b.addFieldInt8(Slot.FullyConnectedOptions.fused_activation_function, act, -1);
      return b.endObject();
    },
  }),
  softmax: (): OpOptions => ({
    type: BuiltinOptions.SoftmaxOptions,
    attrs: {},
    write: (b: flatbuffers.Builder) => {
      b.startObject(1);
      b.addFieldFloat32(Slot.SoftmaxOptions.beta, 1, 0);
      return b.endObject();
    },
  }),
  add: (act: number): OpOptions => ({
    type: BuiltinOptions.AddOptions,
    attrs: { act },
    write: (b: flatbuffers.Builder) => {
      b.startObject(2);
      b.addFieldInt8(Slot.AddOptions.fused_activation_function, act, -1);
      return b.endObject();
    },
  }),
  mul: (): OpOptions => ({
    type: BuiltinOptions.MulOptions,
    attrs: { act: ActivationFunctionType.NONE },
    write: (b: flatbuffers.Builder) => {
      b.startObject(1);
      b.addFieldInt8(Slot.MulOptions.fused_activation_function, ActivationFunctionType.NONE, -1);
      return b.endObject();
    },
  }),
  reshape: (shape: number[]): OpOptions => ({
    type: BuiltinOptions.ReshapeOptions,
    attrs: { shape },
    write: (b: flatbuffers.Builder) => {
      const v = createI32(b, shape);
      b.startObject(1);
      b.addFieldOffset(Slot.ReshapeOptions.new_shape, v, 0);
      return b.endObject();
    },
  }),
  reducer: (keepDims: boolean): OpOptions => ({
    type: BuiltinOptions.ReducerOptions,
    attrs: { keepDims },
    write: (b: flatbuffers.Builder) => {
      b.startObject(1);
      b.addFieldInt8(Slot.ReducerOptions.keep_dims, keepDims ? 1 : 0, -1);
      return b.endObject();
    },
  }),
};

export interface TfliteExportOptions {
  /** The fixed batch of the model's input and outputs (default 1). */
  batch?: number;
  /** Metadata entries written into the model's buffers (e.g. deploy.json). */
  metadata?: Record<string, string>;
}

/** A reshape to `shape` (a constant shape input and ReshapeOptions, as the converter writes it). */
function reshape(g: TfliteGraph, x: number, shape: number[], name: string): number {
  const s = g.constant(`${name}/shape`, [shape.length], Int32Array.from(shape), TensorType.INT32);
  const y = g.tensor(name, shape);
  g.op(BuiltinOperator.RESHAPE, [x, s], [y], options.reshape(shape));
  return y;
}

/**
 * The float32 graph of a student: input [batch, features] (reshaped to NHWC for image students), its layers with
 * batch norms folded into the conv or dense before them where possible, and the outputs: class probabilities, plus
 * the C*S subclass logits for LELP students.
 */
export function buildTfliteGraph(specIn: StudentSpec, opts: TfliteExportOptions = {}): { graph: TfliteGraph; inputs: [string, number][]; outputs: [string, number][] } {
  const spec = foldBatchNorms(specIn);
  const B = opts.batch ?? TFLITE_BATCH;
  const g = new TfliteGraph();
  const input = g.tensor(spec.inputName, [B, spec.features]);
  let x = input;
  let shape = [B, spec.features];
  if (spec.image) {
    shape = [B, spec.image.height, spec.image.width, spec.image.channels];
    x = reshape(g, x, shape, 'image');
  }
  const layerOut: { t: number; shape: number[] }[] = [];
  spec.layers.forEach((l, i) => {
    const name = `layer${i}_${l.kind}`;
    switch (l.kind) {
      case 'dense': {
        if (shape.length !== 2 || shape[1] !== l.inputs) throw new EdgeDistillError('E_SHAPE_MISMATCH', `layer ${i} (dense, ${l.inputs} inputs) follows a tensor of shape [${shape}]`, 'A dense layer needs a flat input: put a flatten or global average pool before it.');
        // Keras [inputs, units] -> TFLite [units, inputs].
        const w = new Float32Array(l.units * l.inputs);
        for (let r = 0; r < l.inputs; r++) for (let c = 0; c < l.units; c++) w[c * l.inputs + r] = l.kernel[r * l.units + c]!;
        const wt = g.constant(`${name}/weights`, [l.units, l.inputs], w, TensorType.FLOAT32);
        const bt = g.constant(`${name}/bias`, [l.units], l.bias, TensorType.FLOAT32);
        shape = [B, l.units];
        const y = g.tensor(name, shape);
        g.op(BuiltinOperator.FULLY_CONNECTED, [x, wt, bt], [y], options.fullyConnected(FUSED[l.activation]));
        x = y;
        break;
      }
      case 'conv2d': {
        const [kh, kw] = kernelDims(l);
        const [, H, W, Cin] = shape as [number, number, number, number];
        const groups = l.groups ?? 1;
        const geo = convGeometry(l, H, W);
        const padding = l.padding === 'same' ? Padding.SAME : Padding.VALID;
        const stride = l.strides ?? 1;
        const bt = g.constant(`${name}/bias`, [l.filters], l.bias, TensorType.FLOAT32);
        shape = [B, geo.height, geo.width, l.filters];
        const y = g.tensor(name, shape);
        if (groups === 1) {
          // HWIO -> OHWI.
          const w = new Float32Array(l.kernel.length);
          for (let a = 0; a < kh; a++) for (let b2 = 0; b2 < kw; b2++) for (let ci = 0; ci < Cin; ci++) for (let o = 0; o < l.filters; o++) {
            w[((o * kh + a) * kw + b2) * Cin + ci] = l.kernel[((a * kw + b2) * Cin + ci) * l.filters + o]!;
          }
          const wt = g.constant(`${name}/filter`, [l.filters, kh, kw, Cin], w, TensorType.FLOAT32);
          g.op(BuiltinOperator.CONV_2D, [x, wt, bt], [y], options.conv2d(padding, stride, FUSED[l.activation]));
        } else if (groups === Cin && l.filters === Cin) {
          // Depthwise: [kh, kw, C, 1] holds the same values in the same order as TFLite's [1, kh, kw, C].
          const wt = g.constant(`${name}/filter`, [1, kh, kw, Cin], l.kernel, TensorType.FLOAT32);
          g.op(BuiltinOperator.DEPTHWISE_CONV_2D, [x, wt, bt], [y], options.depthwise(padding, stride, FUSED[l.activation]));
        } else {
          throw new EdgeDistillError('E_UNSUPPORTED', `layer ${i}: a grouped convolution (${groups} groups of ${Cin} channels) has no TFLite op`, 'Use groups 1 (a plain conv) or groups = channels (depthwise).');
        }
        x = y;
        break;
      }
      case 'maxpool2d': {
        const [ph, pw] = poolDims(l);
        const [, H, W, C] = shape as [number, number, number, number];
        shape = [B, Math.floor((H - ph) / ph) + 1, Math.floor((W - pw) / pw) + 1, C];
        const y = g.tensor(name, shape);
        g.op(BuiltinOperator.MAX_POOL_2D, [x], [y], options.pool(ph, pw));
        x = y;
        break;
      }
      case 'batchNorm': {
        // Not foldable (after an activation, or read by a residual add): a per-channel scale and shift.
        const { scale, shift } = batchNormAffine(l);
        const st = g.constant(`${name}/scale`, [l.channels], scale, TensorType.FLOAT32);
        const sh = g.constant(`${name}/shift`, [l.channels], shift, TensorType.FLOAT32);
        const m = g.tensor(`${name}/scaled`, shape);
        g.op(BuiltinOperator.MUL, [x, st], [m], options.mul());
        const y = g.tensor(name, shape);
        g.op(BuiltinOperator.ADD, [m, sh], [y], options.add(FUSED[l.activation]));
        x = y;
        break;
      }
      case 'globalAvgPool': {
        const axes = g.constant(`${name}/axes`, [2], Int32Array.from([1, 2]), TensorType.INT32);
        shape = [B, shape[3]!];
        const y = g.tensor(name, shape);
        g.op(BuiltinOperator.MEAN, [x, axes], [y], options.reducer(false));
        x = y;
        break;
      }
      case 'add': {
        const other = layerOut[l.from];
        if (!other || other.shape.join() !== shape.join()) throw new EdgeDistillError('E_SHAPE_MISMATCH', `layer ${i}: residual add of layer ${l.from} (shape [${other?.shape ?? '?'}]) to shape [${shape}]`, 'A residual add needs an earlier layer of the same shape.');
        const y = g.tensor(name, shape);
        g.op(BuiltinOperator.ADD, [x, other.t], [y], options.add(ActivationFunctionType.NONE));
        x = y;
        break;
      }
      case 'flatten': {
        shape = [B, shape.slice(1).reduce((a, b) => a * b, 1)];
        x = reshape(g, x, shape, name);
        break;
      }
    }
    layerOut.push({ t: x, shape });
  });
  const { classes: C, subclasses: S } = spec;
  if (shape.length !== 2 || shape[1] !== C * S) throw new EdgeDistillError('E_SHAPE_MISMATCH', `the student's last layer gives shape [${shape}], not [${B}, ${C * S}] logits`, 'The last layer must be a dense layer with classes x subclasses units.');
  const logits = x;
  const outputs: [string, number][] = [];
  if (S === 1) {
    const probs = g.tensor(spec.outputNames.probs, [B, C]);
    g.op(BuiltinOperator.SOFTMAX, [logits], [probs], options.softmax());
    outputs.push([spec.outputNames.probs, probs]);
  } else {
    // Class probabilities: the C*S-way softmax summed over each class's block of S.
    const p = g.tensor('subclass_probs', [B, C * S]);
    g.op(BuiltinOperator.SOFTMAX, [logits], [p], options.softmax());
    const blocks = reshape(g, p, [B, C, S], 'subclass_probs_by_class');
    const axis = g.constant('class_sum/axes', [1], Int32Array.from([2]), TensorType.INT32);
    const probs = g.tensor(spec.outputNames.probs, [B, C]);
    g.op(BuiltinOperator.SUM, [blocks, axis], [probs], options.reducer(false));
    g.tensors[logits]!.name = spec.outputNames.subclassLogits;
    outputs.push([spec.outputNames.probs, probs], [spec.outputNames.subclassLogits, logits]);
  }
  return { graph: g, inputs: [[spec.inputName, input]], outputs };
}

/**
 * The float32 .tflite of a student (see buildTfliteGraph). Its metadata: "deploy.json" (the bundle's descriptor, when
 * the spec carries one), "edge_distill" (the spec's other metadata as JSON), and opts.metadata's entries.
 */
export function exportTflite(spec: StudentSpec, opts: TfliteExportOptions = {}): Uint8Array {
  const { graph, inputs, outputs } = buildTfliteGraph(spec, opts);
  return graph.finish({ inputs, outputs }, tfliteMetadata(spec, opts));
}

export function tfliteMetadata(spec: StudentSpec, opts: TfliteExportOptions = {}): [string, Uint8Array][] {
  const enc = new TextEncoder();
  const { [DEPLOY_METADATA_KEY]: deploy, ...rest } = spec.metadata;
  return [
    ...(deploy ? [[DEPLOY_FILE, enc.encode(deploy)] as [string, Uint8Array]] : []),
    ['edge_distill', enc.encode(JSON.stringify(rest))],
    ...Object.entries(opts.metadata ?? {}).map(([k, v]): [string, Uint8Array] => [k, enc.encode(v)]),
  ];
}
