// A plain-JS reference forward pass of a StudentSpec with TF.js semantics, accumulating in float64.
// Deliberately written straight from the TF.js definitions (NHWC maps, HWIO kernels, 'same' padding with
// the odd pad at the end, strided and grouped (depthwise) convolution, 'valid' max pooling with stride = pool
// size, batch norm with its moving statistics, global average pooling, residual adds, H-W-C flatten), sharing no
// code with the exporters, so that it is an independent check of every exported artifact.

import { kernelDims, poolDims, type Activation as ActivationKind, type LayerSpec, type StudentSpec } from '../pipeline/student/spec.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';

/** Activation of one example: a flat vector, or an NHWC map stored as data[(y * width + x) * channels + c]. */
type Activation =
  | { kind: 'flat'; data: Float64Array }
  | { kind: 'image'; height: number; width: number; channels: number; data: Float64Array };

/**
 * Runs `batch` examples (x is [batch, spec.features], row-major). Returns probs [batch, C] (per-class block
 * sums of the softmax over the C*S logits) and the last layer's logits [batch, C*S].
 */
export function forwardSpec(spec: StudentSpec, x: Float32Array, batch: number): { probs: Float32Array; logits: Float32Array } {
  const C = spec.classes;
  const S = spec.subclasses;
  if (x.length !== batch * spec.features) {
    throw mismatch(`input has ${x.length} values, batch ${batch} x ${spec.features} features needs ${batch * spec.features}`);
  }
  const probs = new Float32Array(batch * C);
  const logits = new Float32Array(batch * C * S);
  for (let n = 0; n < batch; n++) {
    const row = Float64Array.from(x.subarray(n * spec.features, (n + 1) * spec.features));
    let a: Activation = spec.image ? { kind: 'image', ...spec.image, data: row } : { kind: 'flat', data: row };
    const outputs: Activation[] = [];
    for (const layer of spec.layers) {
      a = layer.kind === 'add' ? addResidual(a, outputs[layer.from], layer.from) : applyLayer(layer, a);
      outputs.push(a);
    }
    if (a.kind !== 'flat' || a.data.length !== C * S) throw mismatch(`the last layer does not emit ${C * S} logits`);
    const z = a.data;
    let max = -Infinity;
    for (const v of z) max = Math.max(max, v);
    let total = 0;
    const e = z.map((v) => {
      const ev = Math.exp(v - max);
      total += ev;
      return ev;
    });
    for (let c = 0; c < C; c++) {
      let p = 0;
      for (let s = 0; s < S; s++) p += e[c * S + s]!;
      probs[n * C + c] = p / total;
    }
    logits.set(z, n * C * S);
  }
  return { probs, logits };
}

