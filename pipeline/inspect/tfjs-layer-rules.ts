// Per-class Keras/TF.js layer rules: output shape (batch 1, channels_last unless the config says otherwise) and
// FLOPs under the conventions of flops.ts. A class without a rule has an unknown cost.
import {
  BATCHNORM_FLOPS, FLOPS_PER_MAC, NORMALIZATION_FLOPS, SOFTMAX_FLOPS,
  activationFlops, broadcast, numel, sameOut, windowOut, type Shape,
} from './flops.ts';

type Config = Record<string, unknown>;
/** Output shape and FLOPs; a missing field means unknown. */
export type LayerRule = (cfg: Config, ins: (Shape | undefined)[]) => { out?: Shape; flops?: number };

/** Keras stores kernel sizes, strides and pool sizes as an int or a per-axis list. */
const tuple = (v: unknown, n: number, d: number): number[] => (Array.isArray(v) ? v.map(Number) : Array.from({ length: n }, () => (typeof v === 'number' ? v : d)));
const channelsFirst = (c: Config): boolean => c.data_format === 'channels_first';
/** [spatial dims, channels] of an N-D feature map. */
const split = (c: Config, x: Shape): [number[], number] => (channelsFirst(c) ? [x.slice(2), x[1]!] : [x.slice(1, -1), x[x.length - 1]!]);
const join = (c: Config, n: number, sp: number[], ch: number): Shape => (channelsFirst(c) ? [n, ch, ...sp] : [n, ...sp, ch]);

/** Spatial output dims of a conv/pool window: 'same' keeps ceil(d/stride); 'valid' no padding; 'causal' pads the front. */
function windows(c: Config, sp: number[], kernel: number[], strides: number[], dil: number[]): number[] {
  return sp.map((d, i) => {
    if (c.padding === 'same') return sameOut(d, strides[i]!);
    const pad = c.padding === 'causal' ? dil[i]! * (kernel[i]! - 1) : 0;
    return windowOut(d, kernel[i]!, strides[i]!, dil[i]!, pad);
  });
}

/** Bias and activation after a weighted layer: 1 FLOP per output element each (softmax 5). */
const epilogue = (c: Config, out: Shape): number => ((c.use_bias ?? true) ? numel(out) : 0) + activationFlops(c.activation as string) * numel(out);

function conv(kind: 'conv' | 'depthwise' | 'separable'): LayerRule {
  return (c, [x]) => {
    if (!x) return {};
    const [sp, cin] = split(c, x);
    const k = tuple(c.kernel_size, sp.length, 1);
    const osp = windows(c, sp, k, tuple(c.strides, sp.length, 1), tuple(c.dilation_rate, sp.length, 1));
    const dm = Number(c.depth_multiplier ?? 1);
    const cout = kind === 'depthwise' ? cin * dm : Number(c.filters);
    const out = join(c, x[0]!, osp, cout);
    const perPos = numel(osp) * x[0]!;
    const macs = kind === 'conv' ? numel(out) * numel(k) * (cin / Number(c.groups ?? 1))
      : kind === 'depthwise' ? numel(out) * numel(k)
      : perPos * cin * dm * numel(k) + numel(out) * cin * dm; // depthwise, then the 1x1 pointwise conv
    return { out, flops: FLOPS_PER_MAC * macs + epilogue(c, out) };
  };
}

const convTranspose: LayerRule = (c, [x]) => {
  if (!x) return {};
  const [sp] = split(c, x);
  const k = tuple(c.kernel_size, sp.length, 1);
  const s = tuple(c.strides, sp.length, 1);
  const osp = sp.map((d, i) => (c.padding === 'same' ? d * s[i]! : d * s[i]! + Math.max(k[i]! - s[i]!, 0)));
  const out = join(c, x[0]!, osp, Number(c.filters));
  // Every input element (all channels) scatters into filters * kernel outputs with a multiply-add each.
  return { out, flops: FLOPS_PER_MAC * numel(x) * Number(c.filters) * numel(k) + epilogue(c, out) };
};

const pool: LayerRule = (c, [x]) => {
  if (!x) return {};
  const [sp, ch] = split(c, x);
  const k = tuple(c.pool_size, sp.length, 2);
  const out = join(c, x[0]!, windows(c, sp, k, c.strides == null ? k : tuple(c.strides, sp.length, 1), sp.map(() => 1)), ch);
  return { out, flops: numel(out) * numel(k) };
};

const globalPool: LayerRule = (c, [x]) => {
  if (!x) return {};
  const [sp, ch] = split(c, x);
  return { out: c.keepdims ? join(c, x[0]!, sp.map(() => 1), ch) : [x[0]!, ch], flops: numel(x) };
};

/** Element-wise layers: same shape, `per` FLOPs per element. */
const elementwise = (per: number | ((c: Config) => number)): LayerRule => (c, [x]) => (x ? { out: x, flops: (typeof per === 'number' ? per : per(c)) * numel(x) } : {});
/** Merge layers (Add, Multiply, ...): broadcast the inputs; n inputs take n-1 ops per element (Average one more). */
const merge = (extra: number): LayerRule => (_, ins) => {
  const out = broadcast(...ins);
  return out ? { out, flops: (ins.length - 1 + extra) * numel(out) } : {};
};
const free = (f: (c: Config, x: Shape, ins: (Shape | undefined)[]) => Shape): LayerRule => (c, ins) => (ins[0] && ins.every(Boolean) ? { out: f(c, ins[0], ins), flops: 0 } : {});

