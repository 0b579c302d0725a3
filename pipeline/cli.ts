// The thin CLI: flags -> the same raw config a pipeline.json holds -> parseConfig -> runPipeline -> one manifest.
// This is the only place that turns an error into an exit code. The stages are imported when a command runs, not
// before: `edge-distill --help` loads yargs and the config schema only.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { EXAMPLE_CONFIG_PATH, parseConfig, readConfigFile, type Stage } from './config.ts';
import type { DataSource } from './data/schema.ts';
import { EdgeDistillError } from './errors.ts';
import type { BudgetResult } from './report/types.ts';
import { TOOL_VERSION } from './util/versions.ts';

/** Exit codes: documented in the README. */
export const EXIT = { ok: 0, error: 1, usage: 2, budget: 3, internal: 70 } as const;

type FlagType = 'string' | 'number' | 'boolean' | 'array';
/** Every pipeline flag names the config field it sets, so flags and config files cannot drift apart. */
type FlagGroup = 'common' | 'data' | 'teacher' | 'student' | 'method' | 'lelp' | 'train' | 'export' | 'compress' | 'prune' | 'bench' | 'budgets';
const FLAGS: Record<string, { group: FlagGroup; path: string; type: FlagType; describe: string; number?: boolean; value?: unknown }> = {
  out: { group: 'common', path: 'out', type: 'string', describe: 'output folder (default ./edge-distill-out)' },
  seed: { group: 'common', path: 'seed', type: 'number', describe: 'seed for splits, initialisation, LELP projections and batches' },
  'cache-dir': { group: 'common', path: 'cacheDir', type: 'string', describe: 'cache of teacher outputs and training checkpoints; a run also keeps its CSV/JSONL/NPY rows there in unlinked files, so it needs that disk space (default <out>/.cache)' },
  backend: { group: 'common', path: 'backend', type: 'string', describe: 'TF.js backend: auto | tensorflow | wasm | cpu' },
  teacher: { group: 'teacher', path: 'teacher.model', type: 'string', describe: 'teacher ONNX model' },
  methods: { group: 'method', path: 'methods', type: 'array', describe: 'methods: lelp kd fitnet label oracle (true fine labels as subclasses: needs data.labelMap), or auto (pick the best on validation); alias --method' },
  arch: { group: 'student', path: 'student.arch', type: 'string', describe: 'student architecture: mlp | cnn | dscnn | conv1d' },
  hidden: { group: 'student', path: 'student.hidden', type: 'array', number: true, describe: 'MLP hidden sizes, e.g. --hidden 8' },
  steps: { group: 'train', path: 'train.steps', type: 'number', describe: 'training steps per student (replaces train.epochs)' },
  epochs: { group: 'train', path: 'train.epochs', type: 'number', describe: 'training epochs per student, instead of steps (replaces train.steps)' },
  schedule: { group: 'train', path: 'train.schedule', type: 'string', describe: 'learning-rate schedule after warm-up: constant | cosine | linear' },
  'weight-decay': { group: 'train', path: 'train.weightDecay', type: 'number', describe: 'decoupled weight decay on kernels (AdamW)' },
  patience: { group: 'train', path: 'train.patience', type: 'number', describe: 'keep the best validation checkpoint and stop after this many checks without improvement' },
  'batch-size': { group: 'train', path: 'train.batchSize', type: 'number', describe: 'training batch size' },
  lr: { group: 'train', path: 'train.learningRate', type: 'number', describe: 'Adam learning rate' },
  engine: { group: 'train', path: 'train.engine', type: 'string', describe: 'training engine: onnxruntime (default) | tfjs (TF.js autodiff, slower)' },
  'train-threads': { group: 'train', path: 'train.threads', type: 'number', describe: 'onnxruntime training engine: threads (default: every core)' },
  'train-size': { group: 'data', path: 'data.trainSize', type: 'number', describe: 'use this many transfer examples (seeded subset)' },
  formats: { group: 'export', path: 'export.formats', type: 'array', describe: 'export formats: onnx tfjs-layers tfjs-graph tflite (default: all but tflite, which is checked on LiteRT.js in headless Chromium)' },
  runtimes: { group: 'bench', path: 'bench.runtimes', type: 'array', describe: 'Node runtimes: onnxruntime-node onnxruntime-web tfjs-wasm tfjs-cpu tfjs-node tfjs-graph-wasm' },
  runs: { group: 'bench', path: 'bench.runs', type: 'number', describe: 'timed benchmark runs' },
  warmup: { group: 'bench', path: 'bench.warmup', type: 'number', describe: 'warm-up runs before timing' },
  'bench-batch': { group: 'bench', path: 'bench.batches', type: 'array', number: true, describe: 'batch sizes for latency and throughput, e.g. 1,8,64' },
  threads: { group: 'bench', path: 'bench.threads', type: 'number', describe: 'runtime threads for latency (overrides the profiles)' },
  profiles: { group: 'bench', path: 'bench.profiles', type: 'array', describe: 'device profiles: desktop phone watch iot (or customProfiles names)' },
  environments: { group: 'bench', path: 'bench.environments', type: 'array', describe: 'where to benchmark: node chromium' },
  'browser-runtimes': { group: 'bench', path: 'bench.browserRuntimes', type: 'array', describe: 'runtimes in Chromium: onnxruntime-web tfjs-wasm tfjs-webgl litert-wasm' },
  'min-duration-ms': { group: 'bench', path: 'bench.minDurationMs', type: 'number', describe: 'keep timing until this many ms were measured' },
  'max-accuracy-drop': { group: 'compress', path: 'compress.maxAccuracyDrop', type: 'number', describe: 'compress: reject variants losing more accuracy points than this (default 1); enables the compress stage' },
  structured: { group: 'prune', path: 'compress.prune.structured', type: 'array', number: true, describe: 'prune: fractions of hidden units / filters to remove, e.g. 0.5' },
  magnitude: { group: 'prune', path: 'compress.prune.magnitude', type: 'array', number: true, describe: 'prune: target sparsities of magnitude pruning, e.g. 0.8' },
  'fine-tune-steps': { group: 'prune', path: 'compress.prune.fineTuneSteps', type: 'number', describe: 'prune: fine-tuning steps after pruning' },
  subclasses: { group: 'lelp', path: 'lelp.subclasses', type: 'number', describe: 'LELP: pseudo-subclasses per class (S)' },
  beta: { group: 'lelp', path: 'lelp.beta', type: 'number', describe: 'LELP: subclass softmax temperature on the standardised projections' },
  tau: { group: 'lelp', path: 'lelp.tau', type: 'number', describe: 'LELP: distillation temperature' },
  alpha: { group: 'lelp', path: 'lelp.alpha', type: 'number', describe: 'LELP: weight of the hard-label loss (0..1)' },
  assign: { group: 'lelp', path: 'lelp.assign', type: 'string', describe: 'LELP: how pseudo-subclasses are formed: kmeans | directions | signed' },
  'no-null-space': { group: 'lelp', path: 'lelp.nullSpace', type: 'boolean', value: false, describe: 'LELP: keep the directions shared with the class logits (no null-space projection)' },
  'no-rotate': { group: 'lelp', path: 'lelp.rotate', type: 'boolean', value: false, describe: 'LELP: no random rotation of the principal directions' },
  projection: { group: 'lelp', path: 'lelp.projection', type: 'string', describe: 'LELP: pca | random' },
  'max-p90-ms': { group: 'budgets', path: 'budgets.latency', type: 'number', describe: 'budget: p90 latency limit (ms) on every benchmark row; exit 3 when broken' },
  'max-bytes': { group: 'budgets', path: 'budgets.maxBytes', type: 'number', describe: 'budget: size limit (bytes) of every artifact; exit 3 when broken' },
  'max-gzip-bytes': { group: 'budgets', path: 'budgets.maxGzipBytes', type: 'number', describe: 'budget: gzipped size limit (bytes) of every artifact; exit 3 when broken' },
  'max-arena-bytes': { group: 'budgets', path: 'budgets.maxArenaBytes', type: 'number', describe: 'budget: estimated TFLite Micro tensor arena (bytes) of every microcontroller bundle; exit 3 when broken' },
  'max-flash-bytes': { group: 'budgets', path: 'budgets.maxFlashBytes', type: 'number', describe: 'budget: flash size (bytes) of every microcontroller bundle; exit 3 when broken' },
  'min-accuracy': { group: 'budgets', path: 'budgets.minAccuracy', type: 'number', describe: 'budget: minimum test accuracy (%) of every artifact; exit 3 when broken' },
  'max-drop-vs-teacher': { group: 'budgets', path: 'budgets.maxAccuracyDropVsTeacher', type: 'number', describe: 'budget: accuracy points an artifact may lose vs the teacher; exit 3 when broken' },
  'max-drop-vs-fp32': { group: 'budgets', path: 'budgets.maxAccuracyDropVsFp32', type: 'number', describe: 'budget: accuracy points a variant may lose vs its fp32 student; exit 3 when broken' },
};

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys.at(-1)!] = value;
}

