// `edge-distill teacher train`: for users without a teacher, train a larger one with this project on the config's
// labelled data (with the teacher's own featurizer for text) and export it to ONNX with logits and embedding
// outputs, ready to be the teacher of a distillation run.
import type { Config } from '../config.ts';
import { loadDatasets, type Split } from '../data/dataset.ts';
import { EdgeDistillError } from '../errors.ts';
import { writeAtomic } from '../util/fsutil.ts';
import { prepareMethod } from '../distill/losses.ts';
import type { Progress } from '../util/progress.ts';
import { buildStudent, parameterCount, toStudentSpec } from '../distill/architectures.ts';
import type { StudentConfig } from '../distill/schema.ts';
import { ensureBackend } from '../util/tfjs.ts';
import { accuracy, predictProbs, trainStudent } from '../distill/train.ts';
import { featurizeMany } from '../text/featurizer.js';
import { TOOL_VERSION } from '../util/versions.ts';
import type { Rows } from '../data/rows.ts';
import { exportOnnx } from '../../exporters/onnx.ts';

export const TEACHER_OUTPUTS = { logits: 'logits', embedding: 'embedding' } as const;

export interface TrainedTeacher {
  path: string;
  parameters: number;
  trainAccuracy: number;
  validationAccuracy: number;
  testAccuracy: number;
  trainMs: number;
}

export async function trainTeacher(cfg: Pick<Config, 'data' | 'teacher' | 'seed' | 'train'>, opts: { progress: Progress }): Promise<TrainedTeacher> {
  const t = cfg.teacher.train;
  const save = cfg.teacher.model;
  if (!save) throw new EdgeDistillError('E_CONFIG', 'teacher.model is not set: `teacher train` writes the trained teacher there', 'Set teacher.model to the .onnx path to write.');
  const classes = cfg.data.classNames?.length;
  if (!classes) throw new EdgeDistillError('E_CONFIG', '`teacher train` needs data.classNames to know the classes', 'List the class names in data.classNames.');
  const data = await loadDatasets(cfg.data, cfg.seed, classes);
  if (!data.train.labels || !data.validation.labels) throw new EdgeDistillError('E_CONFIG', '`teacher train` needs labelled train data', 'Give data.train labels.');
  // The teacher may see richer features than the student: its own featurizer for text.
  const featurizer = cfg.teacher.featurizer ?? null;
  const input = (s: Split): Rows | Float32Array => (featurizer && s.texts ? featurizeMany(s.texts, featurizer) : s.x);
  const F = featurizer && data.train.texts ? featurizer.buckets : data.train.features;
  const [xTrain, xVal, xTest] = [input(data.train), input(data.validation), input(data.test)];
  await ensureBackend();
  if (t.arch === 'cnn' && featurizer) throw new EdgeDistillError('E_CONFIG', 'teacher.train.arch "cnn" needs image data, and this teacher reads featurized text', 'Use teacher.train.arch "mlp" for text.');
  const arch: StudentConfig = t.arch === 'cnn' ? { arch: 'cnn', filters: t.filters, kernelSize: t.kernelSize, dense: t.hidden } : { arch: 'mlp', hidden: t.hidden };
  const featureShape = featurizer ? [F] : data.train.featureShape;
  const model = buildStudent(arch, F, featureShape, classes, cfg.seed);
  try {
    const method = prepareMethod({ name: 'label' }, { n: data.train.n, classes, embeddingDim: 0, logits: new Float32Array(0), embedding: new Float32Array(0), groups: data.train.labels, head: null, seed: cfg.seed, studentHidden: 0 });
    const res = await trainStudent(model, { x: xTrain, n: data.train.n, features: F, labels: data.train.labels, classes }, method, { steps: t.steps, batchSize: t.batchSize, learningRate: t.learningRate, engine: cfg.train.engine, threads: cfg.train.threads }, { seed: cfg.seed, progress: opts.progress, label: 'teacher' });
    const acc = (x: Rows | Float32Array, s: Split) => accuracy(predictProbs(model, x, s.n, F, classes, 1), s.labels!, classes);
    const spec = toStudentSpec(model, { features: F, featureShape, arch, classes, subclasses: 1, metadata: { 'edge-distill.role': 'teacher', 'edge-distill.version': TOOL_VERSION } });
    writeAtomic(save, exportOnnx({ ...spec, inputName: 'input' }, { producerVersion: TOOL_VERSION, teacherOutputs: TEACHER_OUTPUTS }));
    return { path: save, parameters: parameterCount(spec), trainAccuracy: acc(xTrain, data.train), validationAccuracy: acc(xVal, data.validation), testAccuracy: acc(xTest, data.test), trainMs: Math.round(res.ms) };
  } finally {
    model.dispose();
  }
}
