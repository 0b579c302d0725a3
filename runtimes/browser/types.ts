// The contract of the in-browser benchmark: what a caller (pipeline/stages/bench.ts) asks for and what it gets back.
// Interfaces and doc comments only; harness.ts implements it, page.js runs the measurement inside Chromium.

export type BrowserRuntimeName = 'onnxruntime-web' | 'tfjs-wasm' | 'tfjs-webgl' | 'litert-wasm';

export interface BrowserJob {
  id: string;
  /** Absolute path of model.onnx or model.tflite, or of a TF.js model.json (its weight files sit beside it). */
  modelFile: string;
  format: 'onnx' | 'tfjs-layers' | 'tfjs-graph' | 'tflite';
  /** onnx -> onnxruntime-web only; tfjs-* -> tfjs-wasm / tfjs-webgl; tflite -> litert-wasm (LiteRT.js, XNNPACK on CPU). */
  runtime: BrowserRuntimeName;
  /**
   * 'bench' (the default) times the model; 'outputs' runs every input example once, `batch` at a time, and returns
   * the first output of each (parity and accuracy checks): no timing, warmup and runs are ignored.
   */
  mode?: 'bench' | 'outputs';
  /**
   * DevTools Emulation.setCPUThrottlingRate, applied before the runtime and the model load (1 = no throttling).
   * Rates >= 2 are verified on a yardstick (a native sort); a job whose throttling did not hold is retried, then fails.
   */
  cpuThrottle: number;
  /**
   * Requested wasm threads. The page is cross-origin isolated (COOP/COEP), so threads > 1 can work; the outcome
   * reports the threads actually used. Chromium throttles only the page's main thread: wasm worker threads run
   * at full speed, so throttled jobs (emulated phones and watches) should ask for 1.
   */
  threads: number;
  batch: number;
  warmup: number;
  runs: number;
  /** Keep running past `runs` until this much timed time has accumulated (like TFLite's --min_secs). */
  minDurationMs: number;
  /** Real input examples, flat float32, n examples of `exampleShape` (e.g. [784] or [1, 28, 28]); batches cycle through them. */
  inputs: { x: Float32Array; n: number; exampleShape: number[]; name: string };
}

export interface BrowserSuccess {
  id: string;
  ok: true;
  /** Runtime initialisation (wasm compile / WebGL setup) plus model load, until the model can run; measured in the page. */
  initMs: number;
  /** The first inference (shader compilation, kernel selection, allocations). */
  firstRunMs: number;
  /**
   * One entry per timed run: tensor creation + inference + reading the first output back. Under throttling,
   * Chromium slows the page in ~200 µs slices, so runs well under a millisecond are hit unevenly (many run at
   * full speed): summarise those by the mean, or by total time over runs, not by the median.
   */
  times: number[];
  threads: number;
  /** Used JS heap of the page (CDP Runtime.getHeapUsage) after the runs. */
  jsHeapBytes: number | null;
  /** Largest WebAssembly.Memory the page instantiated, after the runs; null when no wasm ran (WebGL). */
  wasmBytes: number | null;
  userAgent: string;
  /** mode 'outputs': the first output of every example, concatenated in example order. */
  outputs?: Float32Array;
}

export interface BrowserFailure {
  id: string;
  ok: false;
  /** One line: what failed, for the bench report. */
  reason: string;
}

export type BrowserOutcome = BrowserSuccess | BrowserFailure;

export interface RunInChromiumOptions {
  /** Path of the Chromium binary (Debian's: /usr/bin/chromium). */
  chromium: string;
  /** Called after each job with the number of jobs finished so far. */
  onProgress?: (done: number, total: number, job: BrowserJob) => void;
  /** Wall-clock limit of one job, page load to result (default 120 s). */
  jobTimeoutMs?: number;
}