/**
 * Build the raw config: the file (or the bundled example), then each given flag on top. `compressOnly` is how
 * `quantize` and `prune` limit the compress stage to one kind of variant: the other kind's lists are emptied
 * (a config file's compress section still supplies the budget and the kind's own settings).
 */
export function compileConfig(argv: Record<string, unknown>, stages: Stage[], compressOnly?: 'quantize' | 'prune') {
  const { raw, baseDir } = readConfigFile((argv.config as string | undefined) ?? EXAMPLE_CONFIG_PATH);
  const cfgRaw: Record<string, unknown> = structuredClone(raw);
  const lelp: [flag: string, key: string, value: unknown][] = [];
  for (const [flag, spec] of Object.entries(FLAGS)) {
    let v = argv[flag];
    if (v === undefined) continue;
    if (flag === 'methods') v = (v as string[]).flatMap((s) => String(s).split(',')).map((name) => ({ name }));
    // A latency flag adds to the file's latency budgets instead of replacing them: a flag may add a gate, never drop one.
    else if (flag === 'max-p90-ms') v = [...((cfgRaw.budgets as { latency?: unknown[] } | undefined)?.latency ?? []), ...[v].flat().map((maxMs) => ({ maxMs, metric: 'p90Ms' }))];
    else if (spec.type === 'array') v = (v as unknown[]).flatMap((s) => String(s).split(',')).map((s) => (spec.number ? Number(s) : s));
    // Flag paths are relative to the working directory, unlike paths inside a config file.
    if (flag === 'teacher') v = resolve(String(v));
    // Another architecture has other fields: the file's student block does not carry over.
    if (flag === 'arch' && (cfgRaw.student as { arch?: string } | undefined)?.arch !== v) cfgRaw.student = {};
    // Steps and epochs say the same thing two ways: the flag's replaces the file's.
    const train = cfgRaw.train as Record<string, unknown> | undefined;
    if (flag === 'steps' && train) delete train.epochs;
    if (flag === 'epochs' && train) delete train.steps;
    if (flag === 'patience') setPath(cfgRaw, 'train.keepBest', true);
    if (spec.value !== undefined) v = spec.value;
    if (spec.group === 'lelp') {
      lelp.push([flag, spec.path.slice('lelp.'.length), v]);
      continue;
    }
    setPath(cfgRaw, spec.path, v);
  }
  // LELP's own flags set every lelp method of the run (after --methods, whichever order they came in).
  if (lelp.length) {
    const methods = (cfgRaw.methods ?? [{ name: 'lelp' }]) as Record<string, unknown>[];
    const targets = methods.filter((m) => m.name === 'lelp');
    if (!targets.length) {
      throw new EdgeDistillError('E_CONFIG', `${lelp.map(([f]) => `--${f}`).join(', ')} set LELP's options but the methods (${methods.map((m) => m.name).join(', ')}) have no lelp`, 'Add lelp to --methods, or drop the LELP flags.');
    }
    for (const m of targets) for (const [, key, value] of lelp) m[key] = value;
    cfgRaw.methods = methods;
  }
  cfgRaw.stages = stages;
  if (compressOnly) {
    const c = (cfgRaw.compress ?? {}) as Record<string, unknown>;
    if (compressOnly === 'quantize') c.prune = { ...(c.prune as object), structured: [], magnitude: [] };
    else {
      c.onnx = [];
      c.tfjs = [];
      c.tflite = [];
      const prune = (c.prune ?? {}) as Record<string, unknown>;
      if (!prune.structured && !prune.magnitude) prune.structured = [0.5];
      c.prune = prune;
    }
    cfgRaw.compress = c;
  }
  return parseConfig(cfgRaw, baseDir);
}

