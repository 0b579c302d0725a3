// The teacher pass in shards, through the real CLI on the bundled example: 4 shard processes, merged, give the students
// of the single-process run byte for byte; each kind of bad shard folder fails with E_SHARD naming it and writes
// nothing; the Kubernetes manifest's command is one the CLI accepts.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseShardSpec, shardRange } from '../pipeline/teacher/shards.ts';
import { BIN, cli, EXAMPLE_DIR, ROOT, SHARED_TEACHER_CACHE, tempDir } from './helpers.ts';

const dir = tempDir('shards');
const SHARDS = join(dir, 'shards');

/** The example's config with absolute paths; `precomputed` makes it read the teacher's outputs from shards. */
function config(name: string, precomputed?: string, extra: Record<string, unknown> = {}): string {
  const c = JSON.parse(readFileSync(join(EXAMPLE_DIR, 'pipeline.json'), 'utf8'));
  for (const s of ['train', 'test']) for (const k of ['features', 'labels']) c.data[s][k] = join(EXAMPLE_DIR, c.data[s][k]);
  c.teacher = { model: join(EXAMPLE_DIR, 'teacher.onnx'), ...(precomputed ? { precomputed: { format: 'shards', dir: precomputed } } : {}) };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ ...c, ...extra }));
  return file;
}

const run = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ status: number | null; stderr: string }>((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => done({ status, stderr }));
  });

const studentHashes = (out: string) =>
  Object.fromEntries(readdirSync(join(out, 'students')).map((m) => [m, createHash('sha256').update(readFileSync(join(out, 'students', m, 'weights.bin'))).digest('hex')]));

before(async () => {
  // Four shard processes, two at a time (the machine has two cores).
  const cfg = config('shard');
  for (const pair of [[0, 1], [2, 3]]) {
    const rs = await Promise.all(pair.map((k) => run(['teacher', 'run', '--config', cfg, '--shard', `${k}/4`, '--out', SHARDS, '--quiet'])));
    for (const r of rs) assert.equal(r.status, 0, r.stderr.slice(-2000));
  }
});

test('4 shard processes, merged or not, give the single-process run\'s students byte for byte', () => {
  const flags = ['--methods', 'lelp,kd', '--steps', '60', '--quiet'];
  const single = join(dir, 'out-single');
  const r0 = cli(['distill', '--config', config('single'), '--out', single, '--cache-dir', SHARED_TEACHER_CACHE, ...flags]);
  assert.equal(r0.status, 0, r0.stderr.slice(-2000));
  const merged = join(dir, 'merged');
  const m = cli(['teacher', 'merge', '--from', SHARDS, '--out', merged, '--json']);
  assert.equal(m.status, 0, m.stderr.slice(-2000));
  assert.deepEqual([JSON.parse(m.stdout).shard, JSON.parse(m.stdout).shards], [0, 1]);
  for (const [name, from] of [['sharded', SHARDS], ['merged', merged]] as const) {
    const out = join(dir, `out-${name}`);
    // A fresh cache: every teacher output of this run comes from the shards.
    const r = cli(['distill', '--config', config(name, from), '--out', out, '--cache-dir', join(dir, `cache-${name}`), ...flags]);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    assert.deepEqual(studentHashes(out), studentHashes(single), `${name}: students differ from the single-process run's`);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.ok(Math.abs(report.teacher.accuracy - 0.9872) < 0.002, `teacher accuracy from ${name} shards: ${report.teacher.accuracy}`);
  }
});

/** A copy of the 4 shards, damaged by `edit`; a run on it must fail with E_SHARD naming `names`, with --out left clean. */
function badShards(name: string, edit: (d: string) => void, names: (string | RegExp)[], extra: Record<string, unknown> = {}) {
  test(`bad shards: ${name} -> E_SHARD, nothing written`, () => {
    const d = join(dir, `bad-${name.replace(/\W+/g, '-')}`);
    cpSync(SHARDS, d, { recursive: true });
    edit(d);
    const out = join(dir, `out-bad-${name.replace(/\W+/g, '-')}`);
    const r = cli(['distill', '--config', config(`bad-${name.replace(/\W+/g, '-')}`, d, extra), '--out', out, '--cache-dir', join(dir, 'cache-bad'), '--steps', '1', '--quiet']);
    assert.equal(r.status, 1, r.stderr);
    const last = r.stderr.trim().split('\n').at(-1)!;
    assert.match(last, /^edge-distill: E_SHARD: /);
    for (const n of names) typeof n === 'string' ? assert.ok(last.includes(n), `${last} names ${n}`) : assert.match(last, n);
    assert.ok(!existsSync(out) || readdirSync(out).every((f) => f.startsWith('.')), 'nothing in --out');
    assert.ok(!existsSync(join(dir, 'cache-bad')) || readdirSync(join(dir, 'cache-bad')).every((f) => !f.startsWith('teacher-')), 'no teacher cache written from bad shards');
  });
}

