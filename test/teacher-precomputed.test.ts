// Precomputed teacher outputs on real data: the shipped Fashion-MNIST teacher run with onnxruntime-node on the
// first 300 real test images, written as JSONL and as NPY (our writer and NumPy's np.save), read back and matched by id.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readIdx } from '../pipeline/data/idx.ts';
import { EdgeDistillError, type ErrorCode } from '../pipeline/errors.ts';
import { sha256 } from '../pipeline/util/fsutil.ts';
import { checkIdCoverage, matchById, readPrecomputed, type PrecomputedOutputs } from '../pipeline/teacher/precomputed.ts';
import { EXAMPLE_DIR, tempDir } from './helpers.ts';

const N = 300;
const C = 2;
const D = 256;
const ids = Array.from({ length: N }, (_, i) => `img-${i}`);

/** A minimal .npy v1.0 writer (little-endian float32, C order); the header is padded to 64 bytes as np.save does. */
function npyBytes(data: Float32Array, shape: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** One JSONL line per row; `edit` may rewrite a row's object or its text (e.g. to write Python's bare NaN). */
function jsonl(logits: Float32Array, embedding: Float32Array | null, edit: (row: Record<string, unknown>, i: number) => string | void = () => {}): string {
  return ids.map((id, i) => {
    const row: Record<string, unknown> = { id, logits: Array.from(logits.subarray(i * C, (i + 1) * C)) };
    if (embedding) row.embedding = Array.from(embedding.subarray(i * D, (i + 1) * D));
    return edit(row, i) ?? JSON.stringify(row);
  }).join('\n') + '\n';
}

/** Run `f`, expect an EdgeDistillError with `code`, return its message. */
async function failure(code: ErrorCode, f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (err) {
    assert.ok(err instanceof EdgeDistillError, `expected EdgeDistillError, got ${err}`);
    assert.equal(err.code, code, err.toLine());
    assert.ok(err.hint.length > 0);
    return err.message;
  }
  assert.fail(`expected ${code}`);
}

