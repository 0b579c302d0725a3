// Exports a StudentSpec as a TF.js graph model (model.json with format "graph-model" + weights.bin), written
// straight from TypeScript with no Python converter, that stock loadGraphModel (@tensorflow/tfjs-converter) runs.
// Owns the lowering of the spec's layers to GraphDef ops; the class head means the same as the layers export:
// softmax over the C*S logits, then a 0/1 block-sum MatMul to C class probabilities.
import { convGeometry, kernelDims, poolDims, type Activation, type LayerSpec, type StudentSpec } from '../pipeline/student/spec.ts';
import { batchNormAffine, foldBatchNorms } from '../pipeline/student/fold.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import { TOOL_NAME, TOOL_VERSION } from '../pipeline/util/versions.ts';
import { WEIGHTS_FILE } from './tfjs-io.ts';
import { quantizeWeights, type TfjsWeightDtype } from './tfjs-quantize.ts';
import { attr, FLOAT, GRAPH_DEF_VERSIONS, GraphDefBuilder, shapeJson, type AttrValueJson, type GraphModelJson, type TensorInfoJson } from './tfjs-graphdef.ts';

/** Prefix of every internal node, so that the spec's input and output names cannot collide with them. */
const INTERNAL = 'student/';

type Shape = { kind: 'flat'; size: number } | { kind: 'image'; height: number; width: number; channels: number };
interface Running {
  tensor: string;
  shape: Shape;
}

/**
 * model.json text and weights.bin bytes of the TF.js graph model: input `spec.inputName` [batch, features];
 * outputs `outputNames.probs` [batch, C] and, when S > 1, `outputNames.subclassLogits` [batch, C*S]. With
 * `weights`, float weights are stored quantized like exportTfjsLayers does. Same spec and options, same bytes.
 */
export async function exportTfjsGraph(spec: StudentSpec, opts: { weights?: TfjsWeightDtype } = {}): Promise<{ modelJson: string; weights: Uint8Array }> {
  checkNames(spec);
  const g = new GraphDefBuilder();
  let x = input(g, spec);
  const outputs: Running[] = [];
  foldBatchNorms(spec).layers.forEach((layer, i) => {
    x = emitLayer(g, layer, `${INTERNAL}${layer.kind}_${i}`, x, outputs);
    outputs.push(x);
  });
  const heads = emitHead(g, spec, x);
  const fp32 = g.weights();
  const { specs, data } = opts.weights ? quantizeWeights(fp32.specs, fp32.data, opts.weights) : fp32;
  const info = (name: string, dims: number[]): TensorInfoJson => ({ name: `${name}:0`, dtype: 'DT_FLOAT', tensorShape: shapeJson(dims) });
  const json: GraphModelJson = {
    format: 'graph-model',
    generatedBy: `${TOOL_NAME} ${TOOL_VERSION}`,
    convertedBy: `${TOOL_NAME} ${TOOL_VERSION}`,
    modelTopology: { node: g.nodes, library: {}, versions: { ...GRAPH_DEF_VERSIONS } },
    signature: {
      inputs: { [spec.inputName]: info(spec.inputName, [-1, spec.features]) },
      outputs: Object.fromEntries(heads.map(([name, width]) => [name, info(name, [-1, width])])),
    },
    // The same keys as the layers export, so tools read both formats' metadata alike.
    userDefinedMetadata: {
      ...spec.metadata,
      classes: String(spec.classes),
      subclasses: String(spec.subclasses),
      ...(opts.weights ? { 'edge-distill.weights': opts.weights } : {}),
    },
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
  };
  return { modelJson: JSON.stringify(json), weights: data };
}

