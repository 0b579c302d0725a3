// The one pipeline runner: every CLI command and every config file ends here. It validates inputs before
// writing anything, stages all outputs in a hidden folder, and moves them into --out only when the whole run
// succeeded, writing manifest.json last — so a failed run leaves no artifact a user could mistake for a result.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { studentSetup, type Config } from './config.ts';
import { closeDatasets, loadDatasets, loadExtraRows, splitIds, type Datasets, type Split } from './data/dataset.ts';
import type { Rows } from './data/rows.ts';
import { checkIdCoverage } from './teacher/precomputed.ts';
import { checkShards } from './teacher/shards.ts';
import { hashRows } from './data/rows.ts';
import { EdgeDistillError } from './errors.ts';
import { sha256, writeAtomic } from './util/fsutil.ts';
import { lockOutput, removeLeftovers } from './util/lock.ts';
import { createProgress, type Progress } from './util/progress.ts';
import { renderHtml } from './report/html.ts';
import { renderMarkdown } from './report/markdown.ts';
import { withOracleShare, type ArtifactResult, type BenchmarkResult, type BenchmarkSkipped, type MicroBundleResult, type ParityGroup, type Report, type StudentResult } from './report/types.ts';
import { openTeacher, teacherFeatureShape, teacherInput, teacherInputShape, type Teacher } from './teacher/teacher.ts';
import { tfjsNodeUnavailableReason, useBackend } from './util/tfjs.ts';
import { accuracy } from './distill/train.ts';
import { teacherOutputs, transferSet } from './stages/teacher-pass.ts';
import { distillStudents } from './stages/distill.ts';
import type { Checkpoints, TransferSet } from './distill/train-one.ts';
import type { TrainedStudent } from './distill/trained.ts';
import { removeCheckpoint } from './distill/train-checkpoint.ts';
import { importStudent } from './distill/student-import.ts';
import { pruneStudent, quantizeStudent, recommend, recommendFor } from './stages/compress.ts';
import { deployContext, exportStudent, type Evaluation } from './stages/export.ts';
import { benchArtifacts } from './stages/bench.ts';
import { checkForeignData, openForeignModel, quantizeForeign, type ForeignModel } from './stages/quantize-any.ts';
import { evaluateBudgets } from './report/budgets.ts';
import { packageVersions, TOOL_NAME, TOOL_VERSION } from './util/versions.ts';
import { fineProbe, globalFine, type FineProbe } from './teacher/probe.ts';

export interface RunOptions {
  progress?: Progress;
  /** Students to export/compress instead of distilling (`export`, `quantize`, `prune`): checkpoints or our TF.js models. */
  students?: string[];
  /** Artifacts to benchmark instead of the ones this run exported (the `bench` command). */
  models?: string[];
  /** A model edge-distill did not make, to quantize and judge (`quantize MODEL.onnx`): no teacher, no distillation. */
  quantizeModel?: string;
}

export interface RunResult {
  out: string;
  report: Report;
  manifest: Manifest;
}

export interface Manifest {
  tool: { name: string; version: string };
  createdBy: string;
  config: Config;
  packages: Record<string, string>;
  tfjsBackend: string;
  /** What ran the training steps (train.engine). */
  trainEngine: 'tfjs' | 'onnxruntime';
  /** Why @tensorflow/tfjs-node was not used (it is optional; its native binding cannot install everywhere), or null. */
  tfjsNodeUnavailable: string | null;
  stages: { name: string; ms: number }[];
  files: { path: string; bytes: number; sha256: string }[];
}

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? listFiles(p, base) : [relative(base, p)];
  });
}

