// Data larger than memory: CSV, JSONL and NPY splits are read a block at a time into anonymous files, and everything
// downstream reads rows a block or a batch at a time. These tests check that the streamed path gives exactly what the
// in-memory path gives: the readers (with pieces as small as one byte, so every boundary falls everywhere), the row
// stores, and a whole distill run on the real example, whose students must be byte-identical to the in-memory run's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCsvTable, streamCsvTable } from '../pipeline/data/csv.ts';
import { readJsonlTable, streamJsonlTable } from '../pipeline/data/jsonl.ts';
import { readNpy, streamNpyRows } from '../pipeline/data/npy.ts';
import { IndexedRows, MemoryRows, readAll, rowWriter } from '../pipeline/data/rows.ts';
import { LELP_FIT_ROWS, lelpFitRows } from '../pipeline/distill/losses.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import { readExampleTrain, writeIdx, writeNpy } from './cli-contract.ts';
import { cli, EXAMPLE_DIR, tempDir } from './helpers.ts';

const dir = tempDir('streaming');

/** Real rows: the first 300 example images as 784 pixel values, their labels as class names (some non-ASCII). */
async function realRows(): Promise<{ rows: number[][]; labels: string[] }> {
  const { images, labels } = await readExampleTrain();
  const names = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag, "big"', 'Ankle boot é'];
  const n = 300;
  return {
    rows: Array.from({ length: n }, (_, i) => Array.from(images.subarray(i * 784, (i + 1) * 784), (v) => v / 7)),
    labels: Array.from(labels.subarray(0, n), (l) => names[l]!),
  };
}

const csvCell = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

test('CSV read a piece at a time equals the whole file read at once, at every piece size', async () => {
  const { rows, labels } = await realRows();
  // A BOM, CRLF line ends, quoted labels with commas, quotes and a multi-byte character, and a trailing blank line.
  const text = '\ufeff' + ['label,' + rows[0]!.map((_, j) => `p${j}`).join(','), ...rows.map((r, i) => [csvCell(labels[i]!), ...r].join(','))].join('\r\n') + '\r\n\r\n';
  const file = join(dir, 'real.csv');
  writeFileSync(file, text);
  const whole = await readCsvTable(file, { label: 'label' });
  assert.equal(whole.rows, 300);
  assert.ok(whole.labels!.includes('Bag, "big"') && whole.labels!.includes('Ankle boot é'), 'the quoted and non-ASCII labels are read');
  for (const piece of [1, 2, 3, 7, 64, 4096]) {
    const s = streamCsvTable(file, { label: 'label' }, rowWriter(dir), piece);
    try {
      assert.equal(s.rows, whole.rows);
      assert.deepEqual(s.labels, whole.labels, `labels, pieces of ${piece} bytes`);
      assert.deepEqual(readAll(s.features), whole.features, `features, pieces of ${piece} bytes`);
    } finally {
      s.features.close();
    }
  }
  // A bad file fails the same way read either way: a ragged row on line 201, a quote left open.
  const lines = text.split('\r\n');
  for (const [name, bad] of [
    ['ragged.csv', [...lines.slice(0, 200), lines[200]!.split(',').slice(0, -1).join(','), ...lines.slice(201)].join('\r\n')],
    ['open-quote.csv', text.replace('"Bag, ""big"""', '"Bag, ""big""')],
    ['not-a-number.csv', text.replace(/\r\n(\w+),0,/, '\r\n$1,zero,')],
  ] as const) {
    writeFileSync(join(dir, name), bad);
    const err = await readCsvTable(join(dir, name), { label: 'label' }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof EdgeDistillError, `${name} fails read whole`);
    for (const piece of [1, 5, 4096]) {
      assert.throws(() => streamCsvTable(join(dir, name), { label: 'label' }, rowWriter(dir), piece), (e: unknown) => e instanceof EdgeDistillError && e.code === err.code && e.message === err.message, `${name}, pieces of ${piece} bytes`);
    }
  }
});

