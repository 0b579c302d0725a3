// The one validated run config. The CLI's flags and a `--config pipeline.json` both compile to it, and the
// runner (pipeline/runner.ts) executes nothing else. Each section's schema, with its field docs (the config format's
// reference), lives beside the code that reads it and is composed here: `data` in data/schema.ts, `teacher` in
// teacher/schema.ts, `student`, `methods` and `train` in distill/schema.ts, `budgets` in report/budgets.ts; `bench`,
// `compress` and the run-wide fields are below. Stages receive their own section, not the whole Config.
import { z } from 'zod';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PACKAGE_ROOT } from './util/package-root.ts';
import { EdgeDistillError } from './errors.ts';
import { sha256 } from './util/fsutil.ts';
import { DataSchema, SourceSchema, type DataSource } from './data/schema.ts';
import { TeacherSchema } from './teacher/schema.ts';
import { MethodSchema, StudentSchema, TrainSchema } from './distill/schema.ts';
import type { StudentSetup } from './distill/train-one.ts';
import { ARTIFACT_FORMATS, DEFAULT_FORMATS } from '../exporters/deploy.ts';
import { BudgetsSchema } from './report/budgets.ts';
import { BUILTIN_PROFILES } from '../runtimes/profiles.ts';
import { RUNTIMES } from '../runtimes/registry.ts';

/** Runtimes inside a page in headless Chromium. tfjs-webgl runs where the headless browser offers WebGL. */
export const BROWSER_RUNTIMES = ['onnxruntime-web', 'tfjs-wasm', 'tfjs-webgl', 'litert-wasm'] as const;
export const ENVIRONMENTS = ['node', 'chromium'] as const;

export const ProfileSchema = z.strictObject({
  description: z.string().default('user-defined profile'),
  threads: z.number().int().positive(),
  /** CPU slowdown in Chromium (DevTools Emulation.setCPUThrottlingRate); Node cannot throttle and ignores it. */
  cpuThrottle: z.number().min(1).default(1),
  memoryMB: z.number().positive().nullable().default(null),
});

export const BenchSchema = z.strictObject({
  /** Node runtimes; each artifact is measured on every listed runtime that loads its format. */
  runtimes: z.array(z.enum(RUNTIMES)).min(1).default(['onnxruntime-node', 'onnxruntime-web', 'tfjs-wasm', 'tfjs-node', 'tfjs-graph-wasm']),
  /** Where to measure: Node, and/or a page in headless Chromium (Debian's chromium, driven by playwright-core). */
  environments: z.array(z.enum(ENVIRONMENTS)).min(1).default(['node']),
  browserRuntimes: z.array(z.enum(BROWSER_RUNTIMES)).min(1).default([...BROWSER_RUNTIMES]),
  /** The Chromium binary; nothing is ever downloaded. */
  chromium: z.string().min(1).default('/usr/bin/chromium'),
  /** Device profiles (runtimes/profiles.ts: desktop, phone, watch, iot) or names from customProfiles. */
  profiles: z.array(z.string().min(1)).min(1).default(['desktop']),
  customProfiles: z.record(z.string(), ProfileSchema).default({}),
  /** Batch sizes; latency and throughput are reported for each. */
  batches: z.array(z.number().int().positive()).min(1).default([1]),
  warmup: z.number().int().nonnegative().default(20),
  runs: z.number().int().positive().default(200),
  /** Keep running past `runs` until this much time has been measured (TFLite's --min_secs). */
  minDurationMs: z.number().nonnegative().default(0),
  /** Overrides the profiles' thread counts. */
  threads: z.number().int().positive().optional(),
}).superRefine((b, ctx) => {
  const known = [...BUILTIN_PROFILES, ...Object.keys(b.customProfiles)];
  for (const [i, name] of b.profiles.entries()) {
    if (!known.includes(name)) ctx.addIssue({ code: 'custom', path: ['profiles', i], message: `unknown device profile ${JSON.stringify(name)}; known: ${known.join(', ')} (add your own under bench.customProfiles)` });
  }
});

