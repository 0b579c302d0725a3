// Benchmarks models inside real headless Chromium pages under DevTools CPU throttling: one browser for all jobs,
// a fresh context and page per job, the page served only by our local server (server.ts) and timed by page.js.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { EdgeDistillError } from '../../pipeline/errors.ts';
import { startBenchServer, type BenchServer } from './server.ts';
import { checkThrottleAfterRuns, throttle, ThrottleNotApplied, type Yardstick } from './throttle.ts';
import { RUNTIMES_FOR_FORMAT } from './formats.ts';
import { RUNTIME_MODULE, RUNTIME_SCRIPTS, WASM_FOLDER } from './vendor.ts';
import type { BrowserJob, BrowserOutcome, BrowserRuntimeName, BrowserSuccess, RunInChromiumOptions } from './types.ts';

export type { BrowserJob, BrowserOutcome, BrowserRuntimeName, BrowserSuccess, BrowserFailure, RunInChromiumOptions } from './types.ts';

const WASM_MEMORY_SCRIPT = fileURLToPath(new URL('./wasm-memory.js', import.meta.url));
const DEFAULT_JOB_TIMEOUT_MS = 120_000;

/** Playwright already runs a fresh temporary profile (--user-data-dir) and adds --headless; we keep it explicit. */
const BASE_ARGS = ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/**
 * WebGL without a GPU: ANGLE on SwiftShader (software Vulkan). Chromium 156 here falls back to it even with
 * --disable-gpu (Playwright passes --enable-unsafe-swiftshader), but a run with WebGL jobs asks for it explicitly
 * rather than rely on a fallback Chromium is phasing out; runs without WebGL jobs keep the GPU off.
 */
const WEBGL_ARGS = ['--use-angle=swiftshader', '--enable-unsafe-swiftshader'];
const NO_GPU_ARGS = ['--disable-gpu'];
/** The flags for a headless, offline Chromium without WebGL (also what the browser tests launch with). */
export const CHROMIUM_ARGS = [...BASE_ARGS, ...NO_GPU_ARGS];


/** What page.js's `edgeDistillBench` takes: the job with its files turned into URLs on the bench server. */
interface PageSpec {
  runtime: BrowserRuntimeName;
  format: BrowserJob['format'];
  modelUrl: string;
  inputsUrl: string;
  inputName: string;
  n: number;
  exampleShape: number[];
  batch: number;
  warmup: number;
  runs: number;
  minDurationMs: number;
  threads: number;
  /** Vendor scripts in load order, the ES module to import instead (LiteRT.js), and the folder of the runtime's wasm binaries (with a trailing slash). */
  scripts: string[];
  moduleUrl: string | null;
  wasmPath: string | null;
  mode: 'bench' | 'outputs';
}
/** `slowdown`: how much slower page.js's yardstick ran after the runs than before throttling; outputs come as a plain array. */
type PageResult = (Omit<BrowserSuccess, 'id' | 'jsHeapBytes' | 'outputs'> & { slowdown: number | null; outputs?: number[] }) | { ok: false; reason: string };

/** What page.js defines on the page's global object (evaluate callbacks run in the page: no closures over this module). */
interface PageApi extends Yardstick {
  edgeDistillBench(spec: PageSpec): Promise<PageResult>;
}

/** A job whose throttling did not hold is run again in a fresh context, this many times in all. */
const ATTEMPTS = 5;
/** Pause before retrying a job whose throttling did not hold: the load that starved Chromium's throttling thread passes. */
const RETRY_PAUSE_MS = 2000;

/** Why the job cannot run at all, or null. Checked before the browser sees it so the reason names the bad field. */
function invalid(job: BrowserJob): string | null {
  const runtimes = RUNTIMES_FOR_FORMAT[job.format];
  if (!runtimes) return `unknown format ${JSON.stringify(job.format)}`;
  if (!runtimes.includes(job.runtime)) return `${job.format} models run on ${runtimes.join(' or ')}, not ${job.runtime}`;
  if (!existsSync(job.modelFile) || !statSync(job.modelFile).isFile()) return `model file ${job.modelFile} does not exist`;
  for (const key of ['batch', 'threads', 'runs'] as const) {
    if (!Number.isInteger(job[key]) || job[key] < 1) return `${key} must be a positive integer, got ${job[key]}`;
  }
  if (!Number.isInteger(job.warmup) || job.warmup < 0) return `warmup must be a non-negative integer, got ${job.warmup}`;
  if (!(job.cpuThrottle >= 1)) return `cpuThrottle must be >= 1 (1 = no throttling), got ${job.cpuThrottle}`;
  if (!(job.minDurationMs >= 0)) return `minDurationMs must be >= 0, got ${job.minDurationMs}`;
  const { x, n, exampleShape } = job.inputs;
  const size = exampleShape.reduce((a, b) => a * b, 1);
  if (!(n >= 1) || !(size >= 1) || x.length !== n * size) {
    return `inputs hold ${x.length} floats, not n=${n} examples of [${exampleShape.join(', ')}]`;
  }
  return null;
}

/** One line, without Playwright's call log. */
function oneLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.trim();
}

