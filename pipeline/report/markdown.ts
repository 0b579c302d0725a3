// report.md: the run's results (report.json, types.ts) rendered as Markdown tables for people, and the number
// formats report.html shares with it.
import { fineProbeSentence, keptSteps, oracleShareCell } from './types.ts';
import type { ArtifactResult, BenchmarkResult, Report } from './types.ts';
import { renderBudgetTable } from './budgets.ts';

/** Number formats shared by report.md and report.html. */
export const pct = (x: number) => (x * 100).toFixed(2);
export const ms = (x: number) => (x < 1 ? x.toFixed(3) : x.toFixed(2));
export const kb = (b: number) => (b / 1024).toFixed(1);
export const mb = (x: number | null) => (x === null ? '-' : (x / 1048576).toFixed(1));

/** A benchmark's memory in words: Node's model cost (and the whole process's peak RSS), or the page's JS heap + wasm. */
export function memoryText(b: BenchmarkResult): string {
  const m = b.memory;
  return b.environment === 'node' ? `model ${mb(m.modelBytes ?? null)} (process RSS ${mb(m.peakRssBytes)})` : `heap ${mb(m.jsHeapBytes)} + wasm ${mb(m.wasmBytes)}`;
}

/** The largest difference from the in-memory student over the artifact's runtimes, or null when none was measured. */
export function worstParityDiff(a: ArtifactResult): number | null {
  return a.parity.length ? Math.max(...a.parity.map((p) => p.maxAbsDiff)) : null;
}

function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function worstParity(a: ArtifactResult): string {
  const w = worstParityDiff(a);
  return w === null ? '-' : `${w.toExponential(1)} (${a.parity.map((p) => p.runtime).join(', ')})`;
}

