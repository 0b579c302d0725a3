// The graph form of dense and conv layers in each quantization mode (see QuantMode for the why of each form),
// with the building blocks they share: int8 / float16 weights, run-time and fixed activation quantization,
// int32 biases. Names follow onnx.ts (`/layers.<i>/kernel`, `.../Gemm`, ...) with suffixes for the new tensors.

import { attr, littleEndianBytes, OnnxDataType } from './onnx-builder.ts';
import type { OnnxGraphBuilder } from './onnx-builder.ts';
import { convWeight } from './onnx-graph.ts';
import type { Emitted, GraphContext, WeightedEmitter } from './onnx-graph.ts';
import { float16Bits, quantizeBias, quantizeWeights } from './quantize-math.ts';
import type { Int8Mode, QuantMode } from './quantize-mode.ts';

export interface QuantContext extends GraphContext {
  mode: QuantMode;
}

export type QuantParams = { scale: number; zeroPoint: number };

/** A uint8 tensor's parameters and the names of their initializers. */
export interface QuantTensor {
  scale: string;
  zeroPoint: string;
  params: QuantParams;
}

/** The running activation of the quantized exporter: `quant` is set while it is uint8 (static mode). */
export type QuantEmitted = Emitted<QuantTensor>;

type Emitter = WeightedEmitter<QuantContext, QuantTensor>;

export const QUANT_EMITTERS = {
  float16: {
    dense(ctx, l, p, x) {
      const w = float16Weight(ctx.g, `${p}/kernel`, [l.inputs, l.units], l.kernel);
      const b = ctx.g.addFloatInitializer(`${p}/bias`, [l.units], l.bias);
      return ctx.g.addNode({ opType: 'Gemm', inputs: [x.tensor, w, b], outputs: [`${p}/Gemm_output`], name: `${p}/Gemm` });
    },
    conv(ctx, l, p, x, attributes) {
      const { dims, data } = convWeight(l);
      const w = float16Weight(ctx.g, `${p}/kernel`, dims, data);
      const b = ctx.g.addFloatInitializer(`${p}/bias`, [l.filters], l.bias);
      return ctx.g.addNode({ opType: 'Conv', inputs: [x.tensor, w, b], outputs: [`${p}/Conv_output`], name: `${p}/Conv`, attributes });
    },
  },
  dynamic: {
    dense(ctx, l, p, x) {
      const N = l.units;
      const wq = int8Weight(ctx, p, [l.inputs, N], l.kernel, N, (i) => i % N, [N]);
      const xq = dynamicQuantize(ctx.g, p, x.tensor);
      const acc = ctx.g.addNode({ opType: 'MatMulInteger', inputs: [xq.q, wq.q, xq.zeroPoint], outputs: [`${p}/MatMulInteger_output`], name: `${p}/MatMulInteger` });
      const b = ctx.g.addFloatInitializer(`${p}/bias`, [N], l.bias);
      return rescale(ctx.g, p, acc, xq.scale, wq, b);
    },
    conv(ctx, l, p, x, attributes) {
      const { dims, data } = convWeight(l);
      const O = l.filters;
      const perChannel = data.length / O;
      const wq = int8Weight(ctx, p, dims, data, O, (i) => Math.floor(i / perChannel), [O, 1, 1]);
      const xq = dynamicQuantize(ctx.g, p, x.tensor);
      const acc = ctx.g.addNode({
        opType: 'ConvInteger',
        inputs: [xq.q, wq.q, xq.zeroPoint],
        outputs: [`${p}/ConvInteger_output`],
        name: `${p}/ConvInteger`,
        attributes,
      });
      const b = ctx.g.addFloatInitializer(`${p}/bias`, [O, 1, 1], l.bias); // broadcasts over [batch, O, H, W]
      return rescale(ctx.g, p, acc, xq.scale, wq, b);
    },
  },
  static: {
    dense(ctx, l, p, x) {
      const N = l.units;
      const xq = dequantizeInput(ctx.g, p, x);
      const wq = int8Weight(ctx, p, [l.inputs, N], l.kernel, N, (i) => i % N, [N]);
      const w = dequantizeWeight(ctx.g, `${p}/kernel`, wq, 1);
      const b = int32Bias(ctx.g, p, l.bias, xq.params.scale, wq);
      // onnxruntime's QGemm fusion reads beta from the node, so it must be written out even at its default.
      const attributes = { alpha: attr.float(1), beta: attr.float(1) };
      return ctx.g.addNode({ opType: 'Gemm', inputs: [xq.tensor, w, b], outputs: [`${p}/Gemm_output`], name: `${p}/Gemm`, attributes });
    },
    conv(ctx, l, p, x, attributes) {
      const { dims, data } = convWeight(l);
      const O = l.filters;
      const perChannel = data.length / O;
      const xq = dequantizeInput(ctx.g, p, x);
      const wq = int8Weight(ctx, p, dims, data, O, (i) => Math.floor(i / perChannel), [O]);
      const w = dequantizeWeight(ctx.g, `${p}/kernel`, wq, 0);
      const b = int32Bias(ctx.g, p, l.bias, xq.params.scale, wq);
      return ctx.g.addNode({ opType: 'Conv', inputs: [xq.tensor, w, b], outputs: [`${p}/Conv_output`], name: `${p}/Conv`, attributes });
    },
  },
} satisfies Record<QuantMode['kind'], Emitter>;

