// The run's results: the report.json types (the machine contract) and their Markdown rendering for people.
import type { LatencyStats } from '../runtimes/measure.ts';
import type { ArtifactFormatName } from './deploy.ts';

export interface StudentResult {
  method: string;
  accuracy: number;
  validationAccuracy: number;
  parameters: number;
  subclasses: number;
  trainMs: number;
  steps: number;
  finalLoss: number;
  options: Record<string, string | number | boolean>;
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
  /** Pruned variants: share of kernel weights that are exactly zero, and the parameter count. */
  sparsity?: number;
  parameters?: number;
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

export interface BenchmarkResult extends LatencyStats {
  artifact: string;
  runtime: string;
  batch: number;
  threads: number;
}

export interface Report {
  tool: { name: string; version: string };
  task: { classes: number; classNames: string[] | null; train: number; validation: number; test: number; features: number };
  teacher: { path: string; sha256: string; accuracy: number; input: string; embedding: string; logits: string; embeddingDim: number; detected: string[] };
  students: StudentResult[];
  artifacts: ArtifactResult[];
  /** Cross-runtime parity of each student's exact artifacts. */
  parity: ParityGroup[];
  /** The smallest accepted artifact of each format, and why (present when the compress stage ran). */
  recommended: { artifact: string; format: string; why: string }[];
  benchmarks: BenchmarkResult[];
}

const pct = (x: number) => (x * 100).toFixed(2);
const ms = (x: number) => (x < 1 ? x.toFixed(3) : x.toFixed(2));
const kb = (b: number) => (b / 1024).toFixed(1);

function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function worstParity(a: ArtifactResult): string {
  if (!a.parity.length) return '-';
  const w = a.parity.reduce((x, y) => (y.maxAbsDiff > x.maxAbsDiff ? y : x));
  return `${w.maxAbsDiff.toExponential(1)} (${a.parity.map((p) => p.runtime).join(', ')})`;
}

export function renderMarkdown(r: Report): string {
  const t = r.teacher;
  const parts = [
    `# edge-distill report`,
    `Task: ${r.task.classes} classes${r.task.classNames ? ` (${r.task.classNames.join(', ')})` : ''}; ${r.task.train} transfer, ${r.task.validation} validation, ${r.task.test} test examples of ${r.task.features} features.`,
    `Teacher: \`${t.path}\` — test accuracy **${pct(t.accuracy)} %** (embedding \`${t.embedding}\` [${t.embeddingDim}], logits \`${t.logits}\`${t.detected.length ? `; detected: ${t.detected.join('; ')}` : ''}).`,
  ];
  if (r.students.length) {
    parts.push(
      `## Students`,
      table(
        ['method', 'test acc %', 'val acc %', 'Δ vs teacher (pts)', 'params', 'train s', 'options'],
        r.students.map((s) => [s.method, pct(s.accuracy), pct(s.validationAccuracy), ((s.accuracy - t.accuracy) * 100).toFixed(2), s.parameters, (s.trainMs / 1000).toFixed(1), Object.entries(s.options).map(([k, v]) => `${k}=${v}`).join(' ')]),
      ),
    );
  }
  if (r.artifacts.length) {
    parts.push(
      `## Artifacts`,
      table(
        ['artifact', 'variant', 'format', 'KiB', 'gzip KiB', 'test acc %', 'drop (pts)', 'measured on', 'max |Δp| vs student', 'agreement', 'verdict'],
        r.artifacts.map((a) => [a.name, a.variant, a.format, kb(a.bytes), kb(a.gzipBytes), pct(a.accuracy), a.accuracyDrop.toFixed(2), a.accuracyRuntime, worstParity(a), a.parity.length ? `${pct(Math.min(...a.parity.map((p) => p.agreement)))} %` : '-', a.rejected ? `**rejected**: ${a.rejected}` : 'ok']),
      ),
    );
  }
  if (r.parity.length) {
    parts.push(
      `## Cross-runtime parity (fp32 artifacts vs each other and the in-memory student)`,
      table(
        ['student', 'variant', 'examples', 'outputs compared', 'max |Δp|', 'agreement'],
        r.parity.map((g) => [g.student, g.variant, g.examples, g.compared.length, g.maxAbsDiff.toExponential(1), `${pct(g.agreement)} %`]),
      ),
    );
  }
  if (r.recommended.length) {
    parts.push(`## Recommended`, ...r.recommended.map((x) => `- **${x.artifact}** (${x.format}): ${x.why}.`).join('\n').split('\n'));
  }
  if (r.benchmarks.length) {
    parts.push(
      `## Latency (batch ${r.benchmarks[0]!.batch}, ms)`,
      table(
        ['artifact', 'runtime', 'threads', 'init', 'first run', 'p50', 'p90', 'p99', 'runs'],
        r.benchmarks.map((b) => [b.artifact, b.runtime, b.threads, ms(b.initMs), ms(b.firstRunMs), ms(b.p50Ms), ms(b.p90Ms), ms(b.p99Ms), b.runs]),
      ),
      'Latency is wall-clock time of one call from JavaScript, including input tensor creation; machines are noisy (±30 %), so compare rows of one report rather than across machines.',
    );
  }
  return parts.join('\n\n') + '\n';
}