function input(g: GraphDefBuilder, spec: StudentSpec): Running {
  if (!Number.isSafeInteger(spec.features) || spec.features < 1) throw specError(`features must be a positive integer, got ${spec.features}`);
  const x = g.placeholder(spec.inputName, [-1, spec.features]);
  if (!spec.image) return { tensor: x, shape: { kind: 'flat', size: spec.features } };
  const { height, width, channels } = spec.image;
  if (height * width * channels !== spec.features) {
    throw specError(`image ${height}x${width}x${channels} has ${height * width * channels} values, features is ${spec.features}`);
  }
  return { tensor: reshape(g, `${INTERNAL}input`, x, [-1, height, width, channels]), shape: { kind: 'image', height, width, channels } };
}

/** The TF op of an activation, as _Fused* ops name it. */
const TF_ACTIVATION: Record<Exclude<Activation, 'linear'>, string> = { relu: 'Relu', relu6: 'Relu6' };

/**
 * One layer. Dense and conv carry bias and activation fused, the form TF's grappler (and so TF.js) uses.
 * `earlier`: the outputs of the layers before it (an add reads one of them).
 */
function emitLayer(g: GraphDefBuilder, layer: LayerSpec, p: string, x: Running, earlier: readonly Running[]): Running {
  const fused = (activation: Activation): Record<string, AttrValueJson> => ({
    num_args: attr.int(1),
    fused_ops: attr.strs(activation === 'linear' ? ['BiasAdd'] : ['BiasAdd', TF_ACTIVATION[activation]]),
    epsilon: attr.float(0),
  });
  const activate = (t: string, activation: Activation) => (activation === 'linear' ? t : g.node(`${p}/${TF_ACTIVATION[activation]}`, TF_ACTIVATION[activation], [t], { ...FLOAT }));
  switch (layer.kind) {
    case 'dense': {
      if (x.shape.kind !== 'flat') throw specError(`${p} dense needs a flat input; add a flatten layer before it`);
      if (x.shape.size !== layer.inputs) throw specError(`${p} dense expects ${layer.inputs} inputs, gets ${x.shape.size}`);
      checkWeights(p, layer.kernel.length, layer.inputs * layer.units, layer.bias.length, layer.units);
      const w = g.constFloat(`${p}/kernel`, [layer.inputs, layer.units], layer.kernel);
      const b = g.constFloat(`${p}/bias`, [layer.units], layer.bias);
      const attrs = { ...FLOAT, transpose_a: attr.bool(false), transpose_b: attr.bool(false), ...fused(layer.activation) };
      return { tensor: g.node(`${p}/MatMul`, '_FusedMatMul', [x.tensor, w, b], attrs), shape: { kind: 'flat', size: layer.units } };
    }
    case 'conv2d': {
      if (x.shape.kind !== 'image') throw specError(`${p} conv2d needs an image input (spec.image, before any flatten)`);
      if (x.shape.channels !== layer.inChannels) throw specError(`${p} conv2d expects ${layer.inChannels} channels, gets ${x.shape.channels}`);
      const [kh, kw] = kernelDims(layer);
      const s = layer.strides ?? 1;
      const groups = layer.groups ?? 1;
      const depthwise = groups > 1 && groups === layer.inChannels && groups === layer.filters;
      if (groups > 1 && !depthwise) throw specError(`${p} conv2d with ${groups} groups: TF has grouped convolutions only as depthwise ones`);
      checkWeights(p, layer.kernel.length, kh * kw * (layer.inChannels / groups) * layer.filters, layer.bias.length, layer.filters);
      const same = layer.padding === 'same';
      const { height, width } = convGeometry(layer, x.shape.height, x.shape.width);
      if (height < 1 || width < 1) throw specError(`${p} conv2d ${kh}x${kw} 'valid' does not fit a ${x.shape.height}x${x.shape.width} map`);
      // The HWIO kernel is TF's own filter layout (a depthwise one its [kh, kw, channels, 1]), stored as is; TF
      // 'SAME' is TF.js 'same'.
      const w = g.constFloat(`${p}/kernel`, depthwise ? [kh, kw, layer.inChannels, 1] : [kh, kw, layer.inChannels, layer.filters], layer.kernel);
      const b = g.constFloat(`${p}/bias`, [layer.filters], layer.bias);
      const attrs = {
        ...FLOAT,
        strides: attr.ints([1, s, s, 1]),
        padding: attr.str(same ? 'SAME' : 'VALID'),
        data_format: attr.str('NHWC'),
        dilations: attr.ints([1, 1, 1, 1]),
        explicit_paddings: { list: {} },
        ...(depthwise ? {} : { use_cudnn_on_gpu: attr.bool(true) }),
        ...fused(layer.activation),
      };
      const op = depthwise ? ['DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative'] : ['Conv2D', '_FusedConv2D'];
      return { tensor: g.node(`${p}/${op[0]}`, op[1]!, [x.tensor, w, b], attrs), shape: { kind: 'image', height, width, channels: layer.filters } };
    }
    case 'batchNorm': {
      // Left unfolded (foldBatchNorms folds it into a conv or dense before it where it can): x * scale + shift.
      const channels = x.shape.kind === 'image' ? x.shape.channels : x.shape.size;
      if (channels !== layer.channels) throw specError(`${p} batchNorm expects ${layer.channels} channels, gets ${channels}`);
      const { scale, shift } = batchNormAffine(layer);
      const scaled = g.node(`${p}/Mul`, 'Mul', [x.tensor, g.constFloat(`${p}/scale`, [layer.channels], scale)], { ...FLOAT });
      const y = g.node(`${p}/AddV2`, 'AddV2', [scaled, g.constFloat(`${p}/shift`, [layer.channels], shift)], { ...FLOAT });
      return { tensor: activate(y, layer.activation), shape: x.shape };
    }
    case 'globalAvgPool': {
      if (x.shape.kind !== 'image') throw specError(`${p} globalAvgPool needs an image input`);
      const axes = g.constInt(`${p}/axes`, [2], [1, 2]);
      const y = g.node(`${p}/Mean`, 'Mean', [x.tensor, axes], { ...FLOAT, Tidx: attr.dtype('DT_INT32'), keep_dims: attr.bool(false) });
      return { tensor: y, shape: { kind: 'flat', size: x.shape.channels } };
    }
    case 'add': {
      const from = earlier[layer.from];
      if (!from) throw specError(`${p} add refers to layer ${layer.from}, which does not come before it`);
      if (JSON.stringify(from.shape) !== JSON.stringify(x.shape)) throw specError(`${p} add: layer ${layer.from}'s output is not the shape it is added to`);
      return { tensor: g.node(`${p}/AddV2`, 'AddV2', [x.tensor, from.tensor], { ...FLOAT }), shape: x.shape };
    }
    case 'maxpool2d': {
      const [ph, pw] = poolDims(layer);
      if (x.shape.kind !== 'image') throw specError(`${p} maxpool2d needs an image input`);
      if (![ph, pw].every(Number.isSafeInteger) || ph < 1 || pw < 1 || ph > x.shape.height || pw > x.shape.width) {
        throw specError(`${p} maxpool2d poolSize ${JSON.stringify(layer.poolSize)} does not fit a ${x.shape.height}x${x.shape.width} map`);
      }
      // TF.js maxPooling2d defaults: strides = poolSize, 'valid' padding (floor).
      const attrs = { ...FLOAT, ksize: attr.ints([1, ph, pw, 1]), strides: attr.ints([1, ph, pw, 1]), padding: attr.str('VALID'), data_format: attr.str('NHWC') };
      const height = Math.floor((x.shape.height - ph) / ph) + 1;
      const width = Math.floor((x.shape.width - pw) / pw) + 1;
      return { tensor: g.node(`${p}/MaxPool`, 'MaxPool', [x.tensor], attrs), shape: { ...x.shape, height, width } };
    }
    case 'flatten': {
      if (x.shape.kind === 'flat') return x; // TF.js Flatten of [batch, n] is the identity.
      // A row-major NHWC reshape is TF.js flatten's H, W, C order, which the next dense kernel's rows follow.
      const size = x.shape.height * x.shape.width * x.shape.channels;
      return { tensor: reshape(g, p, x.tensor, [-1, size]), shape: { kind: 'flat', size } };
    }
  }
}

