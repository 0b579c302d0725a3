// The bench stage: latency, throughput and memory of every artifact (or any ONNX / TF.js model given to
// `edge-distill bench`) on every configured runtime that loads its format, under every device profile, in Node
// (each benchmark in a child process of its own) and in a page of headless Chromium. Inputs are real test examples.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchConfig } from '../config.ts';
import type { Datasets } from '../data/dataset.ts';
import type { ArtifactFormatName } from '../../exporters/deploy.ts';
import { f32Bytes } from '../util/fsutil.ts';
import { BATCH_DIM, OnnxGraphBuilder } from '../../exporters/onnx-builder.ts';
import { TOOL_VERSION } from '../util/versions.ts';
import { inspectModel } from '../inspect/inspect.ts';
import type { ModelInfo } from '../inspect/model-info.ts';
import type { Progress } from '../util/progress.ts';
import type { ArtifactResult, BenchmarkResult, BenchmarkSkipped } from '../report/types.ts';
import { tfjsNodeAvailable, tfjsNodeUnavailableReason } from '../util/tfjs.ts';
import { RUNTIME_TABLE, runtimeLoads, type RuntimeName } from '../../runtimes/registry.ts';
import { DEVICE_PROFILES, type DeviceProfile } from '../../runtimes/profiles.ts';
import { summarize } from '../../runtimes/stats.ts';
import type { WorkerJob, WorkerResult } from '../../runtimes/bench-worker.ts';
import type { BrowserJob } from '../../runtimes/browser/harness.ts';
import { RUNTIMES_FOR_FORMAT } from '../../runtimes/browser/formats.ts';

export interface BenchTarget {
  name: string;
  format: ArtifactFormatName;
  /** Absolute path of what the runtime loads. */
  file: string;
  /** Its inputs, size, parameters and FLOPs (pipeline/inspect/inspect.ts). */
  info: ModelInfo;
}

