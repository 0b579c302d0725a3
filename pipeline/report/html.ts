// report.html: the run's results as one self-contained page for people — tables plus the charts of
// charts.ts as inline SVG. No script, font, stylesheet or image is fetched (a CSP says so to the
// browser), so the file can be mailed, attached to CI or opened offline, and it reads on a phone.
import { fineProbeSentence, keptSteps, oracleShareCell } from './types.ts';
import { basename } from 'node:path';
import { artifactPoints, latencyBatch, renderCharts, type ArtifactPoint, type Charts } from './charts.ts';
import { kb, memoryText, ms, pct, sourceSentence, worstParityDiff } from './markdown.ts';
import type { ArtifactResult, BenchmarkResult, Report } from './types.ts';

/** Markup that is already escaped; every other cell and text is escaped on output. */
interface Html {
  html: string;
}
type Cell = string | number | Html;
interface Row {
  cells: Cell[];
  /** 'bad' highlights a rejected artifact, a broken budget or a benchmark over its profile's memory. */
  cls?: 'bad';
}

const esc = (s: string | number) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const raw = (html: string): Html => ({ html });
// Right-align what reads as a number (digits, sign, decimal point, unit), so columns of figures line up.
const NUMERIC = /^[-+−]?[\d.,]+(e[-+]?\d+)?( ?(%|×|ms|bytes|points|pts))?$/;

function cellHtml(c: Cell): string {
  if (typeof c === 'object') return `<td>${c.html}</td>`;
  return NUMERIC.test(String(c)) ? `<td class="num">${esc(c)}</td>` : `<td>${esc(c)}</td>`;
}

function table(head: string[], rows: Row[]): string {
  const body = rows.map((r) => `<tr${r.cls ? ` class="${r.cls}"` : ''}>${r.cells.map(cellHtml).join('')}</tr>`).join('\n');
  // The wrapper scrolls sideways on a narrow screen instead of squeezing every column to a letter.
  return `<div class="scroll"><table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

function section(id: string, title: string, ...content: string[]): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>\n${content.join('\n')}\n</section>`;
}

const note = (text: string) => `<p class="note">${esc(text)}</p>`;

function worstParity(a: ArtifactResult): string {
  return worstParityDiff(a)?.toExponential(1) ?? '-';
}

