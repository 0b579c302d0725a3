// The teacher of the quality benchmark's second task, trained with this project: an MLP 784-256-128-3 on every
// Fashion-MNIST training image of pullover / coat / shirt, exported to ONNX with its logits and its 128-d
// penultimate layer as outputs. Built once into the benchmark cache (deterministic: fixed seed).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../pipeline/config.ts';
import { loadDatasets } from '../pipeline/data/dataset.ts';
import { writeAtomic } from '../pipeline/util/fsutil.ts';
import { prepareMethod } from '../pipeline/distill/losses.ts';
import { createProgress } from '../pipeline/util/progress.ts';
import { buildStudent, toStudentSpec } from '../pipeline/distill/architectures.ts';
import { accuracy, predictProbs, trainStudent } from '../pipeline/distill/train.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { TOOL_VERSION } from '../pipeline/util/versions.ts';

const FMNIST = '/usr/share/datasets/fashion-mnist';
const HIDDEN = [256, 128];

export async function ensureThreeClassTeacher(cacheDir: string): Promise<string> {
  const file = join(cacheDir, 'fmnist-3-teacher.onnx');
  if (existsSync(file)) return file;
  const idx = (s: string) => ({ format: 'idx' as const, features: `${FMNIST}/${s}-images-idx3-ubyte.gz`, labels: `${FMNIST}/${s}-labels-idx1-ubyte.gz` });
  const cfg = parseConfig(
    {
      data: { train: idx('train'), test: idx('t10k'), validationFraction: 0.05, labelMap: [null, null, 0, null, 1, null, 2, null, null, null], preprocess: { scale: 1 / 255 } },
      teacher: { model: file },
      student: { arch: 'mlp', hidden: HIDDEN },
      train: { steps: 4000 },
      seed: 1234,
    },
    '/',
  );
  const data = await loadDatasets(cfg.data, cfg.seed, 3);
  const { train, test } = data;
  const method = prepareMethod({ name: 'label' }, { n: train.n, classes: 3, embeddingDim: 0, logits: new Float32Array(), embedding: new Float32Array(), groups: train.labels!, head: null, seed: cfg.seed, studentHidden: 0 });
  const model = buildStudent(cfg.student, train.features, train.featureShape, 3, cfg.seed);
  await trainStudent(model, { x: train.x, n: train.n, features: train.features, labels: train.labels!, classes: 3 }, method, cfg.train, { seed: cfg.seed, progress: createProgress(), label: 'fmnist-3 teacher' });
  const acc = accuracy(predictProbs(model, test.x, test.n, test.features, 3, 1), test.labels!, 3);
  console.log(`fmnist-3 teacher (MLP 784-${HIDDEN.join('-')}-3, ${train.n} images): test accuracy ${(acc * 100).toFixed(2)} %`);
  const spec = toStudentSpec(model, { features: train.features, featureShape: train.featureShape, arch: cfg.student, classes: 3, subclasses: 1, metadata: { 'edge-distill.role': 'teacher' } });
  model.dispose();
  writeAtomic(file, exportOnnx({ ...spec, inputName: 'image' }, { producerVersion: TOOL_VERSION, teacherOutputs: { logits: 'logits', embedding: 'embedding' } }));
  return file;
}
