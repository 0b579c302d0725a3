// Teacher-labelled augmentation (data.augment) on real Fashion-MNIST images: the transform itself (shift with edge
// pixels, mirror, channels last and first alike), and loadDatasets with it on RGB PNG class folders read with a
// grayscale NCHW teacher view: originals untouched and first, every copy a shifted/mirrored original with the same
// transform on the teacher's rows, held-out splits unchanged, seeded. What it cannot take is refused with E_CONFIG.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { transformImage } from '../pipeline/data/augment.ts';
import { closeDatasets, loadDatasets } from '../pipeline/data/dataset.ts';
import { DataSchema } from '../pipeline/data/schema.ts';
import { hashRows, readAll } from '../pipeline/data/rows.ts';
import { parseConfig } from '../pipeline/config.ts';
import { writeImageFolders, CLASS_NAMES } from '../examples/fmnist-images/make-images.ts';
import { tempFolders } from './cli-contract.ts';

const { fresh, cleanup } = tempFolders('edge-distill-augment-');
after(cleanup);

test('transformImage: a shift repeats the edge pixels, a mirror reverses each row, channels last and first agree', () => {
  // A 3 x 4 image with 2 channels: value 100 * c + 10 * y + x.
  const [H, W, C] = [3, 4, 2];
  const at = (c: number, y: number, x: number) => 100 * c + 10 * y + x;
  const nhwc = Float32Array.from({ length: H * W * C }, (_, i) => at(i % C, Math.floor(i / (W * C)), Math.floor(i / C) % W));
  const nchw = Float32Array.from({ length: H * W * C }, (_, i) => at(Math.floor(i / (H * W)), Math.floor(i / W) % H, i % W));
  const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  for (const d of [{ dy: 1, dx: -1, flip: false }, { dy: -2, dx: 3, flip: true }, { dy: 0, dx: 0, flip: true }]) {
    const want = (c: number, y: number, x: number) => {
      const sx = clamp(x - d.dx, W - 1);
      return at(c, clamp(y - d.dy, H - 1), d.flip ? W - 1 - sx : sx);
    };
    const last = new Float32Array(nhwc.length);
    transformImage(nhwc, { height: H, width: W, channels: C, channelsFirst: false }, d, last);
    const first = new Float32Array(nchw.length);
    transformImage(nchw, { height: H, width: W, channels: C, channelsFirst: true }, d, first);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < C; c++) {
          assert.equal(last[(y * W + x) * C + c], want(c, y, x), `NHWC ${JSON.stringify(d)} at (${c}, ${y}, ${x})`);
          assert.equal(first[(c * H + y) * W + x], want(c, y, x), `NCHW ${JSON.stringify(d)} at (${c}, ${y}, ${x})`);
        }
      }
    }
  }
});

/** The transform (|shift| <= s, maybe mirrored) that turns `src` into `got`, among all of them; null when none does. */
function findDraw(src: Float32Array, got: Float32Array, g: { height: number; width: number; channels: number; channelsFirst: boolean }, s: number, also?: (d: { dy: number; dx: number; flip: boolean }) => boolean) {
  const out = new Float32Array(src.length);
  for (let dy = -s; dy <= s; dy++) {
    for (let dx = -s; dx <= s; dx++) {
      for (const flip of [false, true]) {
        transformImage(src, g, { dy, dx, flip }, out);
        if (out.every((v, i) => v === got[i]) && (!also || also({ dy, dx, flip }))) return { dy, dx, flip };
      }
    }
  }
  return null;
}

test('loadDatasets with data.augment: the originals first, then each copy a shifted or mirrored original, the same transform on the teacher\'s NCHW rows; held-out splits unchanged; seeded', async () => {
  const dir = fresh();
  await writeImageFolders(dir, { train: 40, test: 20 });
  const base = { train: { format: 'images', path: join(dir, 'train') }, test: { format: 'images', path: join(dir, 'test') }, classNames: [...CLASS_NAMES], image: { channels: 3 } };
  const load = (augment: object | undefined, seed: number) => loadDatasets(DataSchema.parse({ ...base, ...(augment ? { augment } : {}) }), seed, 2, { spillDir: join(dir, 'spill'), teacherImage: { channels: 1 } });
  const plain = await load(undefined, 1);
  const aug = await load({ copies: 2, shift: 2, flip: true }, 1);
  const again = await load({ copies: 2, shift: 2, flip: true }, 1);
  const other = await load({ copies: 2, shift: 2, flip: true }, 2);
  try {
    const n = plain.train.n;
    assert.equal(aug.train.n, 3 * n);
    assert.deepEqual(aug.train.labels, Int32Array.from({ length: 3 * n }, (_, r) => plain.train.labels![r % n]!));
    assert.deepEqual(aug.train.ids!.slice(n, n + 2), [`${plain.train.ids![0]}#aug1`, `${plain.train.ids![1]}#aug1`]);
    for (const s of ['validation', 'test'] as const) assert.equal(hashRows(aug[s].x), hashRows(plain[s].x), `${s} is not augmented`);
    const x = readAll(aug.train.x);
    const tx = readAll(aug.train.teacher!.x);
    const px = readAll(plain.train.x);
    const ptx = readAll(plain.train.teacher!.x);
    const [F, TF] = [28 * 28 * 3, 28 * 28];
    assert.deepEqual(x.subarray(0, n * F), px, 'the originals come first, unchanged');
    assert.deepEqual(tx.subarray(0, n * TF), ptx);
    const student = { height: 28, width: 28, channels: 3, channelsFirst: false };
    const teacher = { height: 28, width: 28, channels: 1, channelsFirst: true };
    let moved = 0;
    for (let r = n; r < 3 * n; r++) {
      const i = r % n;
      const sameOnTeacher = (d: { dy: number; dx: number; flip: boolean }) => {
        const out = new Float32Array(TF);
        transformImage(ptx.subarray(i * TF, (i + 1) * TF), teacher, d, out);
        return out.every((v, j) => v === tx[r * TF + j]);
      };
      const d = findDraw(px.subarray(i * F, (i + 1) * F), x.subarray(r * F, (r + 1) * F), student, 2, sameOnTeacher);
      assert.ok(d, `copy row ${r} is a shift/mirror of row ${i} (by the same transform in the teacher's rows)`);
      if (d.dx || d.dy || d.flip) moved++;
    }
    assert.ok(moved > 1.5 * n, `${moved} of ${2 * n} copies differ from their original`);
    assert.equal(hashRows(again.train.x), hashRows(aug.train.x), 'same seed, same copies');
    assert.notEqual(hashRows(other.train.x), hashRows(aug.train.x), 'another seed, other copies');
  } finally {
    for (const d of [plain, aug, again, other]) closeDatasets(d);
  }
});