/** Softmax, the block-sum MatMul (skipped when S = 1: the block matrix is the identity), named outputs. */
function emitHead(g: GraphDefBuilder, spec: StudentSpec, x: Running): [string, number][] {
  const { classes: C, subclasses: S, outputNames } = spec;
  if (!Number.isSafeInteger(C) || C < 1 || !Number.isSafeInteger(S) || S < 1) {
    throw specError(`classes and subclasses must be positive integers, got ${C} and ${S}`);
  }
  if (x.shape.kind !== 'flat' || x.shape.size !== C * S) {
    const got = x.shape.kind === 'flat' ? `${x.shape.size} values` : 'an image (missing flatten?)';
    throw specError(`the last layer must emit classes*subclasses = ${C * S} logits, it emits ${got}`);
  }
  const p = `${INTERNAL}head`;
  let probs = g.node(`${p}/Softmax`, 'Softmax', [x.tensor], { ...FLOAT });
  if (S > 1) {
    const block = new Float32Array(C * S * C);
    for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) block[(c * S + s) * C + c] = 1;
    const k = g.constFloat(`${p}/class_blocks`, [C * S, C], block);
    probs = g.node(`${p}/MatMul`, 'MatMul', [probs, k], { ...FLOAT, transpose_a: attr.bool(false), transpose_b: attr.bool(false) });
  }
  // Identity nodes give the outputs the spec's names, whatever op computes them.
  g.node(outputNames.probs, 'Identity', [probs], { ...FLOAT });
  if (S === 1) return [[outputNames.probs, C]];
  g.node(outputNames.subclassLogits, 'Identity', [x.tensor], { ...FLOAT });
  return [[outputNames.probs, C], [outputNames.subclassLogits, C * S]];
}

