// The library API: each stage as a typed function over the same validated config and the same runner the CLI uses
// (the CLI is a thin layer over these). Import it as `import { distill, exportStudents } from 'edge-distill'`.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { closeDatasets, loadDatasets } from './data/dataset.ts';
import { openTeacher } from './teacher/teacher.ts';
import { mergeShards, runShard, type ShardManifest } from './teacher/shards.ts';
import { CompressSchema, EXAMPLE_CONFIG_PATH, parseConfig, readConfigFile, type Config, type Stage } from './config.ts';
import { runPipeline, type RunResult } from './runner.ts';
import { createProgress, type Progress } from './util/progress.ts';
import { inspectModel as inspectFile } from './inspect/inspect.ts';
import type { ModelInfo } from './inspect/model-info.ts';
import { trainTeacher as trainTeacherStage, type TrainedTeacher } from './stages/teacher-train.ts';

export { EdgeDistillError, type ErrorCode } from './errors.ts';
export type { Config, Stage } from './config.ts';
export type { Manifest, RunResult } from './runner.ts';
export type { ArtifactResult, BenchmarkResult, LayerError, MicroBundleResult, Report, SourceModel, StudentResult, TargetRecommendation } from './report/types.ts';
export type { ModelInfo } from './inspect/model-info.ts';
export type { TrainedTeacher } from './stages/teacher-train.ts';
export type { ShardManifest } from './teacher/shards.ts';
export { parseShardSpec } from './teacher/shards.ts';
export { TOOL_VERSION } from './util/versions.ts';

/** What a long step reports: `step` when it starts (with its size), `tick` as it goes, `done` at its end, `note` for one-line facts. */
export type ProgressEvent =
  | { kind: 'step'; label: string; total: number }
  | { kind: 'tick'; label: string; units: number; extra?: string }
  | { kind: 'done'; label: string; summary?: string }
  | { kind: 'note'; message: string };

export interface ApiOptions {
  /** Called for every progress event; without it the API is silent. */
  onProgress?: (event: ProgressEvent) => void;
  /** A progress reporter to use instead (the CLI passes its terminal bars). */
  progress?: Progress;
}

function progressOf(opts: ApiOptions): Progress {
  if (opts.progress) return opts.progress;
  const on = opts.onProgress;
  if (!on) return createProgress({ quiet: true });
  return {
    note: (message) => on({ kind: 'note', message }),
    step(label, total) {
      on({ kind: 'step', label, total });
      return { tick: (units = 1, extra) => on({ kind: 'tick', label, units, ...(extra ? { extra } : {}) }), done: (summary) => on({ kind: 'done', label, ...(summary ? { summary } : {}) }) };
    },
  };
}

/**
 * A validated config: the pipeline.json `file` (default: the bundled Fashion-MNIST example), with `overrides` merged
 * over it key by key (objects merge, arrays and values replace). Relative data and model paths, the file's and the
 * overrides' alike, resolve against the file's folder (`out` and `cacheDir` against the working directory): pass absolute
 * paths in `overrides` to be sure. Throws EdgeDistillError (E_CONFIG, E_FILE_NOT_FOUND...) when invalid.
 */
export function loadConfig(file: string = EXAMPLE_CONFIG_PATH, overrides: Record<string, unknown> = {}): Config {
  const { raw, baseDir } = readConfigFile(resolve(file));
  const merged = merge(raw, overrides);
  return parseConfig(merged, baseDir);
}

/** A validated config from a plain object (what a pipeline.json holds); relative paths resolve against `baseDir`. */
export function resolveConfig(raw: Record<string, unknown>, baseDir: string = process.cwd()): Config {
  return parseConfig(raw, baseDir);
}

/** The stages the config names (default: distill, export and bench; compress too with a compress section). */
export function run(config: Config, opts: ApiOptions = {}): Promise<RunResult> {
  return runPipeline(config, { progress: progressOf(opts) });
}

/** Teacher pass and students only; the checkpoints land in `<out>/students/<method>/`. */
export function distill(config: Config, opts: ApiOptions = {}): Promise<RunResult> {
  return runPipeline(withStages(config, ['distill']), { progress: progressOf(opts) });
}

