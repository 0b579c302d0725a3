// Reads back a student this tool produced, for `edge-distill export`, `quantize` and `prune`: a checkpoint folder
// from `distill` (student.json + weights.bin), or a TF.js layers model exported by edge-distill (its layers, then
// the stock-layer head `subclass_probs` + `probs` that exportTfjsLayers appends).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConcreteMethodSchema, type MethodConfig } from './schema.ts';
import { DEPLOY_METADATA_KEY } from '../../exporters/deploy.ts';
import { loadStudentCheckpoint } from './student-checkpoint.ts';
import { referencePredict, type TrainedStudent } from './trained.ts';
import { EdgeDistillError } from '../errors.ts';
import type { LayerSpec, StudentSpec } from '../student/spec.ts';
import onnxProto from 'onnx-proto';
import { layerSpecs } from './architectures.ts';
import { ensureBackend } from '../util/tfjs.ts';
import { fileLoadHandler, modelJsonPath } from '../../exporters/tfjs-io.ts';

const { onnx } = onnxProto;

const notOurs = (path: string, why: string, cause?: unknown) =>
  new EdgeDistillError('E_MODEL_FORMAT', `${path} is not a student made by edge-distill (${why})`, 'Pass a checkpoint folder from `edge-distill distill` (out/students/<method>) or a TF.js model.json that edge-distill exported; to quantize an ONNX model edge-distill did not make, run `edge-distill quantize MODEL.onnx`.', cause === undefined ? undefined : { cause });

/** A file that decodes but breaks the reader's assumptions (a missing initializer, a layer TF.js rejects) is E_MODEL_FORMAT, not a crash. */
async function orNotOurs<T>(path: string, read: () => T | Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof EdgeDistillError) throw err;
    throw notOurs(path, `malformed: ${(err as Error)?.message ?? String(err)}`, err);
  }
}

async function importTfjsStudent(jsonPath: string): Promise<TrainedStudent> {
  const json = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const meta: Record<string, string> = json.userDefinedMetadata ?? {};
  if (!meta['edge-distill.method']) throw notOurs(jsonPath, 'no edge-distill metadata in model.json');
  await ensureBackend();
  const model = await tfl.loadLayersModel(fileLoadHandler(jsonPath));
  try {
    const names = model.layers.map((l) => l.name);
    const head = names.indexOf('subclass_probs');
    if (head < 0 || names[head + 1] !== 'probs') throw notOurs(jsonPath, 'no subclass_probs/probs head');
    const reshape = model.layers.find((l) => l.getClassName() === 'Reshape');
    const target = reshape ? ((reshape.getConfig() as { targetShape: number[] }).targetShape) : null;
    const classes = Number(meta.classes);
    const subclasses = Number(meta.subclasses);
    const spec: StudentSpec = {
      inputName: 'input',
      features: model.inputs[0]!.shape[1] as number,
      ...(target ? { image: { height: target[0]!, width: target[1]!, channels: target[2]! } } : {}),
      layers: layerSpecs(model.layers.slice(0, head)),
      classes,
      subclasses,
      outputNames: { probs: 'probs', subclassLogits: 'subclass_logits' },
      metadata: Object.fromEntries(Object.entries(meta).filter(([k]) => k.startsWith('edge-distill.') && k !== 'edge-distill.weights' && k !== DEPLOY_METADATA_KEY)),
    };
    const name = meta['edge-distill.method'];
    return { name, spec, predict: referencePredict(spec), result: null, method: methodFor(name, subclasses), dispose: () => {} };
  } finally {
    model.dispose();
  }
}

/**
 * An fp32 ONNX student exported by edge-distill (exporters/onnx.ts): layer i's weights are the initializers
 * `/layers.i/kernel` (dense [in, out]; conv OIHW) and `/layers.i/bias`, with `/layers.i/Relu`, `/layers.i/MaxPool`
 * and `/layers.i/Flatten` nodes; an image input is reshaped by `/input/nhwc_shape`.
 */
