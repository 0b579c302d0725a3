// The compress stage: smaller variants of every student (ONNX int8 / float16, TF.js quantized weights, pruned
// students), each measured in its runtime and accepted only while its accuracy drop stays within the budget.
import { readFileSync } from 'node:fs';
import { writeAtomic } from '../util/fsutil.ts';
import { join, relative } from 'node:path';
import type { CompressConfig } from '../config.ts';
import type { TrainConfig } from '../distill/schema.ts';
import type { Datasets } from '../data/dataset.ts';
import { referencePredict, type TrainedStudent } from '../distill/trained.ts';
import type { TransferSet } from '../distill/train-one.ts';
import type { MethodConfig } from '../distill/schema.ts';
import { prepareMethod } from '../distill/losses.ts';
import { fineTunePruned, sparsityOf, structuredPrune } from '../distill/prune.ts';
import type { StudentSpec } from '../student/spec.ts';
import { parameterCount } from '../distill/architectures.ts';
import { EXPORTERS, evaluateArtifacts, writeArtifact, type Evaluation, type WrittenArtifact } from './export.ts';
import { exportTfliteInt8, tfliteRanges, type TfliteRanges } from '../../exporters/tflite-quantize.ts';
import { integerGraph, microInfo, microSources } from '../../exporters/tflite-micro.ts';
import { ARTIFACT_FORMATS, type ArtifactFormatName, type DeployContext } from '../../exporters/deploy.ts';
import type { Progress } from '../util/progress.ts';
import type { ArtifactResult, BenchmarkResult, MicroBundleResult, Report, TargetRecommendation } from '../report/types.ts';
import { TOOL_NAME, TOOL_VERSION } from '../util/versions.ts';
import { calibrate, exportQuantizedOnnx, type QuantMode } from '../../exporters/onnx-quantize.ts';
import { exportTfjsLayers } from '../../exporters/tfjs-layers.ts';
import { exportTfjsGraph } from '../../exporters/tfjs-graph.ts';

/** A short, file-name-safe name for a quantization mode: int8-dynamic, int8-static-pc-pctl, int8-8bit-..., float16. */
export function quantVariant(m: CompressConfig['onnx'][number]): string {
  if (m.kind === 'float16') return 'float16';
  const parts = ['int8', m.kind];
  if (m.perChannel) parts.push('pc');
  if (m.kind === 'static' && m.calibration === 'percentile') parts.push('pctl');
  if (!m.reduceRange) parts.push('8bit');
  return parts.join('-');
}

/** ONNX, TF.js and TFLite variants of one student, quantized from its fp32 weights. */
export async function quantizeStudent(
  s: TrainedStudent,
  formats: readonly ArtifactFormatName[],
  c: CompressConfig,
  data: Datasets,
  opts: CompressOptions,
): Promise<Evaluation> {
  const dir = join(opts.staging, 'artifacts', s.name);
  const written: WrittenArtifact[] = [];
  const n = Math.min(c.calibrationExamples, data.train.n);
  const calibration = (method: 'minmax' | 'percentile', percentile: number) => calibrate(s.spec, data.train.x.read(0, n), n, method, percentile);
  const common = { dir, student: s.name, spec: s.spec, deploy: opts.deploy };
  if (formats.includes('onnx')) {
    for (const m of c.onnx) {
      const cal = m.kind === 'static' ? { calibration: calibration(m.calibration, m.percentile) } : {};
      written.push(await writeArtifact({ ...common, variant: quantVariant(m), format: 'onnx', build: (spec) => exportQuantizedOnnx(spec, m as QuantMode, { producerVersion: TOOL_VERSION, ...cal }) }));
    }
  }
  let microTwin: { calibration: TfliteRanges; twin: WrittenArtifact } | null = null;
  if (formats.includes('tflite') && c.tflite.length) {
    // One calibration pass serves both boundary forms (the deploy metadata does not change the graph's tensors).
    const calibration = tfliteRanges(s.spec, data.train.x.read(0, n), n);
    const int8 = await writeArtifact({ ...common, variant: 'int8', format: 'tflite', build: (spec) => exportTfliteInt8(spec, { io: 'float', calibration }) });
    // The micro bundle's accuracy is its twin's: the int8 artifact is checked and reported whenever either is asked for.
    written.push(int8);
    if (c.tflite.includes('micro')) microTwin = { calibration, twin: int8 };
  }
  const tfjsFormats = { 'tfjs-layers': exportTfjsLayers, 'tfjs-graph': exportTfjsGraph } as const;
  for (const format of (['tfjs-layers', 'tfjs-graph'] as const).filter((f) => formats.includes(f))) {
    for (const dtype of c.tfjs) {
      written.push(await writeArtifact({ ...common, variant: `${dtype}-weights`, format, build: (spec) => tfjsFormats[format](spec, { weights: dtype }) }));
    }
  }
  const evaluated = await evaluateArtifacts(s, written, data, { ...opts, maxAccuracyDrop: c.maxAccuracyDrop });
  if (!microTwin) return evaluated;
  // Written only when its twin is accepted: a bundle whose integer graph broke the accuracy budget is reported, not shipped.
  const rejected = evaluated.artifacts.find((a) => a.name === microTwin.twin.name)?.rejected ?? null;
  return { ...evaluated, micro: [writeMicroBundle({ dir, student: s.name, spec: s.spec, staging: opts.staging, ...microTwin, rejected })] };
}