describe('precomputed teacher outputs from the real Fashion-MNIST teacher', () => {
  let dir: string;
  let logits: Float32Array;
  let embedding: Float32Array;
  let fromJsonl: PrecomputedOutputs;
  const file = (name: string) => join(dir, name);

  before(async () => {
    dir = tempDir('precomputed');
    const x = await readIdx(join(EXAMPLE_DIR, 't10k-images-idx3-ubyte.gz'));
    const pixels = Float32Array.from(x.data.subarray(0, N * 784), (v) => v / 255);
    const session = await ort.InferenceSession.create(join(EXAMPLE_DIR, 'teacher.onnx'));
    try {
      const out = await session.run({ image: new ort.Tensor('float32', pixels, [N, 1, 28, 28]) });
      logits = out.logits!.data as Float32Array;
      embedding = out.embedding!.data as Float32Array;
    } finally {
      await session.release();
    }
    assert.equal(logits.length, N * C);
    assert.equal(embedding.length, N * D);
    writeFileSync(file('out.jsonl'), jsonl(logits, embedding));
    writeFileSync(file('logits.npy'), npyBytes(logits, [N, C]));
    writeFileSync(file('embedding.npy'), npyBytes(embedding, [N, D]));
    writeFileSync(file('ids.json'), JSON.stringify(ids));
    fromJsonl = await readPrecomputed({ format: 'jsonl', path: file('out.jsonl') });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('JSONL reads back exactly what onnxruntime produced', () => {
    assert.deepEqual(fromJsonl.ids, ids);
    assert.equal(fromJsonl.classes, C);
    assert.equal(fromJsonl.embeddingDim, D);
    assert.deepEqual(fromJsonl.logits, logits);
    assert.deepEqual(fromJsonl.embedding, embedding);
    assert.equal(fromJsonl.sha256, sha256(readFileSync(file('out.jsonl'))), 'a single file hashes like sha256sum');
  });

  test('JSONL without embeddings gives embedding null', async () => {
    writeFileSync(file('no-emb.jsonl'), jsonl(logits, null));
    const o = await readPrecomputed({ format: 'jsonl', path: file('no-emb.jsonl') });
    assert.equal(o.embedding, null);
    assert.equal(o.embeddingDim, 0);
    assert.deepEqual(o.logits, logits);
    assert.equal(matchById(o, ['img-3'], { split: 'test' }).embedding, null);
  });

  test('NPY (float32 + JSON ids) reads back exactly', async () => {
    const o = await readPrecomputed({ format: 'npy', logits: file('logits.npy'), embedding: file('embedding.npy'), ids: file('ids.json') });
    assert.deepEqual(o.ids, ids);
    assert.deepEqual([o.classes, o.embeddingDim], [C, D]);
    assert.deepEqual(o.logits, logits);
    assert.deepEqual(o.embedding, embedding);
  });

  test("NPY written by NumPy's np.save as float64, with a one-id-per-line ids file", async () => {
    const py = `import numpy as np, sys
d = sys.argv[1]
np.save(d + '/logits64.npy', np.load(d + '/logits.npy').astype(np.float64))
np.save(d + '/embedding64.npy', np.load(d + '/embedding.npy').astype(np.float64))`;
    const r = spawnSync('/usr/bin/python3', ['-c', py, dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, `/usr/bin/python3 with numpy: ${r.stderr || r.error?.message}`);
    writeFileSync(file('ids.txt'), ids.join('\n') + '\n');
    const o = await readPrecomputed({ format: 'npy', logits: file('logits64.npy'), embedding: file('embedding64.npy'), ids: file('ids.txt') });
    assert.deepEqual(o.ids, ids);
    assert.deepEqual(o.logits, logits, 'float32 -> float64 -> float32 is exact');
    assert.deepEqual(o.embedding, embedding);
  });

  test('matchById puts the rows in the order of a shuffled split', () => {
    const order = Array.from({ length: N }, (_, i) => (i * 7 + 3) % N); // 7 is coprime with 300: a permutation
    const m = matchById(fromJsonl, order.map((i) => ids[i]!), { split: 'train' });
    order.forEach((src, i) => {
      assert.deepEqual(m.logits.subarray(i * C, (i + 1) * C), logits.subarray(src * C, (src + 1) * C));
      assert.deepEqual(m.embedding!.subarray(i * D, (i + 1) * D), embedding.subarray(src * D, (src + 1) * D));
    });
  });

  test('checkIdCoverage accepts splits that partition the outputs', () => {
    assert.doesNotThrow(() => checkIdCoverage(fromJsonl, { train: ids.slice(0, 200), validation: ids.slice(200, 250), test: ids.slice(250) }));
  });

  test('missing ids fail with E_TEACHER_IDS naming them', async () => {
    const msg = await failure('E_TEACHER_IDS', () => matchById(fromJsonl, ['img-1', 'a/17', 'img-2', 'a/18', 'b/2'], { split: 'train' }));
    assert.equal(msg, '3 ids of the train split have no teacher outputs: "a/17", "a/18", "b/2"');
  });

  test('extra ids fail with E_TEACHER_IDS naming them (coverage, and matchById when exact)', async () => {
    const rest = ids.filter((id) => id !== 'img-5' && id !== 'img-7');
    const msg = await failure('E_TEACHER_IDS', () => checkIdCoverage(fromJsonl, { train: rest.slice(0, 200), test: rest.slice(200) }));
    assert.equal(msg, '2 teacher output ids match no data row: "img-5", "img-7"');
    assert.doesNotThrow(() => matchById(fromJsonl, rest, { split: 'train' }), 'extra ids are fine unless exact');
    const exact = await failure('E_TEACHER_IDS', () => matchById(fromJsonl, rest, { split: 'train', exact: true }));
    assert.equal(exact, msg);
  });

  test('duplicate ids fail: in the outputs file, in a split, across splits', async () => {
    writeFileSync(file('dup.jsonl'), jsonl(logits, embedding, (row, i) => { if (i === 9) row.id = 'img-4'; }));
    const msg = await failure('E_TEACHER_IDS', () => readPrecomputed({ format: 'jsonl', path: file('dup.jsonl') }));
    assert.equal(msg, `duplicate id "img-4" in ${file('dup.jsonl')} (lines 5 and 10)`);
    writeFileSync(file('ids-dup.json'), JSON.stringify(ids.map((id, i) => (i === 9 ? 'img-4' : i === 20 ? 'img-11' : id))));
    const npy = await failure('E_TEACHER_IDS', () => readPrecomputed({ format: 'npy', logits: file('logits.npy'), ids: file('ids-dup.json') }));
    assert.equal(npy, `2 duplicate ids in ${file('ids-dup.json')}: "img-4", "img-11"; the first, "img-4", is on rows 4 and 9`);
    const inSplit = await failure('E_TEACHER_IDS', () => matchById(fromJsonl, ['img-1', 'img-2', 'img-1'], { split: 'test' }));
    assert.equal(inSplit, 'duplicate id "img-1" in the test split (rows 0 and 2)');
    const across = await failure('E_TEACHER_IDS', () => checkIdCoverage(fromJsonl, { train: ids.slice(0, 200), test: ids.slice(199) }));
    assert.equal(across, '1 id is in more than one split: "img-199" (train and test)');
  });

  test('a NaN logit fails with E_DATA_FORMAT naming the row and its id (JSONL as Python writes it, and NPY)', async () => {
    // Python's json.dumps writes a bare NaN, which is not JSON.
    writeFileSync(file('nan.jsonl'), jsonl(logits, embedding, (row, i) => (i === 7 ? JSON.stringify(row).replace(/("logits":\[[^,]+,)[^\]]+/, '$1NaN') : undefined)));
    const msg = await failure('E_DATA_FORMAT', () => readPrecomputed({ format: 'jsonl', path: file('nan.jsonl') }));
    assert.equal(msg, `${file('nan.jsonl')}: line 8 (id "img-7") has logits[1] = NaN, not a finite number`);
    const bad = logits.slice();
    bad[7 * C + 1] = NaN;
    writeFileSync(file('nan.npy'), npyBytes(bad, [N, C]));
    const npy = await failure('E_DATA_FORMAT', () => readPrecomputed({ format: 'npy', logits: file('nan.npy'), ids: file('ids.json') }));
    assert.equal(npy, `${file('nan.npy')}: row 7 (id "img-7") has a non-finite logit in column 1: NaN`);
  });

  test('length mismatches fail with E_DATA_FORMAT: ids vs logits rows, embedding rows, ragged JSONL, one class', async () => {
    writeFileSync(file('ids-299.json'), JSON.stringify(ids.slice(0, 299)));
    const ids299 = await failure('E_DATA_FORMAT', () => readPrecomputed({ format: 'npy', logits: file('logits.npy'), ids: file('ids-299.json') }));
    assert.equal(ids299, `${file('logits.npy')}: has 300 rows but ${file('ids-299.json')} has 299 ids`);
    writeFileSync(file('emb-299.npy'), npyBytes(embedding.subarray(0, 299 * D), [299, D]));
    const emb = await failure('E_DATA_FORMAT', () => readPrecomputed({ format: 'npy', logits: file('logits.npy'), embedding: file('emb-299.npy'), ids: file('ids.json') }));
    assert.equal(emb, `${file('emb-299.npy')}: has 299 rows but ${file('logits.npy')} has 300`);
    writeFileSync(file('ragged.jsonl'), jsonl(logits, embedding, (row, i) => { if (i === 6) (row.logits as number[]).push(0.5); }));
    const ragged = await failure('E_DATA_FORMAT', () => readPrecomputed({ format: 'jsonl', path: file('ragged.jsonl') }));
    assert.equal(ragged, `${file('ragged.jsonl')}: line 7 (id "img-6") has 3 logits under "logits" but line 1 (id "img-0") has 2`);
    writeFileSync(file('one-class.npy'), npyBytes(logits.filter((_, i) => i % C === 0), [N, 1]));
    const one = await failure('E_DATA_FORMAT', () => readPrecomputed({ format: 'npy', logits: file('one-class.npy'), ids: file('ids.json') }));
    assert.match(one, /the logits have 1 column; a classifier teacher needs at least 2/);
  });

  test('errors list at most 10 ids, then the count of the rest', async () => {
    const missing = Array.from({ length: 25 }, (_, i) => `gone-${i}`);
    const msg = await failure('E_TEACHER_IDS', () => matchById(fromJsonl, [...ids.slice(0, 50), ...missing], { split: 'test' }));
    assert.ok(msg.startsWith('25 ids of the test split have no teacher outputs: '), msg);
    assert.equal(msg.match(/"gone-\d+"/g)!.length, 10);
    assert.ok(msg.endsWith('"gone-9" and 15 more'), msg);
    const extra = await failure('E_TEACHER_IDS', () => checkIdCoverage(fromJsonl, { train: ids.slice(0, 100) }));
    assert.equal(extra.match(/"img-\d+"/g)!.length, 10);
    assert.ok(extra.startsWith('200 teacher output ids match no data row: "img-100", '), extra);
    assert.ok(extra.endsWith(' and 190 more'), extra);
  });
});
