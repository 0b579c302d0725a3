// The run's results: the report.json types, the machine contract that scripts and CI read (report.json is exactly a
// Report). People read their renderings: markdown.ts and html.ts.
import type { LatencyStats } from '../../runtimes/stats.ts';
import type { ArtifactFormatName } from '../../exporters/deploy.ts';

export interface StudentResult {
  method: string;
  accuracy: number;
  validationAccuracy: number;
  parameters: number;
  subclasses: number;
  trainMs: number;
  /** Steps run (fewer than configured when train.patience stopped training early). */
  steps: number;
  /** The step whose weights the student has: the last, or with train.keepBest the best validation check's. */
  chosenStep: number;
  earlyStopped: boolean;
  finalLoss: number;
  options: Record<string, string | number | boolean>;
  /**
   * With both a label-only and an oracle student in the run: (accuracy - label's) / (oracle's - label's), the share of
   * what the true subclasses gain over labels that this method captured; null when the oracle gains nothing (no
   * subclass structure to transfer). Absent without those two students.
   */
  shareOfOracleGain?: number | null;
}

/** The students with shareOfOracleGain set when the run has a label-only and an oracle student (the first of each). */
export function withOracleShare(students: StudentResult[]): StudentResult[] {
  const label = students.find((s) => s.method === 'label');
  const oracle = students.find((s) => s.method === 'oracle');
  if (!label || !oracle) return students;
  const gain = oracle.accuracy - label.accuracy;
  return students.map((s) => ({ ...s, shareOfOracleGain: gain > 0 ? (s.accuracy - label.accuracy) / gain : null }));
}

/** The share of the oracle's gain as a table cell: "62 %", "n/a" (the oracle gained nothing), or null (no column). */
export function oracleShareCell(s: StudentResult): string | null {
  if (s.shareOfOracleGain === undefined) return null;
  return s.shareOfOracleGain === null ? 'n/a (oracle ≤ label)' : `${(s.shareOfOracleGain * 100).toFixed(0)} %`;
}

/** The teacher's fine-label probe (pipeline/teacher/probe.ts computes it). */
export interface FineProbe {
  /** Argmax accuracy of the fine labels on the measured split. */
  accuracy: number;
  /** Fine labels told apart: classes * subclasses. */
  fineLabels: number;
  fittedOn: number;
  measuredOn: number;
}

/** The report's sentence on the teacher's fine-label probe. */
export function fineProbeSentence(p: FineProbe): string {
  return `A linear probe reads the ${p.fineLabels} fine labels (data.labelMap) from the teacher's embedding at ${(p.accuracy * 100).toFixed(2)} % (fitted on ${p.fittedOn} transfer examples, measured on ${p.measuredOn} test examples): how much of the subclass structure LELP mines the embedding keeps.`;
}

/** "2500", or "1800 of 2500" when the best validation check was kept ("..., stopped early" when patience ended it). */
export function keptSteps(s: Pick<StudentResult, 'steps' | 'chosenStep' | 'earlyStopped'>): string {
  if (s.chosenStep === undefined || (s.chosenStep === s.steps && !s.earlyStopped)) return String(s.steps);
  return `${s.chosenStep} of ${s.steps}${s.earlyStopped ? ', stopped early' : ''}`;
}

