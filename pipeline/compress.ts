// The compress stage: smaller variants of every student (ONNX int8 / float16, TF.js quantized weights, pruned
// students), each measured in its runtime and accepted only while its accuracy drop stays within the budget.
import { join } from 'node:path';
import type { Config } from './config.ts';
import type { Datasets } from './data/dataset.ts';
import type { TrainedStudent } from './distill.ts';
import { evaluateArtifacts, writeOnnxArtifact, writeTfjsArtifact, type WrittenArtifact } from './export.ts';
import type { Progress } from './progress.ts';
import type { ArtifactResult, Report } from './report.ts';
import { TOOL_VERSION } from './versions.ts';
import { calibrate, exportQuantizedOnnx, type QuantMode } from '../exporters/onnx-quantize.ts';
import { exportTfjsLayers } from '../exporters/tfjs-layers.ts';

type CompressConfig = NonNullable<Config['compress']>;

/** A short, file-name-safe name for a quantization mode: int8-dynamic, int8-static-pc-pctl, int8-8bit-..., float16. */
export function quantVariant(m: CompressConfig['onnx'][number]): string {
  if (m.kind === 'float16') return 'float16';
  const parts = ['int8', m.kind];
  if (m.perChannel) parts.push('pc');
  if (m.kind === 'static' && m.calibration === 'percentile') parts.push('pctl');
  if (!m.reduceRange) parts.push('8bit');
  return parts.join('-');
}

/** ONNX and TF.js variants of one student, quantized from its fp32 weights. */
export async function quantizeStudent(
  s: TrainedStudent,
  cfg: Config,
  c: CompressConfig,
  data: Datasets,
  opts: { staging: string; progress: Progress; baseAccuracy: number },
): Promise<ArtifactResult[]> {
  const dir = join(opts.staging, 'artifacts', s.name);
  const written: WrittenArtifact[] = [];
  const n = Math.min(c.calibrationExamples, data.train.n);
  const calibration = (method: 'minmax' | 'percentile', percentile: number) => calibrate(s.spec, data.train.x.subarray(0, n * data.train.features), n, method, percentile);
  if (cfg.export.formats.includes('onnx')) {
    for (const m of c.onnx) {
      const mode = m as QuantMode;
      const bytes = exportQuantizedOnnx(s.spec, mode, { producerVersion: TOOL_VERSION, ...(m.kind === 'static' ? { calibration: calibration(m.calibration, m.percentile) } : {}) });
      written.push(writeOnnxArtifact(dir, s.name, quantVariant(m), bytes));
    }
  }
  if (cfg.export.formats.includes('tfjs')) {
    for (const dtype of c.tfjs) written.push(writeTfjsArtifact(dir, s.name, `${dtype}-weights`, await exportTfjsLayers(s.spec, { weights: dtype })));
  }
  return evaluateArtifacts(s, written, data, { ...opts, maxAccuracyDrop: c.maxAccuracyDrop });
}

/** The smallest accepted artifact of each format, with the reason, for the report. */
export function recommend(artifacts: ArtifactResult[], budget: number): Report['recommended'] {
  const out: Report['recommended'] = [];
  for (const format of ['onnx', 'tfjs-layers'] as const) {
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
