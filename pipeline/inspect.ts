// `edge-distill inspect`: what is inside a model file (ONNX or TF.js layers model.json), ours or anyone's.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { EdgeDistillError } from './errors.ts';
import { modelJsonPath } from '../exporters/tfjs-io.ts';

const { onnx } = onnxProto;

export interface ModelInfo {
  path: string;
  format: 'onnx' | 'tfjs-layers';
  inputs: { name: string; shape: (number | string)[]; dtype: string }[];
  outputs: { name: string; shape: (number | string)[]; dtype: string }[];
  ops: Record<string, number>;
  parameters: number;
  bytes: number;
  gzipBytes: number;
  producer?: string;
  opset?: number;
}

const ONNX_TYPES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64' };

function inspectOnnx(path: string, bytes: Uint8Array): ModelInfo {
  let m: InstanceType<typeof onnx.ModelProto>;
  try {
    m = onnx.ModelProto.decode(bytes);
    if (!m.graph) throw new Error('no graph');
  } catch (err) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${path} is not an ONNX model (${(err as Error).message})`, 'Pass a .onnx file, e.g. from torch.onnx.export or edge-distill export.');
  }
  const g = m.graph!;
  const initializers = g.initializer ?? [];
  const init = new Set(initializers.map((i) => i.name));
  const value = (v: onnxProto.onnx.IValueInfoProto) => ({
    name: v.name ?? '',
    shape: (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue))),
    dtype: ONNX_TYPES[v.type?.tensorType?.elemType ?? 0] ?? `type ${v.type?.tensorType?.elemType}`,
  });
  const ops: Record<string, number> = {};
  for (const n of g.node ?? []) ops[n.opType ?? '?'] = (ops[n.opType ?? '?'] ?? 0) + 1;
  return {
    path,
    format: 'onnx',
    inputs: (g.input ?? []).filter((i) => !init.has(i.name)).map(value),
    outputs: (g.output ?? []).map(value),
    ops,
    parameters: initializers.reduce((a, t) => a + (t.dims ?? []).reduce((p: number, d) => p * Number(d), 1), 0),
    bytes: bytes.length,
    gzipBytes: gzipSync(bytes).length,
    producer: `${m.producerName} ${m.producerVersion}`.trim(),
    opset: Number(m.opsetImport.find((o) => !o.domain)?.version ?? 0),
  };
}

function inspectTfjs(jsonPath: string): ModelInfo {
  const text = readFileSync(jsonPath, 'utf8');
  let j: { modelTopology?: { config?: { layers?: { class_name: string; config: { name: string; batch_input_shape?: number[] } }[]; output_layers?: unknown[][] } }; weightsManifest?: { paths: string[]; weights: { shape: number[] }[] }[] };
  try {
    j = JSON.parse(text);
  } catch (err) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${jsonPath} is not JSON (${(err as Error).message})`, 'Pass a TF.js model.json.');
  }
  const layers = j.modelTopology?.config?.layers ?? [];
  const ops: Record<string, number> = {};
  for (const l of layers) ops[l.class_name] = (ops[l.class_name] ?? 0) + 1;
  const files = (j.weightsManifest ?? []).flatMap((g) => g.paths.map((p) => join(dirname(jsonPath), p)));
  const all = Buffer.concat([Buffer.from(text), ...files.filter(existsSync).map((f) => readFileSync(f))]);
  return {
    path: jsonPath,
    format: 'tfjs-layers',
    inputs: layers.filter((l) => l.class_name === 'InputLayer').map((l) => ({ name: l.config.name, shape: (l.config.batch_input_shape ?? []).map((d) => d ?? 'batch'), dtype: 'float32' })),
    outputs: (j.modelTopology?.config?.output_layers ?? []).map((o) => ({ name: String(o[0]), shape: [], dtype: 'float32' })),
    ops,
    parameters: (j.weightsManifest ?? []).flatMap((g) => g.weights).reduce((a, w) => a + w.shape.reduce((p, d) => p * d, 1), 0),
    bytes: all.length,
    gzipBytes: gzipSync(all).length,
  };
}

export function inspectModel(path: string): ModelInfo {
  if (!existsSync(path)) throw new EdgeDistillError('E_FILE_NOT_FOUND', `model ${path} does not exist`, 'Pass an .onnx file or a TF.js model.json (or its folder).');
  if (statSync(path).isDirectory() || path.endsWith('.json')) return inspectTfjs(modelJsonPath(path));
  return inspectOnnx(path, readFileSync(path));
}

export function renderModelInfo(i: ModelInfo): string {
  const io = (v: ModelInfo['inputs'][number]) => `  ${v.name}: ${v.dtype} [${v.shape.join(', ')}]`;
  return [
    `${i.path} (${i.format}${i.opset ? `, opset ${i.opset}` : ''}${i.producer ? `, produced by ${i.producer}` : ''})`,
    'inputs:', ...i.inputs.map(io),
    'outputs:', ...i.outputs.map(io),
    `ops: ${Object.entries(i.ops).map(([k, v]) => `${k}×${v}`).join(', ')}`,
    `parameters: ${i.parameters.toLocaleString('en-US')}`,
    `size: ${i.bytes.toLocaleString('en-US')} bytes (${i.gzipBytes.toLocaleString('en-US')} gzipped)`,
  ].join('\n');
}
