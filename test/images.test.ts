// Image inputs on real Fashion-MNIST images written as PNG / JPEG files: the dependency-free preprocessing
// (image-preprocess.js) against known values, the loader (class folders, listings, unlabeled folders, sizes,
// channels, the teacher's own rows) against the IDX pixels, and one image-folder run end to end: RGB PNG class
// folders, a grayscale NCHW teacher, a dscnn student, every format checked, and the preprocessing the bundle ships
// applied to each test image as an app would (RGBA at the model's size) equal to the training input.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { loadDatasets, closeDatasets } from '../pipeline/data/dataset.ts';
import { DataSchema, ImageSettingsSchema } from '../pipeline/data/schema.ts';
import { streamImages } from '../pipeline/data/images.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { readAll, rowWriter } from '../pipeline/data/rows.ts';
import { preprocessImage, validateImageSpec, type ImagePreprocessSpec } from '../pipeline/data/image-preprocess.js';
import { writeImageFolders, CLASS_NAMES } from '../examples/fmnist-images/make-images.ts';
import { runCli, tempFolders, EXAMPLE, TEACHER } from './cli-contract.ts';

const { fresh, cleanup } = tempFolders('edge-distill-images-');
after(cleanup);

const spec = (o: Partial<ImagePreprocessSpec>): ImagePreprocessSpec => ({ kind: 'image', version: 1, height: 1, width: 2, channels: 3, mean: [0], std: [1], layout: 'nhwc', resize: 'fill', ...o });
const near = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-7) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `[${i}] ${a[i]} vs ${b[i]}`);
};

