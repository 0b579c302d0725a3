// The CLI's error contract, end to end: the real bin/edge-distill.mjs runs as a child process on bad inputs built
// from the bundled Fashion-MNIST example (real IDX images and labels, the real PyTorch teacher). Every case must
// exit non-zero (2 for usage errors, 1 otherwise), end stderr with ONE `edge-distill: E_CODE: message. hint` line
// naming the bad value, print no report on stdout, and leave no artifact in --out (at most the teacher .cache).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertFails, assertNoArtifacts, readExampleTrain, runCli, tempFolders, writeIdx, writeRealSubset as writeIdxSubset, writeJson, writeNpy, type CliResult, type Expect, EXIT_ERROR, EXIT_USAGE, FAST, LABEL_MAP, ONLY_ISSUE, ROWS, TEACHER, TRAIN_IMAGES, TRAIN_LABELS,
} from './cli-contract.ts';

describe('edge-distill CLI errors (real child process, real example data)', () => {
  let images: Uint8Array; // the example's training images, [5000, 28, 28]
  let labels: Uint8Array; // their raw Fashion-MNIST labels 0..9
  const { fresh, cleanup } = tempFolders('edge-distill-cli-errors-');

  /** The first ROWS real images (IDX, [ROWS, 28, 28]) and labels (IDX, [ROWS]) in dir; labels optionally rewritten. */
  const writeRealSubset = (dir: string, mapLabel?: (raw: number, row: number) => number) => writeIdxSubset(dir, { images, labels }, mapLabel);

  before(async () => {
    ({ images, labels } = await readExampleTrain());
    // The raw labels really go up to 9: the 2-class teacher needs the labelMap.
    assert.equal(Math.max(...labels), 9);
  });
  after(cleanup);

  // ---------- 1. missing files ----------

  test('1a. data.train.features that does not exist -> E_FILE_NOT_FOUND naming the path', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const missing = join(dir, 'no-such-dir', 'train-images-idx3-ubyte.gz');
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'idx', features: missing, labels: TRAIN_LABELS }, labelMap: LABEL_MAP },
      teacher: { model: TEACHER },
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_FILE_NOT_FOUND', status: EXIT_ERROR, names: [missing], out });
  });

  test('1b. a relative missing path resolves against the config folder, not the working directory', (t) => {
    const dir = fresh();
    const cwd = fresh(); // run from elsewhere
    const out = join(dir, 'out');
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'idx', features: 'data/missing-images.idx', labels: TRAIN_LABELS }, labelMap: LABEL_MAP },
      teacher: { model: TEACHER },
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], cwd);
    const line = assertFails(t, r, { code: 'E_FILE_NOT_FOUND', status: EXIT_ERROR, names: [join(dir, 'data', 'missing-images.idx')], out });
    assert.ok(!line.includes(join(cwd, 'data')), 'not resolved against the working directory');
    assert.deepEqual(readdirSync(cwd), [], 'nothing written to the working directory');
  });

  test('1c. --teacher /nonexistent.onnx -> E_FILE_NOT_FOUND naming the path', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const r = runCli(['run', '--teacher', '/nonexistent.onnx', '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_FILE_NOT_FOUND', status: EXIT_ERROR, names: ['/nonexistent.onnx'], out });
  });

  test('1d. --config that does not exist -> E_FILE_NOT_FOUND naming the path', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const r = runCli(['run', '--config', 'nope/pipeline.json', '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_FILE_NOT_FOUND', status: EXIT_ERROR, names: [join(dir, 'nope', 'pipeline.json')], out });
  });

  // ---------- 2. teacher output names ----------

  test('2. teacher.logits "probs" -> E_TEACHER_OUTPUT listing the outputs the model has', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const data = writeRealSubset(dir);
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'idx', ...data }, labelMap: LABEL_MAP, preprocess: { scale: 1 / 255 } },
      teacher: { model: TEACHER, logits: 'probs' },
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    const line = assertFails(t, r, { code: 'E_TEACHER_OUTPUT', status: EXIT_ERROR, names: ['"probs"'], out });
    const available = line.slice(line.indexOf('"probs"') + '"probs"'.length);
    assert.match(available, /"logits"/, 'lists the real output "logits"');
    assert.match(available, /"embedding"/, 'lists the real output "embedding"');
  });

  // ---------- 3. data shape vs. teacher input ----------

  test('3. real images cropped to 20x20 (NPY) -> E_SHAPE_MISMATCH naming both shapes', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const crop = new Float32Array(ROWS * 20 * 20);
    for (let n = 0; n < ROWS; n++)
      for (let y = 0; y < 20; y++)
        for (let x = 0; x < 20; x++) crop[n * 400 + y * 20 + x] = images[n * 784 + (y + 4) * 28 + (x + 4)]!;
    assert.ok(crop.some((v) => v > 0), 'the crop holds real pixels');
    const features = writeNpy(join(dir, 'train-x.npy'), '<f4', [ROWS, 20, 20], crop);
    const lab = writeNpy(join(dir, 'train-y.npy'), '<i8', [ROWS], BigInt64Array.from(labels.subarray(0, ROWS), (v) => BigInt(v)));
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'npy', features, labels: lab }, labelMap: LABEL_MAP, preprocess: { scale: 1 / 255 } },
      teacher: { model: TEACHER },
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, {
      code: 'E_SHAPE_MISMATCH',
      status: EXIT_ERROR,
      names: [/\[20, ?20\]/, /\[1, ?28, ?28\]/, /\b400\b/, /\b784\b/, '"image"'],
      out,
    });
  });

  // ---------- 4. labels outside the class range ----------

  test('4a. one label 7 among real labels, no labelMap, 2-class teacher -> E_LABEL_RANGE naming 7', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const badRow = 123;
    const data = writeRealSubset(dir, (raw, row) => (row === badRow ? 7 : raw % 2));
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'idx', ...data }, preprocess: { scale: 1 / 255 } },
      teacher: { model: TEACHER },
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_LABEL_RANGE', status: EXIT_ERROR, names: [/\blabel 7\b/, /\b2 classes\b/, new RegExp(`\\brow ${badRow}\\b`)], out });
  });

  test('4b. the example\'s raw 0..9 labels without its labelMap -> E_LABEL_RANGE naming an out-of-range label', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const data = writeRealSubset(dir);
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'idx', ...data }, preprocess: { scale: 1 / 255 } },
      teacher: { model: TEACHER },
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    const line = assertFails(t, r, { code: 'E_LABEL_RANGE', status: EXIT_ERROR, names: [/\blabel [2-9]\b/], out });
    const named = Number(/\blabel ([0-9]+)\b/.exec(line)![1]);
    assert.ok(labels.subarray(0, ROWS).includes(named), `label ${named} really occurs in the data`);
  });

  // ---------- 5. empty data ----------

  test('5. IDX images and labels with 0 examples as data.train -> E_DATA_EMPTY', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const features = writeIdx(join(dir, 'empty-images.idx'), [0, 28, 28], new Uint8Array(0));
    const lab = writeIdx(join(dir, 'empty-labels.idx'), [0], new Uint8Array(0));
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'idx', features, labels: lab }, labelMap: LABEL_MAP },
      teacher: { model: TEACHER },
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_DATA_EMPTY', status: EXIT_ERROR, names: [/\btrain\b/], out });
  });

  // ---------- 6. unknown options ----------

  test('6a. run --no-such-flag 1 -> E_UNKNOWN_OPTION naming no-such-flag, exit 2', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const r = runCli(['run', '--no-such-flag', '1', '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_UNKNOWN_OPTION', status: EXIT_USAGE, names: ['no-such-flag'], out });
  });

  test('6a\'. run --bogus-flag 1 -> E_UNKNOWN_OPTION naming bogus-flag, exit 2', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const r = runCli(['run', '--bogus-flag', '1', '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_UNKNOWN_OPTION', status: EXIT_USAGE, names: ['bogus-flag'], out });
  });

  test('6b. config with an extra top-level key "epochz" -> E_UNKNOWN_OPTION naming epochz, exit 2', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const data = writeRealSubset(dir);
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'idx', ...data }, labelMap: LABEL_MAP },
      teacher: { model: TEACHER },
      epochz: 3,
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_UNKNOWN_OPTION', status: EXIT_USAGE, names: ['epochz'], absent: ONLY_ISSUE, out });
  });

  test('6c. an unknown key inside methods ("subclassez") -> E_UNKNOWN_OPTION naming it, exit 2', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const data = writeRealSubset(dir);
    const cfg = writeJson(join(dir, 'pipeline.json'), {
      data: { train: { format: 'idx', ...data }, labelMap: LABEL_MAP },
      teacher: { model: TEACHER },
      methods: [{ name: 'lelp', subclassez: 3 }],
    });
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_UNKNOWN_OPTION', status: EXIT_USAGE, names: ['subclassez', /\bmethods\b/], absent: ONLY_ISSUE, out });
  });

  // ---------- 7. config that is not JSON ----------

  test('7. a config file that is not JSON -> E_CONFIG naming the file, exit 2', (t) => {
    const dir = fresh();
    const out = join(dir, 'out');
    const cfg = join(dir, 'pipeline.json');
    // A real config, cut off mid-object, as an interrupted editor save would leave it.
    const text = JSON.stringify({ data: { train: { format: 'idx', features: TRAIN_IMAGES, labels: TRAIN_LABELS }, labelMap: LABEL_MAP }, teacher: { model: TEACHER } }, null, 2);
    writeFileSync(cfg, text.slice(0, Math.floor(text.length / 2)));
    const r = runCli(['run', '--config', cfg, '--out', out, ...FAST], dir);
    assertFails(t, r, { code: 'E_CONFIG', status: EXIT_USAGE, names: [cfg], out });
  });

  // ---------- 8. inspect on a non-ONNX file ----------

  test('8. inspect on the example\'s gzipped IDX labels -> E_MODEL_FORMAT naming the file', (t) => {
    const dir = fresh();
    const r = runCli(['inspect', TRAIN_LABELS], dir);
    assertFails(t, r, { code: 'E_MODEL_FORMAT', status: EXIT_ERROR, names: [TRAIN_LABELS] });
    assert.deepEqual(readdirSync(dir), [], 'inspect writes nothing');
  });
  // ---------- the checks themselves ----------

  test('the contract checks reject a success, a crash, a report on stdout and leftover artifacts', () => {
    const dir = fresh();
    const line = 'edge-distill: E_DATA_EMPTY: the train split has no examples. Give data.train some rows.';
    const good: CliResult = { status: 1, signal: null, stdout: '', stderr: `  teacher: detected input "image"\n${line}\n` };
    const e: Expect = { code: 'E_DATA_EMPTY', status: EXIT_ERROR, names: ['train'] };
    assert.equal(assertFails(null, good, e), line);
    const rejects = (what: string, r: Partial<CliResult>, x: Partial<Expect> = {}) =>
      assert.throws(() => assertFails(null, { ...good, ...r }, { ...e, ...x }), assert.AssertionError, what);
    rejects('exit 0', { status: 0 });
    rejects('usage exit for a data error', { status: 2 });
    rejects('killed', { status: null, signal: 'SIGKILL' });
    rejects('another code', { stderr: line.replace('E_DATA_EMPTY', 'E_DATA_FORMAT') });
    rejects('error line not last', { stderr: `${line}\nsomething else\n` });
    rejects('two error lines', { stderr: `${line}\n${line}\n` });
    rejects('no hint', { stderr: 'edge-distill: E_DATA_EMPTY: the train split has no examples\n' });
    rejects('E_INTERNAL', { stderr: `edge-distill: E_INTERNAL: TypeError: x is undefined\n${line}\n` });
    rejects('crash dump', { stderr: `${'var a=1;'.repeat(400)}\n${line}\n` });
    rejects('report on stdout', { stdout: '# edge-distill report\n' });
    rejects('bad value not named', {}, { names: ['validation'] });
    rejects('a second issue', {}, { absent: [/split/] });
    // --out: absent or .cache-only passes; anything else fails.
    const out = join(dir, 'out');
    assertNoArtifacts(out);
    mkdirSync(join(out, '.cache'), { recursive: true });
    assertNoArtifacts(out);
    for (const leftover of ['manifest.json', 'report.json', 'students', 'artifacts', '.staging-1-2', 'stray.txt']) {
      const p = join(out, leftover);
      if (leftover.includes('.')) writeFileSync(p, '{}');
      else mkdirSync(p);
      assert.throws(() => assertNoArtifacts(out), assert.AssertionError, leftover);
      assert.throws(() => assertFails(null, good, { ...e, out }), assert.AssertionError, leftover);
      rmSync(p, { recursive: true });
    }
    assertNoArtifacts(out);
  });
});
