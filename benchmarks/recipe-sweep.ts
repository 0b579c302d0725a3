// How the training recipe's defaults were chosen: a grid of recipes (learning rate, schedule with warm-up, weight
// decay, keeping the best validation check), scored by VALIDATION accuracy (the test split is never looked at), on
// Fashion-MNIST label % 2 with the shipped teacher: the watch-size MLP (h=8) with 1,000 and 10,000 transfer images,
// and the dscnn student with 5,000, each with KD and label-only training.
//   node --import tsx benchmarks/recipe-sweep.ts [--seeds 2] [--students mlp,dscnn] [--out DIR]
// Writes results/recipe-sweep.md/json. docs/training.md reads the choice out of it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConcreteMethodSchema, type StudentConfig, type TrainConfig } from '../pipeline/distill/schema.ts';
import { useBackend } from '../pipeline/util/tfjs.ts';
import { TASKS, mean, runTask, std, type Contender, type Row, type Setting } from './quality.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));

type Recipe = { label: string; train: Partial<TrainConfig> };

/** Every recipe spells out the fields it does not vary, so that it means the same whatever the defaults are. */
const PLAIN: Partial<TrainConfig> = { learningRate: 1e-3, schedule: 'constant', warmup: 0, weightDecay: 0, keepBest: false };
const recipe = (label: string, train: Partial<TrainConfig>): Recipe => ({ label, train: { ...PLAIN, ...train } });

/** The MLPs: today's 2,500 constant-rate steps against schedules, a higher peak rate, decay and keeping the best. */
const MLP_RECIPES: Recipe[] = [
  recipe('constant 1e-3 (before)', { steps: 2500 }),
  recipe('cosine 1e-3, warm-up 5 %', { steps: 2500, schedule: 'cosine', warmup: 0.05 }),
  recipe('cosine 3e-3, warm-up 5 %', { steps: 2500, learningRate: 3e-3, schedule: 'cosine', warmup: 0.05 }),
  recipe('constant 1e-3, keep best', { steps: 2500, keepBest: true, evalEvery: 100 }),
  recipe('cosine 1e-3, warm-up 5 %, keep best', { steps: 2500, schedule: 'cosine', warmup: 0.05, keepBest: true, evalEvery: 100 }),
  recipe('cosine 3e-3, warm-up 5 %, keep best', { steps: 2500, learningRate: 3e-3, schedule: 'cosine', warmup: 0.05, keepBest: true, evalEvery: 100 }),
  recipe('cosine 3e-3, warm-up 5 %, weight decay 0.05, keep best', { steps: 2500, learningRate: 3e-3, schedule: 'cosine', warmup: 0.05, weightDecay: 0.05, keepBest: true, evalEvery: 100 }),
];

/** The dscnn: 30 epochs over 5,000 transfer images (1,170 steps of an 18k-parameter conv net, ~90 s each). */
const DSCNN_RECIPES: Recipe[] = [
  recipe('30 epochs, constant 1e-3', { epochs: 30 }),
  recipe('30 epochs, cosine 3e-3, warm-up 5 %, keep best', { epochs: 30, learningRate: 3e-3, schedule: 'cosine', warmup: 0.05, keepBest: true }),
  recipe('30 epochs, cosine 3e-3, warm-up 5 %, weight decay 0.05, keep best', { epochs: 30, learningRate: 3e-3, schedule: 'cosine', warmup: 0.05, weightDecay: 0.05, keepBest: true }),
];

