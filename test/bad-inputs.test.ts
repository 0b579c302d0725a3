// The bad-input matrix, end to end: each malformed teacher, student or data file, built from the bundled
// Fashion-MNIST example (real images, labels and PyTorch teacher) or the UCI sentiment sentences, goes through the
// real CLI as a child process and must fail with its stable code, name the bad value, exit 1 (2 for usage errors)
// and leave no artifact in --out. Cases cli-errors.test.ts covers (missing files, unknown options...) are not repeated.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { writeImageFolders, CLASS_NAMES } from '../examples/fmnist-images/make-images.ts';
import pkg from 'onnx-proto';
import { loadSentiment } from '../pipeline/text/corpora.ts';
import { SHARED_TEACHER_CACHE } from './helpers.ts';
import {
  assertFails, readExampleTrain, runCli, tempFolders, writeJson, writeNpy, writeRealSubset as writeIdxSubset, EXIT_ERROR, EXIT_USAGE, FAST, LABEL_MAP, ROWS, TEACHER,
} from './cli-contract.ts';

const { onnx } = pkg;

/** Rows in the CSV files: enough for the default validation and test fractions. */
const CSV_ROWS = 200;

describe('edge-distill CLI on bad inputs (real child process, real example data)', () => {
  let images: Uint8Array; // the example's training images, [5000, 28, 28]
  let labels: Uint8Array; // their raw Fashion-MNIST labels 0..9
  const { fresh, cleanup } = tempFolders('edge-distill-bad-inputs-');

  /** The first ROWS real images and labels as IDX files in dir. */
  const writeRealSubset = (dir: string, mapLabel?: (raw: number) => number) => writeIdxSubset(dir, { images, labels }, mapLabel);

  /** A config on real IDX data with the given teacher model; `data` overrides the train source. */
  const idxConfig = (dir: string, teacher: string, extra: Record<string, unknown> = {}) =>
    writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'idx', ...writeRealSubset(dir) }, labelMap: LABEL_MAP, preprocess: { scale: 1 / 255 } },
      teacher: { model: teacher },
      ...extra,
    });

  /** Real pixel rows as CSV lines: `label,p0,...,p783`, the label mapped to the teacher's 2 classes. */
  const csvRows = (n: number): string[] =>
    Array.from({ length: n }, (_, r) => [labels[r]! % 2, ...images.subarray(r * 784, (r + 1) * 784)].join(','));
  const csvHeader = ['label', ...Array.from({ length: 784 }, (_, i) => `p${i}`)].join(',');

  const csvConfig = (dir: string, csv: string, extra: Record<string, unknown> = {}) =>
    writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'csv', path: csv, label: 'label' }, preprocess: { scale: 1 / 255 }, ...extra },
      teacher: { model: TEACHER },
    });

  before(async () => {
    ({ images, labels } = await readExampleTrain());
  });
  after(cleanup);

  // ---------- 1-2. the teacher ONNX file ----------

  test('1a. the first half of the real teacher.onnx -> E_MODEL_FORMAT naming the file', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const bytes = readFileSync(TEACHER);
    const half = join(dir, 'truncated.onnx');
    writeFileSync(half, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = runCli(['run', '--config', idxConfig(dir, half), '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [half], out });
  });

  test('1b. a text file named teacher.onnx -> E_MODEL_FORMAT naming the file', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const text = join(dir, 'teacher.onnx');
    writeFileSync(text, 'this is not a model\nbut a README someone renamed\n');
    const r = runCli(['run', '--config', idxConfig(dir, text), '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [text], out });
  });

  /** The real teacher with graph.input[0]'s dims replaced (a symbolic dim stays symbolic). */
  const teacherWithInputDims = (dir: string, dims: number[]): string => {
    const model = onnx.ModelProto.decode(readFileSync(TEACHER));
    const dim = model.graph!.input![0]!.type!.tensorType!.shape!.dim!;
    assert.equal(dim.length, 4, 'the teacher input is [batch, 1, 28, 28]');
    dims.forEach((d, i) => {
      dim[i + 1] = onnx.TensorShapeProto.Dimension.create({ dimValue: d });
    });
    const path = join(dir, 'teacher-edited.onnx');
    writeFileSync(path, onnx.ModelProto.encode(model).finish());
    return path;
  };

  test('2a. teacher input declared [batch, 1, 1000000, 1000000] -> a coded error naming the shape, no huge allocation', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const teacher = teacherWithInputDims(dir, [1, 1_000_000, 1_000_000]);
    const r = runCli(['run', '--config', idxConfig(dir, teacher), '--out', out, ...FAST], dir);
    const code = /E_[A-Z_]+/.exec(r.stderr.split('\n').filter(Boolean).at(-1) ?? '')?.[0];
    assert.ok(code === 'E_SHAPE_MISMATCH' || code === 'E_MODEL_FORMAT', `code ${code}\n${r.stderr.slice(-2000)}`);
    assertFails(t, r, { code: code!, status: EXIT_ERROR, names: [/1000000/], out });
  });

  test('2b. teacher input declared [batch, 1, -28, 28] -> E_SHAPE_MISMATCH naming both shapes', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const teacher = teacherWithInputDims(dir, [1, -28, 28]);
    const r = runCli(['run', '--config', idxConfig(dir, teacher), '--out', out, ...FAST], dir);
    // onnxruntime reports a negative declared dim as unknown, so the message shows it as "?".
    assertFails(t, r, { code: 'E_SHAPE_MISMATCH', status: EXIT_ERROR, names: [/\[28, ?28\]/, /\[1, ?\?, ?28\]/, '"image"'], out });
  });

  // ---------- 3. a student TF.js model.json ----------

  describe('3. an exported student model.json, edited', () => {
    let exported: string; // <dir>/artifacts/label/tfjs-layers, holding model.json and its weights
    before(() => {
      const dir = fresh();
      const d = runCli(['distill', '--steps', '20', '--methods', 'label', '--out', dir, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet'], dir);
      assert.equal(d.status, 0, d.stderr.slice(-2000));
      const e = runCli(['export', '--student', join(dir, 'students', 'label'), '--out', dir, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet'], dir);
      assert.equal(e.status, 0, e.stderr.slice(-2000));
      exported = join(dir, 'artifacts', 'label', 'tfjs-layers');
    });

    /** A copy of the exported folder with model.json edited (and weights optionally replaced); returns its model.json. */
    const edited = (dir: string, edit: (doc: any) => void, weights?: (bytes: Buffer) => Buffer): string => {
      const folder = join(dir, 'student');
      mkdirSync(folder);
      for (const f of readdirSync(exported)) copyFileSync(join(exported, f), join(folder, f));
      const doc = JSON.parse(readFileSync(join(exported, 'model.json'), 'utf8'));
      edit(doc);
      writeJson(join(folder, 'model.json'), doc);
      if (weights) {
        const path = join(folder, doc.weightsManifest[0].paths[0]);
        writeFileSync(path, weights(readFileSync(path)));
      }
      return join(folder, 'model.json');
    };
    const prune = (dir: string, student: string) =>
      runCli(['prune', '--student', student, '--structured', '0.5', '--fine-tune-steps', '1', '--out', join(dir, 'out'), '--cache-dir', SHARED_TEACHER_CACHE, '--steps', '1'], dir);

    test('3a. a weight path "../weights.bin" that leaves the folder -> E_MODEL_FORMAT naming the path', (t) => {
      const dir = fresh();
      const student = edited(dir, (doc) => { doc.weightsManifest[0].paths = ['../weights.bin']; });
      copyFileSync(join(exported, readdirSync(exported).find((f) => f.endsWith('.bin'))!), join(dir, 'weights.bin'));
      const r = prune(dir, student);
      assertFails(t, r, { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [student, '../weights.bin'], out: join(dir, 'out') });
    });

    test('3b. a weights file 8 bytes shorter than the manifest says -> E_MODEL_FORMAT naming model.json and both byte counts', (t) => {
      const dir = fresh();
      const student = edited(dir, () => {}, (b) => b.subarray(0, b.length - 8));
      const r = prune(dir, student);
      assertFails(t, r, { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [student, /hold \d+ bytes but its weightsManifest describes \d+/], out: join(dir, 'out') });
    });

    test('3c. a weight of dtype "float128" -> E_MODEL_FORMAT naming the dtype', (t) => {
      const dir = fresh();
      const student = edited(dir, (doc) => { doc.weightsManifest[0].weights[0].dtype = 'float128'; });
      const r = prune(dir, student);
      assertFails(t, r, { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [student, /\bfloat128\b/], out: join(dir, 'out') });
    });
  });

  // ---------- 4. non-finite data ----------

  test('4a. NPY float32 features with a NaN in row 3 -> E_DATA_FORMAT naming row 3', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const x = Float32Array.from(images.subarray(0, ROWS * 784));
    x[3 * 784 + 400] = NaN;
    const features = writeNpy(join(dir, 'train-x.npy'), '<f4', [ROWS, 28, 28], x);
    const lab = writeNpy(join(dir, 'train-y.npy'), '<i8', [ROWS], BigInt64Array.from(labels.subarray(0, ROWS), (v) => BigInt(v)));
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'npy', features, labels: lab }, labelMap: LABEL_MAP, preprocess: { scale: 1 / 255 } },
      teacher: { model: TEACHER },
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_DATA_FORMAT', status: EXIT_ERROR, names: [/\brow 3\b/, /NaN/], out });
  });

  test('4b. a CSV cell "inf" -> E_DATA_FORMAT naming the line and the value', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const rows = csvRows(CSV_ROWS);
    const cells = rows[5]!.split(',');
    cells[100] = 'inf';
    rows[5] = cells.join(',');
    const csv = join(dir, 'train.csv');
    writeFileSync(csv, [csvHeader, ...rows].join('\n') + '\n');
    const r = runCli(['run', '--config', csvConfig(dir, csv), '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_DATA_FORMAT', status: EXIT_ERROR, names: [csv, /\bline 7\b/, /inf/i], out });
  });

  // ---------- 5. non-finite precomputed teacher outputs ----------

  test('5. precomputed teacher outputs with a NaN logit (as Python\'s json.dumps writes it) -> E_DATA_FORMAT naming the id', async (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const corpus = await loadSentiment({ sets: ['yelp'] });
    const n = 200;
    writeFileSync(join(dir, 'texts.jsonl'), corpus.texts.slice(0, n).map((text, i) => JSON.stringify({ id: corpus.ids[i], text, label: corpus.labels[i] })).join('\n') + '\n');
    const bad = 42;
    const lines = Array.from({ length: n }, (_, i) => {
      const z = corpus.labels[i] === 1 ? 2 : -2;
      return i === bad ? `{"id": ${JSON.stringify(corpus.ids[i])}, "logits": [NaN, ${z}]}` : JSON.stringify({ id: corpus.ids[i], logits: [-z, z] });
    });
    writeFileSync(join(dir, 'teacher.jsonl'), lines.join('\n') + '\n');
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'text-jsonl', path: 'texts.jsonl' }, classNames: ['negative', 'positive'], featurizer: { buckets: 256, wordNgrams: [1, 1] } },
      teacher: { precomputed: { format: 'jsonl', path: 'teacher.jsonl' } },
      student: { arch: 'mlp', hidden: [8] },
      methods: [{ name: 'kd' }],
    });
    const r = runCli(['distill', '--config', cfg, '--out', out, '--steps', '1'], dir);
    assertFails(t, r, { code: 'E_DATA_FORMAT', status: EXIT_ERROR, names: [JSON.stringify(corpus.ids[bad]), /NaN/], out });
  });

  // ---------- 6. one class only ----------

  test('6. every label mapped to class 0 -> E_DATA_FORMAT: the train split has only class 0, the teacher has 2', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'idx', ...writeRealSubset(dir) }, labelMap: LABEL_MAP.map(() => 0), preprocess: { scale: 1 / 255 } },
      teacher: { model: TEACHER },
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_DATA_FORMAT', status: EXIT_ERROR, names: [/\btrain\b/, /only class 0\b/, /\b2 classes\b/], out });
  });

  // ---------- 7. CSV ----------

  test('7a. CSV with a BOM, CRLF line ends and quoted cells holding commas is read (a success)', () => {
    const dir = fresh();
    const out = join(dir, 'out');
    // The extra "note" column holds a quoted comma and is not a feature; real pixel columns are.
    const rows = csvRows(CSV_ROWS).map((row, i) => `"row ${i}, real pixels",${row}`);
    const csv = join(dir, 'train.csv');
    writeFileSync(csv, '\uFEFF' + [`note,${csvHeader}`, ...rows].join('\r\n') + '\r\n');
    const features = Array.from({ length: 784 }, (_, i) => `p${i}`);
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'csv', path: csv, label: 'label', features }, preprocess: { scale: 1 / 255 } },
      teacher: { model: TEACHER },
      methods: [{ name: 'label' }],
    });
    const r = runCli(['distill', '--config', cfg, '--out', out, '--steps', '1', '--cache-dir', join(dir, 'cache'), '--quiet'], dir);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(report.task.features, 784);
    assert.equal(report.task.train + report.task.validation + report.task.test, CSV_ROWS);
  });

  test('7b. a ragged CSV row -> E_DATA_FORMAT naming the line', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const rows = csvRows(CSV_ROWS);
    rows[9] = rows[9]!.split(',').slice(0, 500).join(',');
    const csv = join(dir, 'train.csv');
    writeFileSync(csv, [csvHeader, ...rows].join('\n') + '\n');
    const r = runCli(['run', '--config', csvConfig(dir, csv), '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_DATA_FORMAT', status: EXIT_ERROR, names: [csv, /\bline 11\b/, /\b500 cells\b/, /\b785\b/], out });
  });

  test('7c. string labels without data.classNames -> E_LABEL_RANGE naming the label', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const names = ['top', 'bottom'];
    const rows = csvRows(CSV_ROWS).map((row) => { const [l, ...px] = row.split(','); return [names[Number(l)], ...px].join(','); });
    const csv = join(dir, 'train.csv');
    writeFileSync(csv, [csvHeader, ...rows].join('\n') + '\n');
    const r = runCli(['run', '--config', csvConfig(dir, csv), '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_LABEL_RANGE', status: EXIT_ERROR, names: [/"(top|bottom)"/, 'classNames'], out });
  });

  // ---------- 8. IDX ----------

  test('8a. IDX images with a wrong magic number -> E_DATA_FORMAT naming the file and the magic', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const data = writeRealSubset(dir);
    const bytes = readFileSync(data.features);
    bytes[0] = 0x50; bytes[1] = 0x4b; // 'PK', a zip
    writeFileSync(data.features, bytes);
    const cfg = writeJson(join(dir, 'pipeline.json'), { data: { train: { format: 'idx', ...data }, labelMap: LABEL_MAP }, teacher: { model: TEACHER } });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_DATA_FORMAT', status: EXIT_ERROR, names: [data.features, /0x50 0x4b/], out });
  });

  test('8b. an IDX header count that disagrees with the file length -> E_DATA_FORMAT naming both', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const data = writeRealSubset(dir);
    const bytes = readFileSync(data.labels);
    bytes.writeUInt32BE(ROWS + 100, 4); // claims 700 labels, holds 600
    writeFileSync(data.labels, bytes);
    const cfg = writeJson(join(dir, 'pipeline.json'), { data: { train: { format: 'idx', ...data }, labelMap: LABEL_MAP }, teacher: { model: TEACHER } });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_DATA_FORMAT', status: EXIT_ERROR, names: [data.labels, `[${ROWS + 100}]`, String(ROWS + 8)], out });
  });

  // ---------- 9. NPY ----------

  const npyConfig = (dir: string, features: string) =>
    writeJson(join(dir, 'pipeline.json'), {
      data: {
        train: { format: 'npy', features, labels: writeNpy(join(dir, 'train-y.npy'), '<i8', [ROWS], BigInt64Array.from(labels.subarray(0, ROWS), (v) => BigInt(v))) },
        labelMap: LABEL_MAP,
      },
      teacher: { model: TEACHER },
    });

  test('9a. NPY features of dtype <c8 (complex64) -> E_DATA_FORMAT naming the dtype and the supported ones', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const re = Float32Array.from(images.subarray(0, ROWS * 784));
    const c = new Float32Array(2 * re.length);
    re.forEach((v, i) => { c[2 * i] = v; });
    const features = writeNpy(join(dir, 'train-x.npy'), '<c8', [ROWS, 28, 28], new Uint8Array(c.buffer));
    const r = runCli(['run', '--config', npyConfig(dir, features), '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_DATA_FORMAT', status: EXIT_ERROR, names: [features, '"<c8"', '<f4'], out });
  });

  test('9b. NPY features with fortran_order True -> E_DATA_FORMAT (column-major is refused, not silently transposed)', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const x = Float32Array.from(images.subarray(0, ROWS * 784));
    const features = writeNpy(join(dir, 'train-x.npy'), '<f4', [ROWS, 28, 28], x, true);
    const r = runCli(['run', '--config', npyConfig(dir, features), '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_DATA_FORMAT', status: EXIT_ERROR, names: [features, 'fortran_order'], out });
  });
});


