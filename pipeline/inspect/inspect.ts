// `edge-distill inspect`: what is inside a model file, ours or anyone's — an ONNX file, or a TF.js model.json
// (layers or graph model) with its weight files. This file finds and reads the files, checks them, and renders
// the report; each format's parsing lives in onnx.ts / tfjs-layers.ts / tfjs-graph.ts.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, resolve, sep } from 'node:path';
import { EdgeDistillError } from '../errors.ts';
import { concatBytes } from '../util/fsutil.ts';
import { humanCount } from './flops.ts';
import { inspectOnnx } from './onnx.ts';
import { inspectTflite } from './tflite.ts';
import { isTflite } from '../../exporters/tflite-read.ts';
import { inspectTfjsGraph } from './tfjs-graph.ts';
import { inspectTfjsLayers } from './tfjs-layers.ts';
import type { ModelInfo, TensorInfo } from './model-info.ts';
import { tfjsFormat, type TfjsModelJson } from './tfjs-model-json.ts';
import { modelJsonPath } from '../../exporters/tfjs-io.ts';

export type { FlopsEstimate, ModelInfo, TensorInfo } from './model-info.ts';

const WHAT_TO_PASS = 'Pass an .onnx or .tflite file, or a TF.js model.json (layers or graph model) or the folder that holds it.';

function sized(files: string[], parts: Uint8Array[]): Pick<ModelInfo, 'bytes' | 'gzipBytes' | 'files'> {
  const all = concatBytes(parts);
  return { bytes: all.length, gzipBytes: gzipSync(all).length, files };
}

/** A file that starts like JSON is treated as a model.json whatever its name (ONNX protobuf starts with 0x08). */
function looksLikeJson(bytes: Uint8Array): boolean {
  const text = Buffer.from(bytes.subarray(0, 64)).toString('utf8').trimStart();
  return text.startsWith('{');
}

export function inspectModel(path: string): ModelInfo {
  if (!existsSync(path)) throw new EdgeDistillError('E_FILE_NOT_FOUND', `model ${path} does not exist`, WHAT_TO_PASS);
  if (statSync(path).isDirectory()) {
    const json = modelJsonPath(path);
    if (!existsSync(json)) throw new EdgeDistillError('E_FILE_NOT_FOUND', `folder ${path} has no model.json`, WHAT_TO_PASS);
    return inspectTfjs(json, readFileSync(json));
  }
  const bytes = readFileSync(path);
  if (path.endsWith('.json') || looksLikeJson(bytes)) return inspectTfjs(path, bytes);
  if (isTflite(bytes) || path.endsWith('.tflite')) return { ...malformed(path, () => inspectTflite(path, bytes)), ...sized([path], [bytes]) };
  return { ...malformed(path, () => inspectOnnx(path, bytes)), ...sized([path], [bytes]) };
}

/** A file that parses but breaks the parser's assumptions (a field of the wrong type) is a format error, not a crash. */
function malformed<T>(path: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof EdgeDistillError) throw err;
    throw new EdgeDistillError('E_MODEL_FORMAT', `${path} is malformed (${(err as Error)?.message ?? String(err)})`, WHAT_TO_PASS, { cause: err });
  }
}

function inspectTfjs(jsonPath: string, bytes: Uint8Array): ModelInfo {
  let j: TfjsModelJson;
  try {
    j = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${jsonPath} is not valid JSON (${(err as Error).message})`, WHAT_TO_PASS);
  }
  const format = j && typeof j === 'object' ? tfjsFormat(j) : null;
  if (!format) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${jsonPath} is JSON but not a TF.js model (no layers-model or graph-model modelTopology)`, WHAT_TO_PASS);
  }
  const { files, parts } = readWeightFiles(jsonPath, j);
  const weightData = concatBytes(parts);
  const body = malformed(jsonPath, () => ({
    ...(format === 'tfjs-graph' ? inspectTfjsGraph(j, weightData) : inspectTfjsLayers(j)),
    parameters: (j.weightsManifest ?? []).flatMap((g) => g.weights).reduce((a, w) => a + w.shape.reduce((p, d) => p * d, 1), 0),
  }));
  const producer = [j.generatedBy, j.convertedBy && `converted by ${j.convertedBy}`].filter(Boolean).join(', ');
  return {
    path: jsonPath,
    format,
    ...body,
    ...sized([jsonPath, ...files], [bytes, ...parts]),
    ...(producer ? { producer } : {}),
  };
}

