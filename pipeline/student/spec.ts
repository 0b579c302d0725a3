// The contract between training and the exporters: a trained student as plain arrays, independent of TF.js.
// Every exporter (ONNX, TF.js layers and graph, the quantizers) and the onnxruntime training engine consume a
// StudentSpec and nothing else.

/** A layer's activation: ReLU, ReLU6 (min(max(x, 0), 6), MobileNet's) or none. */
export type Activation = 'relu' | 'relu6' | 'linear';

/**
 * One layer of a student, in execution order. Weights are row-major Float32Arrays. Feature maps are NHWC, as in
 * TF.js; a 1-D (temporal) input is an image one pixel high and a 1-D convolution a conv2d with a [1, k] kernel.
 */
export type LayerSpec =
  | {
      kind: 'dense';
      /** [inputs, units], row-major: kernel[i * units + j] (TF.js / Keras layout). */
      kernel: Float32Array;
      inputs: number;
      units: number;
      bias: Float32Array;
      activation: Activation;
    }
  | {
      kind: 'conv2d';
      /**
       * [kh, kw, inChannels / groups, filters], row-major (TF.js HWIO layout). A depthwise conv (groups =
       * inChannels = filters) has TF.js DepthwiseConv2D's kernel [kh, kw, channels, 1]: the same values in the
       * same order.
       */
      kernel: Float32Array;
      /** The kernel's size: k for a square k x k kernel, [kh, kw] otherwise (a 1-D conv: [1, k]). */
      kernelSize: number | [number, number];
      inChannels: number;
      filters: number;
      bias: Float32Array;
      /** TF.js padding: 'same' (output ceil(in / stride), the odd pad at the end) or 'valid' (no padding). */
      padding: 'same' | 'valid';
      /** Stride along height and width (default 1). */
      strides?: number;
      /** Channel groups (default 1); inChannels = filters = groups is a depthwise convolution. */
      groups?: number;
      activation: Activation;
    }
  /** Max pooling, strides = pool size, 'valid' (TF.js's defaults): k x k, or [ph, pw] (a 1-D pool: [1, k]). */
  | { kind: 'maxpool2d'; poolSize: number | [number, number] }
  /**
   * Batch normalisation over the channel (last) axis, with its inference statistics: y = (x - movingMean) /
   * sqrt(movingVariance + epsilon) * gamma + beta, then the activation. Training normalises with each batch's
   * statistics and updates the moving ones by `momentum` (TF.js BatchNormalization); exporters fold it into the
   * conv or dense layer before it where they can.
   */
  | {
      kind: 'batchNorm';
      channels: number;
      gamma: Float32Array;
      beta: Float32Array;
      movingMean: Float32Array;
      movingVariance: Float32Array;
      epsilon: number;
      momentum: number;
      activation: Activation;
    }
  /** The mean over height and width of an NHWC map: a flat vector of its channels. */
  | { kind: 'globalAvgPool' }
  /** A residual connection: adds the output of layer `from` (an earlier layer's index) to this point's activations. */
  | { kind: 'add'; from: number }
  /** Flattens an NHWC feature map in H, W, C order (TF.js semantics). */
  | { kind: 'flatten' };

/**
 * A conv2d's output size and padding on an H x W map, as TF.js defines them: 'same' gives ceil(in / stride) and
 * pads max((out - 1) * stride + k - in, 0) per axis, the odd pad at the end; 'valid' gives floor((in - k) / stride)
 * + 1 and no padding. Pads in ONNX order [top, left, bottom, right].
 */
/** A max pool's [height, width] window (its strides too). */
export function poolDims(layer: Extract<LayerSpec, { kind: 'maxpool2d' }>): [number, number] {
  return typeof layer.poolSize === 'number' ? [layer.poolSize, layer.poolSize] : layer.poolSize;
}

export function convGeometry(layer: Extract<LayerSpec, { kind: 'conv2d' }>, H: number, W: number): { height: number; width: number; pads: [number, number, number, number] } {
  const [kh, kw] = kernelDims(layer);
  const s = layer.strides ?? 1;
  if (layer.padding === 'valid') return { height: Math.floor((H - kh) / s) + 1, width: Math.floor((W - kw) / s) + 1, pads: [0, 0, 0, 0] };
  const [height, width] = [Math.ceil(H / s), Math.ceil(W / s)];
  const [th, tw] = [Math.max((height - 1) * s + kh - H, 0), Math.max((width - 1) * s + kw - W, 0)];
  return { height, width, pads: [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)] };
}

/** A conv2d layer's kernel height and width. */
export function kernelDims(layer: { kernelSize: number | [number, number] }): [number, number] {
  return typeof layer.kernelSize === 'number' ? [layer.kernelSize, layer.kernelSize] : layer.kernelSize;
}

export interface StudentSpec {
  /** Name of the graph input in every exported format. */
  inputName: string;
  /** Per-example input features; the exported model takes [batch, features] float32. */
  features: number;
  /**
   * When set, the flat input is reshaped to this NHWC image before the first layer (CNN students).
   * features === height * width * channels.
   */
  image?: { height: number; width: number; channels: number };
  layers: LayerSpec[];
  /** Number of classes C. */
  classes: number;
  /**
   * Subclasses per class S (1 for every method but LELP). The last layer emits C*S logits, class-major
   * (logit c*S + s belongs to class c). Class probabilities are the sum of the C*S-way softmax over each
   * class's block, which equals softmax over classes of logsumexp of each class's subclass logits.
   */
  subclasses: number;
  /** Output names: class probabilities [batch, C]; subclass logits [batch, C*S] only when subclasses > 1. */
  outputNames: { probs: string; subclassLogits: string };
  /** Free-form provenance written into the artifacts' metadata (method, tool version, config hash). */
  metadata: Record<string, string>;
}
