// Reading and writing TF.js layers models on disk without tfjs-node (whose file:// handler needs the native
// binding): model.json + one weights file, through tf.io.withSaveHandler and a small load IOHandler.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { tf } from '../pipeline/tfjs.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import { concatBytes } from '../pipeline/fsutil.ts';

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
      const dir = resolve(dirname(modelJsonPath));
      const specs: tf.io.WeightsManifestEntry[] = [];
      const parts: Uint8Array[] = [];
      for (const group of json.weightsManifest ?? []) {
        for (const p of group.paths) {
          const file = resolve(dir, p);
          if (!file.startsWith(dir + sep)) {
            throw new EdgeDistillError('E_MODEL_FORMAT', `weight path ${JSON.stringify(p)} in ${modelJsonPath} leaves the model's folder`, 'Only load TF.js models whose weight files sit beside model.json.');
          }
          parts.push(readFileSync(file));
        }
        specs.push(...group.weights);
      }
      const weightData = concatBytes(parts);
      // signature (graph models: input/output names and order) and userDefinedMetadata pass through as TF.js's own handlers pass them.
      const { signature, userDefinedMetadata } = json;
      return { modelTopology: json.modelTopology, weightSpecs: specs, weightData: weightData.buffer, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy, signature, userDefinedMetadata };
    },
  };
}

export function modelJsonPath(dirOrFile: string): string {
  return dirOrFile.endsWith('.json') ? dirOrFile : join(dirOrFile, 'model.json');
}