/** ZeroPadding/Cropping: int, [a, b] (symmetric per axis) or [[before, after], ...]. */
function padded(c: Config, x: Shape, key: 'padding' | 'cropping', sign: 1 | -1): Shape {
  const [sp, ch] = split(c, x);
  const v = c[key];
  const pairs = sp.map((_, i) => {
    const p = Array.isArray(v) ? v[i] : v;
    return Array.isArray(p) ? Number(p[0]) + Number(p[1]) : 2 * Number(p ?? 1);
  });
  return join(c, x[0]!, sp.map((d, i) => d + sign * pairs[i]!), ch);
}

const RULES: Record<string, LayerRule> = {
  Dense: (c, [x]) => {
    if (!x) return {};
    const out = [...x.slice(0, -1), Number(c.units)];
    return { out, flops: FLOPS_PER_MAC * numel(x) * Number(c.units) + epilogue(c, out) };
  },
  Conv1D: conv('conv'), Conv2D: conv('conv'), Conv3D: conv('conv'),
  DepthwiseConv2D: conv('depthwise'), DepthwiseConv1D: conv('depthwise'),
  SeparableConv1D: conv('separable'), SeparableConv2D: conv('separable'),
  Conv2DTranspose: convTranspose, Conv3DTranspose: convTranspose,
  MaxPooling1D: pool, MaxPooling2D: pool, MaxPooling3D: pool, AveragePooling1D: pool, AveragePooling2D: pool, AveragePooling3D: pool,
  GlobalAveragePooling1D: globalPool, GlobalAveragePooling2D: globalPool, GlobalAveragePooling3D: globalPool,
  GlobalMaxPooling1D: globalPool, GlobalMaxPooling2D: globalPool, GlobalMaxPooling3D: globalPool,
  Activation: elementwise((c) => activationFlops(c.activation as string)),
  ReLU: elementwise(1), LeakyReLU: elementwise(1), PReLU: elementwise(1), ELU: elementwise(1), ThresholdedReLU: elementwise(1),
  Softmax: elementwise(SOFTMAX_FLOPS),
  BatchNormalization: elementwise(BATCHNORM_FLOPS),
  LayerNormalization: elementwise(NORMALIZATION_FLOPS),
  Rescaling: elementwise(2),
  Dropout: elementwise(0), SpatialDropout1D: elementwise(0), SpatialDropout2D: elementwise(0), SpatialDropout3D: elementwise(0),
  GaussianNoise: elementwise(0), GaussianDropout: elementwise(0), AlphaDropout: elementwise(0), Masking: elementwise(0),
  Add: merge(0), Subtract: merge(0), Multiply: merge(0), Maximum: merge(0), Minimum: merge(0), Average: merge(1),
  Flatten: free((_, x) => [x[0]!, numel(x.slice(1))]),
  Reshape: free((c, x) => {
    const t = (c.target_shape as number[]).map(Number);
    const known = t.filter((d) => d !== -1).reduce((a, d) => a * d, 1);
    return [x[0]!, ...t.map((d) => (d === -1 ? numel(x.slice(1)) / known : d))];
  }),
  Permute: free((c, x) => [x[0]!, ...(c.dims as number[]).map((d) => x[d]!)]),
  RepeatVector: free((c, x) => [x[0]!, Number(c.n), ...x.slice(1)]),
  Embedding: free((c, x) => [...x, Number(c.output_dim)]),
  Concatenate: free((c, x, ins) => {
    const a = Number(c.axis ?? -1) < 0 ? x.length + Number(c.axis ?? -1) : Number(c.axis);
    return x.map((d, i) => (i === a ? ins.reduce((s, y) => s + y![i]!, 0) : d));
  }),
  ZeroPadding1D: free((c, x) => padded(c, x, 'padding', 1)), ZeroPadding2D: free((c, x) => padded(c, x, 'padding', 1)),
  Cropping1D: free((c, x) => padded(c, x, 'cropping', -1)), Cropping2D: free((c, x) => padded(c, x, 'cropping', -1)),
  // Nearest upsampling copies; bilinear is a multiply-add for each of 4 taps (as ONNX Resize 'linear' on 2 axes).
  UpSampling2D: (c, [x]) => {
    if (!x) return {};
    const [sp, ch] = split(c, x);
    const s = tuple(c.size, sp.length, 2);
    const out = join(c, x[0]!, sp.map((d, i) => d * s[i]!), ch);
    return { out, flops: c.interpolation === 'bilinear' ? FLOPS_PER_MAC * 4 * numel(out) : 0 };
  },
};

export function layerRule(className: string): LayerRule | undefined {
  return Object.hasOwn(RULES, className) ? RULES[className] : undefined;
}