/**
 * Static mode: QuantizeLinear of x to the uint8 parameters of layer `j`'s input, stored as
 * `/layers.<j>/input_scale` and `/layers.<j>/input_zero_point`; the node is named after `p`, where it sits.
 */
export function quantize(g: OnnxGraphBuilder, x: QuantEmitted, j: number, params: QuantParams, p: string): QuantEmitted {
  const scale = g.addFloatInitializer(`/layers.${j}/input_scale`, [], Float32Array.of(params.scale));
  const zeroPoint = g.addTypedInitializer(`/layers.${j}/input_zero_point`, [], OnnxDataType.UINT8, Uint8Array.of(params.zeroPoint));
  const q = g.addNode({ opType: 'QuantizeLinear', inputs: [x.tensor, scale, zeroPoint], outputs: [`${p}/QuantizeLinear_output`], name: `${p}/QuantizeLinear` });
  return { tensor: q, shape: x.shape, quant: { scale, zeroPoint, params } };
}

/** float16 initializer `<name>_float16` and a Cast to float32 producing `<name>` (constant-folded by runtimes). */
function float16Weight(g: OnnxGraphBuilder, name: string, dims: number[], w: Float32Array): string {
  const raw = littleEndianBytes(OnnxDataType.FLOAT16, Uint16Array.from(w, float16Bits));
  const half = g.addTypedInitializer(`${name}_float16`, dims, OnnxDataType.FLOAT16, raw);
  return g.addNode({ opType: 'Cast', inputs: [half], outputs: [name], name: `${name}_Cast`, attributes: { to: attr.int(OnnxDataType.FLOAT) } });
}

interface Int8WeightNames {
  q: string;
  scale: string;
  scales: Float32Array;
}

/** `<p>/kernel_quantized` (int8) and `<p>/kernel_scale` (`scaleDims` per-channel, scalar per-tensor). */
function int8Weight(
  ctx: QuantContext,
  p: string,
  dims: number[],
  w: Float32Array,
  channels: number,
  channelOf: (i: number) => number,
  scaleDims: number[],
): Int8WeightNames {
  const mode = ctx.mode as Int8Mode;
  const { q, scales } = quantizeWeights(w, channels, channelOf, mode);
  return {
    q: ctx.g.addTypedInitializer(`${p}/kernel_quantized`, dims, OnnxDataType.INT8, littleEndianBytes(OnnxDataType.INT8, q)),
    scale: ctx.g.addFloatInitializer(`${p}/kernel_scale`, mode.perChannel ? scaleDims : [], scales),
    scales,
  };
}

