// Tests for the data-file parsers (IDX, CSV, JSON Lines, NPY) and the loadSource entry point.
// Real data where it exists: Fashion-MNIST from Debian's dataset-fashion-mnist; NPY fixtures from Debian's numpy.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { EdgeDistillError, type ErrorCode } from '../pipeline/errors.ts';
import { parseIdx, readIdx } from '../pipeline/data/idx.ts';
import { parseCsv, readCsvTable } from '../pipeline/data/csv.ts';
import { parseJsonlTable, readJsonlTable } from '../pipeline/data/jsonl.ts';
import { parseNpy, readNpy } from '../pipeline/data/npy.ts';
import { loadSource } from '../pipeline/data/sources.ts';

const FMNIST = '/usr/share/datasets/fashion-mnist';
const T10K_IMAGES = join(FMNIST, 't10k-images-idx3-ubyte.gz');
const T10K_LABELS = join(FMNIST, 't10k-labels-idx1-ubyte.gz');
const TRAIN_LABELS = join(FMNIST, 'train-labels-idx1-ubyte.gz');

const dir = mkdtempSync(join(tmpdir(), 'edge-distill-data-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const tmp = (name: string): string => join(dir, name);

/** Assert a promise (or a thunk) fails with an EdgeDistillError of `code` whose message mentions `parts`. */
async function rejectsWith(run: Promise<unknown> | (() => unknown), code: ErrorCode, ...parts: string[]): Promise<EdgeDistillError> {
  let caught: unknown;
  try {
    await (typeof run === 'function' ? run() : run);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof EdgeDistillError, `expected EdgeDistillError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const p of parts) assert.ok(caught.message.includes(p), `message ${JSON.stringify(caught.message)} should mention ${p}`);
  assert.ok(caught.hint.length > 10, 'an error must say what to do');
  return caught;
}

/** Big-endian IDX bytes for tests: magic 00 00 type ndims, dims, then payload. */
function idxBytes(type: number, dims: number[], payload: number[], write: (v: DataView, o: number, x: number) => void, size: number): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + payload.length * size);
  const v = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  payload.forEach((x, i) => write(v, 4 + 4 * dims.length + i * size, x));
  return out;
}

// ---------------------------------------------------------------- IDX (real Fashion-MNIST)

test('idx: Fashion-MNIST t10k images have dims [10000, 28, 28] and the known first image', async () => {
  const { dims, data } = await readIdx(T10K_IMAGES);
  assert.deepEqual(dims, [10000, 28, 28]);
  assert.ok(data instanceof Uint8Array);
  assert.equal(data.length, 10000 * 28 * 28);
  const first = data.subarray(0, 784);
  assert.equal(first.reduce((a, b) => a + b, 0), 33456); // sum of the first ankle boot's pixels
  assert.deepEqual(Array.from(first.subarray(10 * 28 + 13, 10 * 28 + 18)), [4, 0, 53, 129, 120]);
});

test('idx: Fashion-MNIST t10k labels start with 9 (ankle boot), lie in 0..9, 1000 per class', async () => {
  const { dims, data } = await readIdx(T10K_LABELS);
  assert.deepEqual(dims, [10000]);
  assert.equal(data[0], 9);
  assert.deepEqual(Array.from(data.subarray(0, 6)), [9, 2, 1, 1, 6, 1]);
  const counts = new Array<number>(10).fill(0);
  for (const v of data) {
    assert.ok(v >= 0 && v <= 9, `label ${v}`);
    counts[v]!++;
  }
  assert.deepEqual(counts, new Array(10).fill(1000));
});

test('idx: gzip is detected by magic, not by file name', async () => {
  const gz = readFileSync(T10K_LABELS);
  const raw = gunzipSync(gz);
  writeFileSync(tmp('labels-raw-named.gz'), raw); // raw bytes behind a .gz name
  writeFileSync(tmp('labels-gzip-no-ext'), gz); // gzip bytes with no extension
  const a = await readIdx(tmp('labels-raw-named.gz'));
  const b = await readIdx(tmp('labels-gzip-no-ext'));
  assert.deepEqual(a.dims, [10000]);
  assert.deepEqual(a, b);
  assert.deepEqual(parseIdx(raw, 'raw'), a);
});

test('idx: all type codes decode big-endian values', () => {
  const cases: [number, number, (v: DataView, o: number, x: number) => void, number[]][] = [
    [0x09, 1, (v, o, x) => v.setInt8(o, x), [-128, -1, 0, 127]],
    [0x0b, 2, (v, o, x) => v.setInt16(o, x, false), [-32768, -2, 300, 32767]],
    [0x0c, 4, (v, o, x) => v.setInt32(o, x, false), [-2147483648, -7, 70000, 2147483647]],
    [0x0d, 4, (v, o, x) => v.setFloat32(o, x, false), [-1.5, 0, 0.25, 3.5]],
    [0x0e, 8, (v, o, x) => v.setFloat64(o, x, false), [-1e300, 0.1, 2 / 3, 1e-300]],
  ];
  for (const [type, size, write, values] of cases) {
    const arr = parseIdx(idxBytes(type, [2, 2], values, write, size), `type ${type}`);
    assert.deepEqual(arr.dims, [2, 2]);
    assert.deepEqual(Array.from(arr.data), values, `type 0x${type.toString(16)}`);
  }
  assert.ok(parseIdx(idxBytes(0x0d, [1], [1], (v, o, x) => v.setFloat32(o, x, false), 4), 'f').data instanceof Float32Array);
});

test('idx: wrong magic, unknown type code, truncated file, corrupt gzip', async () => {
  const raw = gunzipSync(readFileSync(T10K_IMAGES));
  const badMagic = Uint8Array.from(raw.subarray(0, 1000)); // a copy: Buffer#slice would alias raw
  badMagic[0] = 0x50;
  badMagic[1] = 0x4b; // a ZIP file, say
  await rejectsWith(() => parseIdx(badMagic, 'zipped.idx'), 'E_DATA_FORMAT', 'zipped.idx', '0x50 0x4b');

  const badType = idxBytes(0x0a, [1], [0], (v, o, x) => v.setUint8(o, x), 1);
  await rejectsWith(() => parseIdx(badType, 'weird.idx'), 'E_DATA_FORMAT', 'weird.idx', '0x0a');

  writeFileSync(tmp('truncated-images'), raw.subarray(0, raw.length - 100));
  await rejectsWith(readIdx(tmp('truncated-images')), 'E_DATA_FORMAT', 'truncated-images', '[10000, 28, 28]',
    String(raw.length), String(raw.length - 100));

  const gz = readFileSync(T10K_LABELS);
  writeFileSync(tmp('half.gz'), gz.subarray(0, gz.length >> 1));
  await rejectsWith(readIdx(tmp('half.gz')), 'E_DATA_FORMAT', 'half.gz', 'gzip');

  await rejectsWith(readIdx(tmp('no-such-file.gz')), 'E_FILE_NOT_FOUND', tmp('no-such-file.gz'));
});

// ---------------------------------------------------------------- CSV

test('csv: quoted commas, escaped quotes, newlines in quotes, CRLF, BOM', () => {
  const text = '\uFEFFname,quote\r\n"Smith, J.","he said ""hi"""\r\n"two\nlines",x\r\n';
  assert.deepEqual(parseCsv(text, 't.csv'), [
    ['name', 'quote'],
    ['Smith, J.', 'he said "hi"'],
    ['two\nlines', 'x'],
  ]);
  // LF, no trailing newline, empty cells, an empty quoted cell, a bare quote inside an unquoted cell.
  assert.deepEqual(parseCsv('a,,""\n5\'11",b,\n\n', 'u.csv'), [
    ['a', '', ''],
    ['5\'11"', 'b', ''],
  ]);
  assert.deepEqual(parseCsv('', 'empty.csv'), []);
});

test('csv: malformed quoting is E_DATA_FORMAT with a line number', async () => {
  await rejectsWith(() => parseCsv('a,b\n1,"open\n2,3\n', 'q.csv'), 'E_DATA_FORMAT', 'q.csv', 'line 2');
  await rejectsWith(() => parseCsv('a,b\n"x"y,1\n', 'r.csv'), 'E_DATA_FORMAT', 'r.csv', 'line 2');
});

const IRIS = [
  'sepal length,sepal width,"species, common"',
  '5.1,3.5,"setosa, bristle-pointed"',
  '7.0,3.2,versicolor',
  '6.3,3.3,virginica',
  '',
].join('\r\n');

test('csv: table with string labels by name, by index, feature subset, no header', async () => {
  writeFileSync(tmp('iris.csv'), '\uFEFF' + IRIS);
  const t = await readCsvTable(tmp('iris.csv'), { label: 'species, common' });
  assert.equal(t.rows, 3);
  assert.equal(t.featureCount, 2);
  assert.deepEqual(t.featureNames, ['sepal length', 'sepal width']);
  assert.deepEqual(Array.from(t.features), [5.1, 3.5, 7.0, 3.2, 6.3, 3.3].map(Math.fround));
  assert.deepEqual(t.labels, ['setosa, bristle-pointed', 'versicolor', 'virginica']);

  const byIndex = await readCsvTable(tmp('iris.csv'), { label: 2, features: ['sepal width'] });
  assert.deepEqual(byIndex.featureNames, ['sepal width']);
  assert.deepEqual(Array.from(byIndex.features), [3.5, 3.2, 3.3].map(Math.fround));
  assert.equal(byIndex.labels?.[1], 'versicolor');

  writeFileSync(tmp('nohead.csv'), '1,2,0\n3,4,1\n');
  const nohead = await readCsvTable(tmp('nohead.csv'), { header: false, label: 2 });
  assert.deepEqual(Array.from(nohead.features), [1, 2, 3, 4]);
  assert.deepEqual(nohead.labels, ['0', '1']);
  assert.equal(nohead.featureNames.length, 2);

  const nolabel = await readCsvTable(tmp('nohead.csv'), { header: false });
  assert.equal(nolabel.labels, null);
  assert.equal(nolabel.featureCount, 3);

  writeFileSync(tmp('header-only.csv'), 'a,b,label\n');
  const empty = await readCsvTable(tmp('header-only.csv'), { label: 'label' });
  assert.equal(empty.rows, 0);
  assert.deepEqual(empty.labels, []);
});

test('csv: ragged row names its line (multi-line quoted cells counted)', async () => {
  // Line 3-4 hold one row with a quoted newline, so the ragged row starts on line 5.
  writeFileSync(tmp('ragged.csv'), 'x,y,label\n1,2,a\n3,4,"b\nc"\n5,6\n');
  const err = await rejectsWith(readCsvTable(tmp('ragged.csv'), { label: 'label' }), 'E_DATA_FORMAT', 'ragged.csv', 'line 5', '2 cells');
  assert.ok(!err.message.includes('line 4'));
});

test('csv: non-numeric feature cell names line, column and value', async () => {
  writeFileSync(tmp('nan.csv'), 'x,y,label\n1,2,a\n3,oops,b\n');
  await rejectsWith(readCsvTable(tmp('nan.csv'), { label: 'label' }), 'E_DATA_FORMAT', 'line 3', '"y"', '"oops"');
  writeFileSync(tmp('blank.csv'), 'x,y\n1,\n');
  await rejectsWith(readCsvTable(tmp('blank.csv'), {}), 'E_DATA_FORMAT', 'line 2', '"y"');
});

test('csv: unknown column name is E_CONFIG listing the columns', async () => {
  writeFileSync(tmp('iris2.csv'), IRIS);
  const err = await rejectsWith(readCsvTable(tmp('iris2.csv'), { label: 'class' }), 'E_CONFIG', '"class"');
  assert.ok(err.hint.includes('"sepal length"') && err.hint.includes('"species, common"'), err.hint);
  await rejectsWith(readCsvTable(tmp('iris2.csv'), { label: 2, features: ['petal'] }), 'E_CONFIG', '"petal"');
  await rejectsWith(readCsvTable(tmp('iris2.csv'), { label: 7 }), 'E_CONFIG', '7');
  await rejectsWith(readCsvTable(tmp('iris2.csv'), { header: false, label: 'species' }), 'E_CONFIG', 'header');
});

// ---------------------------------------------------------------- JSONL

test('jsonl: features and labels, numbers stringified, blank lines skipped', async () => {
  writeFileSync(tmp('ok.jsonl'), '{"features":[1,2.5],"label":3}\r\n\n{"features":[-1,0],"label":"cat"}\n');
  const t = await readJsonlTable(tmp('ok.jsonl'), {});
  assert.equal(t.rows, 2);
  assert.equal(t.featureCount, 2);
  assert.deepEqual(Array.from(t.features), [1, 2.5, -1, 0]);
  assert.deepEqual(t.labels, ['3', 'cat']);

  const custom = parseJsonlTable('{"x":[1],"y":0}\n{"x":[2],"y":1}', 'c.jsonl', { featuresKey: 'x', labelKey: 'y' });
  assert.deepEqual(custom.labels, ['0', '1']);
  const unlabeled = parseJsonlTable('{"features":[1]}\n{"features":[2]}\n', 'u.jsonl');
  assert.equal(unlabeled.labels, null);
  assert.deepEqual(Array.from(unlabeled.features), [1, 2]);
});

test('jsonl: errors name the 1-based line', async () => {
  const good = '{"features":[1,2],"label":0}';
  await rejectsWith(() => parseJsonlTable(`${good}\n\n{"features":[1],"label":1}`, 'len.jsonl'), 'E_DATA_FORMAT', 'line 3', '1 features');
  await rejectsWith(() => parseJsonlTable(`${good}\n{"features":[1,null],"label":1}`, 'nan.jsonl'), 'E_DATA_FORMAT', 'line 2', 'null');
  await rejectsWith(() => parseJsonlTable(`${good}\n{"features":[1,2],`, 'json.jsonl'), 'E_DATA_FORMAT', 'line 2');
  await rejectsWith(() => parseJsonlTable(`${good}\n{"features":[1,2]}`, 'mixed.jsonl'), 'E_DATA_FORMAT', 'line 2', '"label"');
  await rejectsWith(() => parseJsonlTable(`${good}\n[1,2]`, 'arr.jsonl'), 'E_DATA_FORMAT', 'line 2', 'not an object');
  await rejectsWith(() => parseJsonlTable(`{"x":[1]}`, 'key.jsonl'), 'E_DATA_FORMAT', 'line 1', '"features"', '"x"');
  await rejectsWith(() => parseJsonlTable(`{"features":[1],"label":true}`, 'lab.jsonl'), 'E_DATA_FORMAT', 'line 1', 'true');
});

// ---------------------------------------------------------------- NPY (fixtures written by Debian's numpy)

const NPY_FIXTURES = String.raw`
import gzip, sys, numpy as np
d = sys.argv[1]
def idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)
images = idx('${T10K_IMAGES}', 16).reshape(-1, 28, 28)[:5].astype(np.float32)
labels = idx('${T10K_LABELS}', 8)[:5].astype(np.int64)
np.save(d + '/images-f32.npy', images)
with open(d + '/images-v2.npy', 'wb') as f: np.lib.format.write_array(f, images, version=(2, 0))
with open(d + '/images-v3.npy', 'wb') as f: np.lib.format.write_array(f, images, version=(3, 0))
np.save(d + '/labels-i8.npy', labels)
np.save(d + '/labels-4.npy', labels[:4])
np.save(d + '/labels-frac.npy', np.array([0.5, 1, 2, 3, 4], np.float32))
np.save(d + '/fortran.npy', np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3)))
np.save(d + '/complex.npy', np.arange(4).astype(np.complex64))
np.save(d + '/big-endian.npy', np.arange(4).astype('>f4'))
np.save(d + '/huge-i8.npy', np.array([1, 2**60], np.int64))
np.save(d + '/scalar.npy', np.float32(3.5))
vals = {'f4': [-1.5, 0, 0.25, 3.5], 'f8': [-1e300, 0.1, 2/3, 1e-300], 'i1': [-128, -1, 0, 127], 'u1': [0, 1, 200, 255],
        'i2': [-32768, -2, 300, 32767], 'u2': [0, 1, 40000, 65535], 'i4': [-2147483648, -7, 70000, 2147483647],
        'u4': [0, 1, 3000000000, 4294967295], 'i8': [-(2**53 - 1), -1, 0, 2**53 - 1], 'u8': [0, 1, 2**40, 2**53 - 1]}
for k, v in vals.items(): np.save(d + '/dtype-' + k + '.npy', np.array(v, dtype='<' + k).reshape(2, 2))
np.save(d + '/dtype-b1.npy', np.array([[True, False], [False, True]]))
`;
execFileSync('/usr/bin/python3', ['-c', NPY_FIXTURES, dir], { stdio: ['ignore', 'inherit', 'inherit'] });

test('npy: float32 C-order Fashion-MNIST pixels match the IDX reader, v1/v2/v3 headers', async () => {
  const { data: pixels } = await readIdx(T10K_IMAGES);
  for (const file of ['images-f32.npy', 'images-v2.npy', 'images-v3.npy']) {
    const bytes = readFileSync(tmp(file));
    assert.equal(bytes[6], Number(file.match(/v(\d)/)?.[1] ?? 1), `${file} format version`);
    const arr = await readNpy(tmp(file));
    assert.equal(arr.dtype, '<f4');
    assert.deepEqual(arr.shape, [5, 28, 28]);
    assert.ok(arr.data instanceof Float32Array);
    assert.deepEqual(Array.from(arr.data), Array.from(pixels.subarray(0, 5 * 784)), file);
  }
});

test('npy: every supported dtype decodes to the values numpy saved', async () => {
  const expected: Record<string, [Function, number[]]> = {
    f4: [Float32Array, [-1.5, 0, 0.25, 3.5]],
    f8: [Float64Array, [-1e300, 0.1, 2 / 3, 1e-300]],
    i1: [Int8Array, [-128, -1, 0, 127]],
    u1: [Uint8Array, [0, 1, 200, 255]],
    i2: [Int16Array, [-32768, -2, 300, 32767]],
    u2: [Uint16Array, [0, 1, 40000, 65535]],
    i4: [Int32Array, [-2147483648, -7, 70000, 2147483647]],
    u4: [Uint32Array, [0, 1, 3000000000, 4294967295]],
    i8: [Float64Array, [-(2 ** 53 - 1), -1, 0, 2 ** 53 - 1]],
    u8: [Float64Array, [0, 1, 2 ** 40, 2 ** 53 - 1]],
    b1: [Uint8Array, [1, 0, 0, 1]],
  };
  for (const [k, [ctor, values]] of Object.entries(expected)) {
    const arr = parseNpy(readFileSync(tmp(`dtype-${k}.npy`)), k);
    assert.deepEqual(arr.shape, [2, 2], k);
    assert.ok(arr.data instanceof ctor, `${k}: ${arr.data.constructor.name}`);
    assert.deepEqual(Array.from(arr.data), values, k);
  }
  assert.equal((await readNpy(tmp('dtype-i1.npy'))).dtype, '|i1');
  const scalar = await readNpy(tmp('scalar.npy'));
  assert.deepEqual(scalar.shape, []);
  assert.deepEqual(Array.from(scalar.data), [3.5]);
});

test('npy: fortran order, unsupported dtype, big-endian, bad magic, short data, unsafe int64', async () => {
  const fortran = await rejectsWith(readNpy(tmp('fortran.npy')), 'E_DATA_FORMAT', 'fortran.npy', 'fortran_order');
  assert.ok(fortran.hint.includes('np.ascontiguousarray'));
  const complex = await rejectsWith(readNpy(tmp('complex.npy')), 'E_DATA_FORMAT', '<c8', '<f4', '|b1');
  assert.ok(complex.message.includes('<i8'));
  await rejectsWith(readNpy(tmp('big-endian.npy')), 'E_DATA_FORMAT', '>f4', 'big-endian');
  await rejectsWith(readNpy(tmp('huge-i8.npy')), 'E_DATA_FORMAT', String(2n ** 60n));

  const good = readFileSync(tmp('images-f32.npy'));
  await rejectsWith(() => parseNpy(good.subarray(0, good.length - 4), 'short.npy'), 'E_DATA_FORMAT', 'short.npy', '(5, 28, 28)');
  const badMagic = Uint8Array.from(good.subarray(0, 200));
  badMagic[1] = 0x50;
  await rejectsWith(() => parseNpy(badMagic, 'pk.npy'), 'E_DATA_FORMAT', 'pk.npy', 'NUMPY');
  await rejectsWith(readNpy(tmp('missing.npy')), 'E_FILE_NOT_FOUND', tmp('missing.npy'));
});

// ---------------------------------------------------------------- loadSource

test('loadSource: IDX with relative paths keeps raw pixel values and per-example shape', async () => {
  const split = await loadSource(
    { format: 'idx', features: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
    FMNIST,
  );
  assert.equal(split.rows, 10000);
  assert.deepEqual(split.featureShape, [28, 28]);
  assert.ok(split.features instanceof Float32Array);
  assert.equal(split.features.length, 10000 * 784);
  assert.equal(split.features[10 * 28 + 16], 129); // not scaled to [0, 1]
  assert.equal(split.labels?.length, 10000);
  assert.deepEqual(split.labels?.slice(0, 3), [9, 2, 1]);
});

test('loadSource: label count must equal feature rows; missing paths are E_FILE_NOT_FOUND', async () => {
  await rejectsWith(
    loadSource({ format: 'idx', features: T10K_IMAGES, labels: TRAIN_LABELS }, '/'),
    'E_DATA_FORMAT', '60000', '10000',
  );
  const err = await rejectsWith(
    loadSource({ format: 'idx', features: 'nope/images.gz' }, dir),
    'E_FILE_NOT_FOUND', join(dir, 'nope/images.gz'),
  );
  assert.match(err.hint, /relative paths resolve against the config file's folder/);
  await rejectsWith(loadSource({ format: 'csv', path: 'absent.csv' }, dir), 'E_FILE_NOT_FOUND', join(dir, 'absent.csv'));
});

test('loadSource: NPY features with int64 labels; label checks', async () => {
  const split = await loadSource({ format: 'npy', features: 'images-f32.npy', labels: 'labels-i8.npy' }, dir);
  assert.equal(split.rows, 5);
  assert.deepEqual(split.featureShape, [28, 28]);
  assert.deepEqual(split.labels, [9, 2, 1, 1, 6]);
  assert.equal(split.features[10 * 28 + 15], 53);
  await rejectsWith(loadSource({ format: 'npy', features: 'images-f32.npy', labels: 'labels-4.npy' }, dir), 'E_DATA_FORMAT', '4 labels', '5 rows');
  await rejectsWith(loadSource({ format: 'npy', features: 'images-f32.npy', labels: 'labels-frac.npy' }, dir), 'E_DATA_FORMAT', '0.5');
  const unlabeled = await loadSource({ format: 'npy', features: 'dtype-u2.npy' }, dir);
  assert.deepEqual(unlabeled.featureShape, [2]);
  assert.equal(unlabeled.labels, null);
  assert.deepEqual(Array.from(unlabeled.features), [0, 1, 40000, 65535]);
});

test('loadSource: CSV and JSONL give featureShape [featureCount] and string labels; empty is fine', async () => {
  writeFileSync(tmp('src.csv'), IRIS);
  const csv = await loadSource({ format: 'csv', path: 'src.csv', label: 'species, common' }, dir);
  assert.deepEqual(csv.featureShape, [2]);
  assert.equal(csv.rows, 3);
  assert.deepEqual(csv.labels, ['setosa, bristle-pointed', 'versicolor', 'virginica']);

  writeFileSync(tmp('src.jsonl'), '{"f":[1,2,3],"y":1}\n{"f":[4,5,6],"y":0}\n');
  const jsonl = await loadSource({ format: 'jsonl', path: 'src.jsonl', featuresKey: 'f', labelKey: 'y' }, dir);
  assert.deepEqual(jsonl.featureShape, [3]);
  assert.deepEqual(Array.from(jsonl.features), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(jsonl.labels, ['1', '0']);

  writeFileSync(tmp('empty.jsonl'), '\n');
  const empty = await loadSource({ format: 'jsonl', path: 'empty.jsonl' }, dir);
  assert.equal(empty.rows, 0);
  assert.equal(empty.features.length, 0);
});