// ---------- 10. image files ----------

describe('edge-distill CLI on bad image files (real Fashion-MNIST images as PNG class folders)', () => {
  const { fresh, cleanup } = tempFolders('edge-distill-bad-images-');
  after(cleanup);

  /** Real RGB PNG class folders (60 train, 40 test images) and a config on them; returns the paths. */
  const imageRun = async (data: Record<string, unknown> = {}) => {
    const dir = fresh();
    await writeImageFolders(join(dir, 'images'), { train: 60, test: 40 });
    const train = join(dir, 'images', 'train');
    const config = (extra: Record<string, unknown> = {}) =>
      writeJson(join(dir, 'pipeline.json'), {
        data: { train: { format: 'images', path: train }, test: { format: 'images', path: join(dir, 'images', 'test') }, classNames: [...CLASS_NAMES], ...data, ...extra },
        teacher: { model: TEACHER },
      });
    return { dir, out: join(dir, 'out'), train, classDir: join(train, CLASS_NAMES[0]), config };
  };
  const firstPng = (dir: string) => readFileSync(join(dir, readdirSync(dir).sort()[0]!));
  const run = (dir: string, cfg: string, out: string) => runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);

  test('10a. a truncated PNG in a class folder -> E_IMAGE naming the file', async (t) => {
    const r = await imageRun();
    const bad = join(r.classDir, 'zz-truncated.png');
    const png = firstPng(r.classDir);
    writeFileSync(bad, png.subarray(0, Math.floor(png.length / 2)));
    assertFails(t, run(r.dir, r.config(), r.out), { code: 'E_IMAGE', status: EXIT_ERROR, names: [bad, 'cannot be decoded'], out: r.out });
  });

  test('10b. a corrupt JPEG (its Huffman tables overwritten) -> E_IMAGE naming the file', async (t) => {
    const r = await imageRun();
    const jpeg = await sharp(firstPng(r.classDir)).jpeg().toBuffer();
    const bad = join(r.classDir, 'zz-corrupt.jpg');
    writeFileSync(bad, Buffer.concat([jpeg.subarray(0, 200), Buffer.alloc(100, 0xff), jpeg.subarray(300)]));
    assertFails(t, run(r.dir, r.config(), r.out), { code: 'E_IMAGE', status: EXIT_ERROR, names: [bad, 'cannot be decoded'], out: r.out });
  });

  test('10c. a text file in a class folder -> E_IMAGE naming the file', async (t) => {
    const r = await imageRun();
    const bad = join(r.classDir, 'notes.txt');
    writeFileSync(bad, 'photos taken on 3 May\n');
    assertFails(t, run(r.dir, r.config(), r.out), { code: 'E_IMAGE', status: EXIT_ERROR, names: [bad, 'is not an image'], out: r.out });
  });

  test('10d. an SVG saved as .png (a format sharp reads but we do not take) -> E_IMAGE naming the file and the format', async (t) => {
    const r = await imageRun();
    const bad = join(r.classDir, 'zz-drawing.png');
    writeFileSync(bad, '<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><rect width="28" height="28"/></svg>');
    assertFails(t, run(r.dir, r.config(), r.out), { code: 'E_IMAGE', status: EXIT_ERROR, names: [bad, 'svg', 'not a supported image format'], out: r.out });
  });

  test('10e. a decompression bomb (a real PNG whose header claims 40000 x 40000 pixels) -> E_IMAGE naming the file and data.image.maxPixels', async (t) => {
    const r = await imageRun();
    const bomb = Buffer.from(firstPng(r.classDir));
    bomb.writeUInt32BE(40000, 16);
    bomb.writeUInt32BE(40000, 20);
    bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)) >>> 0, 29); // a valid IHDR: only the pixel cap can refuse it
    const bad = join(r.classDir, 'zz-bomb.png');
    writeFileSync(bad, bomb);
    assertFails(t, run(r.dir, r.config(), r.out), { code: 'E_IMAGE', status: EXIT_ERROR, names: [bad, 'data.image.maxPixels'], out: r.out });
  });

  test('10f. an empty class folder -> E_DATA_EMPTY naming the folder', async (t) => {
    const r = await imageRun();
    const empty = join(r.train, 'zz-unsorted');
    mkdirSync(empty);
    assertFails(t, run(r.dir, r.config(), r.out), { code: 'E_DATA_EMPTY', status: EXIT_ERROR, names: [empty], out: r.out });
  });

  test('10g. a CSV listing that names a missing file -> E_FILE_NOT_FOUND naming the file and the row', async (t) => {
    const r = await imageRun();
    const files = readdirSync(r.classDir).sort().slice(0, 20);
    const listing = join(r.train, 'list.csv');
    writeFileSync(listing, ['file,label', ...files.map((f) => `${CLASS_NAMES[0]}/${f},${CLASS_NAMES[0]}`), `${CLASS_NAMES[0]}/missing.png,${CLASS_NAMES[0]}`].join('\n'));
    const cfg = r.config({ train: { format: 'images', path: listing } });
    assertFails(t, run(r.dir, cfg, r.out), { code: 'E_FILE_NOT_FOUND', status: EXIT_ERROR, names: [join(r.classDir, 'missing.png'), `${listing} row 22`], out: r.out });
  });

  test('10h. a JSON Lines listing that escapes its folder with ../ -> E_DATA_FORMAT naming the path', async (t) => {
    const r = await imageRun();
    const listing = join(r.train, 'list.jsonl');
    writeFileSync(listing, [`{"file": "${CLASS_NAMES[0]}/${readdirSync(r.classDir).sort()[0]}", "label": "${CLASS_NAMES[0]}"}`, '{"file": "../test/secret.png", "label": "top-or-bag"}'].join('\n'));
    const cfg = r.config({ train: { format: 'images', path: listing } });
    assertFails(t, run(r.dir, cfg, r.out), { code: 'E_DATA_FORMAT', status: EXIT_ERROR, names: ['"../test/secret.png"', 'outside the listing\'s folder', `${listing} line 2`], out: r.out });
  });

  test('10i. one grayscale PNG among RGB ones with data.image.channels unset -> E_SHAPE_MISMATCH naming it and data.image.channels', async (t) => {
    const r = await imageRun();
    const bad = join(r.classDir, 'zz-gray.png');
    await sharp(firstPng(r.classDir)).toColourspace('b-w').png().toFile(bad);
    assertFails(t, run(r.dir, r.config(), r.out), { code: 'E_SHAPE_MISMATCH', status: EXIT_ERROR, names: [bad, 'data.image.channels'], out: r.out });
  });

  test('10j. one 56 x 56 image among 28 x 28 ones with data.image.size unset -> E_SHAPE_MISMATCH naming it and data.image.size', async (t) => {
    const r = await imageRun();
    const bad = join(r.classDir, 'zz-large.png');
    await sharp(firstPng(r.classDir)).resize(56, 56).png().toFile(bad);
    assertFails(t, run(r.dir, r.config(), r.out), { code: 'E_SHAPE_MISMATCH', status: EXIT_ERROR, names: [bad, '56x56', 'data.image.size'], out: r.out });
  });
});