const GROUP_TITLES: Record<FlagGroup, string> = {
  common: 'Run:', data: 'Data:', teacher: 'Teacher:', student: 'Student:', method: 'Method:', lelp: 'LELP (every lelp method):', train: 'Training:',
  export: 'Export:', compress: 'Compress:', prune: 'Pruning:', bench: 'Benchmark:', budgets: 'Release budgets (exit 3 when broken):',
};

/** The flag groups each command reads: its --help lists these and no others, and yargs refuses the rest. */
const COMMAND_GROUPS = {
  run: ['common', 'data', 'teacher', 'student', 'method', 'lelp', 'train', 'export', 'compress', 'prune', 'bench', 'budgets'],
  distill: ['common', 'data', 'teacher', 'student', 'method', 'lelp', 'train'],
  export: ['common', 'data', 'teacher', 'export', 'budgets'],
  quantize: ['common', 'data', 'teacher', 'export', 'compress', 'bench', 'budgets'],
  prune: ['common', 'data', 'teacher', 'train', 'export', 'compress', 'prune', 'budgets'],
  bench: ['common', 'data', 'teacher', 'bench', 'budgets'],
  teacher: ['common', 'data', 'teacher', 'train'],
} as const satisfies Record<string, readonly FlagGroup[]>;

function pipelineFlags(y: Argv, command: keyof typeof COMMAND_GROUPS): Argv {
  const groups: readonly FlagGroup[] = COMMAND_GROUPS[command];
  y.option('config', { type: 'string', describe: 'pipeline.json (default: the bundled Fashion-MNIST example)' });
  y.option('json', { type: 'boolean', describe: 'print the report as JSON on stdout' });
  y.option('quiet', { type: 'boolean', describe: 'no progress output' });
  const byGroup = new Map<FlagGroup, string[]>([['common', ['config', 'json', 'quiet']]]);
  if (groups.includes('budgets')) {
    y.option('junit', { type: 'string', describe: 'write the budget verdicts as JUnit XML to this file (relative to the working directory)' });
    byGroup.set('budgets', ['junit']);
  }
  for (const [flag, s] of Object.entries(FLAGS)) {
    if (!groups.includes(s.group)) continue;
    y.option(flag, { type: s.type, describe: s.describe, ...(flag === 'methods' ? { alias: 'method' } : {}) });
    byGroup.set(s.group, [...(byGroup.get(s.group) ?? []), flag]);
  }
  for (const g of groups) if (byGroup.get(g)?.length) y.group(byGroup.get(g)!, GROUP_TITLES[g]);
  return y;
}