function importOnnxStudent(path: string): TrainedStudent {
  let m: onnxProto.onnx.ModelProto;
  try {
    m = onnx.ModelProto.decode(readFileSync(path));
  } catch (err) {
    throw notOurs(path, `not ONNX: ${(err as Error).message}`);
  }
  const meta = Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key!, p.value!]));
  if (!meta['edge-distill.method']) throw notOurs(path, 'no edge-distill metadata');
  if (meta['edge-distill.quantization']) throw notOurs(path, 'it is quantized; pass the fp32 model.onnx it was made from');
  const g = m.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const nodes = new Map((g.node ?? []).map((n) => [n.name!, n]));
  // rawData may be a view into a larger (pooled) buffer: copy it into its own before reinterpreting.
  const own = (t: onnxProto.onnx.ITensorProto) => new Uint8Array(t.rawData!).buffer;
  const floats = (t: onnxProto.onnx.ITensorProto) => new Float32Array(own(t));
  const layers: LayerSpec[] = [];
  for (let i = 0; ; i++) {
    const p = `/layers.${i}`;
    const k = inits.get(`${p}/kernel`);
    const activation = nodes.has(`${p}/Relu`) ? 'relu' : 'linear';
    if (k) {
      const dims = (k.dims ?? []).map(Number);
      const bias = floats(inits.get(`${p}/bias`)!);
      if (dims.length === 2) layers.push({ kind: 'dense', kernel: floats(k), inputs: dims[0]!, units: dims[1]!, bias, activation });
      else {
        const [filters, inChannels, kernelSize] = dims as [number, number, number];
        const conv = nodes.get(`${p}/Conv`)!;
        const pads = (conv.attribute ?? []).find((a) => a.name === 'pads')?.ints?.map(Number) ?? [];
        layers.push({ kind: 'conv2d', kernel: oihwToHwio(floats(k), kernelSize, inChannels, filters), kernelSize, inChannels, filters, bias, padding: pads.some((v) => v > 0) ? 'same' : 'valid', activation });
      }
    } else if (nodes.has(`${p}/MaxPool`)) {
      const ks = (nodes.get(`${p}/MaxPool`)!.attribute ?? []).find((a) => a.name === 'kernel_shape')!.ints!.map(Number);
      layers.push({ kind: 'maxpool2d', poolSize: ks[0] === ks[1] ? ks[0]! : [ks[0]!, ks[1]!] });
    } else if (nodes.has(`${p}/Flatten`) || nodes.has(`${p}/Transpose`)) layers.push({ kind: 'flatten' });
    else break;
  }
  const input = g.input![0]!;
  const features = Number(input.type!.tensorType!.shape!.dim![1]!.dimValue);
  const nhwc = inits.get('/input/nhwc_shape');
  const hwc = nhwc ? Array.from(new BigInt64Array(own(nhwc)), Number).slice(1) : null;
  const classes = Number(meta['edge-distill.classes']);
  const subclasses = Number(meta['edge-distill.subclasses']);
  const spec: StudentSpec = {
    inputName: input.name!,
    features,
    ...(hwc ? { image: { height: hwc[0]!, width: hwc[1]!, channels: hwc[2]! } } : {}),
    layers,
    classes,
    subclasses,
    outputNames: { probs: 'probs', subclassLogits: 'subclass_logits' },
    metadata: Object.fromEntries(Object.entries(meta).filter(([key]) => key.startsWith('edge-distill.') && key !== 'edge-distill.classes' && key !== 'edge-distill.subclasses' && key !== DEPLOY_METADATA_KEY)),
  };
  return { name: meta['edge-distill.method'], spec, predict: referencePredict(spec), result: null, method: methodFor(meta['edge-distill.method'], subclasses), dispose: () => {} };
}

/** ONNX Conv weight [out, in, kh, kw] -> TF.js kernel [kh, kw, in, out] (the inverse of hwioToOihw). */
function oihwToHwio(w: Float32Array, k: number, inC: number, outC: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let o = 0; o < outC; o++) for (let i = 0; i < inC; i++) for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) out[((r * k + c) * inC + i) * outC + o] = w[((o * inC + i) * k + r) * k + c]!;
  return out;
}

/** The method's own options are not stored in exported models: its defaults, with the model's subclass count. */
function methodFor(name: string, subclasses: number): MethodConfig | null {
  const base = name.replace(/-\d+$/, '');
  const parsed = ConcreteMethodSchema.safeParse({ name: base, ...(base === 'lelp' ? { subclasses } : {}) });
  return parsed.success ? parsed.data : null;
}

/** A checkpoint folder, a TF.js model (model.json or its folder) or an fp32 ONNX file exported by edge-distill. */
export async function importStudent(path: string): Promise<TrainedStudent> {
  if (!existsSync(path)) throw new EdgeDistillError('E_FILE_NOT_FOUND', `student ${path} does not exist`, 'Pass a checkpoint folder from `edge-distill distill` or a TF.js model.json edge-distill exported.');
  if (statSync(path).isDirectory() && existsSync(join(path, 'student.json'))) return loadStudentCheckpoint(path);
  const json = modelJsonPath(path);
  if (existsSync(json)) return orNotOurs(json, () => importTfjsStudent(json));
  if (path.endsWith('.onnx')) return orNotOurs(path, () => importOnnxStudent(path));
  throw notOurs(path, 'neither student.json nor model.json found');
}