badShards('a missing shard', (d) => unlinkSync(join(d, 'shard-2-of-4.json')), [/miss train rows 2304\.\.3328/]);
badShards('a duplicated shard (a 2-shard set mixed in)', (d) => {
  // Shard 0 of 2 covers what shards 0 and 1 of 4 do, and more: it overlaps them.
  const m = JSON.parse(readFileSync(join(d, 'shard-1-of-4.json'), 'utf8'));
  writeFileSync(join(d, 'shard-1-of-2.json'), JSON.stringify({ ...m, shard: 1, shards: 2 }));
}, [/shard-1-of-\d\.json overlaps another on train rows 1024\.\.2304/]);
badShards('a damaged embedding file', (d) => {
  const f = join(d, 'test.3-of-4.embedding.npy');
  const b = readFileSync(f);
  b[b.length - 5]! ^= 0xff;
  writeFileSync(f, b);
}, ['test.3-of-4.embedding.npy', 'sha256']);
badShards('shards of another teacher', (d) => {
  for (const f of readdirSync(d).filter((x) => x.endsWith('.json'))) {
    const m = JSON.parse(readFileSync(join(d, f), 'utf8'));
    m.teacher.sha256 = 'f'.repeat(64);
    writeFileSync(join(d, f), JSON.stringify(m));
  }
}, ['come from teacher ffffffffffff']);
badShards('shards of other data (the run keeps 3,000 training rows)', () => {}, ['other train data'], { data: { ...JSON.parse(readFileSync(join(EXAMPLE_DIR, 'pipeline.json'), 'utf8')).data, train: { format: 'idx', features: join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz'), labels: join(EXAMPLE_DIR, 'train-labels-idx1-ubyte.gz') }, test: { format: 'idx', features: join(EXAMPLE_DIR, 't10k-images-idx3-ubyte.gz'), labels: join(EXAMPLE_DIR, 't10k-labels-idx1-ubyte.gz') }, trainSize: 3000 } });

test('shard ranges: whole batches, every row once; K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID', () => {
  for (const [n, batch, N] of [[4500, 256, 4], [500, 256, 4], [10, 256, 3], [1_000_000, 256, 7]] as const) {
    let at = 0;
    for (let k = 0; k < N; k++) {
      const { from, to } = shardRange(n, batch, k, N);
      assert.equal(from, at);
      assert.ok(from % batch === 0 && to >= from);
      at = to;
    }
    assert.equal(at, n);
  }
  assert.deepEqual(parseShardSpec('2/4'), { shard: 2, shards: 4 });
  assert.deepEqual(parseShardSpec('auto/8', { JOB_COMPLETION_INDEX: '7' }), { shard: 7, shards: 8 });
  assert.deepEqual(parseShardSpec('auto/8', { SLURM_ARRAY_TASK_ID: '3' }), { shard: 3, shards: 8 });
  assert.throws(() => parseShardSpec('auto/8', {}), /neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID/);
  assert.throws(() => parseShardSpec('4/4'), /out of range/);
  assert.throws(() => parseShardSpec('1-4'), /is not K\/N/);
});

test('deploy/k8s/teacher-pass.yaml: an Indexed Job whose command the CLI runs (shard K from JOB_COMPLETION_INDEX), then merge and run', async () => {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/k8s/teacher-pass.yaml'), 'utf8')).map((d) => {
    assert.deepEqual(d.errors, []);
    return d.toJS();
  });
  const jobs = docs.filter((d) => d.kind === 'Job');
  const pass = jobs.find((j) => j.spec.completionMode === 'Indexed')!;
  assert.ok(pass && pass.spec.completions >= 2 && pass.spec.parallelism >= 1);
  const [cmd, ...args] = pass.spec.template.spec.containers[0].command as string[];
  assert.equal(cmd, 'edge-distill');
  assert.deepEqual(args.slice(0, 2), ['teacher', 'run']);
  assert.equal(args[args.indexOf('--shard') + 1], `auto/${pass.spec.completions}`);
  // The same command line, its /work paths mapped to a folder here, as pod 1 of the Job.
  const work = join(dir, 'k8s-work');
  const cfg = config('k8s');
  cpSync(cfg, join(dir, 'k8s-pipeline.json'));
  const local = args.map((a) => a.replace('/work/pipeline.json', join(dir, 'k8s-pipeline.json')).replace('/work', work));
  const r = await run(local, { JOB_COMPLETION_INDEX: '1' });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  assert.ok(existsSync(join(work, 'shards', `shard-1-of-${pass.spec.completions}.json`)));
  // The merge/distill Job: waits for every manifest, then runs commands the CLI knows.
  const distill = jobs.find((j) => j !== pass)!;
  assert.match(distill.spec.template.spec.initContainers[0].command.join(' '), new RegExp(`shard-\\*-of-${pass.spec.completions}\\.json.*-eq ${pass.spec.completions}`));
  const script = distill.spec.template.spec.containers[0].command.at(-1) as string;
  for (const line of script.split('\n').filter((l) => l.startsWith('edge-distill '))) {
    const words = line.split(/\s+/).slice(1);
    const command = words[0] === 'teacher' ? ['teacher', words[1]!] : [words[0]!];
    const help = cli([...command, '--help']);
    assert.equal(help.status, 0, `${command.join(' ')} --help`);
    for (const flag of words.filter((w) => w.startsWith('--'))) assert.ok(help.stdout.includes(flag), `${command.join(' ')} takes ${flag}`);
  }
  rmSync(work, { recursive: true, force: true });
});
