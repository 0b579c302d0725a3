// Compression benchmark: size, accuracy and latency of every variant the compress stage writes, for a watch-size
// MLP, a phone-size MLP and the small CNN, plus the acceptance checks of the compression issue — all from ONE run.
//   node --import tsx benchmarks/compress.ts [--out DIR] [--runs N] [--rounds R] [--students a,b] [--reuse]
//   node --import tsx benchmarks/compress.ts --foreign [--runs N] [--rounds R]
// --foreign: models edge-distill did not make, through `edge-distill quantize MODEL.onnx` (compress-foreign.md): a
// PyTorch-style 784-1024-1024-2 MLP (trained by `teacher train`, stripped to one `logits` output, no metadata) and the
// shipped PyTorch CNN teacher.
// --runs: timed runs per variant and runtime at batch 1 (a third of it at batch 32); --reuse: keep students an
// earlier run wrote to benchmarks/.cache/compress-runs (for iterating on this script; report a full run).
// Students come from the real CLI (bin/edge-distill.mjs run) on the bundled example. Latency is measured by the
// bench stage's worker (runtimes/bench-worker.ts), one child process per runtime and measurement (onnxruntime-node and
// -web must not share a process), in R interleaved rounds whose samples are pooled, so drift of this shared, noisy machine hits
// every variant alike. Only ratios within this run mean anything; absolute times vary ±30 % between runs.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import type { ArtifactResult, Report } from '../pipeline/report/types.ts';
import { percentile, summarize } from '../runtimes/stats.ts';
import { runWorker } from '../pipeline/stages/bench.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { f32Bytes } from '../pipeline/util/fsutil.ts';

const run = promisify(execFile);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..');
const EXAMPLE = join(ROOT, 'examples/fmnist-bin');
const RUNTIMES = ['onnxruntime-node', 'onnxruntime-web'] as const;
type RuntimeName = (typeof RUNTIMES)[number];
const BATCHES = [1, 32] as const;

interface StudentCase {
  name: string;
  description: string;
  student: Record<string, unknown>;
  /** Extra CLI flags (training length); fine-tuning length goes in the compress section. */
  flags: string[];
  fineTuneSteps: number;
}

const CASES: StudentCase[] = [
  { name: 'watch-mlp', description: 'watch-size MLP 784-8-2, KD, 2500 steps', student: { arch: 'mlp', hidden: [8] }, flags: ['--steps', '2500'], fineTuneSteps: 500 },
  // Training this one on TF.js wasm costs ~1.2 s per step of 128 here: 150 steps (+ 2 x 80 fine-tuning) keep it near 5 min.
  { name: 'phone-mlp', description: 'phone-size MLP 784-1024-1024-2, KD, 150 steps', student: { arch: 'mlp', hidden: [1024, 1024] }, flags: ['--steps', '150'], fineTuneSteps: 80 },
  { name: 'cnn', description: 'small CNN (conv 8, conv 16, dense 32), KD, 300 steps', student: { arch: 'cnn' }, flags: ['--steps', '300'], fineTuneSteps: 150 },
];

/** Everything the compress stage can write, with the settings the issue asks about. */
const COMPRESS = (fineTuneSteps: number) => ({
  maxAccuracyDrop: 1,
  onnx: [{ kind: 'dynamic' }, { kind: 'static', perChannel: true }, { kind: 'float16' }],
  tfjs: ['uint8', 'float16'],
  prune: { structured: [0.5], magnitude: [0.8], fineTuneSteps },
});

function pipelineConfig(c: StudentCase): object {
  const f = (name: string) => join(EXAMPLE, name);
  const example = JSON.parse(readFileSync(join(EXAMPLE, 'pipeline.json'), 'utf8'));
  return {
    ...example,
    data: {
      ...example.data,
      train: { format: 'idx', features: f('train-images-idx3-ubyte.gz'), labels: f('train-labels-idx1-ubyte.gz') },
      test: { format: 'idx', features: f('t10k-images-idx3-ubyte.gz'), labels: f('t10k-labels-idx1-ubyte.gz') },
    },
    teacher: { model: f('teacher.onnx') },
    student: c.student,
    methods: [{ name: 'kd' }],
    // The pipeline's own latency stage is not what this benchmark reports: keep it to a token run.
    bench: { runtimes: ['onnxruntime-node'], runs: 5, warmup: 1 },
    compress: COMPRESS(c.fineTuneSteps),
  };
}

