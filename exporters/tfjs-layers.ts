// Exports a StudentSpec as a TF.js layers model that stock TF.js loads with loadLayersModel: the student's
// layers, then the class-probability head made of stock layers only (softmax over C*S logits, then a frozen
// Dense with a 0/1 block kernel that sums each class's S subclass probabilities).
import * as tfl from '@tensorflow/tfjs-layers';
import { ensureBackend, tf } from '../pipeline/util/tfjs.ts';
import { kernelDims, type StudentSpec } from '../pipeline/student/spec.ts';
import { unsupportedLayer } from '../pipeline/errors.ts';
import { serializeLayersModel } from './tfjs-io.ts';
import { quantizeWeights, type TfjsWeightDtype } from './tfjs-quantize.ts';

/** Build the deployable TF.js model (outputs: probs [, subclass_logits]) from a spec. */
export function buildLayersModel(spec: StudentSpec): tfl.LayersModel {
  const input = tfl.input({ shape: [spec.features], name: spec.inputName });
  let h: tfl.SymbolicTensor = input;
  if (spec.image) h = tfl.layers.reshape({ targetShape: [spec.image.height, spec.image.width, spec.image.channels] }).apply(h) as tfl.SymbolicTensor;
  const last = spec.layers.length - 1;
  const S = spec.subclasses;
  const outputs: tfl.SymbolicTensor[] = [];
  spec.layers.forEach((l, i) => {
    const name = i === last ? (S > 1 ? spec.outputNames.subclassLogits : 'logits') : `${l.kind}_${i}`;
    let layer: tfl.layers.Layer;
    let weights: tf.Tensor[] = [];
    if (l.kind === 'dense') {
      layer = tfl.layers.dense({ units: l.units, activation: l.activation, name });
      weights = [tf.tensor2d(l.kernel, [l.inputs, l.units]), tf.tensor1d(l.bias)];
    } else if (l.kind === 'conv2d') {
      const [kh, kw] = kernelDims(l);
      const groups = l.groups ?? 1;
      const common = { kernelSize: [kh, kw] as [number, number], strides: l.strides ?? 1, padding: l.padding, activation: l.activation, name };
      if (groups === 1) {
        layer = tfl.layers.conv2d({ filters: l.filters, ...common });
        weights = [tf.tensor4d(l.kernel, [kh, kw, l.inChannels, l.filters]), tf.tensor1d(l.bias)];
      } else if (groups === l.inChannels && groups === l.filters) {
        // TF.js DepthwiseConv2D's kernel [kh, kw, channels, 1] holds a depthwise HWIO kernel's values in its order.
        layer = tfl.layers.depthwiseConv2d({ depthMultiplier: 1, ...common });
        weights = [tf.tensor4d(l.kernel, [kh, kw, l.inChannels, 1]), tf.tensor1d(l.bias)];
      } else {
        throw unsupportedLayer(`conv2d with ${groups} groups that is not depthwise`, i, 'The TF.js layers export');
      }
    } else if (l.kind === 'maxpool2d') layer = tfl.layers.maxPooling2d({ poolSize: l.poolSize, name });
    else if (l.kind === 'batchNorm') {
      layer = tfl.layers.batchNormalization({ axis: -1, epsilon: l.epsilon, momentum: l.momentum, name: l.activation === 'linear' ? name : `${name}_bn` });
      weights = [l.gamma, l.beta, l.movingMean, l.movingVariance].map((v) => tf.tensor1d(v));
    } else if (l.kind === 'globalAvgPool') layer = tfl.layers.globalAveragePooling2d({ name });
    else if (l.kind === 'add') {
      const from = outputs[l.from];
      if (!from) throw unsupportedLayer(`add of layer ${l.from}, which does not come before it`, i, 'The TF.js layers export', 'The StudentSpec is inconsistent.');
      layer = tfl.layers.add({ name });
      h = layer.apply([h, from]) as tfl.SymbolicTensor;
      outputs.push(h);
      return;
    } else if (h.shape.length === 2) {
      outputs.push(h); // a flatten of flat activations is the identity (TF.js's Flatten refuses 2-D input)
      return;
    } else layer = tfl.layers.flatten({ name });
    h = layer.apply(h) as tfl.SymbolicTensor;
    if (weights.length) {
      layer.setWeights(weights);
      weights.forEach((w) => w.dispose());
    }
    // Batch norm has no activation of its own in TF.js: a separate Activation layer applies it.
    if (l.kind === 'batchNorm' && l.activation !== 'linear') h = tfl.layers.activation({ activation: l.activation, name }).apply(h) as tfl.SymbolicTensor;
    outputs.push(h);
  });
  const logits = h;
  const C = spec.classes;
  const sub = tfl.layers.activation({ activation: 'softmax', name: 'subclass_probs' }).apply(logits) as tfl.SymbolicTensor;
  const sum = tfl.layers.dense({ units: C, useBias: false, trainable: false, name: spec.outputNames.probs });
  const probs = sum.apply(sub) as tfl.SymbolicTensor;
  const block = new Float32Array(C * S * C);
  for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) block[(c * S + s) * C + c] = 1;
  const k = tf.tensor2d(block, [C * S, C]);
  sum.setWeights([k]);
  k.dispose();
  return tfl.model({ inputs: input, outputs: S > 1 ? [probs, logits] : probs, name: 'edge_distill_student' });
}

/**
 * model.json text and weights.bin bytes of the deployable TF.js layers model; with `weights`, the weights are
 * stored quantized (uint8 / uint16 affine per tensor, or float16) in the manifest format stock TF.js reads.
 */
export async function exportTfjsLayers(spec: StudentSpec, opts: { weights?: TfjsWeightDtype } = {}): Promise<{ modelJson: string; weights: Uint8Array }> {
  await ensureBackend();
  const model = buildLayersModel(spec);
  try {
    const meta = { ...spec.metadata, classes: String(spec.classes), subclasses: String(spec.subclasses), ...(opts.weights ? { 'edge-distill.weights': opts.weights } : {}) };
    const fp32 = await serializeLayersModel(model, { userDefinedMetadata: meta });
    if (!opts.weights) return fp32;
    const json = JSON.parse(fp32.modelJson);
    const q = quantizeWeights(json.weightsManifest[0].weights, fp32.weights, opts.weights);
    json.weightsManifest[0].weights = q.specs;
    return { modelJson: JSON.stringify(json), weights: q.data };
  } finally {
    model.dispose();
  }
}