export async function runPipeline(cfg: Config, opts: RunOptions = {}): Promise<RunResult> {
  const progress = opts.progress ?? createProgress({ quiet: true });
  // Wall time per stage, summed over the stage's calls (the teacher pass runs per split, export per student).
  const stageMs = new Map<string, number>();
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      stageMs.set(name, (stageMs.get(name) ?? 0) + performance.now() - t0);
    }
  };

  const out = cfg.out;
  const cacheDir = cfg.cacheDir ?? join(out, '.cache');
  const outExisted = existsSync(out);
  const cacheExisted = existsSync(cacheDir);
  // Folders this run created and left empty go when it fails (the data's anonymous files may have created them).
  const removeEmptyCreated = () => {
    for (const [dir, existed] of [[cacheDir, cacheExisted], [out, outExisted]] as const) {
      if (!existed && existsSync(dir) && readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true });
    }
  };

  // 1. Everything that can be wrong with the inputs is found before anything is written. CSV, JSONL and NPY data
  // is read a block at a time into anonymous files in the cache folder, which nothing else can see.
  const { data, teacher, foreign } = await timed('validate', async () => {
    if (opts.quantizeModel !== undefined) {
      const foreign = openForeignModel(opts.quantizeModel, cfg.compress?.classOutput);
      // Labels only matter for a classifier; for any other model they are not read.
      let data: Datasets | null = null;
      let calibration: Split | null = null;
      try {
        data = await loadDatasets(cfg.data, cfg.seed, foreign.classes ?? Number.MAX_SAFE_INTEGER, { spillDir: cacheDir });
        checkForeignData(foreign, data);
        const src = cfg.compress?.calibration;
        if (src) {
          calibration = await loadExtraRows(src, cfg.data, { spillDir: cacheDir, like: data.train.image });
          checkForeignData(foreign, { ...data, test: calibration }, 'compress.calibration');
        }
      } catch (err) {
        if (data) closeDatasets(data);
        calibration?.x.close();
        removeEmptyCreated();
        throw err;
      }
      return { data, teacher: null, foreign: { model: foreign, calibration } };
    }
    const teacher = await openTeacher(cfg.teacher);
    for (const d of teacher.detected) progress.note(`teacher: detected ${d}`);
    let data: Datasets | null = null;
    try {
      data = await loadDatasets(cfg.data, cfg.seed, teacher.classes, { spillDir: cacheDir, teacherImage: cfg.teacher.image ?? {} });
      validate(cfg, teacher, data);
    } catch (err) {
      if (data) closeDatasets(data);
      await teacher.session?.release();
      removeEmptyCreated();
      throw err;
    }
    return { data, teacher, foreign: null };
  });

  const staging = join(out, `.staging-${process.pid}-${Date.now()}`);
  const opened: Rows[] = foreign?.calibration ? [foreign.calibration.x] : [];
  let unlock: () => void;
  let backend: string;
  try {
    backend = await useBackend(cfg.backend);
    unlock = lockOutput(out);
  } catch (err) {
    closeDatasets(data);
    await teacher?.session?.release();
    throw err;
  }
  try {
    for (const f of removeLeftovers(out, cacheDir)) progress.note(`removed ${f}, left by a run that did not finish`);
    mkdirSync(staging, { recursive: true });
    const checkpoints = { dir: cacheDir, used: new Set<string>() };
    const report = await timed('pipeline', () => (foreign ? executeForeign(cfg, foreign.model, foreign.calibration ?? data.train, { data, progress, staging, timed }) : execute(cfg, opts, { data, teacher: teacher!, progress, staging, cacheDir, checkpoints, opened, timed })));
    // A broken budget does not stop the run: the artifacts are fine and still written; the CLI fails the build.
    report.budgets = cfg.budgets ? evaluateBudgets(cfg.budgets, report, cfg.stages) : [];
    writeAtomic(join(staging, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    writeAtomic(join(staging, 'report.md'), renderMarkdown(report));
    writeAtomic(join(staging, 'report.html'), await renderHtml(report));
    // Commit: the old manifest goes first, so a crash mid-commit never leaves a manifest over mixed files.
    rmSync(join(out, 'manifest.json'), { force: true });
    const files = listFiles(staging).sort();
    for (const top of readdirSync(staging)) {
      rmSync(join(out, top), { recursive: true, force: true });
      renameSync(join(staging, top), join(out, top));
    }
    rmSync(staging, { recursive: true, force: true });
    const manifest: Manifest = {
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      createdBy: `${TOOL_NAME} ${TOOL_VERSION}`,
      config: cfg,
      packages: packageVersions(),
      tfjsBackend: backend,
      trainEngine: cfg.train.engine,
      tfjsNodeUnavailable: backend === 'tensorflow' ? null : tfjsNodeUnavailableReason(),
      stages: [...stageMs].map(([name, ms]) => ({ name, ms: Math.round(ms) })),
      files: files.map((f) => {
        const bytes = readFileSync(join(out, f));
        return { path: f, bytes: bytes.length, sha256: sha256(bytes) };
      }),
    };
    writeAtomic(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    // The run is complete: its training checkpoints have served their purpose (resuming a run that did not finish).
    for (const f of checkpoints.used) removeCheckpoint(f);
    return { out, report, manifest };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    unlock();
    closeDatasets(data);
    // An --out this run created and left empty goes too; one holding only the teacher cache stays for the next run.
    removeEmptyCreated();
    throw err;
  } finally {
    unlock();
    for (const r of opened) r.close();
    closeDatasets(data);
    await teacher?.session?.release();
  }
}

/** The checks of the inputs that need both the teacher and the data. */
function validate(cfg: Config, teacher: Teacher, data: Datasets): void {
  if (teacher.precomputed) {
    checkIdCoverage(teacher.precomputed, { train: splitIds(data.train), validation: splitIds(data.validation), test: splitIds(data.test) });
    const needs = cfg.methods.filter((m) => m.name === 'lelp' || m.name === 'fitnet' || m.name === 'auto').map((m) => m.name);
    if (!teacher.precomputed.embedding && cfg.stages.includes('distill') && needs.length) {
      throw new EdgeDistillError('E_CONFIG', `method(s) ${needs.join(', ')} need the teacher's embedding but the precomputed outputs have none`, 'Add the embedding (teacher.precomputed.embedding / embeddingKey), or use the kd and label methods.');
    }
  } else {
    const shape = teacherFeatureShape(cfg.teacher, data.train);
    teacherInputShape(teacher, shape, shape.reduce((a, b) => a * b, 1));
    // Shards of the teacher pass: all there, of this teacher and this data, before anything is computed.
    const pre = cfg.teacher.precomputed;
    if (pre?.format === 'shards') {
      const splits = { train: data.train, validation: data.validation, test: data.test };
      const of = <T>(f: (s: (typeof splits)['train']) => T) => ({ train: f(splits.train), validation: f(splits.validation), test: f(splits.test) });
      checkShards(pre.dir!, { teacher, dataSha256: of((s) => hashRows(teacherInput(cfg.teacher, s).x)), rows: of((s) => s.n) });
    }
  }
  if (cfg.data.classNames && cfg.data.classNames.length !== teacher.classes) {
    throw new EdgeDistillError('E_CONFIG', `data.classNames has ${cfg.data.classNames.length} names but the teacher has ${teacher.classes} classes`, 'Give one name per teacher class.');
  }
  // One class leaves nothing to tell apart: the losses are trivially 0 and subclass clustering breaks (E_INTERNAL before).
  const trainClasses = data.train.labels ? new Set(data.train.labels) : null;
  if (trainClasses && trainClasses.size === 1 && teacher.classes > 1) {
    const [only] = trainClasses;
    throw new EdgeDistillError('E_DATA_FORMAT', `the train split has only class ${only} (all ${data.train.n} rows${cfg.data.labelMap ? ' after data.labelMap' : ''}) but the teacher has ${teacher.classes} classes`, 'Give the train split examples of at least two classes; check the labels and data.labelMap.');
  }
  if (cfg.stages.includes('distill') && !data.train.labels && cfg.methods.some((m) => m.name === 'label')) {
    throw new EdgeDistillError('E_CONFIG', 'method "label" needs labels but the train split has none', 'Drop the label method or add labels to data.train.');
  }
  if (cfg.stages.includes('distill') && !data.validation.labels && cfg.methods.some((m) => m.name === 'auto')) {
    throw new EdgeDistillError('E_CONFIG', 'method "auto" ranks candidates by validation accuracy but the validation split has no labels', 'Give data.validation (or data.train, which it is carved from) labels, or name the method yourself.');
  }
}

interface Ctx {
  data: Datasets;
  teacher: Teacher;
  progress: Progress;
  staging: string;
  cacheDir: string;
  checkpoints: Checkpoints;
  /** Row stores the run opened (the teacher's outputs read from its cache file), closed when it ends. */
  opened: Rows[];
  timed: <T>(name: string, f: () => Promise<T>) => Promise<T>;
}

/** A quantize-only job on a model edge-distill did not make: its variants, judged and (with a bench stage) benchmarked. */
async function executeForeign(cfg: Config, m: ForeignModel, calibration: Split, ctx: Pick<Ctx, 'data' | 'progress' | 'staging' | 'timed'>): Promise<Report> {
  const { data, progress, timed } = ctx;
  const compress = cfg.compress!;
  const { source, artifacts } = await timed('compress', () => quantizeForeign(m, compress, data, { staging: ctx.staging, progress, calibration }));
  const recommended = recommend(artifacts, compress.maxAccuracyDrop);
  for (const r of recommended) progress.note(`recommended ${r.format}: ${r.artifact} (${r.why})`);
  let bench: { benchmarks: BenchmarkResult[]; skipped: BenchmarkSkipped[] } = { benchmarks: [], skipped: [] };
  if (cfg.stages.includes('bench')) bench = await timed('bench', () => benchArtifacts(cfg.bench, data, artifacts, { staging: ctx.staging, models: [], progress }));
  return {
    tool: { name: TOOL_NAME, version: TOOL_VERSION },
    task: { classes: m.classes ?? 0, classNames: cfg.data.classNames ?? null, train: data.train.n, validation: data.validation.n, test: data.test.n, features: data.train.features },
    source,
    teacher: null,
    students: [],
    artifacts,
    parity: [],
    recommended,
    recommendedFor: recommendFor(artifacts, bench.benchmarks),
    benchmarks: bench.benchmarks,
    benchmarksSkipped: bench.skipped,
    budgets: [],
  };
}

async function execute(cfg: Config, opts: RunOptions, ctx: Ctx): Promise<Report> {
  const { data, teacher, progress, timed } = ctx;
  const testOut = await timed('teacher', () => teacherOutputs(cfg.teacher, 'test', ctx));
  const teacherAcc = accuracy(testOut.logits, data.test.labels!, teacher.classes);
  progress.note(`teacher test accuracy ${(teacherAcc * 100).toFixed(2)} %${testOut.cached ? ' (teacher outputs from cache)' : ''}`);

  let students: TrainedStudent[] = [];
  // The teacher on the transfer set: for distilling, and for fine-tuning pruned students with the same loss.
  let transferDone: TransferSet | null = null;
  const transfer = async (): Promise<TransferSet> => {
    if (transferDone) return transferDone;
    const trainOut = await timed('teacher', () => teacherOutputs(cfg.teacher, 'train', ctx));
    const t = transferSet(trainOut, ctx, { noteHead: cfg.methods.some((m) => m.name === 'lelp' || m.name === 'auto') });
    transferDone = t;
    return t;
  };
  let fineProbeResult: FineProbe | undefined;
  if (cfg.stages.includes('distill')) {
    const t = await transfer();
    const [trFine, teFine] = [data.train.fine, data.test.fine];
    if (trFine && teFine && data.train.labels && t.embedding.n > 0 && testOut.embedding.n > 0) {
      fineProbeResult = fineProbe({ embedding: t.embedding, fine: globalFine(data.train.labels, trFine) }, { embedding: testOut.embedding, fine: globalFine(data.test.labels!, teFine) }, teacher.classes * trFine.subclasses, cfg.seed);
      progress.note(`the teacher's embedding tells the ${fineProbeResult.fineLabels} fine labels apart with a linear probe at ${(fineProbeResult.accuracy * 100).toFixed(2)} % (fitted on ${fineProbeResult.fittedOn} transfer examples, measured on the test split)`);
    }
    students = await timed('distill', () => distillStudents(studentSetup(cfg), data, t, { progress, staging: ctx.staging, checkpoints: ctx.checkpoints }));
  } else if (opts.students?.length) {
    students = [];
    for (const p of opts.students) students.push(await importStudent(p));
  }

  const artifacts: ArtifactResult[] = [];
  const parity: ParityGroup[] = [];
  const micro: MicroBundleResult[] = [];
  const collect = (e: Evaluation) => {
    artifacts.push(...e.artifacts);
    parity.push(...e.parity);
    micro.push(...(e.micro ?? []));
  };
  const deploy = deployContext(cfg.data, data, teacher.sha256);
  let recommended: Report['recommended'] = [];
  // The in-memory student's test accuracy: what every artifact of it is compared with.
  // Computed once per student: for an imported student it is a full reference forward pass over the test split.
  const baseAccuracies = new Map<TrainedStudent, number>();
  const baseAccuracy = (s: TrainedStudent) => {
    if (!baseAccuracies.has(s)) baseAccuracies.set(s, s.result?.accuracy ?? accuracy(s.predict(data.test.x, data.test.n), data.test.labels!, teacher.classes));
    return baseAccuracies.get(s)!;
  };
  if (cfg.stages.includes('export')) {
    for (const s of students) collect(await timed('export', () => exportStudent(s, cfg.export.formats, data, { staging: ctx.staging, progress, baseAccuracy: baseAccuracy(s), deploy, chromium: cfg.bench.chromium })));
  }
  const compress = cfg.stages.includes('compress') ? cfg.compress : undefined;
  if (compress) {
    for (const s of students) {
      const o = { staging: ctx.staging, progress, baseAccuracy: baseAccuracy(s), deploy, chromium: cfg.bench.chromium };
      collect(await timed('compress', () => quantizeStudent(s, cfg.export.formats, compress, data, o)));
      if (compress.prune.structured.length || compress.prune.magnitude.length) {
        const t = await transfer();
        collect(await timed('compress', () => pruneStudent(s, { formats: cfg.export.formats, train: cfg.train, seed: cfg.seed }, compress, data, t, o)));
      }
    }
    recommended = recommend(artifacts, compress.maxAccuracyDrop);
    for (const r of recommended) progress.note(`recommended ${r.format}: ${r.artifact} (${r.why})`);
  }
  let bench: { benchmarks: BenchmarkResult[]; skipped: BenchmarkSkipped[] } = { benchmarks: [], skipped: [] };
  if (cfg.stages.includes('bench')) {
    bench = await timed('bench', () => benchArtifacts(cfg.bench, data, artifacts, { staging: ctx.staging, models: opts.models ?? [], progress }));
    for (const s of bench.skipped) progress.note(`not benchmarked: ${s.artifact} on ${s.runtime} (${s.environment}): ${s.reason}`);
  }
  const studentResults: StudentResult[] = withOracleShare(students.filter((s) => s.result).map((s) => s.result!));
  return {
    tool: { name: TOOL_NAME, version: TOOL_VERSION },
    task: { classes: teacher.classes, classNames: cfg.data.classNames ?? null, train: data.train.n, validation: data.validation.n, test: data.test.n, features: data.train.features },
    teacher: { path: teacher.path, sha256: teacher.sha256, accuracy: teacherAcc, input: teacher.input, embedding: teacher.embedding, logits: teacher.logits, embeddingDim: teacher.embeddingDim, detected: teacher.detected, ...(fineProbeResult ? { fineProbe: fineProbeResult } : {}) },
    students: studentResults,
    artifacts,
    parity,
    recommended,
    recommendedFor: recommendFor(artifacts, bench.benchmarks),
    ...(micro.length ? { micro } : {}),
    benchmarks: bench.benchmarks,
    benchmarksSkipped: bench.skipped,
    // Checked by runPipeline once the report is complete.
    budgets: [],
  };
}
