// One student trained with one method and evaluated in memory: the unit the distill stage repeats per method, `auto`
// repeats per candidate and benchmarks/quality.ts per seed. Resumes from its training checkpoint when one is given.
import type { Matrix } from 'ml-matrix';
import type { MethodConfig, StudentConfig, TrainConfig } from './schema.ts';
import type { Datasets } from '../data/dataset.ts';
import type { Rows } from '../data/rows.ts';
import { EdgeDistillError } from '../errors.ts';
import { prepareMethod, type PreparedMethod } from './losses.ts';
import type { Progress } from '../util/progress.ts';
import type { StudentResult } from '../report/types.ts';
import { buildConv1dSpec, buildDscnnSpec, buildStudent, parameterCount, toStudentSpec } from './architectures.ts';
import type { Teacher } from '../teacher/teacher.ts';
import { accuracy, predictInBlocks, predictProbs, trainStudent } from './train.ts';
import { trainLayersOnOnnxruntime } from './train-onnxruntime.ts';
import type { TrainOptions, TrainResult, TrainSet } from './train-contract.ts';
import type { LayerSpec, StudentSpec } from '../student/spec.ts';
import { ensureBackend, tf } from '../util/tfjs.ts';
import { buildLayersModel } from '../../exporters/tfjs-layers.ts';
import { checkpointFile, checkpointKey } from './train-checkpoint.ts';
import type { TrainedStudent } from './trained.ts';
import { TOOL_VERSION } from '../util/versions.ts';
import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../../exporters/onnx.ts';
import { wrapOrtSession } from '../../runtimes/ort-session.ts';
import { predictAll } from '../../runtimes/measure.ts';
import { concatBytes, f32Bytes } from '../util/fsutil.ts';

/** What a student's training depends on besides its method, the data and the teacher: the config's `student`, `train`
 * and `seed`, and the hash of the whole config (configHash) recorded in the student's metadata. */
export interface StudentSetup {
  student: StudentConfig;
  train: TrainConfig;
  seed: number;
  configSha256: string;
}

/** The teacher's outputs on the transfer set plus what methods need to know about it. */
export interface TransferSet {
  logits: Float32Array;
  /** [n, embeddingDim]: in memory or in the teacher cache file (streamed data). */
  embedding: Rows;
  groups: Int32Array;
  teacher: Teacher;
  /** The teacher's final linear layer from its graph, or null (LELP then fits it by least squares). */
  head: Matrix | null;
}

/** Where training checkpoints go (the run's cache folder), and the files this run used (removed once it succeeds). */
export interface Checkpoints {
  dir: string;
  used: Set<string>;
}

/** The width of the layer before a student's output layer (where FitNet's map starts). */
function penultimateWidth(cfg: StudentConfig, features: number, featureShape: number[]): number {
  if (cfg.arch === 'mlp') return cfg.hidden.at(-1)!;
  if (cfg.dense.length) return cfg.dense.at(-1)!;
  // dscnn, conv1d: what their head's dense layer reads (pooled channels, or the flattened map).
  if (cfg.arch === 'dscnn' || cfg.arch === 'conv1d') {
    const o = { features, featureShape, classes: 1, subclasses: 1, seed: 0, metadata: {} };
    return (((cfg.arch === 'dscnn' ? buildDscnnSpec(cfg, o) : buildConv1dSpec(cfg, o)).layers.at(-1)) as Extract<LayerSpec, { kind: 'dense' }>).inputs;
  }
  throw new EdgeDistillError('E_CONFIG', 'a cnn student without dense layers has no penultimate layer for FitNet', `Give student.dense at least one size (${features} inputs).`);
}

/** A trained student before evaluation: its spec, its in-memory predict(), and the training's figures. */
type Trained = { spec: StudentSpec; predict: TrainedStudent['predict']; dispose(): void; res: TrainResult };

/** Train and evaluate one student with one method. Used by every method, by `auto` and by benchmarks/quality. */
export async function trainOne(
  setup: StudentSetup,
  m: MethodConfig,
  name: string,
  data: Datasets,
  t: TransferSet,
  opts: { progress: Progress; seed?: number; progressLabel?: string; checkpoints?: Checkpoints },
): Promise<TrainedStudent & { result: StudentResult }> {
  const seed = opts.seed ?? setup.seed;
  const { train, validation, test } = data;
  const C = t.teacher.classes;
  const F = train.features;
  const studentHidden = m.name === 'fitnet' ? penultimateWidth(setup.student, F, train.featureShape) : 0;
  const prepared = prepareMethod(m, { n: train.n, classes: C, embeddingDim: t.teacher.embeddingDim, logits: t.logits, embedding: t.embedding, groups: t.groups, head: t.head, seed, studentHidden, spillDir: data.spillDir, fine: train.fine });
  const S = prepared.subclasses;
  const labels = train.labels ?? t.groups;
  let checkpoint: { file: string; key: string } | undefined;
  if (opts.checkpoints) {
    // The teacher's outputs enter through the method's targets (and LELP's subclasses through the width).
    const key = checkpointKey({ method: m, name, label: opts.progressLabel ?? null, seed, student: setup.student, train: setup.train, featureShape: train.featureShape, teacher: t.teacher.sha256, subclasses: S, width: prepared.width }, [train.x, labels, prepared.targets ?? null]);
    checkpoint = { file: checkpointFile(opts.checkpoints.dir, key), key };
    opts.checkpoints.used.add(checkpoint.file);
  }
  const metadata = { 'edge-distill.method': name, 'edge-distill.version': TOOL_VERSION, 'edge-distill.config_sha256': setup.configSha256 };
  const trainSet = { x: train.x, n: train.n, features: F, labels, classes: C };
  const trainOpts: TrainOptions = { seed, progress: opts.progress, label: opts.progressLabel ?? name, ...(checkpoint ? { checkpoint } : {}) };
  if (setup.train.keepBest && !validation.labels) opts.progress.note(`train ${trainOpts.label}: train.keepBest needs a labelled validation split; keeping the last weights`);
  const check = setup.train.keepBest && validation.labels ? validationCheck(validation.x, validation.n, validation.labels, setup.train.threads) : null;
  let trained: Trained;
  try {
    const s = setup.student;
    trained = s.arch === 'dscnn' || s.arch === 'conv1d' ? await trainSpecStudent(s, setup, trainSet, train.featureShape, prepared, trainOpts, metadata, check) : await trainTfjsStudent(setup, trainSet, train.featureShape, prepared, trainOpts, metadata, check);
  } finally {
    prepared.targets?.close();
  }
  const { spec, predict, res: trainRes } = trained;
  const acc = accuracy(predict(test.x, test.n), test.labels!, C);
  const valAcc = validation.labels ? accuracy(predict(validation.x, validation.n), validation.labels, C) : NaN;
  const result: StudentResult = { method: name, accuracy: acc, validationAccuracy: valAcc, parameters: parameterCount(spec), subclasses: S, trainMs: Math.round(trainRes.ms), steps: trainRes.steps, chosenStep: trainRes.chosenStep, earlyStopped: trainRes.earlyStopped, finalLoss: trainRes.finalLoss, options: { ...(name !== m.name ? { method: m.name } : {}), ...prepared.notes } };
  return { name, spec, predict, result, method: m, dispose: () => trained.dispose() };
}