describe('edge-distill inspect on bad TFLite files (a real exported student)', () => {
  const { fresh, cleanup } = tempFolders('edge-distill-bad-tflite-');
  after(cleanup);
  const student = async () => {
    const { exportTflite } = await import('../exporters/tflite.ts');
    const { testSpecs } = await import('./specs.ts');
    return exportTflite(testSpecs().cnn);
  };

  test('11a. the first half of an exported .tflite -> E_MODEL_FORMAT naming the file', async (t) => {
    const dir = fresh();
    const bytes = await student();
    const half = join(dir, 'truncated.tflite');
    writeFileSync(half, bytes.subarray(0, Math.floor(bytes.length / 2)));
    assertFails(t, runCli(['inspect', half], dir), { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [half, 'outside the'] });
  });

  test('11b. the ONNX teacher renamed model.tflite -> E_MODEL_FORMAT naming the file and the missing TFL3 identifier', (t) => {
    const dir = fresh();
    const renamed = join(dir, 'model.tflite');
    copyFileSync(TEACHER, renamed);
    assertFails(t, runCli(['inspect', renamed], dir), { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [renamed, 'TFL3'] });
  });

  test('11c. an operator that names a tensor past the end (a vector entry overwritten) -> E_MODEL_FORMAT naming the operator', async (t) => {
    const dir = fresh();
    const { readTflite } = await import('../exporters/tflite-read.ts');
    const bytes = Buffer.from(await student());
    const m = readTflite(bytes);
    // The first operator's first input index sits in the file as an int32 equal to that index: find the operator's
    // inputs vector by its values (the image reshape reads [input, shape]) and point its first entry at tensor 999.
    const first = m.operators[0]!.inputs;
    let at = -1;
    for (let p = 0; p + 12 <= bytes.length; p += 4) if (bytes.readUInt32LE(p) === first.length && bytes.readInt32LE(p + 4) === first[0] && bytes.readInt32LE(p + 8) === first[1]) at = p + 4;
    assert.ok(at > 0, 'found the inputs vector');
    bytes.writeInt32LE(999, at);
    const bad = join(dir, 'bad-index.tflite');
    writeFileSync(bad, bytes);
    assertFails(t, runCli(['inspect', bad], dir), { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [bad, 'tensor 999'] });
  });
});

