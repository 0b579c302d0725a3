// `--method auto`: train a grid of candidate methods on the user's own data and keep the student with the best
// validation accuracy (never the test split). The grid is small on purpose: each candidate is a full training run.
import type { AutoMethodConfig, MethodConfig } from './schema.ts';
import type { Datasets } from '../data/dataset.ts';
import { trainOne, type Checkpoints, type StudentSetup, type TransferSet } from './train-one.ts';
import type { TrainedStudent } from './trained.ts';
import type { Progress } from '../util/progress.ts';
import type { StudentResult } from '../report/types.ts';

/**
 * label; KD at tau 1/4 with alpha 0/0.5; LELP with the options that led benchmarks/lelp-sweep.ts --grid options on
 * validation (docs/lelp.md): k-means subclasses (S 10, the default, and 5), signed directions (S 10), and the paper's
 * directions (S 2, 5, 10; S 5 at tau 2). 12 candidates, each a full training run.
 */
export function defaultCandidates(): MethodConfig[] {
  const lelp = (subclasses: number, opts: { assign?: 'directions' | 'signed' | 'kmeans'; tau?: number } = {}): MethodConfig => ({ name: 'lelp', subclasses, beta: 1, tau: opts.tau ?? 1, alpha: 0, nullSpace: true, rotate: true, projection: 'pca', assign: opts.assign ?? 'directions', whiten: false });
  return [
    { name: 'label' },
    ...[1, 4].flatMap((tau) => [0, 0.5].map((alpha): MethodConfig => ({ name: 'kd', tau, alpha }))),
    lelp(10, { assign: 'kmeans' }),
    lelp(5, { assign: 'kmeans' }),
    lelp(10, { assign: 'signed' }),
    lelp(5),
    lelp(2),
    lelp(10),
    lelp(5, { tau: 2 }),
  ];
}

export function describeCandidate(m: MethodConfig): string {
  const { name, ...opts } = m;
  const parts = Object.entries(opts).filter(([k, v]) => ['subclasses', 'beta', 'tau', 'alpha', 'gamma'].includes(k) || (k === 'assign' && v !== 'directions') || (k === 'whiten' && v));
  return parts.length ? `${name}(${parts.map(([k, v]) => `${k}=${v}`).join(',')})` : name;
}

export async function runAuto(
  setup: StudentSetup,
  m: AutoMethodConfig,
  name: string,
  data: Datasets,
  t: TransferSet,
  opts: { progress: Progress; checkpoints?: Checkpoints },
): Promise<TrainedStudent & { result: StudentResult }> {
  const candidates = m.candidates ?? defaultCandidates();
  let best: (TrainedStudent & { result: StudentResult }) | null = null;
  const sweep: string[] = [];
  for (const c of candidates) {
    const s = await trainOne(setup, c, name, data, t, { ...opts, progressLabel: `${name}: ${describeCandidate(c)}` });
    sweep.push(`${describeCandidate(c)}=${(s.result.validationAccuracy * 100).toFixed(2)}`);
    // Ties go to the earlier (simpler) candidate.
    if (!best || s.result.validationAccuracy > best.result.validationAccuracy) {
      best?.dispose();
      best = { ...s, result: { ...s.result, options: { chosen: describeCandidate(c), ...s.result.options } } };
    } else s.dispose();
  }
  opts.progress.note(`auto: validation accuracy % by candidate: ${sweep.join(' ')}; kept ${best!.result.options.chosen}`);
  return { ...best!, result: { ...best!.result, options: { ...best!.result.options, sweep: sweep.join(' ') } } };
}