test('JSONL read a piece at a time equals the whole file read at once', async () => {
  const { rows, labels } = await realRows();
  const text = rows.map((r, i) => JSON.stringify({ f: r, y: labels[i] })).join('\r\n') + '\n\n';
  const file = join(dir, 'real.jsonl');
  writeFileSync(file, '\ufeff' + text);
  const whole = await readJsonlTable(file, { featuresKey: 'f', labelKey: 'y' });
  assert.equal(whole.rows, 300);
  for (const piece of [1, 3, 17, 4096]) {
    const s = streamJsonlTable(file, { featuresKey: 'f', labelKey: 'y' }, rowWriter(dir), piece);
    try {
      assert.deepEqual(s.labels, whole.labels);
      assert.deepEqual(readAll(s.features), whole.features);
    } finally {
      s.features.close();
    }
  }
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, text.replace(/\n/, '\n{"f": [1, 2],\n'));
  for (const piece of [1, 4096]) {
    assert.throws(() => streamJsonlTable(bad, { featuresKey: 'f', labelKey: 'y' }, rowWriter(dir), piece), (e: unknown) => e instanceof EdgeDistillError && /line 2 is not valid JSON/.test(e.message));
  }
});

test('NPY read a block at a time equals readNpy, for float and integer dtypes; errors are the same', async () => {
  const { images } = await readExampleTrain();
  const pixels = images.subarray(0, 300 * 784);
  const f32 = writeNpy(join(dir, 'x-f32.npy'), '<f4', [300, 28, 28], Float32Array.from(pixels, (v) => v / 255));
  const u8 = writeNpy(join(dir, 'x-u8.npy'), '|u1', [300, 784], pixels);
  const i64 = writeNpy(join(dir, 'x-i8.npy'), '<i8', [300, 784], BigInt64Array.from(pixels, (v) => BigInt(v)));
  for (const file of [f32, u8, i64]) {
    const whole = await readNpy(file);
    const s = streamNpyRows(file, rowWriter(dir));
    try {
      assert.deepEqual(s.shape, whole.shape);
      assert.deepEqual(readAll(s.rows), Float32Array.from(whole.data));
    } finally {
      s.rows.close();
    }
  }
  // Truncated: the same E_DATA_FORMAT message as readNpy.
  const short = join(dir, 'short.npy');
  writeFileSync(short, readFileSync(f32).subarray(0, 1000));
  const err = await readNpy(short).then(() => null, (e: unknown) => e as EdgeDistillError);
  assert.ok(err instanceof EdgeDistillError);
  assert.throws(() => streamNpyRows(short, rowWriter(dir)), (e: unknown) => e instanceof EdgeDistillError && e.message === err.message);
});

test('row stores: a file store and an index into it give the rows an in-memory store gives', () => {
  const n = 1000;
  const width = 13;
  const data = Float32Array.from({ length: n * width }, (_, i) => Math.sin(i) * 1000);
  const w = rowWriter(dir);
  for (let i = 0; i < n; i += 97) w.append(data.subarray(i * width, Math.min(n, i + 97) * width), Math.min(97, n - i));
  const file = w.finish(width);
  const mem = new MemoryRows(data, n, width);
  assert.deepEqual(file.read(0, n), mem.read(0, n));
  assert.deepEqual(file.read(990, 10), mem.read(990, 10));
  // A batch with runs of consecutive rows (one read each) and repeats, in any order.
  const batch = [5, 6, 7, 8, 999, 0, 1, 500, 500, 42, 43];
  assert.deepEqual(file.gather(batch), mem.gather(batch));
  const index = Int32Array.from([3, 4, 5, 100, 101, 998]);
  const view = new IndexedRows(file, index);
  assert.deepEqual(view.read(0, 6), mem.gather(index));
  assert.deepEqual(view.gather([5, 0, 3]), mem.gather([998, 3, 100]));
  // The file is anonymous: nothing of it is visible in the folder.
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.rows-')), []);
  file.close();
  assert.throws(() => file.read(0, 1), /after close/);
});

test('LELP fits its projections on every row up to LELP_FIT_ROWS, and on a seeded sample beyond', () => {
  assert.equal(lelpFitRows(LELP_FIT_ROWS, 1), null);
  const a = lelpFitRows(1_000_000, 1)!;
  assert.equal(a.length, LELP_FIT_ROWS);
  assert.ok(a.every((v, i) => i === 0 || v > a[i - 1]!), 'ascending and distinct');
  assert.ok(a[0]! >= 0 && a.at(-1)! < 1_000_000 && a.at(-1)! > 900_000, 'spread over the rows');
  assert.deepEqual(lelpFitRows(1_000_000, 1), a, 'seeded');
  assert.notDeepEqual(lelpFitRows(1_000_000, 2), a);
});