describe('edge-distill quantize MODEL.onnx on bad models and data (the real PyTorch teacher)', () => {
  const { fresh, cleanup } = tempFolders('edge-distill-bad-quantize-');
  after(cleanup);
  const noArtifact = (out: string) => assert.deepEqual(readdirSync(out).filter((f) => !f.startsWith('.')), [], 'nothing written to --out');

  test('12a. a folder where the model file should be -> E_MODEL_FORMAT naming the folder', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    mkdirSync(out);
    assertFails(t, runCli(['quantize', dir, '--out', out, '--quiet'], dir), { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [dir, 'a folder'] });
    noArtifact(out);
  });

  test('12b. the first half of the teacher -> E_MODEL_FORMAT naming the file', (t) => {
    const dir = fresh();
    const half = join(dir, 'half.onnx');
    const bytes = readFileSync(TEACHER);
    writeFileSync(half, bytes.subarray(0, bytes.length >> 1));
    assertFails(t, runCli(['quantize', half, '--out', join(dir, 'out'), '--quiet'], dir), { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [half] });
  });

  test('12c. data with 5 features for a model that takes 784 -> E_SHAPE_MISMATCH naming both', (t) => {
    const dir = fresh();
    const csv = join(dir, 'five.csv');
    writeFileSync(csv, ['label,a,b,c,d,e', ...Array.from({ length: 200 }, (_, i) => `${i % 2},1,2,3,4,5`)].join('\n') + '\n');
    writeJson(join(dir, 'pipeline.json'), { data: { train: { format: 'csv', path: csv, label: 'label' } }, teacher: { model: TEACHER } });
    const out = join(dir, 'out');
    assertFails(t, runCli(['quantize', TEACHER, '--config', join(dir, 'pipeline.json'), '--class-output', 'logits', '--out', out, '--quiet'], dir), { code: 'E_SHAPE_MISMATCH', status: EXIT_ERROR, names: ['784', '5 features'] });
  });

  test('12f. --calibration rows with 5 features for a model that takes 784 -> E_SHAPE_MISMATCH naming compress.calibration', (t) => {
    const dir = fresh();
    const csv = join(dir, 'five.csv');
    writeFileSync(csv, ['a,b,c,d,e', ...Array.from({ length: 50 }, () => '1,2,3,4,5')].join('\n') + '\n');
    const out = join(dir, 'out');
    assertFails(t, runCli(['quantize', TEACHER, '--class-output', 'logits', '--calibration', csv, '--out', out, '--quiet'], dir), { code: 'E_SHAPE_MISMATCH', status: EXIT_ERROR, names: ['compress.calibration', '5 features'] });
  });

  test('12g. --calibration naming no file -> E_FILE_NOT_FOUND naming it', (t) => {
    const dir = fresh();
    assertFails(t, runCli(['quantize', TEACHER, '--calibration', join(dir, 'nope.npy'), '--out', join(dir, 'out'), '--quiet'], dir), { code: 'E_FILE_NOT_FOUND', status: EXIT_ERROR, names: [join(dir, 'nope.npy')] });
  });

  test('12d. --class-output naming no output -> E_CONFIG listing the outputs', (t) => {
    const dir = fresh();
    assertFails(t, runCli(['quantize', TEACHER, '--class-output', 'scores', '--out', join(dir, 'out'), '--quiet'], dir), { code: 'E_CONFIG', status: EXIT_USAGE, names: ['"scores"', 'logits, embedding'] });
  });

  test('12e. a model file and --student together -> E_CONFIG', (t) => {
    const dir = fresh();
    assertFails(t, runCli(['quantize', TEACHER, '--student', dir, '--out', join(dir, 'out'), '--quiet'], dir), { code: 'E_CONFIG', status: EXIT_USAGE, names: ['not both'] });
  });
});

