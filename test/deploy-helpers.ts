// Reading deploy descriptors back for tests: the checked-in JSON Schema compiled by Ajv (an implementation
// independent of the zod schema that wrote them), and the copy embedded in a model's own metadata.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import pkg from 'onnx-proto';
import { DEPLOY_METADATA_KEY, type Deploy } from '../exporters/deploy.ts';
import { ROOT } from './helpers.ts';
import { readTflite } from '../exporters/tflite-read.ts';

const { onnx } = pkg;

export const DEPLOY_SCHEMA_PATH = join(ROOT, 'schemas', 'deploy.schema.json');

export function deploySchemaValidator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  return ajv.compile<Deploy>(JSON.parse(readFileSync(DEPLOY_SCHEMA_PATH, 'utf8')));
}

/** The deploy JSON a model carries: ONNX metadata_props, a model.json's userDefinedMetadata, or a .tflite's "deploy.json" metadata. */
export function embeddedDeploy(modelPath: string): string | undefined {
  if (modelPath.endsWith('.json')) return JSON.parse(readFileSync(modelPath, 'utf8')).userDefinedMetadata?.[DEPLOY_METADATA_KEY];
  if (modelPath.endsWith('.tflite')) {
    const bytes = readTflite(readFileSync(modelPath)).metadata['deploy.json'];
    return bytes ? Buffer.from(bytes).toString('utf8') : undefined;
  }
  const m = onnx.ModelProto.decode(readFileSync(modelPath));
  return m.metadataProps.find((p) => p.key === DEPLOY_METADATA_KEY)?.value ?? undefined;
}