/** What a pipeline command asks of the library API (pipeline/api.ts), which the CLI only calls. */
type Job =
  | { kind: 'run' | 'distill' }
  | { kind: 'export' | 'prune'; students: string[] }
  | { kind: 'quantize'; students: string[] }
  | { kind: 'quantize-model'; model: string; bench: boolean; classOutput?: string; calibration?: DataSource }
  | { kind: 'bench'; models: string[] };

async function runCommand(argv: Record<string, unknown>, stages: Stage[], job: Job, compressOnly?: 'quantize' | 'prune'): Promise<void> {
  const cfg = compileConfig(argv, stages, compressOnly);
  const [api, { createProgress }, { renderMarkdown }] = await Promise.all([import('./api.ts'), import('./util/progress.ts'), import('./report/markdown.ts')]);
  const o = { progress: createProgress({ quiet: Boolean(argv.quiet) }) };
  const { out, report } = await (() => {
    switch (job.kind) {
      case 'run':
        return api.run(cfg, o);
      case 'distill':
        return api.distill(cfg, o);
      case 'export':
        return api.exportStudents(cfg, job.students, o);
      case 'prune':
        return api.prune(cfg, job.students, o);
      case 'quantize':
        return api.quantize(cfg, { students: job.students }, o);
      case 'quantize-model': {
        const compress = { ...cfg.compress!, ...(job.classOutput !== undefined ? { classOutput: job.classOutput } : {}), ...(job.calibration ? { calibration: job.calibration } : {}) };
        return api.quantize({ ...cfg, compress }, { model: job.model, bench: job.bench }, o);
      }
      case 'bench':
        return api.bench(cfg, job.models, o);
    }
  })();
  if (argv.json) process.stdout.write(JSON.stringify({ out, report }, null, 2) + '\n');
  else process.stdout.write(`${renderMarkdown(report)}\nWrote ${out}/report.json, report.md, report.html and manifest.json\n`);
  await checkBudgets(report.budgets, argv.junit as string | undefined, out);
}