/**
 * The TFLite Micro bundle of a student: the int8-in/out twin of its int8 .tflite (same calibration, so the same
 * integer graph: checked here, which is what lets the report give it the twin's accuracy), model_data.h/.cc,
 * model_ops.h and micro.json, in <dir>/tflite-micro/.
 */
function writeMicroBundle(o: { dir: string; student: string; spec: StudentSpec; staging: string; calibration: TfliteRanges; twin: WrittenArtifact; rejected: string | null }): MicroBundleResult {
  const bytes = exportTfliteInt8(o.spec, { io: 'int8', calibration: o.calibration });
  if (integerGraph(bytes) !== integerGraph(readFileSync(o.twin.file))) {
    throw new Error(`the int8-in/out model of ${o.student} does not have the integer graph of ${o.twin.name}`);
  }
  const info = microInfo(bytes);
  const sub = join(o.dir, 'tflite-micro');
  const name = `${o.student}.micro.tflite`;
  if (o.rejected) return { name, method: o.student, twin: o.twin.name, path: null, rejected: `its twin ${o.twin.name} was rejected: ${o.rejected}`, ...info };
  const sources = microSources(bytes, info, `Generated by ${TOOL_NAME} ${TOOL_VERSION}: ${name}, the int8-in/out twin of ${o.twin.name}.`);
  writeAtomic(join(sub, 'model.tflite'), bytes);
  for (const [file, text] of Object.entries(sources)) writeAtomic(join(sub, file), text);
  const result: MicroBundleResult = { name, method: o.student, twin: o.twin.name, path: relative(o.staging, sub), rejected: null, ...info };
  writeAtomic(join(sub, 'micro.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
}

interface CompressOptions {
  staging: string;
  progress: Progress;
  baseAccuracy: number;
  deploy: DeployContext;
  /** Chromium for the formats checked in the browser (tflite on LiteRT.js). */
  chromium?: string;
}

/**
 * Per benchmarked target (runtime, environment, profile; its smallest batch), the fastest accepted artifact by p50 and
 * the smallest accepted one. An int8 artifact is not assumed faster: on some runtimes (onnxruntime-web at batch 1,
 * ConvInteger on onnxruntime-node) it is slower than float32, and then float32 is the fastest.
 */
export function recommendFor(artifacts: ArtifactResult[], benchmarks: BenchmarkResult[]): TargetRecommendation[] {
  const accepted = new Map(artifacts.filter((a) => !a.rejected).map((a) => [a.name, a]));
  const targets = new Map<string, BenchmarkResult[]>();
  for (const b of benchmarks) {
    if (!accepted.has(b.artifact)) continue;
    const key = `${b.runtime}|${b.environment}|${b.profile}`;
    targets.set(key, [...(targets.get(key) ?? []), b]);
  }
  const out: TargetRecommendation[] = [];
  for (const rows of targets.values()) {
    const batch = Math.min(...rows.map((r) => r.batch));
    const at = rows.filter((r) => r.batch === batch).sort((a, b) => a.p50Ms - b.p50Ms);
    const [fast, next] = at;
    const small = [...at].sort((a, b) => accepted.get(a.artifact)!.bytes - accepted.get(b.artifact)!.bytes || a.p50Ms - b.p50Ms)[0]!;
    const where = `on ${fast!.runtime} (${fast!.environment}, ${fast!.profile}) at batch ${batch}`;
    const smallBytes = accepted.get(small.artifact)!.bytes;
    out.push({
      runtime: fast!.runtime, environment: fast!.environment, profile: fast!.profile, batch,
      fastest: { artifact: fast!.artifact, p50Ms: fast!.p50Ms, why: `fastest accepted ${where}: p50 ${fast!.p50Ms.toPrecision(3)} ms${next ? `, next ${next.artifact} at ${next.p50Ms.toPrecision(3)} ms` : ''} (${at.length} accepted benchmarked)` },
      smallest: { artifact: small.artifact, bytes: smallBytes, why: `smallest accepted ${where}: ${smallBytes} bytes, p50 ${small.p50Ms.toPrecision(3)} ms (${(small.p50Ms / fast!.p50Ms).toFixed(2)}x the fastest)` },
    });
  }
  return out;
}

/** The smallest accepted artifact of each format, with the reason, for the report. */
export function recommend(artifacts: ArtifactResult[], budget: number): Report['recommended'] {
  const out: Report['recommended'] = [];
  for (const format of ARTIFACT_FORMATS) {
    const ok = artifacts.filter((a) => a.format === format && !a.rejected).sort((a, b) => a.bytes - b.bytes || a.accuracyDrop - b.accuracyDrop);
    const best = ok[0];
    if (!best) continue;
    const rejected = artifacts.filter((a) => a.format === format && a.rejected).length;
    out.push({
      artifact: best.name,
      format,
      why: `smallest ${format} artifact within the accuracy budget: ${best.bytes} bytes, ${(best.accuracy * 100).toFixed(2)} % test accuracy (drop ${best.accuracyDrop.toFixed(2)} ≤ ${budget} points); ${ok.length - 1} larger accepted, ${rejected} rejected`,
    });
  }
  return out;
}

/** Pruned variants of one student: structured (really smaller) and magnitude (sparse), each fine-tuned with the
 * student's own distillation loss, exported in fp32 to every configured format. */
export async function pruneStudent(
  s: TrainedStudent,
  setup: { formats: readonly ArtifactFormatName[]; train: TrainConfig; seed: number },
  c: CompressConfig,
  data: Datasets,
  transfer: TransferSet,
  opts: CompressOptions,
): Promise<Evaluation> {
  const { train } = data;
  const method = s.method ?? ({ name: 'label' } as MethodConfig);
  const view = (spec: StudentSpec) => ({
    n: train.n, classes: spec.classes, embeddingDim: transfer.teacher.embeddingDim, logits: transfer.logits, embedding: transfer.embedding,
    groups: transfer.groups, head: transfer.head, seed: setup.seed, fine: train.fine, studentHidden: spec.layers.at(-1)!.kind === 'dense' ? (spec.layers.at(-1) as { inputs: number }).inputs : 0,
  });
  const trainSet = { x: train.x, n: train.n, features: train.features, labels: train.labels ?? transfer.groups, classes: s.spec.classes };
  // Fine-tuning runs compress.prune.fineTuneSteps steps, whatever train.epochs says; it has no validation checks.
  const { epochs: _epochs, ...trainRecipe } = setup.train;
  const fineTune = { ...trainRecipe, steps: c.prune.fineTuneSteps };
  const variants: { variant: string; spec: StudentSpec }[] = [];
  for (const f of c.prune.structured) {
    const pruned = structuredPrune(s.spec, f).spec;
    const tuned = await fineTunePruned(pruned, { data: trainSet, method: prepareMethod(method, view(pruned)), train: fineTune, seed: setup.seed, progress: opts.progress });
    variants.push({ variant: `pruned-${Math.round(f * 100)}`, spec: tuned.spec });
  }
  for (const target of c.prune.magnitude) {
    const tuned = await fineTunePruned(s.spec, { data: trainSet, method: prepareMethod(method, view(s.spec)), train: fineTune, seed: setup.seed, progress: opts.progress, sparsity: { target } });
    variants.push({ variant: `sparse-${Math.round(target * 100)}`, spec: tuned.spec });
  }
  const results: Evaluation = { artifacts: [], parity: [] };
  for (const v of variants) {
    const spec = { ...v.spec, metadata: { ...v.spec.metadata, 'edge-distill.compression': v.variant } };
    // The pruned model is its own reference for parity (exact export); accuracy is compared with the original.
    const student: TrainedStudent = { ...s, spec, predict: referencePredict(spec) };
    const dir = join(opts.staging, 'artifacts', s.name);
    const written: WrittenArtifact[] = [];
    for (const format of setup.formats) {
      written.push({ ...(await writeArtifact({ dir, student: s.name, variant: v.variant, format, spec, deploy: opts.deploy, build: EXPORTERS[format] })), exact: true });
    }
    const evaluated = await evaluateArtifacts(student, written, data, { ...opts, maxAccuracyDrop: c.maxAccuracyDrop });
    results.artifacts.push(...evaluated.artifacts.map((a) => ({ ...a, sparsity: sparsityOf(spec), parameters: parameterCount(spec) })));
    results.parity.push(...evaluated.parity);
    opts.progress.note(`${s.name} ${v.variant}: ${parameterCount(spec)} parameters (was ${parameterCount(s.spec)}), kernel sparsity ${(sparsityOf(spec) * 100).toFixed(1)} %`);
  }
  return results;
}
