// The report's charts: report.json rows -> Vega-Lite specs -> static SVG, rendered in Node with no browser and no
// canvas, so report.html needs no script or network to show them.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { paretoFront } from './pareto.ts';
import type { BenchmarkResult, Report } from './types.ts';

/** Layer names: Vega-Lite names each layer's marks `<name>_marks`, and Vega writes that as an SVG class. */
export const MARKS = {
  latencyBar: 'latency_p50',
  latencyWhisker: 'latency_p90',
  point: 'scatter_points',
  frontLine: 'pareto_line',
  /** Prefix: the numbers are drawn by two text marks, pareto_labels_odd and pareto_labels_even. */
  frontLabel: 'pareto_labels',
  throughput: 'throughput_points',
} as const;

export interface Charts {
  latency: string | null;
  scatter: string | null;
  throughput: string | null;
}

/** Wider than this max/min ratio, a linear axis squeezes the fast rows into a sliver: use a log axis. */
const LOG_SCALE_RATIO = 20;
// Sized for a phone held upright (~360 CSS px); on wider screens the SVG keeps its size rather than blowing up text.
const PLOT_WIDTH = 200;
const CONFIG = {
  font: 'Helvetica, Arial, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { orient: 'top', labelFontSize: 11, titleFontSize: 11, columns: 2 },
  header: { labelFontSize: 12, labelFontWeight: 'bold', labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top', title: null },
  view: { stroke: '#ddd' },
} as const;

/** The batch size the per-call charts use: 1 when measured (one request, one answer), else the smallest one. */
export function latencyBatch(rows: readonly BenchmarkResult[]): number | null {
  return rows.length ? Math.min(...rows.map((b) => b.batch)) : null;
}

/** Facet label of a benchmark's setting, e.g. 'chromium · phone · CPU ×4'. */
function panelOf(b: BenchmarkResult): string {
  return `${b.environment} · ${b.profile}${b.cpuThrottle > 1 ? ` · CPU ×${b.cpuThrottle}` : ''}`;
}

const ENV_ORDER: Record<BenchmarkResult['environment'], number> = { node: 0, chromium: 1 };

/** Panels in a stable reading order: Node before Chromium, then from the least to the most throttled. */
function panels(rows: readonly BenchmarkResult[]): string[] {
  const sorted = [...rows].sort((a, b) => ENV_ORDER[a.environment] - ENV_ORDER[b.environment] || a.cpuThrottle - b.cpuThrottle || b.threads - a.threads);
  return [...new Set(sorted.map(panelOf))];
}

/**
 * A log axis when the values span more than LOG_SCALE_RATIO, else linear from zero. The domain is explicit so bars
 * can start at its lower end (`base`): a bar from zero cannot be drawn on a log axis.
 */
function axisFor(values: number[]): { scale: { type: 'log' | 'linear'; domain?: [number, number] }; base: number; ticks?: number[] } {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  if (pos.length < 2 || Math.max(...pos) / Math.min(...pos) <= LOG_SCALE_RATIO) return { scale: { type: 'linear' }, base: 0 };
  const [lo, hi] = [Math.floor(Math.log10(Math.min(...pos))), Math.ceil(Math.log10(Math.max(...pos)))];
  // Ticks and grid at powers of ten only: Vega's default log grid (2..9 in every decade) is a grey wall on a phone.
  const ticks = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
  return { scale: { type: 'log', domain: [ticks[0]!, ticks.at(-1)!] }, base: ticks[0]!, ticks };
}

/** One bar per benchmark row at `latencyBatch`: the rows the latency chart draws. */
function latencyRows(report: Report) {
  const batch = latencyBatch(report.benchmarks);
  return report.benchmarks
    .filter((b) => b.batch === batch)
    // The key keeps an artifact's runtimes on rows of their own; the axis shows only the artifact, colour the runtime.
    .map((b) => ({ panel: panelOf(b), key: `${b.artifact}|${b.runtime}`, runtime: b.runtime, p50: b.p50Ms, p90: b.p90Ms }));
}

function latencySpec(report: Report): TopLevelSpec {
  const rows = latencyRows(report);
  const axis = axisFor(rows.flatMap((r) => [r.p50, r.p90]));
  const x = { field: 'p50', type: 'quantitative', title: 'ms per call (bar: p50, whisker: p90)', scale: axis.scale, axis: { values: axis.ticks, format: '~g' } } as const;
  const y = { field: 'key', type: 'nominal', title: null, sort: null, axis: { labelExpr: "split(datum.label, '|')[0]", labelLimit: 200 } } as const;
  return {
    data: { values: rows },
    facet: { row: { field: 'panel', sort: panels(report.benchmarks) } },
    spec: {
      width: PLOT_WIDTH,
      height: { step: 13 },
      encoding: { y },
      layer: [
        { name: MARKS.latencyBar, mark: { type: 'bar', height: { band: 0.75 } }, encoding: { x, x2: { datum: axis.base }, color: { field: 'runtime', type: 'nominal', title: 'runtime' } } },
        { mark: { type: 'rule', color: '#333' }, encoding: { x: { field: 'p50', type: 'quantitative' }, x2: { field: 'p90' } } },
        { name: MARKS.latencyWhisker, mark: { type: 'tick', color: '#333', orient: 'vertical', size: 9, thickness: 1.5 }, encoding: { x: { field: 'p90', type: 'quantitative' } } },
      ],
    },
    // One x scale for every panel (so they compare), but an axis under each: on a phone the bottom one is screens away.
    resolve: { scale: { y: 'independent' }, axis: { x: 'independent' } },
    config: CONFIG,
  } as TopLevelSpec;
}

/** One point per benchmarked artifact, at its fastest p50 at `latencyBatch` on any runtime and profile. */
export interface ArtifactPoint {
  artifact: string;
  accuracy: number;
  latencyMs: number;
  bytes: number;
  /** Where the fastest p50 was measured, e.g. 'onnxruntime-node, node · desktop'. */
  fastestOn: string;
  rejected: boolean;
  /** 1, 2, ... from the fastest along the Pareto front; null when another artifact dominates it (or it is rejected). */
  frontRank: number | null;
}

/**
 * The accuracy-vs-latency points. Each artifact is placed at its best case (its fastest runtime here) because the
 * question the chart answers is which artifact to ship, and you ship it on the runtime that runs it fastest.
 * Rejected artifacts (over the accuracy budget) are drawn but cannot be on the Pareto front: they are not shippable.
 */
export function artifactPoints(report: Report): ArtifactPoint[] {
  const batch = latencyBatch(report.benchmarks);
  const points = report.artifacts.flatMap((a) => {
    const rows = report.benchmarks.filter((b) => b.artifact === a.name && b.batch === batch);
    if (!rows.length) return [];
    const fastest = rows.reduce((x, y) => (y.p50Ms < x.p50Ms ? y : x));
    return [{ artifact: a.name, accuracy: a.accuracy * 100, latencyMs: fastest.p50Ms, bytes: a.bytes, fastestOn: `${fastest.runtime}, ${panelOf(fastest)}`, rejected: a.rejected !== null, frontRank: null }];
  });
  const front = paretoFront(points.filter((p) => !p.rejected)).sort((a, b) => a.latencyMs - b.latencyMs || b.accuracy - a.accuracy);
  return points.map((p) => ({ ...p, frontRank: front.includes(p) ? front.indexOf(p) + 1 : null }));
}

function scatterSpec(points: ArtifactPoint[]): TopLevelSpec {
  // Front points last: Vega draws in data order, and a grey point must not hide a red one.
  const data = [...points].sort((a, b) => Number(a.frontRank !== null) - Number(b.frontRank !== null)).map((p) => ({ ...p, kiB: p.bytes / 1024, kind: p.rejected ? 'rejected' : p.frontRank ? 'Pareto front' : 'dominated' }));
  const kiB = data.map((p) => p.kiB);
  // Only the kinds present get a legend entry (a run without compression has nothing rejected).
  const kinds = (['Pareto front', 'dominated', 'rejected'] as const).filter((k) => data.some((p) => p.kind === k));
  const style = { 'Pareto front': ['#d62728', 'circle'], dominated: ['#9aa5b1', 'circle'], rejected: ['#222', 'cross'] } as const;
  const x = { field: 'latencyMs', type: 'quantitative', title: 'fastest p50 (ms per call)', scale: { type: axisFor(points.map((p) => p.latencyMs)).scale.type, zero: false, padding: 12 } } as const;
  const y = { field: 'accuracy', type: 'quantitative', title: 'test accuracy (%)', scale: { zero: false, padding: 12 } } as const;
  const onFront = { filter: 'datum.frontRank != null' } as const;
  // Front points are numbered (the list under the chart names them); odd numbers right of the point, even ones left,
  // so neighbours on the front do not print over each other.
  const label = (odd: boolean) => ({
    name: `${MARKS.frontLabel}_${odd ? 'odd' : 'even'}`,
    transform: [onFront, { filter: `datum.frontRank % 2 == ${odd ? 1 : 0}` }],
    mark: { type: 'text', align: odd ? 'left' : 'right', dx: odd ? 8 : -8, fontSize: 12, fontWeight: 'bold', color: '#d62728' },
    encoding: { text: { field: 'frontRank' } },
  });
  return {
    data: { values: data },
    width: PLOT_WIDTH + 60,
    height: 260,
    encoding: { x, y },
    layer: [
      // The front as a line from fastest to slowest, drawn under the points so they stay readable.
      { name: MARKS.frontLine, transform: [onFront], mark: { type: 'line', color: '#d62728', strokeDash: [4, 3] }, encoding: { order: { field: 'latencyMs', type: 'quantitative' } } },
      {
        name: MARKS.point,
        mark: { type: 'point', filled: true, opacity: 0.75, stroke: '#222', strokeWidth: 0.5 },
        encoding: {
          size: { field: 'kiB', type: 'quantitative', title: 'size (KiB)', scale: { range: [30, 400] }, legend: { values: [Math.min(...kiB), Math.max(...kiB)].map((v) => Math.round(v)), format: 'd' } },
          color: { field: 'kind', type: 'nominal', title: null, scale: { domain: kinds, range: kinds.map((k) => style[k][0]) } },
          shape: { field: 'kind', type: 'nominal', title: null, scale: { domain: kinds, range: kinds.map((k) => style[k][1]) } },
        },
      },
      label(true),
      label(false),
    ],
    config: CONFIG,
  } as TopLevelSpec;
}

/** Throughput against batch size, one line per artifact and runtime: only drawn when several batch sizes ran. */
function throughputRows(report: Report) {
  return report.benchmarks.map((b) => ({ panel: panelOf(b), series: `${b.artifact} · ${b.runtime}`, runtime: b.runtime, batch: b.batch, throughput: b.throughput }));
}

function throughputSpec(report: Report): TopLevelSpec {
  const rows = throughputRows(report);
  const y = axisFor(rows.map((r) => r.throughput));
  return {
    data: { values: rows },
    facet: { row: { field: 'panel', sort: panels(report.benchmarks) } },
    spec: {
      width: PLOT_WIDTH + 60,
      height: 160,
      encoding: {
        x: { field: 'batch', type: 'quantitative', title: 'batch size', scale: { type: 'log', base: 2 }, axis: { values: [...new Set(rows.map((r) => r.batch))], format: 'd' } },
        y: { field: 'throughput', type: 'quantitative', title: 'examples per second', scale: y.scale, axis: { values: y.ticks, format: '~s' } },
        color: { field: 'runtime', type: 'nominal', title: 'runtime' },
        detail: { field: 'series' },
      },
      layer: [{ mark: { type: 'line', opacity: 0.6 } }, { name: MARKS.throughput, mark: { type: 'point', filled: true, size: 25 } }],
    },
    resolve: { axis: { x: 'independent' } },
    config: CONFIG,
  } as TopLevelSpec;
}

// Helvetica's advance widths (= Arial's = Liberation Sans's) in 1/1000 em for ASCII 32..126; other characters 600.
// Without node-canvas Vega guesses 0.8 em per character, which reserves ~50 % too much room for axis labels and
// truncates long artifact names; the charts name Helvetica/Arial first, so these widths match what is drawn.
const HELVETICA = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
  1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
  333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/** Text width in px of `text` at the item's font size (bold ~7 % wider), from Helvetica's metrics. */
function helveticaWidth(item: { fontSize?: number; fontWeight?: string | number; text?: unknown }, text?: unknown): number {
  const s = String(text ?? item.text ?? '');
  const em = [...s].reduce((w, ch) => w + (HELVETICA[ch.charCodeAt(0) - 32] ?? 600), 0) / 1000;
  const bold = item.fontWeight === 'bold' || Number(item.fontWeight) >= 600 ? 1.07 : 1;
  return em * (item.fontSize ?? 11) * bold;
}

/** Vega-Lite -> Vega -> SVG without a DOM: the 'none' renderer only builds the scenegraph that toSVG serialises. */
export async function toSvg(spec: TopLevelSpec): Promise<string> {
  // textMetrics.width is Vega's hook for a measuring function (vl-convert sets it the same way); vega exports the
  // object at runtime but its typings omit it.
  (vega as unknown as { textMetrics: { width: typeof helveticaWidth } }).textMetrics.width = helveticaWidth;
  // Quiet: Vega-Lite warns about layered facets sharing one field, which is what these charts do on purpose.
  const quiet = vega.logger(vega.None);
  const view = new vega.View(vega.parse(compile(spec, { logger: quiet }).spec), { renderer: 'none', logLevel: vega.None });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Every chart the report has data for; null where it has none (a distill-only report has no benchmarks). */
export async function renderCharts(report: Report): Promise<Charts> {
  if (!report.benchmarks.length) return { latency: null, scatter: null, throughput: null };
  const points = artifactPoints(report);
  const batches = new Set(report.benchmarks.map((b) => b.batch));
  return {
    latency: await toSvg(latencySpec(report)),
    scatter: points.length ? await toSvg(scatterSpec(points)) : null,
    throughput: batches.size > 1 ? await toSvg(throughputSpec(report)) : null,
  };
}
