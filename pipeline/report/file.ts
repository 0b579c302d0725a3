// `edge-distill report`: read a finished report.json back, check it is one, and rewrite the people-facing
// renderings (report.md, report.html) from it — e.g. after upgrading edge-distill, or into another folder.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { EdgeDistillError } from '../errors.ts';
import { sha256, writeAtomic } from '../util/fsutil.ts';
import { renderHtml } from './html.ts';
import { renderMarkdown } from './markdown.ts';
import type { Report } from './types.ts';

const num = z.number();
const str = z.string();
const nullNum = z.number().nullable();
// Only what the renderers read is checked, and loosely (extra fields pass): enough to fail with a pointed message
// on a file that is not a report, or one from an edge-distill too old to have these fields, instead of a page of NaN.
const ReportFileSchema = z.looseObject({
  tool: z.looseObject({ name: str, version: str }),
  task: z.looseObject({ classes: num, classNames: z.array(str).nullable(), train: num, validation: num, test: num, features: num }),
  teacher: z.looseObject({ path: str, sha256: str, accuracy: num, embedding: str, logits: str, embeddingDim: num, detected: z.array(str) }).nullable(),
  students: z.array(z.looseObject({ method: str, accuracy: num, validationAccuracy: num, parameters: num, trainMs: num, options: z.record(str, z.unknown()) })),
  artifacts: z.array(z.looseObject({ name: str, variant: str, format: str, bytes: num, gzipBytes: num, accuracy: num, accuracyDrop: num, accuracyRuntime: str, parity: z.array(z.looseObject({ runtime: str, maxAbsDiff: num, agreement: num })), rejected: str.nullable() })),
  parity: z.array(z.looseObject({ student: str, variant: str, examples: num, compared: z.array(str), maxAbsDiff: num, agreement: num, worstPair: z.array(str) })),
  recommended: z.array(z.looseObject({ artifact: str, format: str, why: str })),
  benchmarks: z.array(
    z.looseObject({
      artifact: str, runtime: str, environment: z.enum(['node', 'chromium']), profile: str, cpuThrottle: num, batch: num, threads: num, warmup: num, runs: num,
      initMs: num, firstRunMs: num, minMs: num, meanMs: num, stdMs: num, p50Ms: num, p90Ms: num, p95Ms: num, p99Ms: num, maxMs: num,
      // JSON has no Infinity: the throughput of runs too fast for the clock (total 0 ms) is written as null.
      throughput: nullNum,
      memory: z.looseObject({ peakRssBytes: nullNum, jsHeapBytes: nullNum, wasmBytes: nullNum, overProfileLimit: z.boolean() }),
      model: z.looseObject({ parameters: num, flopsPerExample: nullNum }),
    }),
  ),
  // Both arrived after the first reports; a report without them has none.
  benchmarksSkipped: z.array(z.looseObject({ artifact: str, runtime: str, environment: str, reason: str })).default([]),
  budgets: z.array(z.looseObject({ budget: str, artifact: str.nullable(), limit: num, actual: nullNum, ok: z.boolean() })).default([]),
});

/** The report.json at `from` (a file, or a run's output folder holding one), checked to be one. */
export function readReport(from: string): { path: string; report: Report } {
  let path = resolve(from);
  if (existsSync(path) && statSync(path).isDirectory()) path = join(path, 'report.json');
  if (!existsSync(path)) {
    throw new EdgeDistillError('E_FILE_NOT_FOUND', `report not found: ${path}`, 'Pass --from the report.json a run wrote (<out>/report.json), or the run\'s output folder.');
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new EdgeDistillError('E_DATA_FORMAT', `${path} is not JSON: ${(err as Error).message}`, 'Pass --from the report.json an edge-distill run wrote.', { cause: err });
  }
  const parsed = ReportFileSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    const more = parsed.error.issues.length > 5 ? ` (and ${parsed.error.issues.length - 5} more)` : '';
    throw new EdgeDistillError(
      'E_DATA_FORMAT',
      `${path} is not an edge-distill report: ${issues.join('; ')}${more}`,
      `Pass --from the report.json of an edge-distill run; a report from an older edge-distill lacks these fields, so run \`edge-distill run\` again to get one.`,
    );
  }
  return { path, report: parsed.data as unknown as Report };
}

/** `edge-distill report`: rebuild report.md and report.html from a report.json, by default in the report's folder. */
export async function rebuildReport(from: string, out?: string): Promise<{ markdown: string; html: string }> {
  const { path, report } = readReport(from);
  const dir = out ? resolve(out) : dirname(path);
  // Render both before writing either, so a rendering error leaves the folder as it was.
  const [md, page] = [renderMarkdown(report), await renderHtml(report)];
  const files = { markdown: join(dir, 'report.md'), html: join(dir, 'report.html') };
  writeAtomic(files.markdown, md);
  writeAtomic(files.html, page);
  updateManifest(dir, { 'report.md': md, 'report.html': page });
  return files;
}

/** In a run's own folder, manifest.json lists the reports' sizes and hashes: keep those entries true. */
function updateManifest(dir: string, written: Record<string, string>): void {
  const file = join(dir, 'manifest.json');
  if (!existsSync(file)) return;
  let manifest: { files?: { path: string; bytes: number; sha256: string }[] };
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return; // not a manifest we wrote: leave it alone
  }
  if (!Array.isArray(manifest.files)) return;
  let changed = false;
  for (const entry of manifest.files) {
    const text = written[entry.path];
    if (text === undefined) continue;
    const bytes = Buffer.from(text, 'utf8');
    Object.assign(entry, { bytes: bytes.length, sha256: sha256(bytes) });
    changed = true;
  }
  if (changed) writeAtomic(file, JSON.stringify(manifest, null, 2) + '\n');
}