test('data.augment refuses flat examples and precomputed teacher outputs with E_CONFIG', async () => {
  const dir = fresh();
  const csv = join(dir, 'flat.csv');
  writeFileSync(csv, ['a,b,c,label', ...Array.from({ length: 20 }, (_, i) => `${i},${i + 1},${i + 2},${i % 2}`)].join('\n'));
  const cfg = DataSchema.parse({ train: { format: 'csv', path: csv, label: 'label' }, augment: { copies: 2 } });
  await assert.rejects(loadDatasets(cfg, 1, 2), (e: { code?: string; message: string }) => e.code === 'E_CONFIG' && /data\.augment shifts and mirrors images, but the train examples have shape \[3\]/.test(e.message));
  const raw = { data: { train: { format: 'csv', path: csv, label: 'label' }, augment: { copies: 2 } }, teacher: { precomputed: { format: 'npy', logits: csv } } };
  assert.throws(() => parseConfig(raw, dir), (e: { code?: string; message: string }) => e.code === 'E_CONFIG' && /data\.augment/.test(e.message) && /precomputed teacher outputs have none/.test(e.message));
});

test('fine labels: with data.labelMap each example keeps its raw label\'s rank within its class, through carving and augmentation; none without a labelMap', async () => {
  const { EXAMPLE_DIR } = await import('./helpers.ts');
  const src = (f: string) => ({ format: 'idx', features: join(EXAMPLE_DIR, `${f}-images-idx3-ubyte.gz`), labels: join(EXAMPLE_DIR, `${f}-labels-idx1-ubyte.gz`) });
  const base = { train: src('train'), test: src('t10k'), trainSize: 300, preprocess: { scale: 1 / 255 } };
  const mapped = await loadDatasets(DataSchema.parse({ ...base, labelMap: [0, 1, 0, 1, 0, 1, 0, 1, 0, 1], augment: { copies: 1 } }), 3, 2);
  const plain = await loadDatasets(DataSchema.parse({ ...base }), 3, 10);
  try {
    assert.equal(plain.train.fine, null, 'no labelMap, no fine labels');
    for (const s of ['validation', 'test'] as const) {
      const d = mapped[s];
      assert.equal(d.fine!.subclasses, 5);
      // The raw label r of each example (the 10-class load of the same rows): class r % 2, subclass floor(r / 2).
      assert.deepEqual(d.fine!.subclass, Int32Array.from(plain[s].labels!, (r) => Math.floor(r / 2)), s);
      assert.deepEqual(d.labels, Int32Array.from(plain[s].labels!, (r) => r % 2));
    }
    const n = plain.train.n;
    assert.equal(mapped.train.n, 2 * n);
    assert.deepEqual(mapped.train.fine!.subclass, Int32Array.from({ length: 2 * n }, (_, r) => Math.floor(plain.train.labels![r % n]! / 2)), 'augmented copies keep their fine label');
  } finally {
    closeDatasets(mapped);
    closeDatasets(plain);
  }
});

test('augmentTrain reads [1, H, W] examples as one-channel H x W images, as the image students do', async () => {
  const { augmentTrain } = await import('../pipeline/data/augment.ts');
  const { MemoryRows } = await import('../pipeline/data/rows.ts');
  const [n, H, W] = [5, 3, 4];
  const data = Float32Array.from({ length: n * H * W }, (_, i) => i);
  const s = { x: new MemoryRows(data, n, H * W), n, featureShape: [1, H, W], labels: new Int32Array(n), fine: null, ids: null, positions: Int32Array.from({ length: n }, (_, i) => i), texts: null, teacher: null };
  const out = augmentTrain(s, { copies: 2, shift: 1, flip: true }, 9, null);
  const x = readAll(out.x);
  for (let r = n; r < 3 * n; r++) {
    const i = r % n;
    assert.ok(findDraw(data.subarray(i * H * W, (i + 1) * H * W), x.subarray(r * H * W, (r + 1) * H * W), { height: H, width: W, channels: 1, channelsFirst: false }, 1), `row ${r}`);
  }
});
