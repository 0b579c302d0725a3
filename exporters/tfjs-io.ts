// Reading and writing TF.js layers models on disk without tfjs-node (whose file:// handler needs the native
// binding): model.json + one weights file, through tf.io.withSaveHandler and a small load IOHandler.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { tf } from '../pipeline/util/tfjs.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import { concatBytes } from '../pipeline/util/fsutil.ts';

export const WEIGHTS_FILE = 'weights.bin';

/** Serialise a model to { 'model.json': text, 'weights.bin': bytes }. */
export async function serializeLayersModel(model: { save(h: tf.io.IOHandler): Promise<tf.io.SaveResult> }, extra: Record<string, unknown> = {}): Promise<{ modelJson: string; weights: Uint8Array }> {
  let out: { modelJson: string; weights: Uint8Array } | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      const modelJson = {
        format: a.format ?? 'layers-model',
        generatedBy: a.generatedBy,
        convertedBy: a.convertedBy ?? null,
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: a.weightSpecs }],
        ...extra,
      };
      const data = a.weightData as ArrayBuffer;
      out = { modelJson: JSON.stringify(modelJson), weights: new Uint8Array(data) };
      return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
    }),
  );
  return out!;
}

/** An IOHandler that loads model.json and its weight files from disk; weight paths may not leave the folder. */
export function fileLoadHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      if (!existsSync(modelJsonPath)) {
        throw new EdgeDistillError('E_FILE_NOT_FOUND', `TF.js model ${modelJsonPath} does not exist`, 'Point at the model.json of a TF.js model.');
      }
      let json: { modelTopology: object; weightsManifest: tf.io.WeightsManifestConfig; format?: string; generatedBy?: string; convertedBy?: string } & Pick<tf.io.ModelArtifacts, 'signature' | 'userDefinedMetadata'>;
      try {
        json = JSON.parse(readFileSync(modelJsonPath, 'utf8'));
      } catch (err) {
        throw new EdgeDistillError('E_MODEL_FORMAT', `${modelJsonPath} is not JSON (${(err as Error).message})`, 'Point at the model.json of a TF.js model.');
      }
      // Valid JSON is not yet a model: fuzzing found null, a missing modelTopology and manifest groups without lists.
      const manifest: unknown = json?.weightsManifest ?? [];
      if (!json || typeof json !== 'object' || !json.modelTopology || typeof json.modelTopology !== 'object'
        || !Array.isArray(manifest) || manifest.some((g) => !Array.isArray(g?.paths) || !Array.isArray(g.weights))) {
        throw new EdgeDistillError('E_MODEL_FORMAT', `${modelJsonPath} is not a TF.js model.json (it needs a modelTopology object and a weightsManifest whose groups have "paths" and "weights" lists)`, 'Point at the model.json of a TF.js model, as tf.io or edge-distill export wrote it.');
      }
      checkLayerGraph(modelJsonPath, json.modelTopology);
      const dir = resolve(dirname(modelJsonPath));
      const specs: tf.io.WeightsManifestEntry[] = [];
      const parts: Uint8Array[] = [];
      for (const group of json.weightsManifest ?? []) {
        for (const p of group.paths) {
          const file = resolve(dir, String(p));
          if (!file.startsWith(dir + sep)) {
            throw new EdgeDistillError('E_MODEL_FORMAT', `weight path ${JSON.stringify(p)} in ${modelJsonPath} leaves the model's folder`, 'Only load TF.js models whose weight files sit beside model.json.');
          }
          if (!existsSync(file) || statSync(file).isDirectory()) {
            throw new EdgeDistillError('E_FILE_NOT_FOUND', `weight file ${file} named by ${modelJsonPath} does not exist`, 'Copy the weight files listed in weightsManifest next to model.json.');
          }
          parts.push(readFileSync(file));
        }
        specs.push(...group.weights);
      }
      const weightData = concatBytes(parts);
      checkWeightBytes(modelJsonPath, specs, weightData.length);
      // signature (graph models: input/output names and order) and userDefinedMetadata pass through as TF.js's own handlers pass them.
      const { signature, userDefinedMetadata } = json;
      return { modelTopology: json.modelTopology, weightSpecs: specs, weightData: weightData.buffer, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy, signature, userDefinedMetadata };
    },
  };
}