/** Examples fed to the benchmarks (cycled through); enough for distinct batches at the largest batch sizes. */
const BENCH_EXAMPLES = 1024;
// The worker runs as this module does: compiled JS from dist/, or the TypeScript sources through tsx (tests, benchmarks).
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER = fileURLToPath(new URL(`../../runtimes/bench-worker.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url));
const WORKER_NODE_ARGS = FROM_SOURCE ? ['--import', import.meta.resolve('tsx')] : [];

/** A model given on the command line (an .onnx file, or a TF.js model.json or its folder), as inspect reads it. */
export function benchTargetFromPath(p: string): BenchTarget {
  const info = inspectModel(resolve(p));
  const name = info.format === 'onnx' || info.format === 'tflite' ? basename(info.path) : `${basename(dirname(info.path))}/model.json`;
  return { name, format: info.format, file: info.path, info };
}

/** The configured profiles, built-in or the config's own (names are checked when the config is parsed). */
export function resolveProfiles(bench: BenchConfig): (DeviceProfile & { name: string })[] {
  const all: Record<string, DeviceProfile> = { ...DEVICE_PROFILES, ...bench.customProfiles };
  return bench.profiles.map((name) => ({ name, ...all[name]! }));
}

/** The smallest ONNX model of a [batch, features] float32 input: one Identity node. */
function identityOnnx(features: number): Uint8Array {
  const g = new OnnxGraphBuilder({ graphName: 'baseline', producerVersion: TOOL_VERSION });
  g.addInput('x', [BATCH_DIM, features]);
  g.addNode({ opType: 'Identity', inputs: ['x'], outputs: ['y'], name: 'identity' });
  g.addOutput('y', [BATCH_DIM, features]);
  return g.encode();
}

/** Run one Node benchmark in a fresh process. */
export async function runWorker(job: Omit<WorkerJob, 'resultFile'>, dir: string, id: number): Promise<WorkerResult> {
  const resultFile = join(dir, `result-${id}.json`);
  const jobFile = join(dir, `job-${id}.json`);
  writeFileSync(jobFile, JSON.stringify({ ...job, resultFile }));
  const stderr: string[] = [];
  const code = await new Promise<number | null>((done) => {
    const child = spawn(process.execPath, [...WORKER_NODE_ARGS, WORKER, jobFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
    child.on('close', done);
  });
  if (!existsSync(resultFile)) return { ok: false, reason: `benchmark process exited with ${code}: ${stderr.join('').trim().split('\n').at(-1)?.slice(0, 300) ?? ''}` };
  return JSON.parse(readFileSync(resultFile, 'utf8'));
}


export async function benchArtifacts(
  b: BenchConfig,
  data: Datasets,
  artifacts: ArtifactResult[],
  opts: { staging: string; models: string[]; progress: Progress },
): Promise<{ benchmarks: BenchmarkResult[]; skipped: BenchmarkSkipped[] }> {
  const targets: BenchTarget[] = [
    ...artifacts.map((a) => {
      const file = resolve(opts.staging, a.path);
      return { name: a.name, format: a.format, file, info: inspectModel(file) };
    }),
    ...opts.models.map(benchTargetFromPath),
  ];
  const profiles = resolveProfiles(b);
  const n = Math.min(BENCH_EXAMPLES, data.test.n);
  const x = data.test.x.read(0, n);
  const dir = mkdtempSync(join(tmpdir(), 'edge-distill-bench-'));
  const inputsFile = join(dir, 'inputs.f32');
  writeFileSync(inputsFile, f32Bytes(x));
  const benchmarks: BenchmarkResult[] = [];
  const skipped: BenchmarkSkipped[] = [];
  const model = (t: BenchTarget) => {
    const i = t.info;
    return { bytes: i.bytes, gzipBytes: i.gzipBytes, parameters: i.parameters, flopsPerExample: i.flops.lowerBound ? null : i.flops.perExample };
  };
  const overLimit = (p: DeviceProfile, bytes: number | null) => p.memoryMB !== null && bytes !== null && bytes > p.memoryMB * 1024 * 1024;
  try {
    if (b.environments.includes('node')) {
      // tfjs-node is optional: where its native binding cannot install, say so once per artifact instead of failing.
      const tfjsNode = b.runtimes.includes('tfjs-node') && !(await tfjsNodeAvailable()) ? `@tensorflow/tfjs-node not available: ${tfjsNodeUnavailableReason() ?? 'not installed'}` : null;
      const jobs = targets.flatMap((t) => b.runtimes.filter((r) => runtimeLoads(r, t.format)).flatMap((r) => profiles.map((p) => ({ t, r, p }))));
      const step = opts.progress.step('benchmark (node)', jobs.length);
      let id = 0;
      const baselines = new Map<string, number | null>();
      // ONNX runtimes set up their environment (kernel registry, thread pools, allocators) with the first session, not
      // on import: their baseline loads a one-node Identity model of the same input, so that this fixed cost, which
      // any model pays once per process, is not counted as the model's. Other runtimes are ready without a model.
      const baselineModel = (r: RuntimeName, features: number): string | null => {
        if (!runtimeLoads(r, 'onnx')) return null;
        const file = join(dir, `identity-${features}.onnx`);
        if (!existsSync(file)) writeFileSync(file, identityOnnx(features));
        return file;
      };
      for (const { t, r, p } of jobs as { t: BenchTarget; r: RuntimeName; p: (typeof profiles)[number] }[]) {
        step.tick(1, `${t.name} on ${r} (${p.name})`);
        if (r === 'tfjs-node' && tfjsNode) {
          if (p === profiles[0]) skipped.push({ artifact: t.name, runtime: r, environment: 'node', reason: tfjsNode });
          continue;
        }
        const threads = b.threads ?? p.threads;
        // Report what really ran: some runtimes ignore the thread count in Node.
        const threadsUsed = RUNTIME_TABLE[r].singleThreaded ? 1 : threads;
        const job = { runtime: r, inputsFile, n, features: data.test.features, batches: b.batches, threads, warmup: b.warmup, runs: b.runs, minDurationMs: b.minDurationMs };
        const res = await runWorker({ ...job, model: t.file }, dir, id++);
        if (!res.ok) {
          skipped.push({ artifact: t.name, runtime: r, environment: 'node', reason: res.reason });
          continue;
        }
        // The model's own memory: this worker's peak RSS minus that of a baseline worker with the same runtime, inputs
        // and timing loop and no model of its own (an Identity model for ONNX runtimes; once per runtime and thread count).
        const key = `${r}|${threads}`;
        if (!baselines.has(key)) {
          const base = await runWorker({ ...job, model: baselineModel(r, data.test.features) }, dir, id++);
          baselines.set(key, base.ok ? base.peakRssBytes : null);
        }
        const basePeak = baselines.get(key)!;
        const modelBytes = basePeak === null ? null : Math.max(0, res.peakRssBytes - basePeak);
        for (const bt of res.batches) {
          benchmarks.push({
            artifact: t.name, format: t.format, runtime: r, environment: 'node', profile: p.name, cpuThrottle: 1, batch: bt.batch, threads: threadsUsed,
            ...summarize(bt.times, { initMs: res.initMs, firstRunMs: bt.firstRunMs, warmup: b.warmup, batch: bt.batch }),
            memory: { modelBytes, peakRssBytes: res.peakRssBytes, baselineRssBytes: basePeak, rssGrowthBytes: res.rssGrowthBytes, jsHeapBytes: null, wasmBytes: null, overProfileLimit: overLimit(p, modelBytes) },
            model: model(t),
          });
        }
      }
      step.done(`${jobs.length} node benchmarks`);
    }
    if (b.environments.includes('chromium')) await benchInChromium();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { benchmarks, skipped };

  async function benchInChromium(): Promise<void> {
    const jobs: (BrowserJob & { target: BenchTarget; profile: (typeof profiles)[number] })[] = [];
    for (const t of targets) {
      const input = t.info.inputs[0];
      const exampleShape = (input?.shape ?? []).slice(1);
      for (const r of b.browserRuntimes.filter((r) => (RUNTIMES_FOR_FORMAT[t.format] as readonly string[] | undefined)?.includes(r))) {
        for (const p of profiles) {
          for (const batch of b.batches) {
            jobs.push({
              // DevTools throttles the page's main thread only: wasm worker threads would escape a throttled profile.
              id: `${jobs.length}`, target: t, profile: p, modelFile: t.file, format: t.format, runtime: r, cpuThrottle: p.cpuThrottle, threads: p.cpuThrottle > 1 ? 1 : (b.threads ?? p.threads),
              batch, warmup: b.warmup, runs: b.runs, minDurationMs: b.minDurationMs,
              inputs: { x, n, exampleShape: exampleShape.every((d) => typeof d === 'number') ? (exampleShape as number[]) : [data.test.features], name: input?.name ?? '' },
            });
          }
        }
      }
    }
    if (!jobs.length) return;
    const step = opts.progress.step('benchmark (chromium)', jobs.length);
    const { runInChromium } = await import('../../runtimes/browser/harness.ts');
    let outcomes;
    try {
      outcomes = await runInChromium(jobs, { chromium: b.chromium, onProgress: (_done, _total, j) => step.tick(1, `${j.modelFile.split('/').slice(-3).join('/')} on ${j.runtime}`) });
    } catch (err) {
      const reason = (err as Error).message.split('\n')[0]!;
      for (const j of jobs) if (j.profile === profiles[0] && j.batch === b.batches[0]) skipped.push({ artifact: j.target.name, runtime: j.runtime, environment: 'chromium', reason });
      step.done('Chromium unavailable');
      return;
    }
    for (const [i, o] of outcomes.entries()) {
      const j = jobs[i]!;
      if (!o.ok) {
        if (!skipped.some((s) => s.artifact === j.target.name && s.runtime === j.runtime && s.environment === 'chromium')) skipped.push({ artifact: j.target.name, runtime: j.runtime, environment: 'chromium', reason: o.reason });
        continue;
      }
      const peak = o.jsHeapBytes !== null || o.wasmBytes !== null ? (o.jsHeapBytes ?? 0) + (o.wasmBytes ?? 0) : null;
      benchmarks.push({
        artifact: j.target.name, format: j.format, runtime: j.runtime, environment: 'chromium', profile: j.profile.name, cpuThrottle: j.cpuThrottle, batch: j.batch, threads: o.threads,
        ...summarize(o.times, { initMs: o.initMs, firstRunMs: o.firstRunMs, warmup: b.warmup, batch: j.batch }),
        memory: { modelBytes: null, peakRssBytes: null, baselineRssBytes: null, rssGrowthBytes: null, jsHeapBytes: o.jsHeapBytes, wasmBytes: o.wasmBytes, overProfileLimit: overLimit(j.profile, peak) },
        model: model(j.target),
      });
    }
    step.done(`${outcomes.filter((o) => o.ok).length} of ${jobs.length} chromium benchmarks`);
  }
}