/** The weight files of a model.json, in manifest order. Paths may not leave the model's folder: inspecting a file never reads outside it. */
function readWeightFiles(jsonPath: string, j: TfjsModelJson): { files: string[]; parts: Uint8Array[] } {
  const dir = resolve(dirname(jsonPath));
  const files: string[] = [];
  const manifest = j.weightsManifest ?? [];
  if (!Array.isArray(manifest) || manifest.some((g) => !Array.isArray(g?.paths) || !Array.isArray(g.weights))) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${jsonPath} has a malformed weightsManifest (each group needs "paths" and "weights" lists)`, WHAT_TO_PASS);
  }
  for (const group of manifest) {
    for (const p of group.paths) {
      const file = resolve(dir, String(p));
      if (!file.startsWith(dir + sep)) {
        throw new EdgeDistillError('E_MODEL_FORMAT', `weight path ${JSON.stringify(p)} in ${jsonPath} leaves the model's folder`, 'Only TF.js models whose weight files sit beside (or below) model.json can be inspected.');
      }
      if (!existsSync(file)) {
        throw new EdgeDistillError('E_FILE_NOT_FOUND', `weight file ${file} named by ${jsonPath} does not exist`, 'Copy the weight files listed in weightsManifest next to model.json.');
      }
      files.push(file);
    }
  }
  return { files, parts: files.map((f) => readFileSync(f)) };
}

export function renderModelInfo(i: ModelInfo): string {
  const quant = (q: NonNullable<TensorInfo['quantization']>) => (q.scale.length === 1 ? `scale ${q.scale[0]!.toPrecision(6)}, zero point ${q.zeroPoint[0]}` : `${q.scale.length} per-channel scales`);
  const io = (v: TensorInfo) => `  ${v.name}: ${v.dtype} [${v.shape.join(', ')}]${v.quantization ? ` (${quant(v.quantization)})` : ''}`;
  const t = i.tflite;
  const f = i.flops;
  const flops = `FLOPs/example: ${f.lowerBound ? '≥ ' : ''}${humanCount(f.perExample)} (${f.perExample.toLocaleString('en-US')})`;
  const top = Object.entries(f.byOp).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([op, n]) => `${op} ${pct(n, f.perExample)}`).join(', ');
  return [
    `${i.path} (${i.format}${i.opset ? `, opset ${i.opset}` : ''}${i.producer ? `, produced by ${i.producer}` : ''})`,
    'inputs:', ...i.inputs.map(io),
    'outputs:', ...i.outputs.map(io),
    `ops: ${Object.entries(i.ops).map(([k, v]) => `${k}×${v}${t ? ` (v${t.opVersions[k]})` : ''}`).join(', ')}`,
    ...(t ? [`tflite: schema ${t.schemaVersion}, ${t.tensors} tensors, ${t.subgraphs} subgraph${t.subgraphs === 1 ? '' : 's'}${t.signatures.length ? `, signatures ${t.signatures.join(', ')}` : ''}${t.metadata.length ? `, metadata ${t.metadata.join(', ')}` : ''}`] : []),
    `parameters: ${i.parameters.toLocaleString('en-US')} (${humanCount(i.parameters)})`,
    flops + (top ? `; by op: ${top}` : ''),
    ...(f.note ? [`  ${f.note}`] : []),
    `size: ${i.bytes.toLocaleString('en-US')} bytes (${i.gzipBytes.toLocaleString('en-US')} gzipped)${i.files.length > 1 ? ` in ${i.files.length} files` : ''}`,
  ].join('\n');
}

function pct(n: number, total: number): string {
  return `${total ? ((100 * n) / total).toFixed(1) : '0'} %`;
}
