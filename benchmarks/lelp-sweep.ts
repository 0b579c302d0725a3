// How LELP's options are chosen: training runs scored by VALIDATION accuracy (the test split is never looked at),
// seeds 100.. (not the quality benchmark's). Two grids:
// - classic (the default): S x beta x tau on Fashion-MNIST label % 2 with the watch-size student (784-8);
// - options: one option at a time around the defaults (S, beta, tau, alpha, null space, rotation, random projections,
//   signed directions, k-means, whitening), with label, KD and the oracle as references, on MNIST even / odd with the
//   dscnn student at n=1,000, the task where the oracle shows subclass structure to capture.
//   node --import tsx benchmarks/lelp-sweep.ts [--grid classic|options] [--seeds 2] [--sizes 1000] [--out DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConcreteMethodSchema } from '../pipeline/distill/schema.ts';
import { useBackend } from '../pipeline/util/tfjs.ts';
import { TASKS, mean, runTask, std, studentLabel, type Contender, type Row, type Setting } from './quality.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));

export const GRID = { subclasses: [2, 5, 10, 20], beta: [0.5, 1, 2], tau: [1, 2] };

const lelp = (label: string, opts: Record<string, unknown> = {}): Contender => ({ label, method: ConcreteMethodSchema.parse({ name: 'lelp', ...opts }) });

/** One option at a time around LELP's defaults (S 5, beta 1, tau 1, alpha 0, null space, rotation, PCA directions). */
export const OPTION_GRID: Contender[] = [
  lelp('lelp (defaults)'),
  lelp('S=2', { subclasses: 2 }),
  lelp('S=10', { subclasses: 10 }),
  lelp('beta=0.5', { beta: 0.5 }),
  lelp('beta=2', { beta: 2 }),
  lelp('tau=2', { tau: 2 }),
  lelp('alpha=0.5', { alpha: 0.5 }),
  lelp('no null space', { nullSpace: false }),
  lelp('no rotation', { rotate: false }),
  lelp('random projections', { projection: 'random' }),
  lelp('whiten', { whiten: true }),
  lelp('signed S=10', { assign: 'signed', subclasses: 10 }),
  lelp('kmeans S=5', { assign: 'kmeans' }),
  lelp('kmeans S=10', { assign: 'kmeans', subclasses: 10 }),
  lelp('kmeans S=5 whiten', { assign: 'kmeans', whiten: true }),
];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { grid: { type: 'string', default: 'classic' }, seeds: { type: 'string', default: '2' }, sizes: { type: 'string', default: '1000' }, steps: { type: 'string', default: '2500' }, only: { type: 'string' }, out: { type: 'string', default: join(HERE, 'results') } } });
  const options = values.grid === 'options';
  const references: Contender[] = [
    // On the same validation split: is any LELP setting better than not distilling at all, and what is the ceiling?
    { label: 'label (reference)', method: ConcreteMethodSchema.parse({ name: 'label' }) },
    { label: 'kd (reference, defaults)', method: ConcreteMethodSchema.parse({ name: 'kd' }) },
    ...(options ? [{ label: 'oracle (reference)', method: ConcreteMethodSchema.parse({ name: 'oracle' }) }] : []),
  ];
  const grid = options ? OPTION_GRID : GRID.subclasses.flatMap((S) => GRID.beta.flatMap((beta) => GRID.tau.map((tau) => lelp(`lelp S=${S} beta=${beta} tau=${tau}`, { subclasses: S, beta, tau }))));
  const contenders = [...references, ...grid].filter((c) => !values.only || values.only.split(',').includes(c.label));
  const task = TASKS.find((t) => t.name === (options ? 'mnist-eo-conv' : 'fmnist-bin'))!;
  const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => 100 + i); // not the quality benchmark's seeds
  const sizes = values.sizes!.split(',').map(Number);
  const settings: Setting[] = options ? task.settings.filter((s) => sizes.includes(s.trainSize) && s.student?.label === 'dscnn-18k') : sizes.map((n) => ({ trainSize: n, hidden: 8 }));
  await useBackend('auto');
  const rows: Row[] = [];
  const t0 = performance.now();
  // The task's own contender list is the quality table's; the sweep runs its own.
  await runTask({ ...task, contenders: undefined }, { seeds, steps: Number(values.steps), cacheDir: join(HERE, '.cache'), contenders, settings, engine: 'onnxruntime' }, rows, (s) => console.log(s));
  const name = options ? 'lelp-options' : 'lelp-sweep';
  const what = options
    ? `MNIST even / odd (${task.name}: the CNN teacher, dscnn-18k students, 100 epochs)`
    : `Fashion-MNIST label % 2, MLP 784-8-2·S, ${values.steps} steps`;
  const lines = [`# LELP ${options ? 'options' : 'hyperparameter sweep'} (validation accuracy)`, '', `Command: \`node --import tsx benchmarks/lelp-sweep.ts --grid ${values.grid} --seeds ${seeds.length} --sizes ${values.sizes}${values.only ? ` --only "${values.only}"` : ''}\` — ${((performance.now() - t0) / 60000).toFixed(1)} min. ${what}; seeds ${seeds.join(', ')}; validation = 10 % of the training set, the test split unused. Sorted by mean validation accuracy.`, ''];
  for (const s of settings) {
    const table = contenders.map((c) => {
      const v = rows.filter((r) => r.method === c.label && r.trainSize === s.trainSize).map((r) => r.validationAccuracy * 100);
      return { label: c.label, m: mean(v), sd: std(v), per: v.map((x) => x.toFixed(2)).join(' / ') };
    }).sort((a, b) => b.m - a.m);
    lines.push(`## n=${s.trainSize}, ${studentLabel({ hidden: s.hidden, ...(s.student ? { student: s.student.label } : {}) })}`, '', `| ${options ? 'LELP option (others at their defaults)' : 'S, beta, tau'} | validation acc % | per seed |`, '| --- | --- | --- |', ...table.map((r) => `| ${r.label.replace('lelp ', '')} | ${r.m.toFixed(2)} ± ${r.sd.toFixed(2)} | ${r.per} |`), '');
  }
  mkdirSync(values.out!, { recursive: true });
  writeFileSync(join(values.out!, `${name}.md`), lines.join('\n'));
  writeFileSync(join(values.out!, `${name}.json`), JSON.stringify({ grid: options ? OPTION_GRID : GRID, seeds, rows }, null, 2) + '\n');
  console.log(lines.join('\n'));
}

await main();