function rejectAfter(ms: number, what: string): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what} timed out after ${Math.round(ms / 1000)} s`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Everything one job does inside its own context; the context is closed by the caller. */
async function measure(context: BrowserContext, server: BenchServer, job: BrowserJob, prefix: string, timeoutMs: number): Promise<BrowserOutcome> {
  const blocked: string[] = [];
  const pageErrors: string[] = [];
  // The page may talk to our server only: a runtime that phones home (a CDN fallback, telemetry) fails the job.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if ([`${server.url}/`, `blob:${server.url}/`, 'data:'].some((ok) => url.startsWith(ok))) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  await context.addInitScript({ path: WASM_MEMORY_SCRIPT });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(oneLine(err)));
  page.on('console', (msg) => msg.type() === 'error' && pageErrors.push(msg.text().split('\n')[0]!));
  const cdp = await context.newCDPSession(page);

  const wasmFolder = WASM_FOLDER[job.runtime];
  const spec: PageSpec = {
    runtime: job.runtime,
    format: job.format,
    modelUrl: `${server.url}${prefix}model/${encodeURIComponent(basename(job.modelFile))}`,
    inputsUrl: `${server.url}${prefix}inputs.bin`,
    inputName: job.inputs.name,
    n: job.inputs.n,
    exampleShape: job.inputs.exampleShape,
    batch: job.batch,
    warmup: job.warmup,
    runs: job.runs,
    minDurationMs: job.minDurationMs,
    threads: job.threads,
    scripts: RUNTIME_SCRIPTS[job.runtime].map((file) => `${server.url}/vendor/${file}`),
    moduleUrl: RUNTIME_MODULE[job.runtime] ? `${server.url}/vendor/${RUNTIME_MODULE[job.runtime]}` : null,
    wasmPath: wasmFolder && `${server.url}/vendor/${wasmFolder}/`,
    mode: job.mode ?? 'bench',
  };

  const timeout = rejectAfter(timeoutMs, `job ${job.id}`);
  let result: PageResult;
  try {
    const run = (async () => {
      await page.goto(`${server.url}/`);
      // Before the runtime and the model load, so init and every run see the emulated device.
      await throttle(page, cdp, job.cpuThrottle);
      return page.evaluate((s) => (globalThis as unknown as PageApi).edgeDistillBench(s), spec);
    })();
    run.catch(() => {}); // after a timeout, closing the context rejects it; nobody is listening any more
    result = await Promise.race([run, timeout.promise]);
  } finally {
    timeout.cancel();
  }

  if (blocked.length) return { id: job.id, ok: false, reason: `the page requested URLs outside the local server (blocked): ${blocked.join(', ')}` };
  if (!result.ok) {
    const detail = pageErrors.find((e) => !result.reason.includes(e));
    return { id: job.id, ok: false, reason: detail ? `${result.reason} (page: ${detail})` : result.reason };
  }
  const { slowdown, outputs, ...measured } = result;
  checkThrottleAfterRuns(job.cpuThrottle, slowdown);
  if (outputs) return { id: job.id, ...measured, jsHeapBytes: null, outputs: Float32Array.from(outputs) };
  // usedSize of the page's main isolate, with the model still loaded: what the app holds while it runs.
  const heap = await cdp.send('Runtime.getHeapUsage').then((h) => h.usedSize, () => null);
  return { id: job.id, ...measured, jsHeapBytes: heap };
}

async function runJob(browser: Browser, server: BenchServer, job: BrowserJob, key: string, timeoutMs: number): Promise<BrowserOutcome> {
  const problem = invalid(job);
  if (problem) return { id: job.id, ok: false, reason: problem };
  const prefix = server.mount(key, { modelDir: dirname(job.modelFile), inputs: job.inputs.x });
  try {
    for (let attempt = 1; ; attempt++) {
      // A fresh context per job: no HTTP cache, compiled wasm, WebGL programs or heap carried over from the last one.
      const context = await browser.newContext();
      try {
        return await measure(context, server, job, prefix, timeoutMs);
      } catch (err) {
        if (err instanceof ThrottleNotApplied && attempt < ATTEMPTS) {
          await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
          continue;
        }
        return { id: job.id, ok: false, reason: oneLine(err) };
      } finally {
        await context.close().catch(() => {});
      }
    }
  } finally {
    server.unmount(key);
  }
}

/**
 * Run the jobs one after the other (parallel jobs would share the cores and skew each other's times) in one
 * Chromium. A failing job becomes ok:false with a one-line reason; only a missing or unstartable browser throws.
 */
export async function runInChromium(jobs: BrowserJob[], opts: RunInChromiumOptions): Promise<BrowserOutcome[]> {
  if (!existsSync(opts.chromium)) {
    throw new EdgeDistillError(
      'E_RUNTIME',
      `Chromium not found at ${opts.chromium}; install Debian's with \`apt-get install chromium\``,
      'Run `apt-get update && apt-get install -y chromium` (browser benchmarks never download a browser), or leave the browser runtimes out.',
    );
  }
  const server = await startBenchServer();
  let browser: Browser | undefined;
  try {
    const args = [...BASE_ARGS, ...(jobs.some((j) => j.runtime === 'tfjs-webgl') ? WEBGL_ARGS : NO_GPU_ARGS)];
    try {
      browser = await chromium.launch({ executablePath: opts.chromium, args });
    } catch (err) {
      throw new EdgeDistillError('E_RUNTIME', `Chromium at ${opts.chromium} did not start: ${oneLine(err)}`, 'Check that `chromium --headless --no-sandbox about:blank` runs; reinstall with `apt-get install chromium`.', { cause: err });
    }
    const outcomes: BrowserOutcome[] = [];
    for (const [i, job] of jobs.entries()) {
      outcomes.push(await runJob(browser, server, job, `j${i}`, opts.jobTimeoutMs ?? DEFAULT_JOB_TIMEOUT_MS));
      opts.onProgress?.(i + 1, jobs.length, job);
    }
    return outcomes;
  } finally {
    await browser?.close().catch(() => {});
    await server.close();
  }
}