function summary(r: Report): string {
  const t = r.teacher;
  const facts: [string, string][] = [
    ['Task', `${r.task.classes} classes${r.task.classNames ? ` (${r.task.classNames.join(', ')})` : ''} of ${r.task.features} features; ${r.task.train} transfer, ${r.task.validation} validation, ${r.task.test} test examples`],
    t ? ['Teacher', `${basename(t.path)}: ${pct(t.accuracy)} % test accuracy (embedding ${t.embedding} [${t.embeddingDim}], logits ${t.logits}); sha256 ${t.sha256.slice(0, 12)}…`] : ['Model', r.source ? sourceSentence(r.source).replace(/[`*]/g, '') : 'none'],
    ['Results', `${r.students.length} students, ${r.artifacts.length} artifacts (${r.artifacts.filter((a) => a.rejected).length} rejected), ${r.benchmarks.length} benchmarks`],
  ];
  if (t?.detected.length) facts.push(['Detected', t.detected.join('; ')]);
  if (t?.fineProbe) facts.push(['Fine-label probe', fineProbeSentence(t.fineProbe)]);
  return section('summary', 'Summary', `<dl>${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`);
}

function students(r: Report): string {
  const oracle = r.students.some((s) => s.shareOfOracleGain !== undefined);
  const rows = r.students.map((s) => ({
    cells: [s.method, pct(s.accuracy), pct(s.validationAccuracy), r.teacher ? ((s.accuracy - r.teacher.accuracy) * 100).toFixed(2) : '-', ...(oracle ? [oracleShareCell(s) ?? '-'] : []), s.parameters, (s.trainMs / 1000).toFixed(1), keptSteps(s), Object.entries(s.options).map(([k, v]) => `${k}=${v}`).join(' ')],
  }));
  return section('students', 'Students', table(['method', 'test acc %', 'val acc %', 'Δ vs teacher (pts)', ...(oracle ? ['share of oracle gain'] : []), 'params', 'train s', 'steps (kept)', 'options'], rows));
}

function artifacts(r: Report): string {
  const rows: Row[] = r.artifacts.map((a) => ({
    cls: a.rejected ? 'bad' : undefined,
    cells: [
      a.name, kb(a.bytes), kb(a.gzipBytes), pct(a.accuracy), a.accuracyDrop.toFixed(2),
      a.rejected ? raw(`<strong>rejected</strong>: ${esc(a.rejected)}`) : 'ok',
      worstParity(a), a.parity.length ? `${pct(Math.min(...a.parity.map((p) => p.agreement)))} %` : '-', a.accuracyRuntime, a.variant, a.format,
    ],
  }));
  // The figures that decide come first: on a phone only the first few columns show without scrolling.
  const head = ['artifact', 'KiB', 'gzip KiB', 'test acc %', 'drop (pts)', 'verdict', 'max |Δp| vs student', 'agreement', 'measured on', 'variant', 'format'];
  return section('artifacts', 'Artifacts', table(head, rows));
}

function parity(r: Report): string {
  const rows = r.parity.map((g) => ({ cells: [g.student, g.variant, g.examples, g.compared.join(', '), g.maxAbsDiff.toExponential(1), `${pct(g.agreement)} %`, g.worstPair.join(' vs ')] }));
  return section('parity', 'Cross-runtime parity', note('Each student’s exact (fp32) artifacts on every runtime and the in-memory student, compared pairwise.'), table(['student', 'variant', 'examples', 'outputs compared', 'max |Δp|', 'agreement', 'worst pair'], rows));
}

function layers(r: Report): string {
  const layered = r.artifacts.filter((a) => a.layers?.length);
  if (!layered.length) return '';
  const body = layered.map((a) => {
    const kept = new Set(a.keptFloat ?? []);
    const rows: Row[] = a.layers!.map((l) => ({ cls: kept.has(l.node) ? 'bad' : undefined, cells: [l.node, l.op, l.sqnrDb.toFixed(1), l.maxAbsError.toPrecision(3), kb(l.floatBytes), kept.has(l.node) ? 'float32' : 'int8'] }));
    return `<h3>${esc(a.name)}${a.keptFloat?.length ? ` — kept in float32: ${esc(a.keptFloat.join(', '))}` : ''}</h3>` + table(['node', 'op', 'SQNR dB', 'max abs error', 'float32 weight KiB', 'in the artifact'], rows);
  });
  return section('layers', 'Per-layer quantization error', note('Each quantized node alone (every other node float32): SQNR of its output against float32, worst first. Mixed precision keeps the worst in float32, one at a time, until the variant is within the accuracy budget.') + body.join(''));
}

function micro(r: Report): string {
  const rows = (r.micro ?? []).map((m) => ({ cells: [m.name, m.rejected ? `${m.twin}; not written: ${m.rejected}` : m.twin, m.flashBytes, `${m.arenaBytes} (${m.arena.activationBytes} + ${m.arena.persistentBytes})`, m.inputs.map((i) => `${i.scale.toPrecision(4)} / ${i.zeroPoint}`).join(', '), m.ops.join(', ')] }));
  return section('micro', 'Microcontroller bundles (TFLite Micro)', note('The int8-in/out twin of each int8 .tflite (same integer graph, checked), as model_data.h/.cc and model_ops.h. Arena: an estimate (activations planned as TFLite Micro does + persistent margin).'), table(['bundle', 'twin (accuracy)', 'flash bytes', 'arena bytes (activations + persistent)', 'input scale / zero point', 'ops'], rows));
}

function recommendedFor(r: Report): string {
  if (!r.recommendedFor?.length) return '';
  const rows: Row[] = r.recommendedFor.map((t) => ({ cells: [t.runtime, t.environment, t.profile, t.batch, `${t.fastest.artifact} (${t.fastest.p50Ms.toPrecision(3)} ms)`, `${t.smallest.artifact} (${t.smallest.bytes} bytes)`] }));
  return section('recommended-for', 'Recommended per target', note('Fastest by p50 latency of one call; an int8 artifact is not assumed faster than float32.') + table(['runtime', 'environment', 'profile', 'batch', 'fastest accepted', 'smallest accepted'], rows));
}

function recommended(r: Report): string {
  return section('recommended', 'Recommended', `<ul>${r.recommended.map((x) => `<li><strong>${esc(x.artifact)}</strong> (${esc(x.format)}): ${esc(x.why)}.</li>`).join('')}</ul>`);
}

function budgets(list: NonNullable<Report['budgets']>): string {
  const broken = list.filter((b) => !b.ok).length;
  const rows: Row[] = list.map((b) => ({
    cls: b.ok ? undefined : 'bad',
    cells: [b.budget, b.ok ? 'pass' : raw('<strong>FAIL</strong>'), b.actual === null ? '-' : `${+b.actual.toPrecision(6)} ${b.unit ?? ''}`, `${b.limit} ${b.unit ?? ''}`, b.artifact ?? '-', b.message ?? ''],
  }));
  const verdict = broken ? `<p class="bad-text"><strong>${broken} of ${list.length} broken</strong>.</p>` : `<p>All ${list.length} kept.</p>`;
  return section('budgets', 'Budgets', verdict, table(['budget', 'verdict', 'actual', 'limit', 'artifact', 'detail'], rows));
}

function memory(b: BenchmarkResult): string {
  return b.memory.overProfileLimit ? `${memoryText(b)} — over the profile’s limit` : memoryText(b);
}

function benchmarks(r: Report): string {
  // What identifies the row, then the percentiles people compare, then the rest.
  const head = ['artifact', 'runtime', 'env', 'profile', 'batch', 'p50', 'p90', 'p95', 'p99', 'mean ± std', 'min', 'max', 'ex/s', 'init', 'first run', 'threads', 'warm-up', 'runs', 'memory MB', 'params', 'FLOPs/ex'];
  const rows: Row[] = r.benchmarks.map((b) => ({
    cls: b.memory.overProfileLimit ? 'bad' : undefined,
    cells: [
      b.artifact, b.runtime, b.environment, `${b.profile}${b.cpuThrottle > 1 ? ` (CPU ×${b.cpuThrottle})` : ''}`, b.batch, ms(b.p50Ms), ms(b.p90Ms), ms(b.p95Ms), ms(b.p99Ms),
      `${ms(b.meanMs)} ± ${ms(b.stdMs)}`, ms(b.minMs), ms(b.maxMs), Number.isFinite(b.throughput) ? Math.round(b.throughput) : '-', ms(b.initMs), ms(b.firstRunMs), b.threads, b.warmup, b.runs, memory(b), b.model.parameters, b.model.flopsPerExample ?? '-',
    ],
  }));
  const caveat = 'Times in ms per call: wall-clock time of one call from JavaScript, including making the input tensor and reading the output. Profiles emulate slower devices: in Chromium by DevTools CPU throttling (×N), in Node only by their thread count. Machines are noisy (±30 %): compare rows of one report.';
  return section('benchmarks', 'Benchmarks', table(head, rows), note(caveat));
}

function skipped(r: Report): string {
  return section('skipped', 'Not benchmarked', `<ul>${r.benchmarksSkipped.map((s) => `<li>${esc(s.artifact)} on ${esc(s.runtime)} (${esc(s.environment)}): ${esc(s.reason)}</li>`).join('')}</ul>`);
}

function frontList(points: ArtifactPoint[]): string {
  const front = points.filter((p) => p.frontRank !== null).sort((a, b) => a.frontRank! - b.frontRank!);
  const item = (p: ArtifactPoint) => `<li><strong>${esc(p.artifact)}</strong>: ${p.accuracy.toFixed(2)} %, p50 ${ms(p.latencyMs)} ms (${esc(p.fastestOn)}), ${kb(p.bytes)} KiB</li>`;
  return `<p>Pareto front (numbered on the chart):</p><ol class="front">${front.map(item).join('')}</ol>`;
}

function charts(r: Report, c: Charts): string {
  if (!c.latency) return section('charts', 'Charts', note('No benchmarks in this report (the bench stage did not run), so there are no latency charts.'));
  const batch = latencyBatch(r.benchmarks);
  const points = artifactPoints(r);
  const unplotted = r.artifacts.length - points.length;
  // Captions above the charts: the latency chart runs for screens on a phone, and the reader needs the key first.
  const figure = (id: string, svg: string, caption: string, extra = '') => `<figure id="${id}"><figcaption>${esc(caption)}</figcaption>${svg}${extra}</figure>`;
  return section(
    'charts',
    'Charts',
    figure('chart-latency', c.latency, `Latency per call at batch ${batch}, per artifact and runtime, by environment and device profile: the bar is the median (p50), the whisker reaches the 90th percentile (p90).`),
    c.scatter
      ? figure(
          'chart-accuracy-latency',
          c.scatter,
          `Accuracy against latency, one point per artifact at its fastest p50 at batch ${batch} (any runtime and profile); point area is the artifact’s size. Red points are the Pareto front: no other artifact is at least as accurate, as fast and as small and better in one. Rejected artifacts (crosses) cannot be on it.${unplotted ? ` ${unplotted} artifacts without a batch-${batch} benchmark are not plotted.` : ''}`,
          frontList(points),
        )
      : note('No benchmarked model has a measured accuracy (models given to `bench` have none), so there is no accuracy-vs-latency chart.'),
    c.throughput ? figure('chart-throughput', c.throughput, 'Throughput (examples per second) against batch size, one line per artifact and runtime.') : '',
  );
}

const CSS = `
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;line-height:1.45;color:#1b1f24}
body{margin:0;background:#fff}main{max-width:1100px;margin:0 auto;padding:12px}
h1{font-size:1.5rem;margin:.4em 0}h2{font-size:1.2rem;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:0}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid #e3e3e3;border-radius:4px}
table{border-collapse:collapse;font-size:.85rem;white-space:nowrap}th,td{padding:.3em .6em;border-bottom:1px solid #eee;text-align:left}
th{background:#f5f6f8;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr>:first-child{position:sticky;left:0;background:#fff}thead tr>:first-child{background:#f5f6f8}
tr.bad td,tr.bad>:first-child{background:#fde8e8}.bad-text{color:#b42318}
.note{color:#555;font-size:.85rem}figure{margin:1em 0}figcaption{font-size:.85rem;color:#444;margin-bottom:.5em}
figure svg{max-width:100%;height:auto;display:block}ol.front{font-size:.85rem;padding-left:1.6em}
@media (max-width:600px){main{padding:8px}dl{grid-template-columns:1fr}dt{margin-top:.4em}}
`;

/** The whole page. Sections without data (no compress stage, no benchmarks, no budgets) are left out or say so. */
export async function renderHtml(r: Report): Promise<string> {
  const c = await renderCharts(r);
  const parts = [
    summary(r),
    r.students.length ? students(r) : '',
    r.artifacts.length ? artifacts(r) : '',
    r.parity.length ? parity(r) : '',
    layers(r),
    r.micro?.length ? micro(r) : '',
    r.recommended.length ? recommended(r) : '',
    recommendedFor(r),
    // Reports written before budgets existed have no such field.
    r.budgets?.length ? budgets(r.budgets) : '',
    charts(r, c),
    r.benchmarks.length ? benchmarks(r) : '',
    r.benchmarksSkipped?.length ? skipped(r) : '',
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>edge-distill report</title>
<style>${CSS}</style>
</head>
<body><main>
<h1>edge-distill report</h1>
<p class="note">Written by ${esc(r.tool.name)} ${esc(r.tool.version)}.</p>
${parts.filter(Boolean).join('\n')}
</main></body>
</html>
`;
}