/** Export checkpoints (from `distill`) to every configured format, each checked for parity on its runtimes. */
export function exportStudents(config: Config, students: string[], opts: ApiOptions = {}): Promise<RunResult> {
  return runPipeline(withStages(config, ['export']), { progress: progressOf(opts), students });
}

/**
 * Quantized variants judged against compress.maxAccuracyDrop: of any ONNX model (`{ model }`: per-layer error report,
 * mixed precision, no teacher pass), or of students (`{ students }`). `bench: true` times them too (recommendedFor).
 */
export function quantize(config: Config, target: { model: string; bench?: boolean } | { students: string[] }, opts: ApiOptions = {}): Promise<RunResult> {
  const compress = config.compress ?? CompressSchema.parse({});
  const cfg = { ...config, compress: { ...compress, prune: { ...compress.prune, structured: [], magnitude: [] } } };
  if ('model' in target) return runPipeline(withStages(cfg, target.bench ? ['compress', 'bench'] : ['compress']), { progress: progressOf(opts), quantizeModel: resolve(target.model) });
  return runPipeline(withStages(cfg, ['export', 'compress']), { progress: progressOf(opts), students: target.students });
}

/**
 * Structured (compress.prune.structured) and magnitude (compress.prune.magnitude) pruning of students, fine-tuned with
 * their own loss and judged against compress.maxAccuracyDrop (50 % structured when the config names neither).
 */
export function prune(config: Config, students: string[], opts: ApiOptions = {}): Promise<RunResult> {
  const compress = config.compress ?? CompressSchema.parse({});
  const p = compress.prune.structured.length || compress.prune.magnitude.length ? compress.prune : { ...compress.prune, structured: [0.5] };
  return runPipeline(withStages({ ...config, compress: { ...compress, onnx: [], tfjs: [], tflite: [], prune: p } }, ['export', 'compress']), { progress: progressOf(opts), students });
}

/** Latency, throughput and memory of model files (ours or not) on the config's test data and bench settings. */
export function bench(config: Config, models: string[], opts: ApiOptions = {}): Promise<RunResult> {
  return runPipeline(withStages(config, ['bench']), { progress: progressOf(opts), models: models.map((m) => resolve(m)) });
}

/** Inputs, outputs, ops, parameters, FLOPs and size of any ONNX, TF.js or .tflite model. */
export function inspect(path: string): ModelInfo {
  return inspectFile(resolve(path));
}

/** Train a teacher on the config's labelled data (teacher.train) and write it to teacher.model as ONNX. */
export function trainTeacher(config: Config, opts: ApiOptions = {}): Promise<TrainedTeacher> {
  return trainTeacherStage(config, { progress: progressOf(opts) });
}

/**
 * Shard K of N of the teacher pass (`edge-distill teacher run --shard K/N --out DIR`): the teacher's outputs on the
 * K-th row range of every split of the config's data, as NPY with row ids and a manifest in `out`. A run reads a
 * folder of them with teacher.precomputed {format: "shards", dir}.
 */
export async function teacherShard(config: Config, spec: { shard: number; shards: number }, out: string, opts: ApiOptions = {}): Promise<ShardManifest> {
  const teacher = await openTeacher({ ...config.teacher, precomputed: undefined });
  const spill = config.cacheDir ?? join(resolve(out), '.cache');
  const made = !existsSync(spill);
  try {
    const data = await loadDatasets(config.data, config.seed, teacher.classes, { spillDir: spill, teacherImage: config.teacher.image ?? {} });
    try {
      return await runShard(config, teacher, data, spec, resolve(out), progressOf(opts));
    } finally {
      closeDatasets(data);
    }
  } finally {
    await teacher.session?.release();
    if (made && existsSync(spill) && readdirSync(spill).length === 0) rmSync(spill, { recursive: true, force: true });
  }
}

/** `edge-distill teacher merge`: the shards in `dir`, checked (coverage, teacher, data, sha256), written to `out` as one. */
export function mergeTeacherShards(dir: string, out: string): ShardManifest {
  return mergeShards(resolve(dir), resolve(out));
}

function withStages(config: Config, stages: Stage[]): Config {
  return { ...config, stages };
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(v) && isObject(b) ? merge(b, v) : v;
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