export const OnnxQuantSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('float16') }),
  z.strictObject({
    kind: z.literal('dynamic'),
    perChannel: z.boolean().default(false),
    /** 7-bit weights (|q| <= 63): exact on x86 CPUs without VNNI, where onnxruntime's u8 x s8 kernels saturate. */
    reduceRange: z.boolean().default(true),
  }),
  z.strictObject({
    kind: z.literal('static'),
    perChannel: z.boolean().default(true),
    reduceRange: z.boolean().default(true),
    calibration: z.enum(['minmax', 'percentile']).default('minmax'),
    percentile: z.number().gt(50).max(100).default(99.99),
  }),
]);

export const CompressSchema = z.strictObject({
  /** An artifact whose test accuracy is more than this many points below its fp32 student is rejected. */
  maxAccuracyDrop: z.number().min(0).max(100).default(1),
  /** ONNX quantization variants of every student. */
  onnx: z.array(OnnxQuantSchema).default([{ kind: 'dynamic', perChannel: false, reduceRange: true }, { kind: 'static', perChannel: true, reduceRange: true, calibration: 'minmax', percentile: 99.99 }, { kind: 'float16' }] as never),
  /** TF.js weight storage variants (download size only; TF.js computes in float32). */
  tfjs: z.array(z.enum(['uint8', 'uint16', 'float16'])).default(['uint8', 'float16']),
  /**
   * TFLite variants, where export.formats has tflite: "int8" is full-integer int8 with float input and outputs
   * (QUANTIZE / DEQUANTIZE at the edges: apps and LiteRT.js), checked on LiteRT.js like the float32 one; "micro" adds
   * its int8-in/out twin as a TFLite Micro bundle (C array, op resolver, arena estimate); "micro" alone still writes
   * and checks the int8 artifact, whose accuracy the bundle reports.
   */
  tflite: z.array(z.enum(['int8', 'micro'])).default(['int8', 'micro']),
  /**
   * `quantize MODEL.onnx` on a model edge-distill did not make: the output holding its class scores. Without it, the
   * model's only 2-D output is; a model with none (or several) is judged by fidelity to its float32 outputs.
   */
  classOutput: z.string().min(1).optional(),
  /** The model `edge-distill quantize` quantizes when the command line names none (an ONNX file of any producer). */
  model: z.string().min(1).optional(),
  /** Rows static quantization calibrates on instead of the train split (any data format; the data's preprocess applies). */
  calibration: SourceSchema.optional(),
  /** Training examples used to calibrate static quantization. */
  calibrationExamples: z.number().int().positive().default(512),
  prune: z
    .strictObject({
      /** Fractions of hidden units / conv filters removed (then fine-tuned with the student's own loss). */
      structured: z.array(z.number().gt(0).lt(1)).default([0.5]),
      /** Target sparsities of magnitude pruning, reached by a cubic schedule during fine-tuning. */
      magnitude: z.array(z.number().gt(0).lt(1)).default([]),
      fineTuneSteps: z.number().int().nonnegative().default(500),
    })
    .prefault({}),
});

export const STAGES = ['distill', 'compress', 'export', 'bench'] as const;
export type Stage = (typeof STAGES)[number];