/** The quantize-only job's model, and how its variants are judged. */
export function sourceSentence(s: NonNullable<Report['source']>): string {
  const judged = s.judged === 'accuracy' ? `test accuracy of its output \`${s.classOutput}\`: **${pct(s.accuracy)} %** in float32` : `fidelity to its float32 outputs (SQNR, max abs error, agreement of ${s.classOutput ? `\`${s.classOutput}\`` : `\`${s.outputs[0]}\``}'s argmax), as it has no labelled class output`;
  return `Model: \`${s.path}\` (${s.bytes} bytes, input \`${s.input}\` [batch, ${s.exampleShape.join(', ')}], outputs ${s.outputs.map((o) => `\`${o}\``).join(', ')}); ${s.quantizable.length} quantizable node(s); judged by ${judged}. No teacher pass: a quantize-only job.`;
}

export function renderMarkdown(r: Report): string {
  const t = r.teacher;
  const parts = [
    `# edge-distill report`,
    `Task: ${r.task.classes} classes${r.task.classNames ? ` (${r.task.classNames.join(', ')})` : ''}; ${r.task.train} transfer, ${r.task.validation} validation, ${r.task.test} test examples of ${r.task.features} features.`,
    t
      ? `Teacher: \`${t.path}\` — test accuracy **${pct(t.accuracy)} %** (embedding \`${t.embedding}\` [${t.embeddingDim}], logits \`${t.logits}\`${t.detected.length ? `; detected: ${t.detected.join('; ')}` : ''}).`
      : r.source ? sourceSentence(r.source) : 'No teacher.',
  ];
  if (t?.fineProbe) parts.push(fineProbeSentence(t.fineProbe));
  if (r.students.length) {
    const oracle = r.students.some((s) => s.shareOfOracleGain !== undefined);
    parts.push(
      `## Students`,
      table(
        ['method', 'test acc %', 'val acc %', 'Δ vs teacher (pts)', ...(oracle ? ['share of oracle gain'] : []), 'params', 'train s', 'steps (kept)', 'options'],
        r.students.map((s) => [s.method, pct(s.accuracy), pct(s.validationAccuracy), t ? ((s.accuracy - t.accuracy) * 100).toFixed(2) : '-', ...(oracle ? [oracleShareCell(s) ?? '-'] : []), s.parameters, (s.trainMs / 1000).toFixed(1), keptSteps(s), Object.entries(s.options).map(([k, v]) => `${k}=${v}`).join(' ')]),
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
  const layered = r.artifacts.filter((a) => a.layers?.length);
  if (layered.length) {
    parts.push(`## Per-layer quantization error`, 'Each quantized node alone (every other node float32, so its inputs are the float32 model\'s): SQNR of its output against float32, worst first. Mixed precision keeps the worst in float32, one at a time, until the variant is within the accuracy budget.');
    for (const a of layered) {
      const kept = new Set(a.keptFloat ?? []);
      parts.push(`### ${a.name}${a.keptFloat?.length ? ` — kept in float32: ${a.keptFloat.map((k) => `\`${k}\``).join(', ')}` : ''}`, table(['node', 'op', 'SQNR dB', 'max abs error', 'float32 weight KiB', 'in the artifact'], a.layers!.map((l) => [`\`${l.node}\``, l.op, l.sqnrDb.toFixed(1), l.maxAbsError.toPrecision(3), kb(l.floatBytes), kept.has(l.node) ? 'float32' : 'int8'])));
    }
  }
  if (r.micro?.length) {
    parts.push(
      `## Microcontroller bundles (TFLite Micro)`,
      table(
        ['bundle', 'twin (accuracy)', 'flash bytes', 'arena bytes (estimate)', 'input scale / zero point', 'ops'],
        r.micro.map((m) => [m.name, m.rejected ? `${m.twin}; not written: ${m.rejected}` : m.twin, String(m.flashBytes), `${m.arenaBytes} (${m.arena.activationBytes} activations + ${m.arena.persistentBytes} persistent)`, m.inputs.map((i) => `${i.scale.toPrecision(4)} / ${i.zeroPoint}`).join(', '), m.ops.join(', ')]),
      ),
      'Each bundle is the int8-in/out twin of its `int8` .tflite (the same integer graph, checked when written), as `model_data.h`/`.cc` (a 16-byte aligned C array), `model_ops.h` (the MicroMutableOpResolver to build) and `micro.json`. The arena is an estimate: TFLite Micro\'s greedy planner over the activations plus a margin for its persistent allocations; measure `arena_used_bytes()` on the device.',
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
  if (r.recommendedFor?.length) {
    parts.push(
      `## Recommended per target`,
      table(['runtime', 'environment', 'profile', 'batch', 'fastest accepted (p50 ms)', 'smallest accepted (bytes)'], r.recommendedFor.map((t) => [t.runtime, t.environment, t.profile, t.batch, `${t.fastest.artifact} (${t.fastest.p50Ms.toPrecision(3)})`, `${t.smallest.artifact} (${t.smallest.bytes})`])),
      'Fastest by p50 latency of one call; an int8 artifact is not assumed faster than float32 (it is slower on some runtimes).',
    );
  }
  if (r.recommended.length) {
    parts.push(`## Recommended`, ...r.recommended.map((x) => `- **${x.artifact}** (${x.format}): ${x.why}.`).join('\n').split('\n'));
  }
  if (r.benchmarks.length) {
    parts.push(
      `## Latency (ms)`,
      table(
        ['artifact', 'runtime', 'env', 'profile', 'batch', 'threads', 'init', 'first', 'p50', 'p90', 'p95', 'p99', 'mean ± std', 'runs', 'ex/s', 'memory MB'],
        r.benchmarks.map((b) => [
          b.artifact, b.runtime, b.environment, `${b.profile}${b.cpuThrottle > 1 ? ` (×${b.cpuThrottle})` : ''}`, b.batch, b.threads, ms(b.initMs), ms(b.firstRunMs), ms(b.p50Ms), ms(b.p90Ms), ms(b.p95Ms), ms(b.p99Ms),
          `${ms(b.meanMs)} ± ${ms(b.stdMs)}`, b.runs, Math.round(b.throughput),
          `${memoryText(b)}${b.memory.overProfileLimit ? ' **over profile limit**' : ''}`,
        ]),
      ),
      'Latency is wall-clock time of one call from JavaScript, including making the input tensor and reading the output; Node benchmarks each run in a process of their own, Chromium ones in a fresh page. Profiles emulate slower devices: in Chromium by DevTools CPU throttling (×N), in Node only by their thread count. Machines are noisy (±30 %): compare rows of one report.',
    );
    const slow = profileSlowdowns(r.benchmarks);
    if (slow.length) {
      parts.push(
        `## Profile slowdown (vs the least throttled profile, same artifact, runtime, environment and batch)`,
        table(['artifact', 'runtime', 'env', 'batch', 'profile', 'vs', 'p50 ratio', 'mean ratio'], slow.map((x) => [x.artifact, x.runtime, x.environment, x.batch, x.profile, x.baseline, `${x.ratio.toFixed(2)}×`, `${x.meanRatio.toFixed(2)}×`])),
        'Chromium throttles in slices of about 0.2 ms, so calls much shorter than that are often not slowed at all: for sub-millisecond models the mean ratio is the better guide.',
      );
    }
  }
  if (r.benchmarksSkipped?.length) {
    parts.push(`## Not benchmarked`, ...r.benchmarksSkipped.map((s) => `- ${s.artifact} on ${s.runtime} (${s.environment}): ${s.reason}`).join('\n').split('\n'));
  }
  // Reports written before budgets existed have no field; they render as before.
  if (r.budgets?.length) {
    const broken = r.budgets.filter((b) => !b.ok).length;
    parts.push(`## Budgets`, `${broken ? `**${broken} of ${r.budgets.length} broken**` : `All ${r.budgets.length} kept`}.`, renderBudgetTable(r.budgets));
  }
  return parts.join('\n\n') + '\n';
}

/** For each benchmark group, the p50 of every profile relative to the group's least throttled profile. */
export function profileSlowdowns(rows: BenchmarkResult[]): { artifact: string; runtime: string; environment: string; batch: number; profile: string; baseline: string; ratio: number; meanRatio: number }[] {
  const groups = new Map<string, BenchmarkResult[]>();
  for (const b of rows) {
    const key = [b.artifact, b.runtime, b.environment, b.batch].join('\u0000');
    groups.set(key, [...(groups.get(key) ?? []), b]);
  }
  return [...groups.values()].flatMap((g) => {
    if (g.length < 2) return [];
    const base = g.reduce((a, b) => (b.cpuThrottle < a.cpuThrottle || (b.cpuThrottle === a.cpuThrottle && b.threads > a.threads) ? b : a));
    return g.filter((b) => b !== base).map((b) => ({ artifact: b.artifact, runtime: b.runtime, environment: b.environment, batch: b.batch, profile: b.profile, baseline: base.profile, ratio: b.p50Ms / base.p50Ms, meanRatio: b.meanMs / base.meanMs }));
  });
}