function applyLayer(layer: LayerSpec, a: Activation): Activation {
  switch (layer.kind) {
    case 'dense': {
      if (a.kind !== 'flat' || a.data.length !== layer.inputs) throw mismatch(`dense expects ${layer.inputs} flat inputs`);
      const out = new Float64Array(layer.units);
      for (let j = 0; j < layer.units; j++) {
        let acc = layer.bias[j]!;
        for (let i = 0; i < layer.inputs; i++) acc += a.data[i]! * layer.kernel[i * layer.units + j]!;
        out[j] = act(acc, layer.activation);
      }
      return { kind: 'flat', data: out };
    }
    case 'conv2d': {
      if (a.kind !== 'image' || a.channels !== layer.inChannels) throw mismatch(`conv2d expects ${layer.inChannels} channels`);
      const { height: H, width: W } = a;
      const [kh, kw] = kernelDims(layer);
      const s = layer.strides ?? 1;
      const G = layer.groups ?? 1;
      const I = layer.inChannels / G;
      const O = layer.filters;
      const perGroup = O / G;
      // TF 'same': output ceil(in / stride), total padding max((out-1)*s + k - in, 0), the odd one at the end.
      const same = layer.padding === 'same';
      const outH = same ? Math.ceil(H / s) : Math.floor((H - kh) / s) + 1;
      const outW = same ? Math.ceil(W / s) : Math.floor((W - kw) / s) + 1;
      const padT = same ? Math.floor(Math.max((outH - 1) * s + kh - H, 0) / 2) : 0;
      const padL = same ? Math.floor(Math.max((outW - 1) * s + kw - W, 0) / 2) : 0;
      const out = new Float64Array(outH * outW * O);
      for (let y = 0; y < outH; y++) {
        for (let xo = 0; xo < outW; xo++) {
          for (let o = 0; o < O; o++) {
            const first = Math.floor(o / perGroup) * I;
            let acc = layer.bias[o]!;
            for (let dy = 0; dy < kh; dy++) {
              const iy = y * s + dy - padT;
              if (iy < 0 || iy >= H) continue;
              for (let dx = 0; dx < kw; dx++) {
                const ix = xo * s + dx - padL;
                if (ix < 0 || ix >= W) continue;
                for (let i = 0; i < I; i++) {
                  acc += a.data[(iy * W + ix) * layer.inChannels + first + i]! * layer.kernel[((dy * kw + dx) * I + i) * O + o]!;
                }
              }
            }
            out[(y * outW + xo) * O + o] = act(acc, layer.activation);
          }
        }
      }
      return { kind: 'image', height: outH, width: outW, channels: O, data: out };
    }
    case 'maxpool2d': {
      if (a.kind !== 'image') throw mismatch('maxpool2d expects an image');
      const [ph, pw] = poolDims(layer);
      const { height: H, width: W, channels: Ch } = a;
      const outH = Math.floor((H - ph) / ph) + 1;
      const outW = Math.floor((W - pw) / pw) + 1;
      const out = new Float64Array(outH * outW * Ch);
      for (let y = 0; y < outH; y++) {
        for (let xo = 0; xo < outW; xo++) {
          for (let c = 0; c < Ch; c++) {
            let m = -Infinity;
            for (let dy = 0; dy < ph; dy++) {
              for (let dx = 0; dx < pw; dx++) m = Math.max(m, a.data[((y * ph + dy) * W + (xo * pw + dx)) * Ch + c]!);
            }
            out[(y * outW + xo) * Ch + c] = m;
          }
        }
      }
      return { kind: 'image', height: outH, width: outW, channels: Ch, data: out };
    }
    case 'batchNorm': {
      const C = layer.channels;
      const channels = a.kind === 'image' ? a.channels : a.data.length;
      if (channels !== C) throw mismatch(`batchNorm expects ${C} channels`);
      // Channel-last storage: element i belongs to channel i mod C.
      const out = a.data.map((v, i) => {
        const c = i % C;
        return act(((v - layer.movingMean[c]!) / Math.sqrt(layer.movingVariance[c]! + layer.epsilon)) * layer.gamma[c]! + layer.beta[c]!, layer.activation);
      });
      return { ...a, data: out };
    }
    case 'globalAvgPool': {
      if (a.kind !== 'image') throw mismatch('globalAvgPool expects an image');
      const out = new Float64Array(a.channels);
      const n = a.height * a.width;
      for (let p = 0; p < n; p++) for (let c = 0; c < a.channels; c++) out[c]! += a.data[p * a.channels + c]! / n;
      return { kind: 'flat', data: out };
    }
    case 'add':
      throw mismatch('add is applied by forwardSpec, which keeps the earlier outputs');
    case 'flatten':
      // NHWC storage is already in H, W, C order.
      return { kind: 'flat', data: a.data };
  }
}

/** a + the output of an earlier layer, which must have a's shape. */
function addResidual(a: Activation, earlier: Activation | undefined, from: number): Activation {
  if (!earlier) throw mismatch(`add refers to layer ${from}, which does not come before it`);
  const same = a.kind === earlier.kind && a.data.length === earlier.data.length && (a.kind === 'flat' || (earlier.kind === 'image' && a.height === earlier.height && a.width === earlier.width));
  if (!same) throw mismatch(`add: layer ${from}'s output has another shape than the activations it is added to`);
  return { ...a, data: a.data.map((v, i) => v + earlier.data[i]!) };
}

function act(v: number, kind: ActivationKind): number {
  return kind === 'relu' ? Math.max(0, v) : kind === 'relu6' ? Math.min(Math.max(0, v), 6) : v;
}

function mismatch(message: string): EdgeDistillError {
  return new EdgeDistillError('E_SHAPE_MISMATCH', `Reference forward pass: ${message}`, 'Check the StudentSpec against its input.');
}
