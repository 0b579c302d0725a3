// The bench stage: batch latency of every artifact on every configured runtime that can load its format,
// on real test examples. Artifacts come from this run's export stage or from paths given to `edge-distill bench`.
import { existsSync, statSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Config } from './config.ts';
import type { Datasets } from './data/dataset.ts';
import { EdgeDistillError } from './errors.ts';
import type { Progress } from './progress.ts';
import type { ArtifactResult, BenchmarkResult } from './report.ts';
import { runtimes, type RuntimeName } from '../runtimes/registry.ts';
import { measureLatency } from '../runtimes/measure.ts';
import type { ArtifactFormat } from '../runtimes/runtime.ts';
import { modelJsonPath } from '../exporters/tfjs-io.ts';

export interface BenchTarget {
  name: string;
  format: ArtifactFormat;
  /** Absolute path of what the runtime loads. */
  file: string;
}

/** Recognise a model path given on the command line: an .onnx file, or a TF.js model.json (or its folder). */
export function benchTargetFromPath(p: string): BenchTarget {
  const abs = resolve(p);
  if (!existsSync(abs)) throw new EdgeDistillError('E_FILE_NOT_FOUND', `model ${abs} does not exist`, 'Pass an .onnx file or a TF.js model.json (or its folder).');
  if (abs.endsWith('.onnx')) return { name: basename(abs), format: 'onnx', file: abs };
  const json = statSync(abs).isDirectory() ? modelJsonPath(abs) : abs;
  if (json.endsWith('.json') && existsSync(json)) {
    const format = (() => {
      try {
        return JSON.parse(readFileSync(json, 'utf8')).format;
      } catch {
        return undefined;
      }
    })();
    if (format === undefined || format === 'layers-model') return { name: `${basename(dirname(json))}/model.json`, format: 'tfjs-layers', file: json };
    if (format === 'graph-model') return { name: `${basename(dirname(json))}/model.json`, format: 'tfjs-graph', file: json };
  }
  throw new EdgeDistillError('E_MODEL_FORMAT', `cannot tell the format of ${abs}`, 'Pass an .onnx file or a TF.js model.json (layers or graph model).');
}

export async function benchArtifacts(
  cfg: Config,
  data: Datasets,
  artifacts: ArtifactResult[],
  opts: { staging: string; models: string[]; progress: Progress },
): Promise<BenchmarkResult[]> {
  const targets: BenchTarget[] = [
    ...artifacts.map((a) => ({ name: a.name, format: a.format, file: resolve(opts.staging, a.path) })),
    ...opts.models.map(benchTargetFromPath),
  ];
  const results: BenchmarkResult[] = [];
  const { batch, warmup, runs, threads } = cfg.bench;
  const pairs = targets.flatMap((t) => cfg.bench.runtimes.filter((r) => (runtimes[r].formats as readonly string[]).includes(t.format)).map((r) => [t, r] as const));
  const step = opts.progress.step('benchmark', pairs.length);
  for (const [t, r] of pairs as (readonly [BenchTarget, RuntimeName])[]) {
    const stats = await measureLatency(runtimes[r], t.file, { x: data.test.x, n: data.test.n, features: data.test.features }, { batch, warmup, runs, threads });
    results.push({ artifact: t.name, runtime: r, batch, threads, ...stats });
    step.tick(1, `${t.name} on ${r}`);
  }
  step.done(`${pairs.length} artifact/runtime pairs`);
  return results;
}
