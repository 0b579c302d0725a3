// Release budgets: the limits a build must meet (latency, size, accuracy), their config schema, and their
// evaluation against a finished report. Pure: the runner stores the verdicts in the report, the CLI turns a broken
// budget into exit code 3 (pipeline/cli.ts) and junit.ts shows them to CI.
import { z } from 'zod';
import type { ArtifactResult, BenchmarkResult, BudgetResult, Report } from './types.ts';

export const LATENCY_METRICS = ['p50Ms', 'p90Ms', 'p95Ms', 'p99Ms', 'meanMs'] as const;
export type LatencyMetric = (typeof LATENCY_METRICS)[number];
// Spelled out rather than imported from config.ts: config.ts imports this module, and the cycle would leave the
// constant undefined at load time. `satisfies` keeps it in step with the report's contract.
const ENVIRONMENTS = ['node', 'chromium'] as const satisfies readonly BenchmarkResult['environment'][];

export const LatencyBudgetSchema = z.strictObject({
  /** The limit on `metric`, in milliseconds per call. */
  maxMs: z.number().positive(),
  metric: z.enum(LATENCY_METRICS).default('p90Ms'),
  /** Filters: the budget applies to every benchmark row matching all given ones (none given: every row). */
  profile: z.string().min(1).optional(),
  runtime: z.string().min(1).optional(),
  environment: z.enum(ENVIRONMENTS).optional(),
  batch: z.number().int().positive().optional(),
  /** An artifact name, `*` wildcards allowed. */
  artifact: z.string().min(1).optional(),
});

export const BudgetsSchema = z.strictObject({
  /** Artifact names the budgets apply to, `*` wildcards allowed (e.g. ["*.onnx", "lelp.*"]). Default: every artifact the compress stage did not reject. */
  artifacts: z.array(z.string().min(1)).min(1).optional(),
  /** One verdict per matching benchmark row; a budget matching no row fails, so a typo cannot pass silently. */
  latency: z.array(LatencyBudgetSchema).default([]),
  /** Per artifact: everything a deployment ships (ArtifactResult.bytes). */
  maxBytes: z.number().int().positive().optional(),
  maxGzipBytes: z.number().int().positive().optional(),
  /** Test accuracy in percent, e.g. 95. */
  minAccuracy: z.number().min(0).max(100).optional(),
  /** Points below the teacher's test accuracy: (teacher - artifact) * 100. */
  maxAccuracyDropVsTeacher: z.number().optional(),
  /** Points below the artifact's own fp32 student (ArtifactResult.accuracyDrop). */
  maxAccuracyDropVsFp32: z.number().optional(),
  /**
   * Per microcontroller bundle (report.micro): its estimated TFLite Micro tensor arena and its flash size, in bytes.
   * The iot profile's board (MICROCONTROLLER_DEFAULTS: 256 KiB RAM, 1 MiB flash) is the reference to start from.
   */
  maxArenaBytes: z.number().int().positive().optional(),
  maxFlashBytes: z.number().int().positive().optional(),
});

/**
 * A typical microcontroller of the `iot` class (an nRF52840 / Cortex-M4F board such as the Arduino Nano 33 BLE Sense,
 * TFLite Micro's reference target): 256 KiB of RAM and 1 MiB of flash, part of each taken by the firmware.
 * Documented starting points for maxArenaBytes and maxFlashBytes, not applied unless a budget names them.
 */
export const MICROCONTROLLER_DEFAULTS = { ramBytes: 256 * 1024, flashBytes: 1024 * 1024 } as const;

export type Budgets = z.output<typeof BudgetsSchema>;
export type LatencyBudget = z.output<typeof LatencyBudgetSchema>;

/** Which pipeline stages produced the report. A budget about a stage that did not run is not checked. */
export type BudgetStages = readonly ('distill' | 'compress' | 'export' | 'bench')[];