export interface ArtifactResult {
  name: string;
  /** The student (method) it was made from. */
  method: string;
  /** 'fp32', or the compression applied (e.g. 'int8-dynamic', 'float16', 'uint8-weights', 'pruned-50'). */
  variant: string;
  format: ArtifactFormatName;
  /** What a runtime loads, relative to --out. */
  path: string;
  /** The bundle's deploy.json, relative to --out. */
  deploy: string;
  /** Everything a deployment ships (model.json + weights for TF.js). */
  bytes: number;
  gzipBytes: number;
  sha256: string;
  /** Test accuracy measured by loading the artifact in its runtime. */
  accuracy: number;
  /** Points below the in-memory student's test accuracy (negative: better). */
  accuracyDrop: number;
  accuracyRuntime: string;
  /** Agreement with the in-memory student on up to 1,000 test examples, on every runtime of the format. */
  parity: RuntimeParity[];
  /** Why the artifact is not shippable (over the accuracy budget), or null. */
  rejected: string | null;
  /** Variants of a model edge-distill did not make: how far its outputs moved from the float32 model's (all outputs; agreement of the class output's, or the first output's, argmax). */
  fidelity?: { sqnrDb: number; maxAbsError: number; agreement: number };
  /** int8 variants of such a model: each quantized node's own error (only it quantized, float32 inputs), worst first. */
  layers?: LayerError[];
  /** Mixed precision: the nodes kept in float32 to bring the variant within the accuracy budget, in the order they were. */
  keptFloat?: string[];
  /** Pruned variants: share of kernel weights that are exactly zero, and the parameter count. */
  sparsity?: number;
  parameters?: number;
}

export interface TargetRecommendation {
  runtime: string;
  environment: 'node' | 'chromium';
  profile: string;
  batch: number;
  fastest: { artifact: string; p50Ms: number; why: string };
  smallest: { artifact: string; bytes: number; why: string };
}

/** One quantized node's own error: its output with only it quantized, against the float32 model's (exporters/onnx-any-quantize.ts). */
export interface LayerError {
  node: string;
  op: string;
  output: string;
  /** 10·log10(Σ r² / Σ (r − q)²) over the test rows used; higher is better. */
  sqnrDb: number;
  maxAbsError: number;
  /** What keeping its weights in float32 costs in file size. */
  floatBytes: number;
}

/** The model a quantize-only job was given (`edge-distill quantize MODEL.onnx`): no teacher, no students. */
export interface SourceModel {
  path: string;
  sha256: string;
  bytes: number;
  input: string;
  exampleShape: number[];
  outputs: string[];
  /** The output read as class scores (compress.classOutput, or the only 2-D output), or null. */
  classOutput: string | null;
  /** 'accuracy' with a class output and labelled test data; else 'fidelity' (agreement with the float32 model). */
  judged: 'accuracy' | 'fidelity';
  /** The float32 model's test accuracy (or 1 under fidelity). */
  accuracy: number;
  quantizable: { node: string; op: string; weightElements: number }[];
}

export interface RuntimeParity {
  runtime: string;
  examples: number;
  /** Largest |p_artifact - p_student| over examples and classes. */
  maxAbsDiff: number;
  /** Share of examples whose predicted class is the same. */
  agreement: number;
}

/** The exact (fp32) artifacts of one student compared pairwise across every format and runtime, and the student. */
export interface ParityGroup {
  student: string;
  variant: string;
  examples: number;
  compared: string[];
  maxAbsDiff: number;
  agreement: number;
  worstPair: [string, string];
}

/** One benchmark: a model on a runtime, in an environment, under a device profile, at one batch size. */
export interface BenchmarkResult extends LatencyStats {
  artifact: string;
  format: ArtifactFormatName;
  /** e.g. onnxruntime-node, onnxruntime-web, tfjs-wasm, tfjs-cpu, tfjs-node, tfjs-graph-wasm (Node); onnxruntime-web, tfjs-wasm, tfjs-webgl (Chromium). */
  runtime: string;
  environment: 'node' | 'chromium';
  profile: string;
  /** CPU slowdown applied (Chromium's DevTools throttling; always 1 in Node, which has no such control). */
  cpuThrottle: number;
  batch: number;
  threads: number;
  memory: {
    /**
     * Node: what the model costs — this process's peak RSS minus `baselineRssBytes`, that of a process with the same
     * runtime, inputs and timing loop and no model (so weights, session, arena and outputs). ± a few MB of noise.
     */
    modelBytes: number | null;
    /** Node: the benchmark process's peak resident set size (Node, the runtime's code and the inputs included). */
    peakRssBytes: number | null;
    /** Node: the peak RSS of the no-model process `modelBytes` is measured against. */
    baselineRssBytes: number | null;
    /** Node: peak RSS minus the RSS just before the model was loaded: the model's and its session's share. */
    rssGrowthBytes: number | null;
    /** Chromium: the page's JS heap in use after the runs. */
    jsHeapBytes: number | null;
    /** Chromium: the largest WebAssembly memory the runtime allocated. */
    wasmBytes: number | null;
    /** The profile's memoryMB was exceeded by the model's memory (Node: modelBytes; Chromium: JS heap + wasm). */
    overProfileLimit: boolean;
  };
  model: { bytes: number; gzipBytes: number; parameters: number; flopsPerExample: number | null };
}

