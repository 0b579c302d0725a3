// How LELP's defaults were chosen: a grid over S (subclasses), beta and tau, scored by VALIDATION accuracy (the
// test split is never looked at), on Fashion-MNIST label % 2 with the watch-size student where LELP matters.
//   node --import tsx benchmarks/lelp-sweep.ts [--seeds 2] [--sizes 1000,10000] [--out DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConcreteMethodSchema } from '../pipeline/distill/schema.ts';
import { useBackend } from '../pipeline/util/tfjs.ts';
import { TASKS, mean, runTask, std, type Contender, type Row } from './quality.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));

export const GRID = { subclasses: [2, 5, 10, 20], beta: [0.5, 1, 2], tau: [1, 2] };

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seeds: { type: 'string', default: '2' }, sizes: { type: 'string', default: '1000' }, steps: { type: 'string', default: '2500' }, out: { type: 'string', default: join(HERE, 'results') } } });
  const contenders: Contender[] = [
    // References on the same validation split: is any LELP setting better than not distilling at all?
    { label: 'label (reference)', method: ConcreteMethodSchema.parse({ name: 'label' }) },
    { label: 'kd (reference, defaults)', method: ConcreteMethodSchema.parse({ name: 'kd' }) },
    ...GRID.subclasses.flatMap((S) => GRID.beta.flatMap((beta) => GRID.tau.map((tau) => ({ label: `lelp S=${S} beta=${beta} tau=${tau}`, method: ConcreteMethodSchema.parse({ name: 'lelp', subclasses: S, beta, tau }) })))),
  ];
  const task = TASKS.find((t) => t.name === 'fmnist-bin')!;
  const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => 100 + i); // not the quality benchmark's seeds
  const settings = values.sizes!.split(',').map((n) => ({ trainSize: Number(n), hidden: 8 }));
  await useBackend('auto');
  const rows: Row[] = [];
  const t0 = performance.now();
  await runTask(task, { seeds, steps: Number(values.steps), cacheDir: join(HERE, '.cache'), contenders, settings }, rows, (s) => console.log(s));
  const lines = [`# LELP hyperparameter sweep (validation accuracy)`, '', `Command: \`node --import tsx benchmarks/lelp-sweep.ts --seeds ${seeds.length} --sizes ${values.sizes}\` — ${((performance.now() - t0) / 60000).toFixed(1)} min. Fashion-MNIST label % 2, MLP 784-8-2·S, ${values.steps} steps; seeds ${seeds.join(', ')}; validation = 10 % of the training set. Sorted by mean validation accuracy.`, ''];
  for (const s of settings) {
    const table = contenders.map((c) => {
      const v = rows.filter((r) => r.method === c.label && r.trainSize === s.trainSize).map((r) => r.validationAccuracy * 100);
      return { label: c.label, m: mean(v), sd: std(v) };
    }).sort((a, b) => b.m - a.m);
    lines.push(`## n=${s.trainSize}, h=8`, '', '| S, beta, tau | validation acc % |', '| --- | --- |', ...table.map((r) => `| ${r.label.replace('lelp ', '')} | ${r.m.toFixed(2)} ± ${r.sd.toFixed(2)} |`), '');
  }
  mkdirSync(values.out!, { recursive: true });
  writeFileSync(join(values.out!, 'lelp-sweep.md'), lines.join('\n'));
  writeFileSync(join(values.out!, 'lelp-sweep.json'), JSON.stringify({ grid: GRID, seeds, rows }, null, 2) + '\n');
  console.log(lines.join('\n'));
}

await main();