/** Validation accuracy of a student spec: what train.keepBest checks (the ONNX export on onnxruntime-node). */
type ValidationCheck = (spec: StudentSpec) => Promise<number>;

function validationCheck(x: Rows, n: number, labels: Int32Array, threads: number | undefined): ValidationCheck {
  return async (spec) => {
    const ortSession = await ort.InferenceSession.create(exportOnnx(spec, { producerVersion: TOOL_VERSION }), { executionProviders: ['cpu'], intraOpNumThreads: threads ?? cpus().length, interOpNumThreads: 1 });
    const session = wrapOrtSession(ortSession, (data, dims) => new ort.Tensor('float32', data, dims), 'the validation check');
    try {
      const parts = await predictAll(session, x, n, spec.features, 1024);
      return accuracy(new Float32Array(concatBytes(parts.map(f32Bytes)).buffer), labels, spec.classes);
    } finally {
      await session.dispose();
    }
  };
}

/** mlp and cnn: a TF.js model (TF.js's seeded initialisers) trained on either engine; predict() runs the model. */
async function trainTfjsStudent(setup: StudentSetup, data: TrainSet, featureShape: number[], prepared: PreparedMethod, opts: TrainOptions, metadata: Record<string, string>, check: ValidationCheck | null): Promise<Trained> {
  const { features: F, classes: C } = data;
  const S = prepared.subclasses;
  const model = buildStudent(setup.student, F, featureShape, C * S, opts.seed);
  if (check) {
    const template = toStudentSpec(model, { features: F, featureShape, arch: setup.student, classes: C, subclasses: S, metadata });
    opts = { ...opts, evaluate: (layers) => check({ ...template, layers }) };
  }
  const res = await trainStudent(model, data, prepared, setup.train, opts);
  const spec = toStudentSpec(model, { features: F, featureShape, arch: setup.student, classes: C, subclasses: S, metadata });
  return { spec, predict: (x, n) => predictProbs(model, x, n, F, C, S), dispose: () => model.dispose(), res };
}

/**
 * dscnn and conv1d: a StudentSpec with its own seeded initial weights, trained on the onnxruntime engine; predict() runs the
 * spec's TF.js layers model (batch norms with their moving statistics), the same TF.js code the layers export is.
 */
async function trainSpecStudent(cfg: Extract<StudentConfig, { arch: 'dscnn' | 'conv1d' }>, setup: StudentSetup, data: TrainSet, featureShape: number[], prepared: PreparedMethod, opts: TrainOptions, metadata: Record<string, string>, check: ValidationCheck | null): Promise<Trained> {
  if (setup.train.engine === 'tfjs') {
    throw new EdgeDistillError('E_UNSUPPORTED', `the ${cfg.arch} student trains on the onnxruntime engine only (train.engine is "tfjs")`, 'Remove train.engine (or --engine) to use the default, onnxruntime.');
  }
  const { features: F, classes: C } = data;
  const o = { features: F, featureShape, classes: C, subclasses: prepared.subclasses, seed: opts.seed, metadata };
  const initial = cfg.arch === 'dscnn' ? buildDscnnSpec(cfg, o) : buildConv1dSpec(cfg, o);
  if (check) opts = { ...opts, evaluate: (layers) => check({ ...initial, layers }) };
  const { layers, result } = await trainLayersOnOnnxruntime({ features: F, ...(initial.image ? { image: initial.image } : {}), layers: initial.layers }, data, prepared, setup.train, opts);
  const spec = { ...initial, layers };
  await ensureBackend();
  const model = buildLayersModel(spec);
  const predict = (x: Rows | Float32Array, n: number) =>
    predictInBlocks(x, n, F, C, (block, b) => {
      const p = tf.tidy(() => {
        const out = model.predict(tf.tensor2d(block, [b, F]));
        return Array.isArray(out) ? out[0]! : out;
      });
      const probs = p.dataSync() as Float32Array;
      p.dispose();
      return probs;
    }, 1024);
  return { spec, predict, dispose: () => model.dispose(), res: result };
}