/** `*` matches any run of characters (dots and slashes included); everything else is literal. */
export function wildcardMatch(pattern: string, name: string): boolean {
  const re = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${re}$`).test(name);
}

/** Accuracy arithmetic in percent leaves float noise (0.57 * 100 = 56.99999999999999); round it away before comparing. */
const clean = (x: number) => Math.round(x * 1e9) / 1e9;

/** What a size/accuracy budget can read about one artifact. Foreign models (`bench MODEL`) have sizes only. */
interface Subject {
  name: string;
  bytes: number;
  gzipBytes: number;
  artifact: ArtifactResult | null;
}

function subjects(report: Report): Subject[] {
  const own = report.artifacts.map((a) => ({ name: a.name, bytes: a.bytes, gzipBytes: a.gzipBytes, artifact: a }));
  const known = new Set(own.map((s) => s.name));
  const foreign = new Map<string, Subject>();
  for (const b of report.benchmarks) {
    if (!known.has(b.artifact) && !foreign.has(b.artifact)) foreign.set(b.artifact, { name: b.artifact, bytes: b.model.bytes, gzipBytes: b.model.gzipBytes, artifact: null });
  }
  return [...own, ...foreign.values()];
}

const fmt = (x: number, unit: string) => String(unit === 'bytes' || unit === 'artifacts' ? Math.round(x) : unit === 'ms' ? Number(x.toPrecision(4)) : Number(x.toFixed(4)));

function verdict(budget: string, artifact: string | null, limit: number, actual: number | null, unit: string, atMost: boolean, where = ''): BudgetResult {
  if (actual === null) return { budget, artifact, limit, actual, unit, ok: false, message: where };
  const ok = atMost ? actual <= limit : actual >= limit;
  const cmp = ok ? (atMost ? '<=' : '>=') : atMost ? '>' : '<';
  const message = `${ok ? 'ok' : 'broken'}: ${fmt(actual, unit)} ${unit} ${cmp} ${fmt(limit, unit)} ${unit}${artifact ? ` on ${artifact}` : ''}${where ? ` (${where})` : ''}`;
  return { budget, artifact, limit, actual, unit, ok, message };
}

function rowLabel(b: BenchmarkResult): string {
  return `${b.profile}/${b.environment}/${b.runtime}${b.batch === 1 ? '' : `/batch ${b.batch}`}`;
}

function latencyVerdicts(l: LatencyBudget, rows: BenchmarkResult[], all: BenchmarkResult[]): BudgetResult[] {
  const head = `${l.metric} <= ${l.maxMs} ms`;
  const matched = rows.filter(
    (b) =>
      (l.profile === undefined || b.profile === l.profile) &&
      (l.runtime === undefined || b.runtime === l.runtime) &&
      (l.environment === undefined || b.environment === l.environment) &&
      (l.batch === undefined || b.batch === l.batch) &&
      (l.artifact === undefined || wildcardMatch(l.artifact, b.artifact)),
  );
  if (!matched.length) {
    const filters = (['artifact', 'profile', 'environment', 'runtime', 'batch'] as const).filter((k) => l[k] !== undefined).map((k) => `${k}=${l[k]}`);
    const seen = [...new Set(all.map((b) => `${b.artifact} ${rowLabel(b)}`))];
    const why = `no benchmark matched${filters.length ? ` ${filters.join(', ')}` : ''} among the budgeted artifacts; ${seen.length ? `benchmarked: ${seen.slice(0, 8).join('; ')}${seen.length > 8 ? '; ...' : ''}` : 'the run has no benchmarks'}`;
    return [verdict(`${head} [${filters.join(', ') || 'every benchmark'}]`, null, l.maxMs, null, 'ms', true, why)];
  }
  return matched.map((b) => verdict(`${head} [${rowLabel(b)}]`, b.artifact, l.maxMs, b[l.metric], 'ms', true, rowLabel(b)));
}

/**
 * Check every budget against a finished report: one result per budget and artifact (per benchmark row for latency).
 * Budgets on stages that did not run are skipped (`distill` alone has no artifacts); anything else that finds
 * nothing to check fails, with the reason in `message`.
 */
export function evaluateBudgets(b: Budgets, report: Report, stages: BudgetStages = ['distill', 'compress', 'export', 'bench']): BudgetResult[] {
  const results: BudgetResult[] = [];
  const all = subjects(report);
  // Rejected artifacts never ship, so no budget covers them, not even through a pattern; a pattern that matches
  // only rejected ones fails below, saying so.
  const shippable = all.filter((s) => !s.artifact?.rejected);
  const inScope = b.artifacts ? shippable.filter((s) => b.artifacts!.some((p) => wildcardMatch(p, s.name))) : shippable;
  const producedArtifacts = stages.some((s) => s === 'export' || s === 'compress' || s === 'bench');
  if (b.artifacts && producedArtifacts) {
    for (const p of b.artifacts) {
      if (inScope.some((s) => wildcardMatch(p, s.name))) continue;
      const rejected = all.filter((s) => s.artifact?.rejected && wildcardMatch(p, s.name)).map((s) => s.name);
      const why = rejected.length ? `it matches only rejected artifacts (${rejected.join(', ')})` : `artifacts: ${all.map((s) => s.name).join(', ') || 'none'}`;
      results.push({ budget: `artifacts ${JSON.stringify(p)} >= 1`, artifact: null, limit: 1, actual: 0, unit: 'artifacts', ok: false, message: `no artifact matched ${JSON.stringify(p)}; ${why}` });
    }
  }

  if (stages.includes('bench')) {
    const names = new Set(inScope.map((s) => s.name));
    const rows = report.benchmarks.filter((r) => names.has(r.artifact));
    for (const l of b.latency) results.push(...latencyVerdicts(l, rows, report.benchmarks));
  }

  if (!producedArtifacts) return results;
  const teacherPct = report.teacher ? report.teacher.accuracy * 100 : null;
  const perArtifact: { budget: string; limit: number | undefined; unit: string; atMost: boolean; read: (s: Subject) => number | null }[] = [
    { budget: `bytes <= ${b.maxBytes}`, limit: b.maxBytes, unit: 'bytes', atMost: true, read: (s) => s.bytes },
    { budget: `gzipBytes <= ${b.maxGzipBytes}`, limit: b.maxGzipBytes, unit: 'bytes', atMost: true, read: (s) => s.gzipBytes },
    { budget: `accuracy >= ${b.minAccuracy} %`, limit: b.minAccuracy, unit: '%', atMost: false, read: (s) => (s.artifact ? clean(s.artifact.accuracy * 100) : null) },
    { budget: `accuracyDropVsTeacher <= ${b.maxAccuracyDropVsTeacher} pts`, limit: b.maxAccuracyDropVsTeacher, unit: 'pts', atMost: true, read: (s) => (s.artifact && teacherPct !== null ? clean(teacherPct - s.artifact.accuracy * 100) : null) },
    { budget: `accuracyDropVsFp32 <= ${b.maxAccuracyDropVsFp32} pts`, limit: b.maxAccuracyDropVsFp32, unit: 'pts', atMost: true, read: (s) => (s.artifact ? clean(s.artifact.accuracyDrop) : null) },
  ];
  const micro = (report.micro ?? []).filter((m) => !m.rejected && (!b.artifacts || b.artifacts.some((p) => wildcardMatch(p, m.name) || wildcardMatch(p, m.twin))));
  for (const [budget, limit, read] of [
    [`arenaBytes <= ${b.maxArenaBytes}`, b.maxArenaBytes, (m: NonNullable<Report['micro']>[number]) => m.arenaBytes],
    [`flashBytes <= ${b.maxFlashBytes}`, b.maxFlashBytes, (m: NonNullable<Report['micro']>[number]) => m.flashBytes],
  ] as const) {
    if (limit === undefined) continue;
    if (!micro.length) results.push(verdict(budget, null, limit, null, 'bytes', true, 'no microcontroller bundle to check: give export.formats "tflite" and compress.tflite "micro"'));
    for (const m of micro) results.push(verdict(budget, m.name, limit, read(m), 'bytes', true));
  }
  for (const c of perArtifact) {
    if (c.limit === undefined) continue;
    if (!inScope.length) {
      results.push(verdict(c.budget, null, c.limit, null, c.unit, c.atMost, 'no artifact to check: the run produced none in scope'));
      continue;
    }
    for (const s of inScope) {
      const actual = c.read(s);
      const noAccuracy = `${s.name} has no measured accuracy (a model given to \`bench\` is timed, not evaluated); budget it in a \`run\``;
      results.push(verdict(c.budget, s.name, c.limit, actual, c.unit, c.atMost, actual === null ? noAccuracy : ''));
    }
  }
  return results;
}