const log = (s: string) => process.stderr.write(`[compress-bench] ${s}\n`);

/** Train, compress and export one student with the real CLI; returns its report and where it wrote it. */
async function produceStudent(c: StudentCase, configDir: string, runsDir: string, reuse: boolean): Promise<{ out: string; report: Report; ms: number; command: string }> {
  const out = join(runsDir, c.name);
  const cfgFile = join(configDir, `${c.name}.json`);
  writeFileSync(cfgFile, JSON.stringify(pipelineConfig(c), null, 2) + '\n');
  const args = ['bin/edge-distill.mjs', 'run', '--config', cfgFile, '--out', out, '--cache-dir', join(HERE, '.cache/teacher'), '--quiet', '--json', ...c.flags];
  const command = `node ${args.join(' ')}`;
  if (reuse && existsSync(join(out, 'manifest.json'))) {
    log(`${c.name}: reusing ${out} (--reuse)`);
    return { out, report: JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')), ms: NaN, command };
  }
  log(`${c.name}: ${command}`);
  const t0 = performance.now();
  const { stdout } = await run(process.execPath, args, { cwd: ROOT, maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  const { report } = JSON.parse(stdout) as { out: string; report: Report };
  log(`${c.name}: done in ${(ms / 1000).toFixed(0)} s`);
  return { out, report, ms, command };
}

interface WorkerResult {
  initMs: number;
  p50Ms: number;
  p90Ms: number;
  meanMs: number;
  timesMs: number[];
}

/** Real Fashion-MNIST test images (/255) in a raw float32 file, the inputs every latency measurement cycles through. */
interface LatencyInputs {
  dir: string;
  file: string;
  n: number;
}

async function latencyInputs(): Promise<LatencyInputs> {
  const images = await readIdx(join(EXAMPLE, 't10k-images-idx3-ubyte.gz'));
  const n = images.dims[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'edge-distill-compress-latency-'));
  const file = join(dir, 'inputs.f32');
  writeFileSync(file, f32Bytes(Float32Array.from(images.data, (v) => v / 255)));
  return { dir, file, n };
}

let measurements = 0;

/** One measurement in a child process of its own (the bench stage's worker: onnxruntime-node and -web never share one). */
async function measure(inputs: LatencyInputs, runtime: RuntimeName, model: string, batch: number, runs: number): Promise<WorkerResult> {
  const warmup = batch === 1 ? 50 : 10;
  const res = await runWorker({ runtime, model, inputsFile: inputs.file, n: inputs.n, features: 784, batches: [batch], threads: 1, warmup, runs, minDurationMs: 0 }, inputs.dir, measurements++);
  if (!res.ok) throw new Error(`${runtime} on ${model}: ${res.reason}`);
  const { times, firstRunMs } = res.batches[0]!;
  const stats = summarize(times, { initMs: res.initMs, firstRunMs, warmup, batch });
  return { initMs: res.initMs, p50Ms: stats.p50Ms, p90Ms: stats.p90Ms, meanMs: stats.meanMs, timesMs: times };
}

/** Pooled latency of one (variant, runtime, batch), and the p50 of each round for ratio stability. */
interface Latency {
  p50Ms: number;
  p90Ms: number;
  meanMs: number;
  initMs: number;
  runs: number;
  roundP50Ms: number[];
}

const key = (variant: string, runtime: RuntimeName, batch: number) => `${variant}|${runtime}|${batch}`;

/** Every ONNX variant on both runtimes at both batch sizes, in rounds: each round visits the variants in a rotated
 * order and alternates which runtime goes first, so slow phases of the machine are shared out evenly. */
async function measureStudent(inputs: LatencyInputs, name: string, out: string, onnx: ArtifactResult[], runs1: number, rounds: number): Promise<Map<string, Latency>> {
  const samples = new Map<string, { times: number[]; init: number[]; roundP50: number[] }>();
  for (const batch of BATCHES) {
    const perRound = Math.ceil((batch === 1 ? runs1 : Math.ceil(runs1 / 3)) / rounds);
    for (let r = 0; r < rounds; r++) {
      const order = onnx.map((_, i) => onnx[(i + r) % onnx.length]!);
      for (const [i, a] of order.entries()) {
        const runtimes = (i + r) % 2 === 0 ? RUNTIMES : [...RUNTIMES].reverse();
        for (const rt of runtimes) {
          const res = await measure(inputs, rt, join(out, a.path), batch, perRound);
          const s = samples.get(key(a.variant, rt, batch)) ?? { times: [], init: [], roundP50: [] };
          s.times.push(...res.timesMs);
          s.init.push(res.initMs);
          s.roundP50.push(res.p50Ms);
          samples.set(key(a.variant, rt, batch), s);
        }
      }
      log(`${name}: batch ${batch}, round ${r + 1}/${rounds} done`);
    }
  }
  const result = new Map<string, Latency>();
  for (const [k, s] of samples) {
    const sorted = [...s.times].sort((a, b) => a - b);
    result.set(k, {
      p50Ms: percentile(sorted, 50),
      p90Ms: percentile(sorted, 90),
      meanMs: s.times.reduce((a, b) => a + b, 0) / s.times.length,
      initMs: percentile([...s.init].sort((a, b) => a - b), 50),
      runs: s.times.length,
      roundP50Ms: s.roundP50,
    });
  }
  return result;
}

interface Row {
  variant: string;
  format: ArtifactResult['format'];
  bytes: number;
  gzipBytes: number;
  sizeRatio: number;
  gzipRatio: number;
  accuracy: number;
  accuracyDrop: number;
  rejected: string | null;
  /** Per runtime and batch: p50 and speedup (fp32 p50 / variant p50), plus the speedup of each round. */
  latency: Partial<Record<`${RuntimeName}@${number}`, Latency & { speedup: number; roundSpeedups: number[] }>>;
}

function buildRows(artifacts: ArtifactResult[], lat: Map<string, Latency>): Row[] {
  return artifacts.map((a) => {
    const base = artifacts.find((b) => b.format === a.format && b.variant === 'fp32')!;
    const row: Row = {
      variant: a.variant, format: a.format, bytes: a.bytes, gzipBytes: a.gzipBytes, sizeRatio: a.bytes / base.bytes, gzipRatio: a.gzipBytes / base.gzipBytes,
      accuracy: a.accuracy, accuracyDrop: a.accuracyDrop, rejected: a.rejected, latency: {},
    };
    if (a.format !== 'onnx') return row;
    for (const rt of RUNTIMES) {
      for (const b of BATCHES) {
        const l = lat.get(key(a.variant, rt, b))!;
        const f = lat.get(key('fp32', rt, b))!;
        row.latency[`${rt}@${b}`] = { ...l, speedup: f.p50Ms / l.p50Ms, roundSpeedups: l.roundP50Ms.map((p, i) => f.roundP50Ms[i]! / p) };
      }
    }
    return row;
  });
}

const ms = (x: number) => (x < 1 ? x.toFixed(3) : x.toFixed(2));
const x2 = (x: number) => `${x.toFixed(2)}×`;

function renderTable(rows: Row[]): string {
  const head = ['variant', 'format', 'bytes', 'gzip bytes', 'size × fp32', 'test acc %', 'drop (pts)', 'rejected?', 'node b1 p50 ms', 'speedup', 'node b32 p50 ms', 'speedup', 'web b1 p50 ms', 'speedup', 'web b32 p50 ms', 'speedup'];
  const cell = (r: Row, rt: RuntimeName, b: number) => {
    const l = r.latency[`${rt}@${b}`];
    return l ? [ms(l.p50Ms), x2(l.speedup)] : ['-', '-'];
  };
  const lines = rows.map((r) => [
    r.variant, r.format, r.bytes, r.gzipBytes, x2(r.sizeRatio), (r.accuracy * 100).toFixed(2), r.accuracyDrop.toFixed(2), r.rejected ? 'yes' : 'no',
    ...cell(r, 'onnxruntime-node', 1), ...cell(r, 'onnxruntime-node', 32), ...cell(r, 'onnxruntime-web', 1), ...cell(r, 'onnxruntime-web', 32),
  ]);
  return [head, head.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

interface Check {
  name: string;
  artifact: string;
  value: string;
  target: string;
  pass: boolean;
}

const range = (xs: number[]) => `rounds ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}×`;

/** The issue's acceptance checks, computed from the phone-size MLP's table. */
function acceptanceChecks(rows: Row[]): { checks: Check[]; int8Candidates: { variant: string; checks: Check[] }[] } {
  const onnx = rows.filter((r) => r.format === 'onnx');
  const int8Checks = (r: Row): Check[] => {
    const l = r.latency['onnxruntime-node@1']!;
    return [
      { name: 'int8 speedup, node, batch 1', artifact: r.variant, value: `${x2(l.speedup)} (${range(l.roundSpeedups)})`, target: '>= 2×', pass: l.speedup >= 2 },
      { name: 'int8 size ratio vs fp32', artifact: r.variant, value: `${x2(r.sizeRatio)} (gzip ${x2(r.gzipRatio)})`, target: '<= 0.3×', pass: r.sizeRatio <= 0.3 },
      { name: 'int8 accuracy loss', artifact: r.variant, value: `${r.accuracyDrop.toFixed(2)} pt`, target: '<= 0.5 pt', pass: r.accuracyDrop <= 0.5 },
    ];
  };
  // "Best" int8 variant: the one passing most checks, ties broken by node batch-1 speed; all candidates are printed.
  const int8Candidates = onnx.filter((r) => r.variant.startsWith('int8')).map((r) => ({ variant: r.variant, checks: int8Checks(r), speedup: r.latency['onnxruntime-node@1']!.speedup }));
  int8Candidates.sort((a, b) => b.checks.filter((c) => c.pass).length - a.checks.filter((c) => c.pass).length || b.speedup - a.speedup);
  const checks = [...(int8Candidates[0]?.checks ?? [])];
  const pruned = onnx.find((r) => r.variant === 'pruned-50');
  if (pruned) {
    const l = pruned.latency['onnxruntime-node@1']!;
    checks.push(
      { name: 'structured pruning 50 % speedup, node, batch 1', artifact: pruned.variant, value: `${x2(l.speedup)} (${range(l.roundSpeedups)})`, target: '>= 1.6×', pass: l.speedup >= 1.6 },
      { name: 'structured pruning 50 % accuracy loss', artifact: pruned.variant, value: `${pruned.accuracyDrop.toFixed(2)} pt`, target: '<= 1 pt', pass: pruned.accuracyDrop <= 1 },
    );
  }
  return { checks, int8Candidates: int8Candidates.map(({ variant, checks }) => ({ variant, checks })) };
}

const renderChecks = (checks: Check[]) =>
  ['| check | artifact | measured | target | result |', '| --- | --- | --- | --- | --- |', ...checks.map((c) => `| ${c.name} | ${c.artifact} | ${c.value} | ${c.target} | ${c.pass ? 'PASS' : '**FAIL**'} |`)].join('\n');

/** The models of --foreign: made (or found) here, then quantized by the real CLI as a user would. */
const FOREIGN = [
  { name: 'pytorch-mlp', description: 'PyTorch-style MLP 784-1024-1024-2 (teacher train, 300 steps; one `logits` output, no metadata)', flags: ['--max-accuracy-drop', '0.1'], onnx: [{ kind: 'dynamic' }, { kind: 'static', perChannel: true }, { kind: 'float16' }] },
  { name: 'teacher', description: 'the shipped PyTorch CNN teacher (6 conv, 2 gemm; 1.2 M parameters), class output `logits`', flags: ['--class-output', 'logits', '--max-accuracy-drop', '0.5'], onnx: [{ kind: 'dynamic', perChannel: true }, { kind: 'static', perChannel: true }, { kind: 'float16' }] },
] as const;

async function foreignMain(values: { out?: string }, runs1: number, rounds: number): Promise<void> {
  const t0 = performance.now();
  const work = mkdtempSync(join(tmpdir(), 'edge-distill-compress-foreign-'));
  const example = JSON.parse(readFileSync(join(EXAMPLE, 'pipeline.json'), 'utf8'));
  const cfg = (name: string, extra: object) => {
    const c = { ...example, data: { ...example.data, train: { format: 'idx', features: join(EXAMPLE, example.data.train.features), labels: join(EXAMPLE, example.data.train.labels) }, test: { format: 'idx', features: join(EXAMPLE, example.data.test.features), labels: join(EXAMPLE, example.data.test.labels) } }, teacher: { model: join(EXAMPLE, 'teacher.onnx') }, ...extra };
    writeFileSync(join(work, `${name}.json`), JSON.stringify(c));
    return join(work, `${name}.json`);
  };
  const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin/edge-distill.mjs'), ...args], { cwd: ROOT, maxBuffer: 64 << 20 });
  const trained = join(work, 'trained.onnx');
  await cli(['teacher', 'train', '--config', cfg('train', { teacher: { model: trained, train: { arch: 'mlp', hidden: [1024, 1024], steps: 300 } } }), '--quiet']);
  const { decodeOnnxModel, keepOutputs } = await import('../exporters/onnx-any-quantize.ts');
  writeFileSync(join(work, 'pytorch-mlp.onnx'), keepOutputs(decodeOnnxModel(readFileSync(trained), trained), ['logits']));
  const inputs = await latencyInputs();
  const results = [];
  try {
    for (const f of FOREIGN) {
      const model = f.name === 'teacher' ? join(EXAMPLE, 'teacher.onnx') : join(work, 'pytorch-mlp.onnx');
      const out = join(work, `out-${f.name}`);
      const args = ['quantize', model, '--config', cfg(f.name, { compress: { onnx: f.onnx } }), ...f.flags, '--out', out, '--quiet', '--json'];
      log(`${f.name}: edge-distill ${args.join(' ')}`);
      const { report } = JSON.parse((await cli(args)).stdout) as { report: Report };
      const lat = await measureStudent(inputs, f.name, out, report.artifacts, runs1, rounds);
      results.push({ f, report, rows: buildRows(report.artifacts, lat) });
    }
  } finally {
    rmSync(inputs.dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
  const checks: Check[] = [];
  const mlp = results.find((r) => r.f.name === 'pytorch-mlp')!;
  const dyn = mlp.rows.find((r) => r.variant === 'int8-dynamic')!;
  const l = dyn.latency['onnxruntime-node@1']!;
  checks.push(
    { name: 'dynamic int8 speedup, node, batch 1, 1 thread', artifact: `pytorch-mlp ${dyn.variant}`, value: `${x2(l.speedup)} (${range(l.roundSpeedups)})`, target: '>= 2×', pass: l.speedup >= 2 },
    { name: 'dynamic int8 size ratio vs fp32', artifact: `pytorch-mlp ${dyn.variant}`, value: x2(dyn.sizeRatio), target: '<= 0.3×', pass: dyn.sizeRatio <= 0.3 },
    { name: 'dynamic int8 accuracy loss', artifact: `pytorch-mlp ${dyn.variant}`, value: `${dyn.accuracyDrop.toFixed(2)} pt`, target: '<= 0.1 pt', pass: dyn.accuracyDrop <= 0.1 },
  );
  const teacher = results.find((r) => r.f.name === 'teacher')!;
  const st = teacher.rows.find((r) => r.variant === 'int8-static-pc')!;
  const commandLine = `node --import tsx benchmarks/compress.ts --foreign --runs ${runs1} --rounds ${rounds}`;
  const md = [
    '# Quantizing models edge-distill did not make (`edge-distill quantize MODEL.onnx`)',
    '',
    `Command: \`${commandLine}\` — ${((performance.now() - t0) / 60000).toFixed(1)} min on ${cpus().length}× ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}. Each model is quantized by the real CLI on the bundled example's data (calibration: 512 training images; accuracy: the 10,000 test images); latency as in compress.md (p50 of one call, 1 thread, each measurement in its own process, ${rounds} interleaved rounds). Only ratios within this run mean anything.`,
    ...results.flatMap((r) => ['', `## ${r.f.name}: ${r.f.description}`, '', renderTable(r.rows), ...(r.report.artifacts.filter((a) => a.layers?.length).map((a) => `\n${a.name}: per-layer SQNR (dB, worst first) ${a.layers!.map((x) => `${x.node} ${x.sqnrDb.toFixed(1)}`).join(', ')}${a.keptFloat?.length ? `; kept in float32: ${a.keptFloat.join(', ')}` : ''}`))]),
    '',
    '## Acceptance (quantize any ONNX)',
    '',
    renderChecks(checks),
    '',
    `The shipped teacher, static per-channel int8: accuracy drop ${st.accuracyDrop.toFixed(2)} points, size ${x2(st.sizeRatio)}, batch-1 speed ${x2(st.latency['onnxruntime-node@1']!.speedup)} the float32 model's on onnxruntime-node (1 thread).`,
  ];
  const text = md.join('\n') + '\n';
  mkdirSync(values.out!, { recursive: true });
  writeFileSync(join(values.out!, 'compress-foreign.md'), text);
  writeFileSync(join(values.out!, 'compress-foreign.json'), JSON.stringify({ command: commandLine, models: results.map((r) => ({ name: r.f.name, description: r.f.description, source: r.report.source, rows: r.rows, layers: r.report.artifacts.map((a) => ({ artifact: a.name, layers: a.layers ?? null, keptFloat: a.keptFloat ?? null })) })), checks }, null, 2) + '\n');
  process.stdout.write(text);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { foreign: { type: 'boolean', default: false }, out: { type: 'string', default: join(HERE, 'results') }, runs: { type: 'string', default: '300' }, rounds: { type: 'string', default: '3' }, reuse: { type: 'boolean', default: false }, students: { type: 'string', default: CASES.map((c) => c.name).join(',') } },
  });
  const runs1 = Number(values.runs);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(runs1) || runs1 < 1 || !Number.isInteger(rounds) || rounds < 1) throw new Error(`--runs and --rounds must be positive integers, got ${values.runs}, ${values.rounds}`);
  if (values.foreign) return foreignMain(values, runs1, rounds);
  const t0 = performance.now();
  const load0 = loadavg()[0]!;
  const configDir = mkdtempSync(join(tmpdir(), 'edge-distill-compress-bench-'));
  const runsDir = join(HERE, '.cache/compress-runs');
  mkdirSync(values.out!, { recursive: true });

  const students = [];
  const chosen = values.students!.split(',');
  const unknown = chosen.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length) throw new Error(`unknown student ${unknown.join(', ')}; choose from ${CASES.map((c) => c.name).join(', ')}`);
  try {
    for (const c of CASES.filter((c) => chosen.includes(c.name))) students.push({ c, ...(await produceStudent(c, configDir, runsDir, values.reuse!)) });
  } finally {
    rmSync(configDir, { recursive: true, force: true }); // each config is also recorded in compress.json
  }
  const results = [];
  const inputs = await latencyInputs();
  try {
    for (const s of students) {
      const onnx = s.report.artifacts.filter((a) => a.format === 'onnx');
      const lat = await measureStudent(inputs, s.c.name, s.out, onnx, runs1, rounds);
      results.push({ ...s, rows: buildRows(s.report.artifacts, lat) });
    }
  } finally {
    rmSync(inputs.dir, { recursive: true, force: true });
  }
  const phone = results.find((r) => r.c.name === 'phone-mlp');
  const { checks, int8Candidates } = phone ? acceptanceChecks(phone.rows) : { checks: [], int8Candidates: [] };
  const minutes = (performance.now() - t0) / 60000;
  const commandLine = `node --import tsx benchmarks/compress.ts --runs ${runs1} --rounds ${rounds}${chosen.length < CASES.length ? ` --students ${chosen.join(',')}` : ''}${values.reuse ? ' --reuse' : ''}`;

  const md: string[] = [
    '# Compression benchmark',
    '',
    `Command: \`${commandLine}\` — ${minutes.toFixed(1)} min in total on ${cpus().length}× ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; load average ${load0.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end.`,
    '',
    `Students: the bundled example (Fashion-MNIST label % 2, 5,000 transfer images, the full 10,000-image test set), trained, compressed and exported by \`edge-distill run\` with a \`compress\` section (int8 dynamic, int8 static per-channel, float16, TF.js uint8/float16 weights, structured pruning 50 %, magnitude pruning 80 %; accuracy budget 1 point). Accuracy is from each run's report.json (the artifact loaded in its runtime, 10,000 test images); drop is in points vs the fp32 student, and "rejected" is the pipeline's verdict. "size × fp32" compares bytes with the same format's fp32 artifact.`,
    '',
    `Latency: p50 of one call from JavaScript (input tensor creation included) on real test images, 1 thread — onnxruntime-node 1.30 cpu EP (intra-op 1) and onnxruntime-web 1.30 wasm EP (numThreads 1) — each measurement in its own process (runtimes/bench-worker.ts). ${runs1} timed runs at batch 1 and ${Math.ceil(runs1 / 3)} at batch 32 per variant and runtime, in ${rounds} interleaved rounds (rotated variant order, alternating runtime order), pooled. Speedup = fp32 p50 / variant p50 on the same runtime and batch (> 1 is faster). The machine is shared and noisy (±30 % run to run): compare ratios within this table, not absolute times across runs.`,
  ];
  for (const r of results) {
    const st = r.report.students[0];
    md.push('', `## ${r.c.name}: ${r.c.description}`, '', `Fine-tuning after pruning: ${r.c.fineTuneSteps} steps. fp32 student: ${st ? `${st.parameters} parameters, test accuracy ${(st.accuracy * 100).toFixed(2)} %, trained in ${(st.trainMs / 1000).toFixed(0)} s` : 'n/a'}; teacher ${(r.report.teacher!.accuracy * 100).toFixed(2)} %. Pipeline run: ${Number.isNaN(r.ms) ? 'reused' : `${(r.ms / 1000).toFixed(0)} s`}.`, '', renderTable(r.rows));
  }
  if (phone) md.push(
    '',
    '## Acceptance checks (phone-size MLP)',
    '',
    `Best int8 ONNX variant: ${int8Candidates[0]?.variant ?? 'none'} (the int8 variant passing most checks; ties broken by node batch-1 speed). "rounds" is the range of the speedup computed within each interleaved round.`,
    '',
    renderChecks(checks),
    '',
    `Overall: ${checks.every((c) => c.pass) ? 'PASS' : `FAIL (${checks.filter((c) => !c.pass).length} of ${checks.length} checks fail)`}.`,
    '',
    'Every int8 candidate:',
    '',
    renderChecks(int8Candidates.flatMap((c) => c.checks)),
  );
  const text = md.join('\n') + '\n';
  writeFileSync(join(values.out!, 'compress.md'), text);
  const json = {
    command: commandLine,
    minutes, node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, loadavg: { start: load0, end: loadavg()[0] },
    settings: { runsBatch1: runs1, runsBatch32: Math.ceil(runs1 / 3), rounds, threads: 1, runtimes: RUNTIMES, batches: BATCHES },
    students: results.map((r) => ({ name: r.c.name, description: r.c.description, command: r.command, pipelineMs: r.ms, out: r.out, config: pipelineConfig(r.c), teacher: r.report.teacher!.accuracy, student: r.report.students[0], rows: r.rows })),
    acceptance: phone ? { student: 'phone-mlp', checks, int8Candidates, pass: checks.every((c) => c.pass) } : null,
  };
  writeFileSync(join(values.out!, 'compress.json'), JSON.stringify(json, null, 2) + '\n');
  process.stdout.write(text);
  log(`wrote ${join(values.out!, 'compress.md')} and compress.json`);
}

await main();