test('preprocessImage: channels last and first, per-channel mean/std, Pillow\'s BT.601 luma, RGBA/RGB/gray strides', () => {
  // Two pixels: pure red and (10, 20, 30), as a canvas gives them (RGBA, alpha ignored).
  const rgba = [255, 0, 0, 7, 10, 20, 30, 255];
  near(preprocessImage(rgba, spec({})), [1, 0, 0, 10 / 255, 20 / 255, 30 / 255]);
  near(preprocessImage(rgba, spec({ layout: 'nchw' })), [1, 10 / 255, 0, 20 / 255, 0, 30 / 255]);
  near(preprocessImage(rgba.filter((_, i) => i % 4 !== 3), spec({}), 3), [1, 0, 0, 10 / 255, 20 / 255, 30 / 255]);
  const m = [0.485, 0.456, 0.406];
  const s = [0.229, 0.224, 0.225];
  near(preprocessImage(rgba, spec({ mean: m, std: s })), [(1 - m[0]!) / s[0]!, -m[1]! / s[1]!, -m[2]! / s[2]!, (10 / 255 - m[0]!) / s[0]!, (20 / 255 - m[1]!) / s[1]!, (30 / 255 - m[2]!) / s[2]!], 1e-6);
  // Pillow: Image.new('RGB', (1, 1), (255, 0, 0)).convert('L') is 76; (0, 255, 0) 150; (0, 0, 255) 29; (10, 20, 30) 18.
  const gray = preprocessImage([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 10, 20, 30, 255], spec({ width: 4, channels: 1 }));
  near(gray, [76 / 255, 150 / 255, 29 / 255, 18 / 255]);
  near(preprocessImage([40, 200], spec({ channels: 1 }), 1), [40 / 255, 200 / 255]);
  assert.throws(() => preprocessImage([1, 2, 3], spec({})), /expected 8 values \(2 x 1 pixels x 4\), got 3; draw the image at the model's size first/);
  assert.throws(() => validateImageSpec(spec({ std: [1, 0, 1] })), /std must not contain 0/);
  assert.throws(() => validateImageSpec(spec({ layout: 'chw' as 'nchw' })), /layout must be "nhwc" or "nchw"/);
  assert.throws(() => validateImageSpec(spec({ mean: [0, 0] })), /mean must be 1 or 3 finite numbers/);
});

/** The vendored test images' pixels, by index. */
const testPixels = (async () => (await readIdx(join(EXAMPLE, 't10k-images-idx3-ubyte.gz'))).data as Uint8Array)();
const indexOf = (id: string) => Number(/(\d+)\.\w+$/.exec(id)![1]);

test('class folders of RGB PNGs: labels from folder names, RGB rows channels last, the teacher\'s own grayscale NCHW rows; both equal the IDX pixels', async () => {
  const dir = fresh();
  await writeImageFolders(dir, { train: 60, test: 40 });
  const cfg = DataSchema.parse({ train: { format: 'images', path: join(dir, 'train') }, test: { format: 'images', path: join(dir, 'test') }, classNames: [...CLASS_NAMES], image: { channels: 3 } });
  const d = await loadDatasets(cfg, 1, 2, { spillDir: join(dir, 'spill'), teacherImage: { channels: 1 } });
  try {
    assert.equal(d.test.n, 40);
    assert.deepEqual(d.test.featureShape, [28, 28, 3]);
    assert.deepEqual(d.test.teacher!.featureShape, [1, 28, 28]);
    const labels = (await readIdx(join(EXAMPLE, 't10k-labels-idx1-ubyte.gz'))).data;
    const pixels = await testPixels;
    const x = readAll(d.test.x);
    const tx = readAll(d.test.teacher!.x);
    d.test.ids!.forEach((id, k) => {
      const i = indexOf(id);
      assert.equal(d.test.labels![k], labels[i]! % 2, `${id}: label from its folder`);
      assert.ok(id.startsWith(`${CLASS_NAMES[labels[i]! % 2]}/`));
      for (let p = 0; p < 784; p++) {
        const v = pixels[i * 784 + p]! / 255;
        for (let c = 0; c < 3; c++) assert.ok(Math.abs(x[k * 2352 + p * 3 + c]! - v) < 1e-7);
        assert.ok(Math.abs(tx[k * 784 + p]! - v) < 1e-7);
      }
    });
    // The carved validation split keeps each row's teacher row beside it.
    assert.equal(d.validation.teacher!.x.n, d.validation.n);
  } finally {
    closeDatasets(d);
  }
});

test('listings (CSV and JSON Lines, labelled or not), unset size and channels taken from the images, resizing, and the teacher sharing the student\'s rows when they would be identical', async () => {
  const dir = fresh();
  const pixels = await testPixels;
  mkdirSync(join(dir, 'img'));
  for (let i = 0; i < 12; i++) await sharp(Buffer.from(pixels.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('b-w').png().toFile(join(dir, 'img', `${i}.png`));
  writeFileSync(join(dir, 'list.csv'), ['label,file', ...Array.from({ length: 12 }, (_, i) => `${i % 2},img/${i}.png`)].join('\n') + '\n');
  writeFileSync(join(dir, 'list.jsonl'), Array.from({ length: 12 }, (_, i) => JSON.stringify({ path: `img/${i}.png`, y: i % 2 })).join('\n'));
  const load = async (train: object, image: object = {}, teacherImage = {}) => {
    const cfg = DataSchema.parse({ train, validationFraction: 0.25, testFraction: 0.25, image });
    return loadDatasets(cfg, 3, 2, { teacherImage });
  };
  const a = await load({ format: 'images', path: join(dir, 'list.csv') });
  const b = await load({ format: 'images', path: join(dir, 'list.jsonl'), file: 'path', label: 'y' });
  const all = (d: Awaited<ReturnType<typeof load>>) => [d.train, d.validation, d.test].flatMap((s) => s.ids!.map((id, k) => [id, s.labels![k], readAll(s.x).subarray(k * 784, (k + 1) * 784)] as const)).sort((p, q) => (p[0] < q[0] ? -1 : 1));
  assert.deepEqual(a.train.featureShape, [28, 28, 1], 'grayscale PNGs give one channel when data.image.channels is unset');
  assert.equal(a.train.teacher!.x, a.train.x, 'one channel at the same size: the teacher reads the student\'s rows');
  assert.deepEqual(all(a), all(b));
  for (const [id, label, row] of all(a)) {
    const i = Number(/(\d+)\.png/.exec(id)![1]);
    assert.equal(label, i % 2);
    near(row, Array.from(pixels.subarray(i * 784, (i + 1) * 784), (v) => v / 255));
  }
  closeDatasets(a);
  closeDatasets(b);

  // An unlabeled folder resized to 14 x 14, RGB, with per-channel mean/std; the teacher's rows at 28 x 28, grayscale.
  const c = await streamImages({ format: 'images', path: join(dir, 'img') }, '/', ImageSettingsSchema.parse({ size: [14, 14], channels: 3, mean: [0.5, 0.4, 0.3], std: [0.2, 0.2, 0.2] }), rowWriter(null), { settings: { size: [28, 28], channels: 1, mean: [0], std: [1] }, writer: () => rowWriter(null) });
  assert.equal(c.labels, null);
  assert.deepEqual(c.featureShape, [14, 14, 3]);
  assert.deepEqual(c.teacher!.featureShape, [1, 28, 28]);
  assert.deepEqual(c.ids.slice(0, 3), ['0.png', '1.png', '10.png'], 'names sorted');
  const resized = await sharp(Buffer.from(pixels.subarray(0, 784)), { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('srgb').resize(14, 14, { fit: 'fill' }).raw().toBuffer();
  near(readAll(c.features).subarray(0, 588), Array.from(resized, (v, k) => (v / 255 - [0.5, 0.4, 0.3][k % 3]!) / 0.2), 1e-6);
  near(readAll(c.teacher!.features).subarray(0, 784), Array.from(pixels.subarray(0, 784), (v) => v / 255));
});

test('an image-folder run end to end: RGB PNG class folders, grayscale NCHW teacher, dscnn student; all formats agree, and each bundle\'s image-preprocess.js on RGBA test images equals the training input', { timeout: 240_000 }, async () => {
  const dir = fresh();
  await writeImageFolders(join(dir, 'images'), { train: 600, test: 300 });
  const config = {
    data: { train: { format: 'images', path: 'images/train' }, test: { format: 'images', path: 'images/test' }, classNames: [...CLASS_NAMES], image: { channels: 3 } },
    teacher: { model: TEACHER, image: { channels: 1 } },
    student: { arch: 'dscnn', stem: 8, blocks: [{ filters: 16, stride: 2 }, { filters: 32, stride: 2 }] },
    methods: [{ name: 'kd' }],
  };
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(config));
  const r = runCli(['run', '--config', 'pipeline.json', '--out', 'out', '--steps', '150', '--runs', '1', '--warmup', '0'], dir);
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const report = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8'));
  const artifacts = report.artifacts as { name: string; format: string; deploy: string; accuracy: number; parity: { maxAbsDiff: number }[] }[];
  assert.deepEqual(artifacts.map((a) => a.format).sort(), ['onnx', 'tfjs-graph', 'tfjs-layers']);
  for (const a of artifacts) {
    assert.ok(a.accuracy > 0.85, `${a.name}: test accuracy ${a.accuracy} after 150 steps`);
    for (const p of a.parity) assert.ok(p.maxAbsDiff <= 1e-4, `${a.name}: parity ${p.maxAbsDiff}`);
  }

  // The training input of every test image, as the run loaded it.
  const cfg = DataSchema.parse({ ...config.data, train: { format: 'images', path: join(dir, 'images/train') }, test: { format: 'images', path: join(dir, 'images/test') } });
  const d = await loadDatasets(cfg, 1, 2, { teacherImage: { channels: 1 } });
  const rows = readAll(d.test.x);
  try {
    for (const a of artifacts) {
      const deploy = JSON.parse(readFileSync(join(dir, 'out', a.deploy), 'utf8'));
      const shipped = join(dir, 'out', a.deploy, '..', deploy.imagePreprocess.file);
      const { preprocessImage: bundled } = (await import(pathToFileURL(shipped).href)) as typeof import('../pipeline/data/image-preprocess.js');
      const { spec: s } = deploy.imagePreprocess as { spec: ImagePreprocessSpec };
      assert.deepEqual([s.height, s.width, s.channels, s.layout], [28, 28, 3, 'nhwc']);
      for (let k = 0; k < d.test.n; k++) {
        // What an app gets from a canvas: the file decoded to RGBA at the model's size.
        const rgba = await sharp(join(dir, 'images/test', d.test.ids![k]!)).resize(s.width, s.height, { fit: s.resize }).ensureAlpha().raw().toBuffer();
        const row = bundled(rgba, s);
        const want = rows.subarray(k * row.length, (k + 1) * row.length);
        assert.deepEqual(row, want, `${a.name}: ${d.test.ids![k]} differs from its training input`);
      }
    }
  } finally {
    closeDatasets(d);
  }
});