/** DynamicQuantizeLinear: uint8 `<p>/input_quantized` with its run-time scale and zero point. */
function dynamicQuantize(g: OnnxGraphBuilder, p: string, x: string): { q: string; scale: string; zeroPoint: string } {
  const outputs = [`${p}/input_quantized`, `${p}/input_scale`, `${p}/input_zero_point`];
  g.addNode({ opType: 'DynamicQuantizeLinear', inputs: [x], outputs, name: `${p}/DynamicQuantizeLinear` });
  return { q: outputs[0]!, scale: outputs[1]!, zeroPoint: outputs[2]! };
}

/** int32 accumulator -> float: Cast, then Mul by input_scale · kernel_scale, then Add(bias). */
function rescale(g: OnnxGraphBuilder, p: string, acc: string, inputScale: string, w: Int8WeightNames, bias: string): string {
  const f = g.addNode({ opType: 'Cast', inputs: [acc], outputs: [`${p}/Cast_output`], name: `${p}/Cast`, attributes: { to: attr.int(OnnxDataType.FLOAT) } });
  const s = g.addNode({ opType: 'Mul', inputs: [inputScale, w.scale], outputs: [`${p}/scale`], name: `${p}/scale_Mul` });
  const y = g.addNode({ opType: 'Mul', inputs: [f, s], outputs: [`${p}/Mul_output`], name: `${p}/Mul` });
  return g.addNode({ opType: 'Add', inputs: [y, bias], outputs: [`${p}/Add_output`], name: `${p}/Add` });
}

/** DequantizeLinear of the layer's uint8 input to `<p>/input_dequantized`; also returns its parameters. */
function dequantizeInput(g: OnnxGraphBuilder, p: string, x: QuantEmitted): { tensor: string; params: QuantParams } {
  if (!x.quant) throw new Error(`internal: ${p} expects a quantized input in static mode`);
  const tensor = g.addNode({
    opType: 'DequantizeLinear',
    inputs: [x.tensor, x.quant.scale, x.quant.zeroPoint],
    outputs: [`${p}/input_dequantized`],
    name: `${p}/input_DequantizeLinear`,
  });
  return { tensor, params: x.quant.params };
}

/** The bias as int32 (see quantizeBias), dequantized to `<p>/bias`. */
function int32Bias(g: OnnxGraphBuilder, p: string, bias: Float32Array, inputScale: number, w: Int8WeightNames): string {
  const { q, scales } = quantizeBias(bias, inputScale, w.scales);
  const qName = g.addTypedInitializer(`${p}/bias_quantized`, [bias.length], OnnxDataType.INT32, littleEndianBytes(OnnxDataType.INT32, q));
  const sName = g.addFloatInitializer(`${p}/bias_scale`, scales.length > 1 ? [bias.length] : [], scales);
  return g.addNode({
    opType: 'DequantizeLinear',
    inputs: [qName, sName],
    outputs: [`${p}/bias`],
    name: `${p}/bias_DequantizeLinear`,
    attributes: { axis: attr.int(0) },
  });
}

/**
 * DequantizeLinear of an int8 weight to `name`; `axis` is its output-channel axis (used when per-channel).
 * The zero point (int8 zeros) is written out although it is the default: onnxruntime's QGemm fusion only
 * matches a weight DequantizeLinear that has one.
 */
function dequantizeWeight(g: OnnxGraphBuilder, name: string, w: Int8WeightNames, axis: number): string {
  const channels = w.scales.length;
  const zeroPoint = g.addTypedInitializer(`${name}_zero_point`, channels > 1 ? [channels] : [], OnnxDataType.INT8, new Uint8Array(channels));
  return g.addNode({
    opType: 'DequantizeLinear',
    inputs: [w.q, w.scale, zeroPoint],
    outputs: [name],
    name: `${name}_DequantizeLinear`,
    attributes: { axis: attr.int(axis) },
  });
}
