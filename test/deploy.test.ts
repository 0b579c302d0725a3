// deploy.json: the checked-in JSON Schema is what the zod schema generates, every bundle's descriptor validates
// against it (with Ajv, independent of zod), and the model files carry the same descriptor in their metadata.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers.ts';
import { DEPLOY_SCHEMA_PATH, deploySchemaValidator, embeddedDeploy } from './deploy-helpers.ts';
import { testSpecs } from './specs.ts';
import { SCHEMAS, schemaText } from '../schemas/generate.ts';
import { deployDescriptor, type DeployContext } from '../exporters/deploy.ts';
import { EXPORTERS, writeArtifact } from '../pipeline/stages/export.ts';
import { ARTIFACT_FORMATS } from '../exporters/deploy.ts';
import { exportTfjsLayers } from '../exporters/tfjs-layers.ts';

const IMAGES: DeployContext = { rawShape: [28, 28], preprocess: { scale: 1 / 255, shift: 0 }, classNames: ['a', 'b', 'c'], teacherSha256: 'f'.repeat(64), featurizer: null, image: null };

test('schemas/deploy.schema.json is what `npm run schemas` generates from exporters/deploy.ts', () => {
  assert.equal(readFileSync(DEPLOY_SCHEMA_PATH, 'utf8'), schemaText(SCHEMAS['deploy.schema.json']!), 'out of date: run `npm run schemas` and commit the result');
});

test('a CNN bundle in every format: deploy.json validates, names its files, and matches the embedded copy', async () => {
  const dir = tempDir('deploy');
  try {
    const { cnn } = testSpecs();
    const validate = deploySchemaValidator();
    const written = [];
    for (const format of ARTIFACT_FORMATS) written.push(await writeArtifact({ dir, student: 'kd', variant: 'fp32', format, spec: cnn, deploy: IMAGES, build: EXPORTERS[format] }));
    written.push(await writeArtifact({ dir, student: 'kd', variant: 'uint8-weights', format: 'tfjs-layers', spec: cnn, deploy: IMAGES, build: (s) => exportTfjsLayers(s, { weights: 'uint8' }) }));
    assert.deepEqual(written.map((w) => w.name), ['kd.onnx', 'kd.tfjs-layers', 'kd.tfjs-graph', 'kd.tflite', 'kd.uint8-weights.tfjs-layers']);
    for (const w of written) {
      const deployPath = join(w.file, '..', 'deploy.json');
      const deploy = JSON.parse(readFileSync(deployPath, 'utf8'));
      assert.ok(validate(deploy), `${w.name}: ${JSON.stringify(validate.errors)}`);
      for (const f of deploy.artifact.files) assert.ok(existsSync(join(deployPath, '..', f)), `${w.name} ships ${f}`);
      assert.equal(deploy.artifact.variant, w.variant);
      assert.deepEqual(deploy.input.image, { height: 28, width: 28, channels: 1 });
      // A .tflite has the fixed batch it was exported with; the other formats take any.
      const batch = w.format === 'tflite' ? 1 : 'batch';
      assert.deepEqual(deploy.input.shape, [batch, 784]);
      assert.deepEqual(deploy.outputs.map((o: { name: string; shape: unknown[] }) => [o.name, o.shape]), [['probs', [batch, 3]], ['subclass_logits', [batch, 12]]]);
      assert.equal(embeddedDeploy(w.file), JSON.stringify(deploy), `${w.name}: embedded descriptor`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tabular inputs are described as feature rows, not images', () => {
  const { mlp1 } = testSpecs();
  const d = deployDescriptor({ ...mlp1, features: 20 }, { ...IMAGES, rawShape: [20], classNames: null }, { name: 'x.onnx', format: 'onnx', variant: 'fp32', model: 'model.onnx', files: ['model.onnx'], runtimes: ['onnxruntime-node'] });
  assert.equal(d.input.image, null);
  assert.match(d.input.layout, /features/);
  assert.equal(d.classes.names, null);
  assert.ok(deploySchemaValidator()(d));
});

test('the schema rejects descriptors an app could not use', () => {
  const { mlp1 } = testSpecs();
  const good = deployDescriptor(mlp1, IMAGES, { name: 'x.onnx', format: 'onnx', variant: 'fp32', model: 'model.onnx', files: ['model.onnx'], runtimes: ['onnxruntime-node'] });
  const validate = deploySchemaValidator();
  assert.ok(validate(good));
  const broken: [string, (d: Record<string, any>) => void][] = [
    ['no input name', (d) => delete d.input.name],
    ['int8 input', (d) => (d.input.dtype = 'int8')],
    ['unknown format', (d) => (d.artifact.format = 'coreml')],
    ['a batch that is neither a number nor "batch"', (d) => (d.input.shape[0] = 'any')],
    ['no outputs', (d) => (d.outputs = [])],
    ['an unknown field', (d) => (d.preprocessing.mean = 0.5)],
  ];
  for (const [why, breakIt] of broken) {
    const d = structuredClone(good) as Record<string, any>;
    breakIt(d);
    assert.equal(validate(d), false, why);
  }
});
