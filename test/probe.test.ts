// The fine-label probe on real embeddings: the shipped Fashion-MNIST teacher (trained on label % 2) on 2,000
// training images, the fine labels being the 10 garment classes.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readIdx } from '../pipeline/data/idx.ts';
import { MemoryRows } from '../pipeline/data/rows.ts';
import { fineProbe, globalFine } from '../pipeline/teacher/probe.ts';
import { permutation, rng } from '../pipeline/util/math.ts';
import { EXAMPLE_DIR } from './helpers.ts';

const N = 2000;
const D = 256;
let emb: Float32Array;
let fine: Int32Array;

before(async () => {
  const images = await readIdx(join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz'));
  const raw = await readIdx(join(EXAMPLE_DIR, 'train-labels-idx1-ubyte.gz'));
  const x = Float32Array.from(images.data.subarray(0, N * 784), (v) => v / 255);
  const session = await ort.InferenceSession.create(join(EXAMPLE_DIR, 'teacher.onnx'));
  emb = (await session.run({ image: new ort.Tensor('float32', x, [N, 1, 28, 28]) })).embedding!.data as Float32Array;
  await session.release();
  // label % 2 is the class, floor(label / 2) the subclass: the global fine label is class * 5 + subclass.
  const labels = Int32Array.from({ length: N }, (_, i) => raw.data[i]! % 2);
  fine = globalFine(labels, { subclass: Int32Array.from({ length: N }, (_, i) => Math.floor(raw.data[i]! / 2)), subclasses: 5 });
  assert.deepEqual(Array.from(fine.subarray(0, 4)), Array.from(raw.data.subarray(0, 4), (r) => (r % 2) * 5 + Math.floor(r / 2)));
});

const half = (from: number) => new MemoryRows(emb.subarray(from * D, (from + N / 2) * D), N / 2, D);

test('fineProbe: the binary teacher\'s embedding tells the 10 garments apart far above chance; shuffled fine labels fall to chance', () => {
  const p = fineProbe({ embedding: half(0), fine: fine.subarray(0, N / 2) }, { embedding: half(N / 2), fine: fine.subarray(N / 2) }, 10);
  assert.deepEqual([p.fineLabels, p.fittedOn, p.measuredOn], [10, N / 2, N / 2]);
  assert.ok(p.accuracy > 0.6 && p.accuracy < 0.99, `probe accuracy ${p.accuracy}`);
  const order = permutation(N / 2, rng(1));
  const shuffled = Int32Array.from(order, (i) => fine[i]!);
  const q = fineProbe({ embedding: half(0), fine: shuffled }, { embedding: half(N / 2), fine: fine.subarray(N / 2) }, 10);
  assert.ok(q.accuracy < 0.25, `shuffled fine labels: ${q.accuracy}`);
});

test('fineProbe: beyond maxRows the probe is fitted on a seeded sample (same seed, same result)', () => {
  const fit = { embedding: half(0), fine: fine.subarray(0, N / 2) };
  const measure = { embedding: half(N / 2), fine: fine.subarray(N / 2) };
  const a = fineProbe(fit, measure, 10, 3, 400);
  const b = fineProbe(fit, measure, 10, 3, 400);
  const all = fineProbe(fit, measure, 10);
  assert.equal(a.fittedOn, 400);
  assert.equal(a.accuracy, b.accuracy);
  assert.notEqual(a.accuracy, all.accuracy);
  assert.ok(a.accuracy > 0.5, `sampled probe ${a.accuracy}`);
});
