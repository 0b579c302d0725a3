// Memory benchmark: peak RSS of a distill run as the transfer set grows (10k, 100k, 1M rows), and the teacher pass's
// rows per second. The data is UCI Spambase (57 numeric features), its rows repeated to the size; the teacher is an
// MLP that `edge-distill teacher train` trains on Spambase first. Every run is the real CLI in a process of its own,
// under GNU time for the peak RSS.
//   node --import tsx benchmarks/memory.ts [--rows 10000,100000,1000000] [--format csv|jsonl|npy] [--method kd|lelp|fitnet|label] [--shard] [--out DIR]
// --shard: measure a teacher-pass shard process (`edge-distill teacher run --shard 0/2`, half of every split's rows)
// instead of a distill run (memory-<format>-shard.md).
// Needs Debian's deap-doc (Spambase) and time: `apt-get install deap-doc time`.
// Target (issue 8): peak RSS at 1M rows within 1.5x of 100k rows, i.e. memory stays flat as the transfer set grows.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'edge-distill.mjs');
const SPAMBASE = '/usr/share/doc/deap-doc/examples/gp/spambase.csv';
const TIME = '/usr/bin/time';
const TARGET = 1.5;

interface Measured {
  rows: number;
  fileBytes: number;
  peakRssBytes: number;
  wallMs: number;
  teacherRows: number;
  teacherMs: number;
}

/** Spambase as rows of 57 numbers and a 0/1 label (the last column). */
function readSpambase(): { rows: number[][]; labels: number[] } {
  const lines = readFileSync(SPAMBASE, 'utf8').trim().split('\n');
  const rows = lines.map((l) => l.split(',').map(Number));
  return { rows: rows.map((r) => r.slice(0, -1)), labels: rows.map((r) => r.at(-1)!) };
}

/** Write `count` rows (Spambase repeated) in `format`, streaming to the file; returns the data source config. */
function writeRows(dir: string, format: string, data: { rows: number[][]; labels: number[] }, from: number, count: number, name: string): Record<string, unknown> {
  const pick = (i: number) => from + (i % (data.rows.length - from));
  if (format === 'npy') {
    // float32 features [count, 57] and int32 labels [count], NPY version 1.0.
    const npy = (file: string, descr: string, shape: number[], bytesPer: number, fill: (i: number, view: DataView) => void) => {
      let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
      header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
      const fd = openSync(file, 'w');
      const pre = Buffer.alloc(10);
      pre.write('\x93NUMPY', 0, 'latin1');
      pre.writeUInt8(1, 6);
      pre.writeUInt16LE(header.length, 8);
      writeSync(fd, pre);
      writeSync(fd, Buffer.from(header, 'latin1'));
      const chunk = 4096;
      for (let i = 0; i < count; i += chunk) {
        const k = Math.min(chunk, count - i);
        const buf = new DataView(new ArrayBuffer(k * bytesPer));
        for (let j = 0; j < k; j++) fill(i + j, new DataView(buf.buffer, j * bytesPer, bytesPer));
        writeSync(fd, new Uint8Array(buf.buffer));
      }
      closeSync(fd);
    };
    const features = join(dir, `${name}-x.npy`);
    const labels = join(dir, `${name}-y.npy`);
    npy(features, '<f4', [count, 57], 57 * 4, (i, v) => data.rows[pick(i)]!.forEach((x, c) => v.setFloat32(c * 4, x, true)));
    npy(labels, '<i4', [count], 4, (i, v) => v.setInt32(0, data.labels[pick(i)]!, true));
    return { format: 'npy', features, labels };
  }
  const file = join(dir, `${name}.${format}`);
  const fd = openSync(file, 'w');
  let out = '';
  for (let i = 0; i < count; i++) {
    const r = pick(i);
    out += format === 'csv' ? `${data.rows[r]!.join(',')},${data.labels[r]}\n` : `${JSON.stringify({ x: data.rows[r], y: String(data.labels[r]) })}\n`;
    if (out.length > 1 << 20) {
      writeSync(fd, out);
      out = '';
    }
  }
  writeSync(fd, out);
  closeSync(fd);
  return format === 'csv' ? { format: 'csv', path: file, label: 57, header: false } : { format: 'jsonl', path: file, featuresKey: 'x', labelKey: 'y' };
}

