// Crash safety: a run killed with SIGKILL during training, or during export, leaves nothing in --out that could pass
// for a result (no manifest.json, no artifacts/, only its hidden staging folder, which the next run removes), and
// the next run resumes: it reads the teacher's outputs from the cache and training from the last complete epoch's
// checkpoint, and its artifacts are byte-identical to those of a run that was never interrupted. The runs use the
// training recipe (cosine schedule with warm-up, weight decay, keeping the best validation check), whose state
// resumes with the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { artifactHashes, BIN, cli, EXAMPLE_DIR, ROOT, SHARED_TEACHER_CACHE, tempDir } from './helpers.ts';

// 2,000 transfer images in batches of 64: an epoch is 31 steps, so 600 steps write 19 epoch checkpoints.
const STEPS = 600;
const EPOCH = Math.floor(2000 / 64);

function writeConfig(dir: string, engine: 'tfjs' | 'onnxruntime'): string {
  const example = JSON.parse(readFileSync(join(EXAMPLE_DIR, 'pipeline.json'), 'utf8'));
  const abs = (split: { features: string; labels: string }) => ({ ...split, features: join(EXAMPLE_DIR, split.features), labels: join(EXAMPLE_DIR, split.labels) });
  const cfg = {
    ...example,
    data: { ...example.data, train: abs(example.data.train), test: abs(example.data.test), trainSize: 2000 },
    teacher: { model: join(EXAMPLE_DIR, 'teacher.onnx') },
    methods: [{ name: 'lelp' }, { name: 'kd' }],
    // A fixed thread count on onnxruntime: its results depend on how its kernels split the work.
    // The recipe's state resumes too: the schedule's step, and the best validation check's weights and accuracy.
    train: { steps: STEPS, batchSize: 64, schedule: 'cosine', warmup: 0.05, weightDecay: 0.01, keepBest: true, ...(engine === 'onnxruntime' ? { engine, threads: 2 } : {}) },
    export: { formats: ['onnx', 'tfjs-layers'] },
    stages: ['distill', 'export'],
  };
  const file = join(dir, 'pipeline.json');
  writeFileSync(file, JSON.stringify(cfg));
  return file;
}

/** Start a run and SIGKILL it as soon as `when` holds (polled every 10 ms); resolves once it is dead. */
async function killRunWhen(args: string[], when: (stderr: string) => boolean): Promise<string> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let killed = false;
  while (child.exitCode === null && child.signalCode === null) {
    if (when(stderr)) {
      child.kill('SIGKILL');
      killed = true;
      break;
    }
    await sleep(10);
  }
  const signal = await exited;
  assert.ok(killed && signal === 'SIGKILL', `the run ended before it could be killed:\n${stderr.slice(-2000)}`);
  return stderr;
}

/** What a killed run leaves in --out: no manifest, no artifact or student folder, only hidden files. */
function assertNothingFinished(out: string): void {
  const visible = readdirSync(out).filter((f) => !f.startsWith('.'));
  assert.deepEqual(visible, [], `a killed run left ${visible.join(', ')} in --out`);
}

const checkpoints = (cache: string) => (existsSync(cache) ? readdirSync(cache).filter((f) => f.endsWith('.ckpt')) : []);

for (const engine of ['tfjs', 'onnxruntime'] as const) test(`crash safety (${engine} engine): runs killed with SIGKILL during training and during export resume, and match an uninterrupted run`, async () => {
  const dir = tempDir(`crash-${engine}`);
  const config = writeConfig(dir, engine);

  // The reference: one uninterrupted run (teacher outputs from the cache the other tests share; they are by content).
  const reference = join(dir, 'reference');
  const r = cli(['run', '--config', config, '--out', reference, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const expected = artifactHashes(reference);
  assert.ok(Object.keys(expected).length >= 6, JSON.stringify(expected));

  // Killed during training, after at least one epoch's checkpoint (a fresh cache: the teacher pass runs in this run).
  const out = join(dir, 'out');
  const cache = join(dir, 'cache');
  const args = ['run', '--config', config, '--out', out, '--cache-dir', cache];
  const first = await killRunWhen(args, () => checkpoints(cache).length > 0);
  assert.match(first, /train lelp/);
  assertNothingFinished(out);
  assert.ok(readdirSync(out).some((f) => f.startsWith('.staging-')), 'the killed run had staged its work in a hidden folder');

  // The next run: teacher outputs from the cache, training from the checkpoint, then killed during export.
  const second = await killRunWhen(args, (s) => /max \|Δp\|/.test(s));
  assert.match(second, /teacher outputs from cache/);
  const resumed = /train lelp: resumed from its checkpoint at step (\d+) of (\d+)/.exec(second);
  assert.ok(resumed, second.slice(-3000));
  const resumedAt = Number(resumed[1]);
  assert.ok(resumedAt >= EPOCH && resumedAt < STEPS && resumedAt % EPOCH === 0, `resumed at step ${resumedAt}: a complete epoch before the end`);
  assert.match(second, /removed .*\.staging-.*, left by a run that did not finish/);
  assertNothingFinished(out);

  // Killed during export: the third run finds every student's training complete and only exports.
  const third = cli(args);
  assert.equal(third.status, 0, third.stderr.slice(-2000));
  for (const method of ['lelp', 'kd']) assert.match(third.stderr, new RegExp(`train ${method}: resumed from its checkpoint at step ${STEPS} of ${STEPS}`));
  assert.deepEqual(artifactHashes(out), expected);
  assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.staging-')), [], 'the staging folders are gone');
  assert.deepEqual(checkpoints(cache), [], 'a finished run removes its training checkpoints');
  assert.ok(readdirSync(cache).some((f) => f.startsWith('teacher-')), 'the teacher cache stays');
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const refReport = JSON.parse(readFileSync(join(reference, 'report.json'), 'utf8'));
  const accuracies = (rep: { students: { method: string; accuracy: number; finalLoss: number; chosenStep: number }[] }) => rep.students.map((s) => [s.method, s.accuracy, s.finalLoss, s.chosenStep]);
  assert.deepEqual(accuracies(report), accuracies(refReport));
});