/**
 * TF.js's functional-model loader (tfjs-layers Container.fromConfig) loops forever when an inbound node names a layer,
 * or a node of a layer, that does not exist, or when layers feed each other in a cycle (fuzzing found both): refuse such
 * a graph up front. Layers are named by their top-level "name", as that loader names them; others are left to TF.js.
 */
function checkLayerGraph(modelJsonPath: string, topology: object): void {
  const top = topology as { model_config?: { config?: unknown }; config?: unknown };
  const cfg = (top.model_config ?? top).config as { layers?: unknown } | undefined;
  if (!cfg || !Array.isArray(cfg.layers)) return;
  type Layer = { name?: unknown; inbound_nodes?: unknown };
  const layers = cfg.layers as Layer[];
  const nodes = (l: Layer): unknown[] => (Array.isArray(l?.inbound_nodes) ? l.inbound_nodes : []);
  // A layer called k times has nodes 0..k-1; an input layer (never called) has node 0.
  const nodeCount = new Map(layers.map((l) => [l?.name, Math.max(1, nodes(l).length)]));
  const inputsOf = (l: Layer): [unknown, number][] =>
    // An entry that is not a [layer, node, tensor, kwargs] list names no layer: TF.js would wait for it forever too.
    nodes(l).flatMap((node) => (Array.isArray(node) ? node : [node]).map((e): [unknown, number] => (Array.isArray(e) ? [e[0], Number(e[1] ?? 0)] : [undefined, 0])));
  const missing = (ref: [unknown, number]) => !(ref[1] < (nodeCount.get(ref[0]) ?? 0));
  const bad = layers.flatMap((l) => inputsOf(l).filter(missing).map((ref) => [l, ref] as const))[0];
  if (bad) {
    const [l, [name, node]] = bad;
    throw graphError(modelJsonPath, l, `node ${node} of ${JSON.stringify(name)}, which ${nodeCount.has(name) ? `has only ${nodeCount.get(name)}` : 'is not a layer of the model'}`);
  }
  const done = new Set<unknown>();
  let pending = layers;
  for (let progress = true; pending.length && progress; ) {
    const next = pending.filter((l) => !inputsOf(l).every(([n]) => done.has(n)));
    progress = next.length < pending.length;
    pending.filter((l) => !next.includes(l)).forEach((l) => done.add(l?.name));
    pending = next;
  }
  if (pending.length) throw graphError(modelJsonPath, pending[0]!, 'layers that feed back into it (a cycle)');
}

function graphError(modelJsonPath: string, layer: { name?: unknown }, what: string): EdgeDistillError {
  return new EdgeDistillError('E_MODEL_FORMAT', `${modelJsonPath}: layer ${JSON.stringify(layer?.name) ?? '(unnamed)'} takes its input from ${what}`, 'Export the model again; every inbound node must name an existing layer and node, and the layers must not form a cycle.');
}

/** Bytes per element as stored: a quantization dtype (uint8 / uint16 / float16) overrides the tensor's dtype. */
const STORED_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/**
 * The manifest says how many bytes its weights take; files that hold fewer (a truncated download) or more are refused
 * here with the counts, rather than by TF.js mid-load with a message about one tensor's values.
 */
function checkWeightBytes(modelJsonPath: string, specs: tf.io.WeightsManifestEntry[], have: number): void {
  let want = 0;
  for (const w of specs) {
    const dtype = w.quantization?.dtype ?? w.dtype;
    const bytes = STORED_BYTES[dtype];
    // Unknown dtypes and string tensors are left to TF.js, which names them.
    if (bytes === undefined || !Array.isArray(w.shape)) return;
    want += w.shape.reduce((a, b) => a * Number(b), 1) * bytes;
  }
  if (want !== have) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `the weight files of ${modelJsonPath} hold ${have} bytes but its weightsManifest describes ${want}`, 'The weight files are truncated or do not belong to this model.json: copy them again from where the model was exported.');
  }
}

export function modelJsonPath(dirOrFile: string): string {
  return dirOrFile.endsWith('.json') ? dirOrFile : join(dirOrFile, 'model.json');
}
