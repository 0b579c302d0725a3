// Students read back from what edge-distill exported (for `quantize` / `prune` on an existing model): an fp32
// ONNX file or a TF.js model.json must give back the same student — re-exporting it reproduces the ONNX bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { distillExample, tempDir } from './helpers.ts';
import { loadStudentCheckpoint } from '../pipeline/distill/student-checkpoint.ts';
import { importStudent } from '../pipeline/distill/student-import.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { exportTfjsLayers } from '../exporters/tfjs-layers.ts';
import { exportQuantizedOnnx } from '../exporters/onnx-quantize.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';

const OPTS = { producerVersion: 'test' };

for (const [label, args, method] of [
  ['LELP MLP (two outputs)', ['--steps', '50', '--methods', 'lelp', '--hidden', '16'], 'lelp'],
  ['CNN', ['--arch', 'cnn', '--steps', '5', '--methods', 'label'], 'label'],
] as const) {
  test(`${label}: ONNX and TF.js exports read back to the same student`, async () => {
    const out = distillExample('import', [...args]);
    const original = loadStudentCheckpoint(join(out, 'students', method));
    const onnxBytes = exportOnnx(original.spec, OPTS);
    const dir = tempDir('import-files');
    writeFileSync(join(dir, 'model.onnx'), onnxBytes);
    const tfjs = await exportTfjsLayers(original.spec);
    mkdirSync(join(dir, 'tfjs'));
    writeFileSync(join(dir, 'tfjs', 'model.json'), tfjs.modelJson);
    writeFileSync(join(dir, 'tfjs', 'weights.bin'), tfjs.weights);
    for (const path of [join(dir, 'model.onnx'), join(dir, 'tfjs', 'model.json'), join(dir, 'tfjs')]) {
      const back = await importStudent(path);
      assert.equal(back.name, method);
      assert.equal(back.method?.name, method);
      if (method === 'lelp') assert.equal((back.method as { subclasses: number }).subclasses, 10); // LELP's default S
      assert.deepEqual(Buffer.from(exportOnnx(back.spec, OPTS)), Buffer.from(onnxBytes), `${path}: re-export differs`);
    }
    // A quantized model cannot be read back as the student it came from.
    const q = join(dir, 'model.int8.onnx');
    writeFileSync(q, exportQuantizedOnnx(original.spec, { kind: 'dynamic', perChannel: false, reduceRange: true }, OPTS));
    await assert.rejects(importStudent(q), (e: unknown) => e instanceof EdgeDistillError && e.code === 'E_MODEL_FORMAT' && /quantized/.test(e.message));
  });
}