/** A runtime that could not run a model here, and why (e.g. tfjs-node not installed, WebGL unavailable headless). */
export interface BenchmarkSkipped {
  artifact: string;
  runtime: string;
  environment: 'node' | 'chromium';
  reason: string;
}

export interface Report {
  tool: { name: string; version: string };
  task: { classes: number; classNames: string[] | null; train: number; validation: number; test: number; features: number };
  /** A quantize-only job's model (then `teacher` is null and there are no students). */
  source?: SourceModel;
  teacher: null | {
    path: string;
    sha256: string;
    accuracy: number;
    input: string;
    embedding: string;
    logits: string;
    embeddingDim: number;
    detected: string[];
    /**
     * Where the data has fine labels (data.labelMap) and students were distilled: a linear probe's accuracy on the
     * fine labels from the teacher's embedding, fitted on the transfer set and measured on the test split. Low means
     * the embedding lost the subclass structure LELP mines (pipeline/teacher/probe.ts).
     */
    fineProbe?: FineProbe;
  };
  students: StudentResult[];
  artifacts: ArtifactResult[];
  /** Cross-runtime parity of each student's exact artifacts. */
  parity: ParityGroup[];
  /** The smallest accepted artifact of each format, and why (present when the compress stage ran). */
  recommended: { artifact: string; format: string; why: string }[];
  /**
   * What to ship on each benchmarked target (runtime, environment, device profile, at its smallest batch): the fastest
   * accepted artifact by p50 latency and the smallest accepted one, each with why. Empty without a bench stage.
   */
  recommendedFor?: TargetRecommendation[];
  /** Microcontroller bundles (compress.tflite "micro"): int8-in/out models for TFLite Micro; absent without them. */
  micro?: MicroBundleResult[];
  benchmarks: BenchmarkResult[];
  benchmarksSkipped: BenchmarkSkipped[];
  /** Every release budget of the config checked against this report (empty without a budgets section); any `ok: false` fails the build with exit code 3. */
  budgets: BudgetResult[];
}

/**
 * A TFLite Micro bundle: the int8-in/out twin of the `int8` .tflite artifact `twin` (the same integer graph, checked
 * when written: its accuracy is the twin's), as model_data.h/.cc and model_ops.h, with what a firmware needs.
 */
export interface MicroBundleResult {
  name: string;
  method: string;
  twin: string;
  /** The bundle folder, relative to the run's --out; null when the bundle was not written (see `rejected`). */
  path: string | null;
  /** Why the bundle was not written (its int8 twin broke the accuracy budget), or null. */
  rejected: string | null;
  flashBytes: number;
  /** Estimated tensor arena (exporters/tflite-micro.ts): activations planned greedily + a persistent margin. */
  arenaBytes: number;
  arena: { activationBytes: number; persistentBytes: number; method: string };
  ops: string[];
  inputs: { name: string; shape: number[]; dtype: string; scale: number; zeroPoint: number }[];
  outputs: { name: string; shape: number[]; dtype: string; scale: number; zeroPoint: number }[];
}

/** One verdict: a budget checked on one artifact (or benchmark row), as stored in report.json's `budgets`. */
export interface BudgetResult {
  /** The budget as people read it, e.g. 'p90Ms <= 5 ms [phone/chromium/onnxruntime-web]' or 'gzipBytes <= 20000'. */
  budget: string;
  /** The artifact checked; null when the budget found nothing to check (which is itself a failure). */
  artifact: string | null;
  limit: number;
  /** The measured value in `unit`; null when there was nothing to measure. */
  actual: number | null;
  unit: string;
  ok: boolean;
  message: string;
}
