// The 3-class teacher fixture: valid remapped IDX data, the ONNX signature the acceptance test relies on
// (input "pixels", outputs "scores" then "penultimate" with shapes), real test accuracy, the official checker.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { readIdx } from '../pipeline/data/idx.ts';
import { buildThreeClassFixture, type ThreeClassFixture } from './fixtures/three-class-teacher.ts';
import { runOfficialChecker } from './helpers.ts';

describe('three-class Fashion-MNIST teacher fixture', () => {
  let dir: string;
  let fx: ThreeClassFixture;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-distill-3class-'));
    fx = await buildThreeClassFixture(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('writes every file into the dir', () => {
    for (const p of [fx.teacherPath, fx.trainImages, fx.trainLabels, fx.testImages, fx.testLabels]) {
      assert.ok(p.startsWith(dir), p);
      assert.ok(existsSync(p), `${p} exists`);
    }
  });

  test('IDX files have the spec magics and remapped labels, 500/200 per class', async () => {
    const magic = (p: string) => gunzipSync(readFileSync(p)).readUInt32BE(0);
    assert.equal(magic(fx.trainImages), 0x00000803);
    assert.equal(magic(fx.testImages), 0x00000803);
    assert.equal(magic(fx.trainLabels), 0x00000801);
    assert.equal(magic(fx.testLabels), 0x00000801);
    for (const [images, labels, perClass] of [
      [fx.trainImages, fx.trainLabels, 500],
      [fx.testImages, fx.testLabels, 200],
    ] as const) {
      const x = await readIdx(images);
      const y = await readIdx(labels);
      assert.ok(x.data instanceof Uint8Array && y.data instanceof Uint8Array);
      assert.deepEqual(x.dims, [3 * perClass, 28, 28]);
      assert.deepEqual(y.dims, [3 * perClass]);
      const counts = [0, 0, 0];
      for (const v of y.data) {
        assert.ok(v === 0 || v === 1 || v === 2, `label ${v} in {0,1,2}`);
        counts[v]!++;
      }
      assert.deepEqual(counts, [perClass, perClass, perClass]);
      assert.ok(x.data.reduce((m, v) => Math.max(m, v), 0) > 200, 'pixels stay raw uint8, not scaled');
    }
  });

  test('ONNX signature: input "pixels" [batch,784]; outputs ["scores","penultimate"] with shapes', async () => {
    const session = await ort.InferenceSession.create(fx.teacherPath);
    try {
      assert.deepEqual(session.inputNames, ['pixels']);
      assert.deepEqual(session.outputNames, ['scores', 'penultimate']);
      const shape = (m: ort.InferenceSession.ValueMetadata) => (m.isTensor ? [...m.shape] : null);
      assert.deepEqual(session.inputMetadata.map(shape), [['batch', 784]]);
      assert.deepEqual(session.outputMetadata.map(shape), [['batch', 3], ['batch', 32]]);
    } finally {
      await session.release();
    }
  });

  test('onnxruntime-node test accuracy >= 0.6 on the 600 test images', async (t) => {
    const x = await readIdx(fx.testImages);
    const y = await readIdx(fx.testLabels);
    const n = y.dims[0]!;
    const session = await ort.InferenceSession.create(fx.teacherPath);
    try {
      const pixels = Float32Array.from(x.data, (v) => v / 255);
      const out = await session.run({ pixels: new ort.Tensor('float32', pixels, [n, 784]) });
      assert.deepEqual(out.penultimate!.dims, [n, 32]);
      const scores = out.scores!.data as Float32Array;
      let correct = 0;
      for (let i = 0; i < n; i++) {
        const row = Array.from(scores.subarray(i * 3, i * 3 + 3));
        if (row.indexOf(Math.max(...row)) === y.data[i]) correct++;
      }
      const acc = correct / n;
      t.diagnostic(`ONNX teacher test accuracy ${acc.toFixed(4)} (${correct}/${n})`);
      assert.ok(acc >= 0.6, `accuracy ${acc}`);
    } finally {
      await session.release();
    }
  });

  test('passes the official onnx.checker (full_check)', () => {
    assert.doesNotThrow(() => runOfficialChecker(fx.teacherPath));
  });

  test('a second call reuses the files', async () => {
    const before = readFileSync(fx.teacherPath);
    const again = await buildThreeClassFixture(dir);
    assert.deepEqual(again, fx);
    assert.ok(readFileSync(fx.teacherPath).equals(before));
  });
});
