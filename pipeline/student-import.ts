// Reads back a student this tool produced, for `edge-distill export`, `quantize` and `prune`: a checkpoint folder
// from `distill` (student.json + weights.bin), or a TF.js layers model exported by edge-distill (its layers, then
// the stock-layer head `subclass_probs` + `probs` that exportTfjsLayers appends).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConcreteMethodSchema, type MethodConfig } from './config.ts';
import { loadStudentCheckpoint, type TrainedStudent } from './distill.ts';
import { EdgeDistillError } from './errors.ts';
import type { StudentSpec } from './student-spec.ts';
import { layerSpecs } from './students.ts';
import { fileLoadHandler, modelJsonPath } from '../exporters/tfjs-io.ts';
import { forwardSpec } from '../exporters/reference-forward.ts';

const notOurs = (path: string, why: string) =>
  new EdgeDistillError('E_MODEL_FORMAT', `${path} is not a student made by edge-distill (${why})`, 'Pass a checkpoint folder from `edge-distill distill` (out/students/<method>) or a TF.js model.json that edge-distill exported.');

async function importTfjsStudent(jsonPath: string): Promise<TrainedStudent> {
  const json = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const meta: Record<string, string> = json.userDefinedMetadata ?? {};
  if (!meta['edge-distill.method']) throw notOurs(jsonPath, 'no edge-distill metadata in model.json');
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
      metadata: Object.fromEntries(Object.entries(meta).filter(([k]) => k.startsWith('edge-distill.') && k !== 'edge-distill.weights')),
    };
    const name = meta['edge-distill.method'];
    // The method's own options are not in model.json: its defaults, with the subclass count the model has.
    const base = name.replace(/-\d+$/, '');
    const parsed = ConcreteMethodSchema.safeParse({ name: base, ...(base === 'lelp' ? { subclasses } : {}) });
    const method: MethodConfig | null = parsed.success ? parsed.data : null;
    return { name, spec, predict: (x, n) => forwardSpec(spec, x, n).probs, result: null, method, dispose: () => {} };
  } finally {
    model.dispose();
  }
}

/** A checkpoint folder, or a TF.js model (model.json or its folder) exported by edge-distill. */
export async function importStudent(path: string): Promise<TrainedStudent> {
  if (!existsSync(path)) throw new EdgeDistillError('E_FILE_NOT_FOUND', `student ${path} does not exist`, 'Pass a checkpoint folder from `edge-distill distill` or a TF.js model.json edge-distill exported.');
  if (statSync(path).isDirectory() && existsSync(join(path, 'student.json'))) return loadStudentCheckpoint(path);
  const json = modelJsonPath(path);
  if (existsSync(json)) return importTfjsStudent(json);
  if (path.endsWith('.onnx')) throw notOurs(path, 'ONNX students cannot be read back yet');
  throw notOurs(path, 'neither student.json nor model.json found');
}
