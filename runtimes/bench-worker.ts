// One benchmark in a process of its own: runtimes interfere when they share one (onnxruntime-node and -web share
// onnxruntime-common; TF.js backends share one engine), and a fresh process gives a clean peak RSS.
//   node --import <tsx> runtimes/bench-worker.ts <job.json>
// The job names the runtime, the model, the inputs file (raw float32) and the timing options; the result is written
// to job.resultFile as JSON (stdout is left to the runtimes, some of which print banners).
import { readFileSync, writeFileSync } from 'node:fs';
import { loadRuntime, type RuntimeName } from './registry.ts';
import { timeBaseline, timeModel, type BatchTimes, type TimingOptions } from './measure.ts';

export interface WorkerJob extends TimingOptions {
  runtime: RuntimeName;
  /** The model to time; null for a baseline with no model: the same runtime, inputs and timing loop. */
  model: string | null;
  inputsFile: string;
  n: number;
  features: number;
  batches: number[];
  threads: number;
  resultFile: string;
}

export type WorkerResult =
  | { ok: true; initMs: number; exampleShape: number[]; batches: BatchTimes[]; peakRssBytes: number; rssGrowthBytes: number }
  | { ok: false; reason: string };

async function main(jobFile: string): Promise<void> {
  const job: WorkerJob = JSON.parse(readFileSync(jobFile, 'utf8'));
  let result: WorkerResult;
  try {
    const bytes = readFileSync(job.inputsFile);
    const x = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const runtime = await loadRuntime(job.runtime);
    await runtime.ready();
    // The process (Node, the runtime's code, the inputs) before the model.
    const before = process.memoryUsage().rss;
    const inputs = { x, n: job.n, features: job.features };
    const timed = job.model === null ? await timeBaseline(inputs, job) : await timeModel(runtime, job.model, inputs, job);
    const peak = peakRss();
    result = { ok: true, ...timed, peakRssBytes: peak, rssGrowthBytes: Math.max(0, peak - before) };
  } catch (err) {
    result = { ok: false, reason: ((err as Error).message ?? String(err)).split('\n')[0]!.slice(0, 500) };
  }
  writeFileSync(job.resultFile, JSON.stringify(result));
}

/**
 * This process's peak RSS: Linux's VmHWM, the high-water mark of this process's own address space. Not getrusage's
 * maxRSS, which keeps the parent's high-water mark across fork and exec (every worker of a 440 MB CLI process reported
 * at least 440 MB). Elsewhere maxRSS is all there is.
 */
function peakRss(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

await main(process.argv[2]!);
// Runtimes may keep handles (wasm worker threads) alive; the result is written, so end here.
process.exit(0);