describe('a folder where a file is expected, for every path a user gives (teacher, config, data, student, models)', () => {
  const { fresh, cleanup } = tempFolders('edge-distill-bad-folders-');
  after(cleanup);
  const cases: [name: string, args: (dir: string) => string[], code: string, status: number, names: string[]][] = [
    ['13a. --teacher', (dir) => ['distill', '--teacher', dir, '--steps', '1'], 'E_MODEL_FORMAT', EXIT_ERROR, ['a folder, not a file']],
    ['13b. --config', (dir) => ['distill', '--config', dir, '--steps', '1'], 'E_CONFIG', EXIT_USAGE, ['a folder, not a file']],
    ['13c. data.train.features', (dir) => ['distill', '--config', writeJson(join(dir, 'pipeline.json'), { data: { train: { format: 'idx', features: dir } }, teacher: { model: TEACHER } }), '--steps', '1'], 'E_FILE_NOT_FOUND', EXIT_ERROR, ['is a folder, not a file']],
    ['13d. --student', (dir) => ['export', '--student', dir], 'E_MODEL_FORMAT', EXIT_ERROR, ['neither student.json nor model.json']],
    ['13e. bench MODEL', (dir) => ['bench', dir, '--runs', '1'], 'E_FILE_NOT_FOUND', EXIT_ERROR, ['has no model.json']],
  ];
  for (const [name, args, code, status, names] of cases) {
    test(`${name}: a folder -> ${code} naming it, nothing written`, (t) => {
      const dir = fresh();
      const out = join(dir, 'out');
      assertFails(t, runCli([...args(dir), '--out', out, '--quiet'], dir), { code, status, names: [dir, ...names] });
      assert.ok(!readdirSync(dir).includes('out') || readdirSync(out).every((f) => f.startsWith('.')), 'nothing in --out');
    });
  }
});