/** "2 of 7 budgets broken: gzipBytes <= 100 (label.onnx), ..." — the one-line summary the CLI prints. */
export function budgetSummary(results: BudgetResult[]): string {
  const broken = results.filter((r) => !r.ok);
  const head = `${broken.length} of ${results.length} budget${results.length === 1 ? '' : 's'} ${broken.length ? 'broken' : 'kept'}`;
  if (!broken.length) return head;
  const names = broken.map((r) => `${r.budget}${r.artifact ? ` (${r.artifact})` : ''}`);
  return `${head}: ${names.slice(0, 5).join(', ')}${names.length > 5 ? `, and ${names.length - 5} more` : ''}`;
}

/**
 * Every budget with its verdict, as a Markdown table (readable as plain text on a terminal too). Budgets that found
 * nothing to check get their reason in a list below, where a long message does not stretch the table.
 */
export function renderBudgetTable(results: BudgetResult[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const rows = results.map((r) => [
    cell(r.budget),
    cell(r.artifact ?? '-'),
    `${fmt(r.limit, r.unit)} ${r.unit}`,
    r.actual === null ? '-' : `${fmt(r.actual, r.unit)} ${r.unit}`,
    r.ok ? 'PASS' : 'FAIL',
  ]);
  const head = ['budget', 'artifact', 'limit', 'actual', 'verdict'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const unchecked = results.filter((r) => !r.ok && (r.actual === null || r.unit === 'artifacts')).map((r) => `- ${r.budget}${r.artifact ? ` (${r.artifact})` : ''}: ${r.message}`);
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), ...(unchecked.length ? ['', ...unchecked] : [])].join('\n');
}