export const ConfigSchema = z.strictObject({
  data: DataSchema,
  teacher: TeacherSchema,
  student: StudentSchema.default({ arch: 'mlp', hidden: [8] }),
  methods: z.array(MethodSchema).min(1).default([{ name: 'lelp' }, { name: 'kd' }, { name: 'label' }] as never),
  train: TrainSchema.prefault({}),
  /** Each format's bundle (model files + deploy.json) is written per student and checked on every runtime of it. */
  export: z.strictObject({ formats: z.array(z.enum(ARTIFACT_FORMATS)).min(1).default([...DEFAULT_FORMATS]) }).prefault({}),
  bench: BenchSchema.prefault({}),
  /** Optional compression stage; runs when present (or when `compress` is among the stages). */
  compress: CompressSchema.optional(),
  stages: z.array(z.enum(STAGES)).min(1).default([...STAGES]),
  seed: z.number().int().nonnegative().default(0),
  out: z.string().min(1).default('./edge-distill-out'),
  /** Teacher outputs are cached here, keyed by model and data hashes. Default: <out>/.cache */
  cacheDir: z.string().optional(),
  /** TF.js backend for training and the TF.js runtime. */
  backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  /** Release budgets (pipeline/report/budgets.ts): limits on latency, size and accuracy; a broken one exits with code 3. */
  budgets: BudgetsSchema.optional(),
}).superRefine((c, ctx) => {
  for (const k of ['patience', 'evalEvery'] as const) {
    if (c.train[k] !== undefined && !c.train.keepBest) ctx.addIssue({ code: 'custom', path: ['train', k], message: `${k} only applies with train.keepBest: true (keeping the best validation checkpoint)` });
  }
  const shards = c.teacher.precomputed?.format === 'shards';
  if (shards && !c.teacher.precomputed!.dir) ctx.addIssue({ code: 'custom', path: ['teacher', 'precomputed', 'dir'], message: 'format "shards" reads the folder the shards were written to: set dir' });
  if (shards && !c.teacher.model) ctx.addIssue({ code: 'custom', path: ['teacher', 'model'], message: 'format "shards" needs the teacher model the shards came from (its hash is checked, and LELP reads its head): set teacher.model' });
  if (c.data.augment && c.teacher.precomputed) ctx.addIssue({ code: 'custom', path: ['data', 'augment'], message: 'augmented copies are labelled by running the teacher on them, and precomputed teacher outputs have none for them; give teacher.model, or remove data.augment' });
  // What the dscnn and conv1d students cannot do yet is refused before anything trains.
  const arch = c.student.arch;
  if (arch !== 'dscnn' && arch !== 'conv1d') return;
  if (c.train.engine === 'tfjs') ctx.addIssue({ code: 'custom', path: ['train', 'engine'], message: `the ${arch} student trains on the onnxruntime engine only; remove train.engine (or --engine) to use it` });
});

/** What a config file or the flags may contain (defaults not yet applied). */
export type ConfigInput = z.input<typeof ConfigSchema>;
/** The validated, defaulted config; every path is absolute. */
export type Config = z.output<typeof ConfigSchema>;
export type BenchConfig = Config['bench'];
export type CompressConfig = NonNullable<Config['compress']>;

/** Hash of what determines the students: data, teacher, student, methods, training, seed (not outputs or stages). */
export function configHash(cfg: Config): string {
  const { data, teacher, student, methods, train, seed } = cfg;
  return sha256(JSON.stringify({ data, teacher, student, methods, train, seed }));
}

/** The distill stage's slice of the config: what each student's training reads. */
export function studentSetup(cfg: Config): StudentSetup & { methods: Config['methods'] } {
  return { student: cfg.student, methods: cfg.methods, train: cfg.train, seed: cfg.seed, configSha256: configHash(cfg) };
}

/** The bundled example: Fashion-MNIST label % 2 with the shipped PyTorch teacher. */
export const EXAMPLE_CONFIG_PATH = join(PACKAGE_ROOT, 'examples/fmnist-bin/pipeline.json');

function formatIssue(issue: z.core.$ZodIssue): { code: 'E_UNKNOWN_OPTION' | 'E_CONFIG'; line: string } {
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    return { code: 'E_UNKNOWN_OPTION', line: `unknown option ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} at ${where}` };
  }
  return { code: 'E_CONFIG', line: `${where}: ${issue.message}` };
}

