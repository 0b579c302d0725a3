// Release-build reliability: the same inputs, config and seed give byte-identical artifacts; two runs into one --out
// never interleave (the second refuses); a run never opens a network connection, and writes only to --out and its cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { artifactHashes, BIN, cli, EXAMPLE_DIR, ROOT, SHARED_TEACHER_CACHE, tempDir } from './helpers.ts';
import type { Report } from '../pipeline/report/types.ts';

const QUICK = ['--methods', 'lelp,kd', '--steps', '150', '--runs', '3', '--warmup', '1', '--cache-dir', SHARED_TEACHER_CACHE, '--quiet'];

for (const engine of ['tfjs', 'onnxruntime'] as const) test(`repeatability (${engine} engine): two runs with the same inputs, config and seed give byte-identical artifacts and accuracies`, () => {
  const [a, b] = [tempDir(`repeat-a-${engine}`), tempDir(`repeat-b-${engine}`)];
  for (const out of [a, b]) {
    // A fixed thread count: onnxruntime's results depend on how its kernels split the work.
    const r = cli(['run', '--out', out, ...QUICK, ...(engine === 'onnxruntime' ? ['--engine', engine, '--train-threads', '2'] : [])]);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
  }
  const [ha, hb] = [artifactHashes(a), artifactHashes(b)];
  assert.ok(Object.keys(ha).length >= 8, `${Object.keys(ha).length} artifact files`);
  assert.deepEqual(hb, ha);
  const acc = (out: string) => {
    const r: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    return { students: r.students.map((s) => [s.method, s.accuracy, s.validationAccuracy]), artifacts: r.artifacts.map((x) => [x.name, x.accuracy, x.sha256]) };
  };
  assert.deepEqual(acc(b), acc(a));
});

test('a second run into the same --out refuses while the first holds it; a stale lock is taken over', async () => {
  const out = tempDir('lock');
  const first = spawn(process.execPath, [BIN, 'run', '--out', out, ...QUICK], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let firstErr = '';
  first.stderr.on('data', (d) => (firstErr += d));
  const done = new Promise<number | null>((resolve) => first.on('close', resolve));
  // Wait until the first run holds the lock (after validating its inputs).
  for (let i = 0; i < 600 && !existsSync(join(out, '.lock')); i++) await sleep(50);
  assert.ok(existsSync(join(out, '.lock')), 'the first run takes the lock');
  const second = cli(['run', '--out', out, ...QUICK]);
  assert.equal(second.status, 1, second.stderr);
  assert.match(second.stderr, new RegExp(`E_OUT_LOCKED: another edge-distill run \\(pid ${first.pid}\\) is writing to `));
  assert.equal(await done, 0, firstErr.slice(-2000));
  assert.ok(!existsSync(join(out, '.lock')), 'the lock is released');
  assert.ok(existsSync(join(out, 'manifest.json')));

  // A lock left by a process that no longer exists (a run killed with SIGKILL) does not block the next run.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  writeFileSync(join(out, '.lock'), `${dead}\n`);
  const third = cli(['run', '--out', out, ...QUICK]);
  assert.equal(third.status, 0, third.stderr.slice(-2000));
});

test('a run never opens a network connection (every process of it, benchmark workers included)', () => {
  const dir = tempDir('no-network');
  const log = join(dir, 'network.log');
  const hook = join(ROOT, 'test', 'fixtures', 'no-network.mjs');
  const r = spawnSync(process.execPath, [BIN, 'run', '--out', join(dir, 'out'), ...QUICK], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: `--import ${hook}`, EDGE_DISTILL_NETWORK_LOG: log },
  });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  assert.ok(!existsSync(log), `network attempts: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
  // The hook really is active in the run's processes: a probe under the same environment is refused and logged.
  const probe = spawnSync(process.execPath, ['-e', "require('node:net').connect(80, '192.0.2.1')"], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--import ${hook}`, EDGE_DISTILL_NETWORK_LOG: log } });
  assert.notEqual(probe.status, 0);
  assert.match(readFileSync(log, 'utf8'), /connect/);
});

const STRACE = '/usr/bin/strace';

// The hook above sees Node's sockets only; native code (onnxruntime-node's telemetry uploader, say) would pass it.
// strace sees every connect() of every process of the run.
test('no process of a run connects anywhere, native code included (strace)', { skip: !existsSync(STRACE) && 'strace is not installed (.ci/run installs it)' }, () => {
  const dir = tempDir('strace');
  const log = join(dir, 'connect.log');
  const r = spawnSync(STRACE, ['-f', '-qq', '-e', 'trace=connect', '-o', log, process.execPath, BIN, 'run', '--out', join(dir, 'out'), ...QUICK], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const calls = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('connect('));
  // Unix sockets are local by construction; anything else must be loopback.
  const outside = calls.filter((l) => !/sa_family=AF_UNIX/.test(l) && !/inet_addr\("127\.|inet_pton\(AF_INET6, "::1"/.test(l));
  assert.deepEqual(outside, []);
});

/** Every file and folder under `dir`, relative to it. */
function tree(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return [relative(base, p), ...(e.isDirectory() ? tree(p, base) : [])];
  });
}

test('a run writes nothing outside --out and its cache: cwd, HOME and TMPDIR stay empty, the repository unchanged', () => {
  const dir = tempDir('writes');
  const [cwd, home, tmp] = ['cwd', 'home', 'tmp'].map((d) => join(dir, d));
  for (const d of [cwd, home, tmp]) mkdirSync(d);
  const out = join(dir, 'out');
  const cache = join(dir, 'cache');
  const gitStatus = () => spawnSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: ROOT, encoding: 'utf8' }).stdout;
  const before = gitStatus();
  // The whole pipeline, benchmark workers (they exchange inputs and results through temp files) included.
  const r = spawnSync(process.execPath, [BIN, 'run', '--config', join(EXAMPLE_DIR, 'pipeline.json'), '--out', out, '--cache-dir', cache, '--methods', 'kd', '--steps', '50', '--runs', '3', '--warmup', '1', '--quiet'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, HOME: home, TMPDIR: tmp },
  });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  assert.deepEqual(tree(cwd), []);
  assert.deepEqual(tree(home), []);
  // tsx, which runs the TypeScript sources, keeps its compile cache in the temp folder; nothing else may stay there.
  assert.deepEqual(readdirSync(tmp).filter((f) => !/^tsx-\d+$/.test(f)), []);
  assert.equal(gitStatus(), before);
  assert.ok(existsSync(join(out, 'manifest.json')) && readdirSync(cache).some((f) => f.startsWith('teacher-')));
});