/** A data source from a bare path, by its kind: what `--calibration PATH` takes. */
function sourceFromPath(p: string): DataSource {
  let dir = false;
  try {
    dir = statSync(p).isDirectory();
  } catch {
    throw new EdgeDistillError('E_FILE_NOT_FOUND', `--calibration ${p} does not exist`, 'Pass an existing .npy, .csv, .jsonl or IDX file, or a folder of class folders of images.');
  }
  if (dir) return { format: 'images', path: p };
  const lower = p.toLowerCase();
  if (lower.endsWith('.npy')) return { format: 'npy', features: p };
  if (lower.endsWith('.csv')) return { format: 'csv', path: p };
  if (lower.endsWith('.jsonl')) return { format: 'jsonl', path: p };
  if (/ubyte(\.gz)?$|\.idx(\.gz)?$/.test(lower)) return { format: 'idx', features: p };
  throw new EdgeDistillError('E_CONFIG', `--calibration ${p}: cannot tell its format from the name`, 'Name a .npy, .csv, .jsonl or IDX (*-ubyte[.gz], *.idx[.gz]) file or an image folder, or set compress.calibration in a config with its format.');
}

/** After a run: the budget table on stderr, the JUnit file, and E_BUDGET (exit 3) when any budget broke. */
async function checkBudgets(results: BudgetResult[], junit: string | undefined, out: string): Promise<void> {
  const [{ budgetSummary, renderBudgetTable }, { junitXml }, { writeAtomic }] = await Promise.all([import('./report/budgets.ts'), import('./report/junit.ts'), import('./util/fsutil.ts')]);
  // Written whatever the verdicts, so CI finds the file where it was told to look on green builds too.
  if (junit) writeAtomic(resolve(junit), junitXml(results, { name: 'edge-distill budgets' }));
  if (!results.length) return;
  process.stderr.write(`\nRelease budgets:\n${renderBudgetTable(results)}\n`);
  if (results.some((r) => !r.ok)) {
    throw new EdgeDistillError('E_BUDGET', budgetSummary(results), `The table above shows every verdict (also in report.json's budgets); the run's outputs are in ${out}`);
  }
}