function cli(args: string[]): void {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`edge-distill ${args.join(' ')} failed:\n${r.stderr.slice(-3000)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '10000,100000,1000000' }, format: { type: 'string', default: 'csv' }, method: { type: 'string', default: 'kd' }, shard: { type: 'boolean', default: false }, out: { type: 'string', default: join(ROOT, 'benchmarks', 'results') } } });
  const shard = values.shard!;
  for (const [file, pkg] of [[SPAMBASE, 'deap-doc'], [TIME, 'time']]) {
    if (!existsSync(file!)) throw new Error(`${file} is missing: apt-get install ${pkg}`);
  }
  const format = values.format!;
  const method = values.method!;
  if (!['kd', 'lelp', 'fitnet', 'label'].includes(method)) throw new Error(`--method must be kd, lelp, fitnet or label, not ${method}`);
  // Results of the default method keep their old names; others get the method in theirs.
  const tag = shard ? `${format}-shard` : method === 'kd' ? format : `${format}-${method}`;
  if (!['csv', 'jsonl', 'npy'].includes(format)) throw new Error(`--format must be csv, jsonl or npy, not ${format}`);
  const sizes = values.rows!.split(',').map(Number);
  const dir = mkdtempSync(join(tmpdir(), 'edge-distill-memory-'));
  try {
    const data = readSpambase();
    // The first 921 rows (20 %) are the test split; the transfer sets repeat the other 3,680.
    const TEST = 921;
    const test = writeRows(dir, 'csv', data, 0, TEST, 'test');
    const base = { data: { train: writeRows(dir, 'csv', data, TEST, data.rows.length - TEST, 'teacher-train'), test, classNames: ['0', '1'] }, seed: 1 };
    const teacher = join(dir, 'teacher.onnx');
    const teacherCfg = join(dir, 'teacher.json');
    writeFileSync(teacherCfg, JSON.stringify({ ...base, teacher: { model: teacher, train: { hidden: [128, 32], steps: 1500 } } }));
    console.log('training the Spambase teacher (edge-distill teacher train) ...');
    cli(['teacher', 'train', '--config', teacherCfg, '--quiet']);

    const measured: Measured[] = [];
    for (const rows of sizes) {
      const train = writeRows(dir, format, data, TEST, rows, `train-${rows}`);
      const fileBytes = ['path', 'features', 'labels'].reduce((a, k) => a + (typeof train[k] === 'string' ? statSync(train[k] as string).size : 0), 0);
      const cfg = join(dir, `run-${rows}.json`);
      writeFileSync(cfg, JSON.stringify({ ...base, data: { ...base.data, train }, teacher: { model: teacher, embedding: 'embedding', logits: 'logits' }, student: { arch: 'mlp', hidden: [16] }, methods: [{ name: method }], train: { steps: 500 } }));
      const out = join(dir, `out-${rows}`);
      const rssFile = join(dir, `rss-${rows}.txt`);
      const t0 = performance.now();
      const command = shard ? ['teacher', 'run', '--config', cfg, '--shard', '0/2', '--out', out, '--quiet'] : ['distill', '--config', cfg, '--out', out, '--quiet'];
      execFileSync(TIME, ['-f', '%M', '-o', rssFile, process.execPath, BIN, ...command], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
      const wallMs = performance.now() - t0;
      const peakRssBytes = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) * 1024;
      let m: Measured;
      if (shard) {
        // The shard's rows over its whole wall time (data loading included): what one shard process sustains.
        const manifest = JSON.parse(readFileSync(join(out, 'shard-0-of-2.json'), 'utf8'));
        const done = Object.values(manifest.splits as Record<string, { from: number; to: number }>).reduce((a, e) => a + e.to - e.from, 0);
        m = { rows, fileBytes, peakRssBytes, wallMs, teacherRows: done, teacherMs: wallMs };
      } else {
        const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
        const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
        m = { rows, fileBytes, peakRssBytes, wallMs, teacherRows: report.task.train + report.task.test, teacherMs: manifest.stages.find((s: { name: string }) => s.name === 'teacher')!.ms };
      }
      measured.push(m);
      console.log(`${rows} rows (${format}, ${(fileBytes / 1e6).toFixed(1)} MB): peak RSS ${(m.peakRssBytes / 2 ** 20).toFixed(0)} MiB, run ${(wallMs / 1000).toFixed(1)} s, teacher pass ${Math.round((m.teacherRows / m.teacherMs) * 1000)} rows/s`);
      rmSync(out, { recursive: true, force: true });
      for (const k of ['path', 'features', 'labels']) if (typeof train[k] === 'string') rmSync(train[k] as string, { force: true });
    }
    const at = (rows: number) => measured.find((m) => m.rows === rows);
    const [big, mid] = [at(1_000_000), at(100_000)];
    const ratio = big && mid ? big.peakRssBytes / mid.peakRssBytes : null;
    const verdict = ratio === null ? 'not measured (needs 100000 and 1000000 in --rows)' : `${ratio.toFixed(2)}x — ${ratio <= TARGET ? 'MET' : 'NOT MET'}`;
    console.log(`peak RSS at 1M rows / 100k rows: ${verdict} (target <= ${TARGET}x)`);
    mkdirSync(values.out!, { recursive: true });
    const lines = [
      shard ? '# Memory: peak RSS of a teacher-pass shard process (`edge-distill teacher run --shard 0/2`) as the data grows' : '# Memory: peak RSS of `edge-distill distill` as the transfer set grows',
      '',
      shard
        ? `UCI Spambase (57 features) repeated to each size, as ${format}; shard 0 of 2 (half of every split's rows, written as NPY); the teacher is an MLP trained by \`edge-distill teacher train\`. Peak RSS of the whole process by GNU time; "teacher pass" is the shard's rows over its whole wall time, data loading included. \`node --import tsx benchmarks/memory.ts --format ${format} --shard\``
        : `UCI Spambase (57 features) repeated to each size, as ${format}; method ${method}, MLP 57-16-2 student, 500 steps; the teacher is an MLP trained by \`edge-distill teacher train\`. Peak RSS of the whole process by GNU time. \`node --import tsx benchmarks/memory.ts --format ${format}${method === 'kd' ? '' : ` --method ${method}`}\``,
      '',
      '| rows | file | peak RSS | run | teacher pass |',
      '|---|---|---|---|---|',
      ...measured.map((m) => `| ${m.rows.toLocaleString('en')} | ${(m.fileBytes / 1e6).toFixed(1)} MB | ${(m.peakRssBytes / 2 ** 20).toFixed(0)} MiB | ${(m.wallMs / 1000).toFixed(1)} s | ${Math.round((m.teacherRows / m.teacherMs) * 1000).toLocaleString('en')} rows/s |`),
      '',
      `Peak RSS at 1M rows / 100k rows: ${verdict} (target <= ${TARGET}x).`,
      '',
    ];
    writeFileSync(join(values.out!, `memory-${tag}.md`), lines.join('\n'));
    writeFileSync(join(values.out!, `memory-${tag}.json`), JSON.stringify({ format, method, measured, ratio, target: TARGET }, null, 2) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
