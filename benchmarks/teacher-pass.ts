// The teacher pass in shards: rows per second of the shipped teacher (the PyTorch CNN, 1.2 M parameters) over the full
// Fashion-MNIST training set (60,000 images from Debian's dataset-fashion-mnist, split by the run into train, validation
// and test) as 1 shard process (2 threads) and as 2 shard processes at once (1 thread each) on this machine, the time
// of `teacher merge`, and what N such machines would do — an extrapolation, labelled as one.
//   node --import tsx benchmarks/teacher-pass.ts [--out DIR]
// Every process is the real CLI (`edge-distill teacher run --shard K/N`), timed from start to exit (data loading and
// the manifest included).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..');
const BIN = join(ROOT, 'bin', 'edge-distill.mjs');
const FASHION = '/usr/share/datasets/fashion-mnist';

function cli(args: string[]): Promise<number> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? done(performance.now() - t0) : fail(new Error(`edge-distill ${args.join(' ')}: exit ${code}\n${err.slice(-2000)}`))));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: join(HERE, 'results') } } });
  if (!existsSync(join(FASHION, 'train-images-idx3-ubyte.gz'))) throw new Error(`${FASHION} is missing: apt-get install dataset-fashion-mnist`);
  const work = mkdtempSync(join(tmpdir(), 'edge-distill-teacher-pass-'));
  try {
    const example = JSON.parse(readFileSync(join(ROOT, 'examples/fmnist-bin/pipeline.json'), 'utf8'));
    // All 60,000 training images; the run carves validation (10 %) and test (20 %) from them, so the shards cover 60,000 rows.
    const config = (threads: number) => {
      const file = join(work, `pipeline-${threads}.json`);
      writeFileSync(file, JSON.stringify({
        data: { ...example.data, train: { format: 'idx', features: join(FASHION, 'train-images-idx3-ubyte.gz'), labels: join(FASHION, 'train-labels-idx1-ubyte.gz') }, test: undefined },
        teacher: { model: join(ROOT, 'examples/fmnist-bin/teacher.onnx'), threads },
      }));
      return file;
    };
    const rows = 60_000;
    console.error('1 shard process, 2 threads ...');
    const one = await cli(['teacher', 'run', '--config', config(2), '--shard', '0/1', '--out', join(work, 'one'), '--quiet']);
    console.error('2 shard processes at once, 1 thread each ...');
    const t0 = performance.now();
    const parts = await Promise.all([0, 1].map((k) => cli(['teacher', 'run', '--config', config(1), '--shard', `${k}/2`, '--out', join(work, 'two'), '--quiet'])));
    const two = performance.now() - t0;
    console.error('teacher merge ...');
    const merge = await cli(['teacher', 'merge', '--from', join(work, 'two'), '--out', join(work, 'merged'), '--quiet']);
    const same = readFileSync(join(work, 'one', 'train.0-of-1.embedding.npy')).equals(readFileSync(join(work, 'merged', 'train.0-of-1.embedding.npy')));
    const perSec = (ms: number) => (rows / ms) * 1000;
    const machine = perSec(two);
    const fmt = (n: number) => Math.round(n).toLocaleString('en');
    const hours = (n: number, rate: number) => {
      const sec = n / rate;
      return sec < 120 ? `${Math.round(sec)} s` : sec < 7200 ? `${Math.round(sec / 60)} min` : `${(sec / 3600).toFixed(1)} h`;
    };
    const md = [
      '# Teacher pass in shards',
      '',
      `Command: \`node --import tsx benchmarks/teacher-pass.ts\` on ${cpus().length}× ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}. The shipped teacher (PyTorch CNN, 1.2 M parameters, 233 M FLOPs per image) over the full Fashion-MNIST training set from Debian (${fmt(rows)} images: the run's train, validation and test splits), each shard a real \`edge-distill teacher run\` process timed from start to exit.`,
      '',
      '| setup | wall time | rows / s | vs 1 process |',
      '| --- | --- | --- | --- |',
      `| 1 shard process (shard 0/1, 2 threads) | ${(one / 1000).toFixed(1)} s | ${fmt(perSec(one))} | 1.00× |`,
      `| 2 shard processes at once (0/2 and 1/2, 1 thread each) | ${(two / 1000).toFixed(1)} s (${parts.map((p) => (p / 1000).toFixed(1)).join(' s, ')} s) | ${fmt(machine)} | ${(one / two).toFixed(2)}× |`,
      `| \`teacher merge\` of the 2 shards (checks every file's sha256) | ${(merge / 1000).toFixed(1)} s | | |`,
      '',
      `The merged shards equal the single process's output byte for byte: ${same ? 'yes' : 'NO'} (train embeddings compared).`,
      '',
      '## Extrapolation to N machines like this one (not measured)',
      '',
      `Assumes each machine runs 2 shard processes at the measured ${fmt(machine)} rows/s and that shards never wait on each other (they share nothing but the output volume); the merge and the distillation run once, after.`,
      '',
      '| machines | rows / s | 1 M rows | 1.6 M rows (Sentiment140) | 3.6 M rows (Amazon reviews) |',
      '| --- | --- | --- | --- | --- |',
      ...[1, 4, 16, 64].map((n) => `| ${n} | ${fmt(machine * n)} | ${hours(1e6, machine * n)} | ${hours(1.6e6, machine * n)} | ${hours(3.6e6, machine * n)} |`),
      '',
      'These are this image teacher\'s figures; a text transformer teacher costs far more per row, and the table scales with it.',
    ];
    mkdirSync(values.out!, { recursive: true });
    writeFileSync(join(values.out!, 'teacher-pass.md'), md.join('\n') + '\n');
    writeFileSync(join(values.out!, 'teacher-pass.json'), JSON.stringify({ rows, oneProcessMs: one, twoProcessesMs: two, shardMs: parts, mergeMs: merge, mergedEqualsSingle: same, rowsPerSecond: { one: perSec(one), two: machine } }, null, 2) + '\n');
    console.log(md.join('\n'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