test('a distill run on the example as NPY and CSV (streamed) trains the students the in-memory IDX run trains, byte for byte', async () => {
  const { images, labels } = await readExampleTrain();
  const n = labels.length;
  writeNpy(join(dir, 'train-x.npy'), '<f4', [n, 28, 28], Float32Array.from(images));
  writeNpy(join(dir, 'train-y.npy'), '|u1', [n], labels);
  // The first 2,000 test images: as IDX for the in-memory run, as CSV for the streamed one (the class name first).
  const example = JSON.parse(readFileSync(join(EXAMPLE_DIR, 'pipeline.json'), 'utf8'));
  const { readIdx } = await import('../pipeline/data/idx.ts');
  const tx = (await readIdx(join(EXAMPLE_DIR, 't10k-images-idx3-ubyte.gz'))).data as Uint8Array;
  const ty = (await readIdx(join(EXAMPLE_DIR, 't10k-labels-idx1-ubyte.gz'))).data as Uint8Array;
  const T = 2000;
  writeIdx(join(dir, 'test-x.idx'), [T, 28, 28], tx.subarray(0, T * 784));
  writeIdx(join(dir, 'test-y.idx'), [T], ty.subarray(0, T));
  const lines: string[] = [];
  for (let i = 0; i < T; i++) lines.push(`${example.data.classNames[ty[i]! % 2]},${Array.from(tx.subarray(i * 784, (i + 1) * 784)).join(',')}`);
  writeFileSync(join(dir, 'test.csv'), lines.join('\n') + '\n');
  const common = { ...example, teacher: { model: join(EXAMPLE_DIR, 'teacher.onnx') }, methods: [{ name: 'lelp' }, { name: 'kd' }, { name: 'fitnet' }], train: { steps: 200 } };
  const configs = {
    memory: { ...common, data: { ...example.data, train: { format: 'idx', features: join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz'), labels: join(EXAMPLE_DIR, 'train-labels-idx1-ubyte.gz') }, test: { format: 'idx', features: join(dir, 'test-x.idx'), labels: join(dir, 'test-y.idx') } } },
    streamed: { ...common, data: { ...example.data, train: { format: 'npy', features: join(dir, 'train-x.npy'), labels: join(dir, 'train-y.npy') }, test: { format: 'csv', path: join(dir, 'test.csv'), label: 0, header: false } } },
  };
  const runs: Record<string, { out: string; cache: string }> = {};
  for (const [name, cfg] of Object.entries(configs)) {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    // Each run its own cache: the streamed run makes its own teacher pass, writing the outputs a batch at a time.
    runs[name] = { out: join(dir, `out-${name}`), cache: join(dir, `cache-${name}`) };
    const r = cli(['distill', '--config', file, '--out', runs[name]!.out, '--cache-dir', runs[name]!.cache, '--quiet']);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
  }
  const report = (name: string) => JSON.parse(readFileSync(join(runs[name]!.out, 'report.json'), 'utf8'));
  const [m, s] = [report('memory'), report('streamed')];
  assert.deepEqual([s.task.train, s.task.validation, s.task.test], [m.task.train, m.task.validation, m.task.test]);
  assert.equal(s.teacher.accuracy, m.teacher.accuracy);
  for (const method of ['lelp', 'kd', 'fitnet']) {
    const weights = (name: string) => readFileSync(join(runs[name]!.out, 'students', method, 'weights.bin'));
    assert.ok(weights('memory').equals(weights('streamed')), `${method}: the streamed run's student weights equal the in-memory run's`);
    const [ms, ss] = [m.students.find((x: { method: string }) => x.method === method), s.students.find((x: { method: string }) => x.method === method)];
    assert.deepEqual([ss.accuracy, ss.validationAccuracy, ss.finalLoss], [ms.accuracy, ms.validationAccuracy, ms.finalLoss], method);
  }
  // The same teacher outputs, written batch by batch to the cache; and no spilled rows left anywhere.
  const caches = (name: string) => readdirSync(runs[name]!.cache).sort();
  assert.deepEqual(caches('streamed'), caches('memory'));
  for (const f of caches('memory')) assert.ok(readFileSync(join(runs.memory!.cache, f)).equals(readFileSync(join(runs.streamed!.cache, f))), f);
  for (const d of [runs.streamed!.out, runs.streamed!.cache]) assert.deepEqual(readdirSync(d).filter((f) => f.startsWith('.rows-')), [], d);
});