/** Validate raw config input; relative paths resolve against baseDir (the config file's folder). */
export function parseConfig(raw: unknown, baseDir: string): Config {
  const train = (raw as { train?: Record<string, unknown> } | null)?.train;
  if (train && typeof train === 'object' && train.steps !== undefined && train.epochs !== undefined) {
    throw new EdgeDistillError('E_CONFIG', `train.steps (${JSON.stringify(train.steps)}) and train.epochs (${JSON.stringify(train.epochs)}) are both set`, 'Give one: epochs = passes over the transfer set, steps = optimizer steps.');
  }
  const res = ConfigSchema.safeParse(raw);
  if (!res.success) {
    const issues = res.error.issues.map(formatIssue);
    const first = issues.find((i) => i.code === 'E_UNKNOWN_OPTION') ?? issues[0]!;
    throw new EdgeDistillError(
      first.code,
      issues.map((i) => i.line).join('; '),
      first.code === 'E_UNKNOWN_OPTION'
        ? 'Remove it or fix its spelling; `edge-distill --help` and the README list every option.'
        : 'Fix the config value; the README documents the config format.',
    );
  }
  return resolvePaths(res.data, baseDir);
}

function resolvePaths(cfg: Config, baseDir: string): Config {
  const r = (p: string) => resolve(baseDir, p);
  const src = (s: DataSource): DataSource => {
    switch (s.format) {
      case 'csv':
      case 'jsonl':
      case 'text-csv':
      case 'text-jsonl':
      case 'images':
        return { ...s, path: r(s.path) };
      case 'idx':
      case 'npy':
        return { ...s, features: r(s.features), ...(s.labels ? { labels: r(s.labels) } : {}) };
      case 'spamassassin':
        return s.dir ? { ...s, dir: r(s.dir) } : s;
      case 'sentiment':
        return s;
    }
  };
  const pre = cfg.teacher.precomputed;
  return {
    ...cfg,
    data: {
      ...cfg.data,
      train: src(cfg.data.train),
      ...(cfg.data.validation ? { validation: src(cfg.data.validation) } : {}),
      ...(cfg.data.test ? { test: src(cfg.data.test) } : {}),
    },
    teacher: {
      ...cfg.teacher,
      ...(cfg.teacher.model ? { model: r(cfg.teacher.model) } : {}),
      ...(pre ? { precomputed: { ...pre, ...Object.fromEntries((['path', 'logits', 'embedding', 'ids', 'dir'] as const).filter((k) => pre[k] !== undefined).map((k) => [k, r(pre[k]!)])) } } : {}),
    },
    ...(cfg.compress ? { compress: { ...cfg.compress, ...(cfg.compress.model ? { model: r(cfg.compress.model) } : {}), ...(cfg.compress.calibration ? { calibration: src(cfg.compress.calibration) } : {}) } } : {}),
    // --out and the cache are relative to the working directory, like any CLI output flag.
    out: resolve(cfg.out),
    ...(cfg.cacheDir ? { cacheDir: resolve(cfg.cacheDir) } : {}),
  };
}

/** Read a pipeline.json file. Returns the raw (unvalidated) object and its folder. */
export function readConfigFile(file: string): { raw: Record<string, unknown>; baseDir: string } {
  const abs = resolve(file);
  if (!existsSync(abs)) {
    throw new EdgeDistillError('E_FILE_NOT_FOUND', `config file ${abs} does not exist`, 'Check the --config path.');
  }
  if (statSync(abs).isDirectory()) {
    throw new EdgeDistillError('E_CONFIG', `config file ${abs} is a folder, not a file`, 'Pass the pipeline.json itself: --config path/to/pipeline.json.');
  }
  try {
    const raw = JSON.parse(readFileSync(abs, 'utf8'));
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
    return { raw, baseDir: dirname(abs) };
  } catch (err) {
    throw new EdgeDistillError('E_CONFIG', `config file ${abs} is not a JSON object (${(err as Error).message})`, 'Fix the JSON syntax.');
  }
}
