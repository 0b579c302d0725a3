// Text end to end, as a user runs it: the spam example's config (real SpamAssassin mail, the teacher trained by
// `edge-distill teacher train`) through the real CLI; the featurizer shipped in the bundle reproduces the training
// input on every test message; onnxruntime-web (wasm) predicts what the trained student predicts; and precomputed
// teacher outputs whose ids do not match the data fail with the ids named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';
import { cli, maxAbsDiff, ROOT, SHARED_TEACHER_CACHE, tempDir } from './helpers.ts';
import { parseConfig, readConfigFile } from '../pipeline/config.ts';
import { loadDatasets } from '../pipeline/data/dataset.ts';
import { loadStudentCheckpoint } from '../pipeline/distill/student-checkpoint.ts';
import type { Report } from '../pipeline/report/types.ts';
import { loadSentiment } from '../pipeline/text/corpora.ts';
import { featurizeMany } from '../pipeline/text/featurizer.js';
import { openTeacher, runTeacher } from '../pipeline/teacher/teacher.ts';
import { createProgress } from '../pipeline/util/progress.ts';
import { readAll } from '../pipeline/data/rows.ts';

const SPAM = join(ROOT, 'examples', 'spam', 'pipeline.json');

test('the spam example: students next to the teacher, a sub-1 MB artifact, and a bundle whose featurizer and onnxruntime-web match training', async () => {
  const out = tempDir('spam');
  const r = cli(['run', '--config', SPAM, '--methods', 'lelp,kd,label', '--steps', '400', '--runs', '5', '--warmup', '1', '--out', out, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.ok(report.teacher!.accuracy > 0.95, `teacher ${report.teacher!.accuracy}`);
  assert.deepEqual(report.students.map((s) => s.method), ['lelp', 'kd', 'label']);
  for (const s of report.students) assert.ok(s.accuracy > 0.9, `${s.method} ${s.accuracy}`);
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(md, /Teacher: .* test accuracy \*\*\d+\.\d\d %\*\*/);
  // The smallest accepted artifact of each format is recommended; every one is far under 1 MB.
  assert.equal(report.recommended.length, 3);
  for (const rec of report.recommended) {
    const a = report.artifacts.find((x) => x.name === rec.artifact)!;
    assert.ok(a.bytes < 1024 * 1024 && a.rejected === null, `${a.name}: ${a.bytes} bytes`);
  }

  // The bundle ships the very featurizer training used, and deploy.json carries its spec.
  const kd = report.artifacts.find((a) => a.name === 'kd.onnx')!;
  const bundle = join(out, kd.path, '..');
  const deploy = JSON.parse(readFileSync(join(bundle, 'deploy.json'), 'utf8'));
  assert.equal(deploy.featurizer.file, 'featurizer.js');
  assert.deepEqual(deploy.artifact.files, ['model.onnx', 'featurizer.js']);
  const shipped = await import(pathToFileURL(join(bundle, 'featurizer.js')).href);

  // Every test message: the shipped featurizer's row is exactly the training input.
  const { raw, baseDir } = readConfigFile(SPAM);
  const cfg = parseConfig(raw, baseDir);
  const data = await loadDatasets(cfg.data, cfg.seed, 2);
  assert.ok(data.test.texts && data.test.n > 1000);
  const rows: Float32Array = shipped.featurizeMany(data.test.texts, deploy.featurizer.spec);
  const trained = readAll(data.test.x);
  assert.equal(rows.length, trained.length);
  assert.ok(rows.every((v, i) => Object.is(v, trained[i])), 'the shipped featurizer reproduces the training input bit for bit');

  // onnxruntime-web (wasm) on those rows predicts what the trained student predicts.
  const student = loadStudentCheckpoint(join(out, 'students', 'kd'));
  const ref = student.predict(data.test.x, data.test.n);
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(join(bundle, 'model.onnx'))), { executionProviders: ['wasm'] });
  const web = (await session.run({ [deploy.input.name]: new ort.Tensor('float32', rows, [data.test.n, rows.length / data.test.n]) }))[deploy.outputs[0].name]!.data as Float32Array;
  await session.release();
  assert.ok(maxAbsDiff(ref, web) <= 1e-4, `max |Δp| ${maxAbsDiff(ref, web)}`);
  for (let i = 0; i < data.test.n; i++) assert.equal(web[2 * i + 1]! > web[2 * i]!, ref[2 * i + 1]! > ref[2 * i]!, `message ${data.test.ids![i]}`);
});

test('precomputed teacher outputs are matched by id; a missing or an extra id fails naming the ids', async () => {
  const dir = tempDir('precomputed');
  // Real data and real teacher outputs: 300 UCI sentiment sentences, and the spam example's teacher run on them.
  const corpus = await loadSentiment({ sets: ['yelp'] });
  const n = 300;
  writeFileSync(join(dir, 'texts.jsonl'), corpus.texts.slice(0, n).map((text, i) => JSON.stringify({ id: corpus.ids[i], text, label: corpus.labels[i] })).join('\n') + '\n');
  const { raw, baseDir } = readConfigFile(SPAM);
  const spam = parseConfig(raw, baseDir);
  const teacher = await openTeacher(spam.teacher);
  const x = featurizeMany(corpus.texts.slice(0, n), spam.teacher.featurizer!);
  const outs = await runTeacher(teacher, x, n, { featureShape: [spam.teacher.featurizer!.buckets], cacheDir: dir, label: 'test', progress: createProgress({ quiet: true }) });
  await teacher.session?.release();
  const line = (i: number, id = corpus.ids[i]!) => JSON.stringify({ id, logits: Array.from(outs.logits.subarray(2 * i, 2 * i + 2)), embedding: Array.from(outs.embedding.read(i, 1)) });
  const config = (outputs: string) => ({
    data: { train: { format: 'text-jsonl', path: 'texts.jsonl' }, classNames: ['negative', 'positive'], featurizer: { buckets: 512, wordNgrams: [1, 1] } },
    teacher: { precomputed: { format: 'jsonl', path: outputs } },
    student: { arch: 'mlp', hidden: [8] },
    methods: [{ name: 'kd' }, { name: 'lelp' }],
    train: { steps: 50 },
  });
  const run = (outputs: string, lines: string[]) => {
    writeFileSync(join(dir, outputs), lines.join('\n') + '\n');
    writeFileSync(join(dir, `${outputs}.json`), JSON.stringify(config(outputs)));
    return cli(['distill', '--config', join(dir, `${outputs}.json`), '--out', join(dir, `out-${outputs}`), '--quiet']);
  };
  const all = Array.from({ length: n }, (_, i) => line(i));
  const ok = run('all.jsonl', all);
  assert.equal(ok.status, 0, ok.stderr.slice(-2000));
  const report: Report = JSON.parse(readFileSync(join(dir, 'out-all.jsonl', 'report.json'), 'utf8'));
  assert.match(report.teacher!.detected.join(' '), /300 precomputed teacher outputs .* matched to the data by id/);
  assert.deepEqual(report.students.map((s) => s.method), ['kd', 'lelp']);

  const missing = run('missing.jsonl', all.filter((_, i) => i !== 17));
  assert.equal(missing.status, 1, missing.stderr);
  assert.match(missing.stderr, /E_TEACHER_IDS: 1 id of the \w+ split has no teacher outputs: "yelp\/17"/);
  const extra = run('extra.jsonl', [...all, line(0, 'yelp/999999')]);
  assert.equal(extra.status, 1, extra.stderr);
  assert.match(extra.stderr, /E_TEACHER_IDS: 1 teacher output id matches no data row: "yelp\/999999"/);
});