function reshape(g: GraphDefBuilder, p: string, x: string, dims: number[]): string {
  const shape = g.constInt(`${p}/shape`, [dims.length], dims);
  return g.node(`${p}/Reshape`, 'Reshape', [x, shape], { ...FLOAT, Tshape: attr.dtype('DT_INT32') });
}

function checkNames(spec: StudentSpec): void {
  const names = [spec.inputName, spec.outputNames.probs, ...(spec.subclasses > 1 ? [spec.outputNames.subclassLogits] : [])];
  for (const n of names) {
    // TF node names: no ':' (it separates the output index) and not our internal namespace.
    if (!n || n.includes(':') || n.startsWith(INTERNAL)) {
      throw new EdgeDistillError('E_CONFIG', `${JSON.stringify(n)} cannot name a TF.js graph input or output`, `Use a non-empty name without ':' that does not start with "${INTERNAL}".`);
    }
  }
  if (new Set(names).size !== names.length) {
    throw new EdgeDistillError('E_CONFIG', `the input and output names must differ, got ${names.map((n) => JSON.stringify(n)).join(', ')}`, 'Give the input and each output its own name.');
  }
}

function checkWeights(p: string, kernelLen: number, kernelWant: number, biasLen: number, biasWant: number): void {
  if (kernelLen !== kernelWant) throw specError(`${p} kernel has ${kernelLen} values, its shape needs ${kernelWant}`);
  if (biasLen !== biasWant) throw specError(`${p} bias has ${biasLen} values, its shape needs ${biasWant}`);
}

function specError(message: string): EdgeDistillError {
  return new EdgeDistillError(
    'E_SHAPE_MISMATCH',
    `Cannot export the student to a TF.js graph model: ${message}`,
    'The StudentSpec is inconsistent; this is a bug in the code that built it from the trained model, please report it.',
  );
}