export async function main(args: string[]): Promise<number> {
  const cli = yargs(args)
    .scriptName('edge-distill')
    .version(TOOL_VERSION)
    .strict()
    // Error messages must name the option exactly as typed: no --no-x negation, no camelCase aliases.
    .parserConfiguration({ 'boolean-negation': false, 'camel-case-expansion': false })
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      const unknown = /^Unknown arguments?: (.*)$/.exec(msg ?? '');
      if (unknown) throw new EdgeDistillError('E_UNKNOWN_OPTION', `unknown option ${unknown[1]}`, 'Run `edge-distill <command> --help` for the options.');
      throw new EdgeDistillError('E_CONFIG', msg ?? 'bad command line', 'Run `edge-distill --help`.');
    })
    .command('run', 'distill, export, compress (with a compress section) and benchmark: the whole pipeline (the bundled example when no --config)', (y) => pipelineFlags(y, 'run'), (a) => runCommand(a, ['distill', 'export', 'compress', 'bench'], { kind: 'run' }))
    .command('distill', 'train students (saved as checkpoints in <out>/students/<method>)', (y) => pipelineFlags(y, 'distill'), (a) => runCommand(a, ['distill'], { kind: 'distill' }))
    .command(
      'export',
      'export distilled students to ONNX and TF.js, checked for parity',
      (y) => pipelineFlags(y, 'export').option('student', { type: 'array', string: true, demandOption: true, describe: 'student checkpoint folder(s) from `distill`' }),
      (a) => runCommand(a, ['export'], { kind: 'export', students: (a.student as string[]).map(String) }),
    )
    .command(
      'quantize [model]',
      'int8 / float16 variants judged against --max-accuracy-drop: of any ONNX model (MODEL.onnx: per-layer error report, mixed precision; no teacher pass), or of students (--student: ONNX, quantized-weight TF.js and int8 TFLite + TFLite Micro bundle)',
      (y) =>
        pipelineFlags(y, 'quantize')
          .positional('model', { type: 'string', describe: 'an ONNX model (any producer) to quantize and judge on the config\'s test data' })
          .option('student', { type: 'array', string: true, describe: 'checkpoint folder(s) from `distill`, or TF.js model.json exported by edge-distill' })
          .option('class-output', { type: 'string', describe: 'MODEL.onnx: the output holding class scores (default: its only 2-D output; else judged by fidelity to float32)' })
          .option('calibration', { type: 'string', describe: 'MODEL.onnx: calibrate static int8 on these rows instead of the train split (.npy, .csv, .jsonl, an IDX file, or a folder of class folders of images; compress.calibration in a config takes any source)' })
          .option('bench', { type: 'boolean', describe: 'MODEL.onnx: also benchmark the float32 model and every variant (the config\'s bench settings) and recommend the fastest and the smallest per target' }),
      (a) => {
        const students = ((a.student as string[] | undefined) ?? []).map(String);
        // A config's compress.model names the model when the command line does not.
        const model = a.model !== undefined ? resolve(String(a.model)) : students.length ? undefined : compileConfig(a, ['compress'], 'quantize').compress?.model;
        if ((model === undefined) === (students.length === 0)) {
          throw new EdgeDistillError('E_CONFIG', model === undefined ? 'quantize needs a model file (or compress.model in the config) or --student' : 'quantize takes a model file or --student, not both', 'Run `edge-distill quantize model.onnx` for any ONNX model, or `edge-distill quantize --student out/students/<method>` for a distilled student.');
        }
        if (model !== undefined) {
          const calibration = a.calibration === undefined ? undefined : sourceFromPath(resolve(String(a.calibration)));
          return runCommand(a, ['compress'], { kind: 'quantize-model', model, bench: Boolean(a.bench), classOutput: a['class-output'] as string | undefined, calibration }, 'quantize');
        }
        return runCommand(a, ['export', 'compress'], { kind: 'quantize', students }, 'quantize');
      },
    )
    .command(
      'prune',
      'structured / magnitude pruning of students, fine-tuned with their own loss, judged against --max-accuracy-drop',
      (y) => pipelineFlags(y, 'prune').option('student', { type: 'array', string: true, demandOption: true, describe: 'checkpoint folder(s) from `distill`, or TF.js model.json exported by edge-distill' }),
      (a) => runCommand(a, ['export', 'compress'], { kind: 'prune', students: (a.student as string[]).map(String) }, 'prune'),
    )
    .command(
      'bench [models..]',
      'benchmark models (ONNX or TF.js) for accuracy and latency on the config\'s test data',
      (y) => pipelineFlags(y, 'bench').positional('models', { type: 'string', array: true, describe: 'model files' }),
      (a) => runCommand(a, ['bench'], { kind: 'bench', models: ((a.models as string[] | undefined) ?? []).map(String) }),
    )
    .command(
      'inspect <model>',
      "any ONNX file or TF.js model.json (layers or graph): inputs, outputs, op histogram, parameters, FLOPs per example, size and gzipped size",
      (y) => y.positional('model', { type: 'string', demandOption: true }).option('json', { type: 'boolean' }),
      async (a) => {
        const { inspectModel, renderModelInfo } = await import('./inspect/inspect.ts');
        const info = inspectModel(String(a.model));
        process.stdout.write((a.json ? JSON.stringify(info, null, 2) : renderModelInfo(info)) + '\n');
      },
    )
    .command(
      'teacher <action>',
      'teacher tools: `teacher train` trains an MLP (or CNN) teacher on the config\'s labelled data and writes it to teacher.model; `teacher run --shard K/N --out DIR` computes shard K of N of the teacher pass (K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID with auto/N); `teacher merge --from DIR --out DIR` checks shards and writes them as one',
      (y) =>
        pipelineFlags(y, 'teacher')
          .positional('action', { type: 'string', choices: ['train', 'run', 'merge'], demandOption: true })
          .option('shard', { type: 'string', describe: 'run: K/N, the shard to compute (0 <= K < N), or auto/N to read K from JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)' })
          .option('from', { type: 'string', describe: 'merge: the folder of shards to merge' }),
      async (a) => {
        const [api, { createProgress }] = await Promise.all([import('./api.ts'), import('./util/progress.ts')]);
        const progress = createProgress({ quiet: Boolean(a.quiet) });
        if (a.action === 'merge') {
          if (a.from === undefined || a.out === undefined) throw new EdgeDistillError('E_CONFIG', 'teacher merge needs --from (the shards) and --out (where the merged shard goes)', 'Run `edge-distill teacher merge --from shards/ --out merged/`.');
          const m = api.mergeTeacherShards(String(a.from), String(a.out));
          process.stdout.write(a.json ? JSON.stringify(m, null, 2) + '\n' : `merged ${String(a.from)} into ${String(a.out)}: ${m.splits.train.rows} train, ${m.splits.validation.rows} validation, ${m.splits.test.rows} test rows\n`);
          return;
        }
        const cfg = compileConfig(a, ['distill']);
        if (a.action === 'run') {
          if (a.shard === undefined || a.out === undefined) throw new EdgeDistillError('E_CONFIG', 'teacher run needs --shard K/N and --out DIR', 'Run `edge-distill teacher run --config pipeline.json --shard 0/4 --out shards/` for each K (or --shard auto/4 in a batch job).');
          const m = await api.teacherShard(cfg, api.parseShardSpec(String(a.shard)), String(a.out), { progress });
          const rows = (['train', 'validation', 'test'] as const).map((s) => `${s} ${m.splits[s].from}..${m.splits[s].to} of ${m.splits[s].rows}`).join(', ');
          process.stdout.write(a.json ? JSON.stringify(m, null, 2) + '\n' : `shard ${m.shard} of ${m.shards} written to ${String(a.out)}: ${rows}\n`);
          return;
        }
        const t = await api.trainTeacher(cfg, { progress });
        const pct = (x: number) => (x * 100).toFixed(2);
        const line = `teacher ${t.path}: ${t.parameters} parameters, accuracy train ${pct(t.trainAccuracy)} % / validation ${pct(t.validationAccuracy)} % / test ${pct(t.testAccuracy)} %, ${(t.trainMs / 1000).toFixed(1)} s`;
        process.stdout.write((a.json ? JSON.stringify(t, null, 2) : line) + '\n');
      },
    )
    .command(
      'report',
      'rebuild report.md and report.html (self-contained, with charts) from a run\'s report.json',
      (y) =>
        y
          .option('from', { type: 'string', demandOption: true, describe: 'the report.json of a run, or its output folder' })
          .option('out', { type: 'string', describe: 'folder to write report.md and report.html into (default: the report.json\'s folder)' }),
      async (a) => {
        const { rebuildReport } = await import('./report/file.ts');
        const files = await rebuildReport(String(a.from), a.out as string | undefined);
        process.stdout.write(`Wrote ${files.markdown} and ${files.html}\n`);
      },
    )
    .completion('completion', 'print a bash/zsh completion script (edge-distill completion >> ~/.bashrc)')
    .demandCommand(1, 'Name a command: run, distill, export, quantize, prune, bench, inspect, teacher or report.')
    .help();
  try {
    await cli.parseAsync();
    return EXIT.ok;
  } catch (err) {
    if (err instanceof EdgeDistillError) {
      process.stderr.write(`edge-distill: ${err.toLine()}\n`);
      if (err.code === 'E_BUDGET') return EXIT.budget;
      return err.code === 'E_CONFIG' || err.code === 'E_UNKNOWN_OPTION' ? EXIT.usage : EXIT.error;
    }
    process.stderr.write(`edge-distill: E_INTERNAL: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.internal;
  }
}