const DSCNN: StudentConfig = { arch: 'dscnn', stem: 16, stemStride: 2, blocks: [{ filters: 32, stride: 1 }, { filters: 64, stride: 2 }, { filters: 64, stride: 1 }, { filters: 128, stride: 2 }], widthMultiplier: 1, pooling: 'average', dense: [] };

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seeds: { type: 'string', default: '2' }, students: { type: 'string', default: 'mlp,dscnn' }, out: { type: 'string', default: join(HERE, 'results') } } });
  const contenders: Contender[] = [
    { label: 'kd', method: ConcreteMethodSchema.parse({ name: 'kd' }) },
    { label: 'label', method: ConcreteMethodSchema.parse({ name: 'label' }) },
  ];
  const base = TASKS.find((t) => t.name === 'fmnist-bin')!;
  const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => 100 + i); // not the quality benchmark's seeds
  const groups: { student: string; settings: Setting[]; recipes: Recipe[] }[] = [];
  const students = values.students!.split(',');
  if (students.includes('mlp')) groups.push({ student: 'mlp', settings: [{ trainSize: 1000, hidden: 8 }, { trainSize: 10000, hidden: 8 }], recipes: MLP_RECIPES });
  if (students.includes('dscnn')) groups.push({ student: 'dscnn', settings: [{ trainSize: 5000, hidden: 0, student: { label: 'dscnn-18k', config: DSCNN } }], recipes: DSCNN_RECIPES });
  await useBackend('auto');
  const rows: (Row & { recipe: string; setting: string })[] = [];
  const t0 = performance.now();
  const settingLabel = (s: Setting) => `${s.student?.label ?? `MLP h=${s.hidden}`}, ${s.trainSize} transfer images`;
  for (const g of groups) {
    for (const setting of g.settings) {
      for (const recipe of g.recipes) {
        const found: Row[] = [];
        await runTask({ ...base, train: recipe.train }, { seeds, steps: 2500, cacheDir: join(HERE, '.cache'), contenders, settings: [setting] }, found, (s) => console.log(`${recipe.label}: ${s}`));
        rows.push(...found.map((r) => ({ ...r, recipe: recipe.label, setting: settingLabel(setting) })));
      }
    }
  }
  const minutes = (performance.now() - t0) / 60000;
  const cell = (rs: Row[], pick: (r: Row) => number) => (rs.length ? `${mean(rs.map(pick)).toFixed(2)} ± ${std(rs.map(pick)).toFixed(2)}` : '-');
  const lines = [
    '# Training recipe sweep',
    '',
    `Command: \`node --import tsx benchmarks/recipe-sweep.ts --seeds ${seeds.length} --students ${students.join(',')}\` (${minutes.toFixed(1)} min). Fashion-MNIST label % 2, the shipped teacher; **validation** accuracy %, mean ± std over seeds ${seeds.join(', ')} (the quality benchmark uses others); test accuracy beside it, for the record only. keepBest checks every 100 steps (MLPs) or every epoch (dscnn).`,
    '',
  ];
  for (const g of groups) {
    for (const setting of g.settings) {
      lines.push(`## ${settingLabel(setting)}`, '', '| recipe | kd val | label val | kd test | label test | kept step (kd, mean) |', '| --- | --- | --- | --- | --- | --- |');
      for (const recipe of g.recipes) {
        const rs = rows.filter((r) => r.recipe === recipe.label && r.setting === settingLabel(setting));
        const m = (name: string) => rs.filter((r) => r.method === name);
        const kept = m('kd').map((r) => r.chosenStep ?? NaN).filter(Number.isFinite);
        lines.push(`| ${recipe.label} | ${cell(m('kd'), (r) => r.validationAccuracy * 100)} | ${cell(m('label'), (r) => r.validationAccuracy * 100)} | ${cell(m('kd'), (r) => r.accuracy * 100)} | ${cell(m('label'), (r) => r.accuracy * 100)} | ${kept.length ? mean(kept).toFixed(0) : 'last'} |`);
      }
      lines.push('');
    }
  }
  mkdirSync(values.out!, { recursive: true });
  writeFileSync(join(values.out!, 'recipe-sweep.md'), lines.join('\n') + '\n');
  writeFileSync(join(values.out!, 'recipe-sweep.json'), JSON.stringify({ seeds, minutes, rows }, null, 2) + '\n');
  console.log(lines.join('\n'));
}

await main();
