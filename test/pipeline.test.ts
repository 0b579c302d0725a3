// End to end, as a user runs it: the bundled example through the real CLI, then independent checks of what it
// wrote (official ONNX checker, parity against the saved student weights, cache reuse), and a foreign 3-class
// teacher with other input/output names driven only by a config file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import * as tfl from '@tensorflow/tfjs-layers';
import { cli, distillExample, tempDir, EXAMPLE_DIR, ROOT, SHARED_TEACHER_CACHE, maxAbsDiff } from './helpers.ts';
import { buildThreeClassFixture } from './fixtures/three-class-teacher.ts';
import { runOfficialChecker } from './helpers.ts';
import { loadStudentCheckpoint } from '../pipeline/distill/student-checkpoint.ts';
import { fileLoadHandler } from '../exporters/tfjs-io.ts';
import { readIdx } from '../pipeline/data/idx.ts';
import { tf, useBackend } from '../pipeline/util/tfjs.ts';
import { sha256 } from '../pipeline/util/fsutil.ts';
import type { Report } from '../pipeline/report/types.ts';
import { deploySchemaValidator, embeddedDeploy } from './deploy-helpers.ts';

const FAST = ['--steps', '400', '--runs', '20', '--warmup', '5'];

async function testImages(n: number): Promise<Float32Array> {
  const { data } = await readIdx(join(EXAMPLE_DIR, 't10k-images-idx3-ubyte.gz'));
  return Float32Array.from(data.subarray(0, n * 784), (v) => v / 255);
}

test('the bundled example runs end to end and its artifacts check out', async (t) => {
  const out = tempDir('example');
  const r = cli(['run', '--out', out, '--json', ...FAST]);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.deepEqual(JSON.parse(r.stdout).report, report, '--json prints the report written to disk');

  await t.test('report: teacher, three students, nine artifacts, every runtime of each format', () => {
    assert.ok(Math.abs(report.teacher!.accuracy - 0.9872) < 0.002, `teacher accuracy ${report.teacher!.accuracy}`);
    assert.equal(report.task.test, 10000);
    assert.deepEqual(report.students.map((s) => s.method), ['lelp', 'kd', 'label']);
    for (const s of report.students) assert.ok(s.accuracy > 0.9 && s.accuracy < 1, `${s.method} accuracy ${s.accuracy}`);
    assert.equal(report.students[0]!.subclasses, 10); // LELP's default: k-means, S = 10
    assert.equal(report.students[0]!.options.assign, 'kmeans');
    const formats = ['onnx', 'tfjs-graph', 'tfjs-layers'];
    assert.deepEqual(report.artifacts.map((a) => a.name).sort(), ['kd', 'label', 'lelp'].flatMap((m) => formats.map((f) => `${m}.${f}`)));
    const runtimesOf: Record<string, string[]> = { onnx: ['onnxruntime-node', 'onnxruntime-web'], 'tfjs-layers': ['tfjs-wasm'], 'tfjs-graph': ['tfjs-graph-wasm'] };
    for (const a of report.artifacts) {
      const student = report.students.find((s) => s.method === a.method)!;
      assert.ok(Math.abs(a.accuracy - student.accuracy) <= 0.0002, `${a.name} accuracy ${a.accuracy} vs student ${student.accuracy}`);
      assert.deepEqual(a.parity.map((p) => p.runtime), runtimesOf[a.format]);
      for (const p of a.parity) assert.ok(p.maxAbsDiff <= 1e-4 && p.examples === 1000 && p.agreement === 1, `${a.name} ${JSON.stringify(p)}`);
    }
    // Each student's fp32 artifacts on all four runtimes, and the student itself, compared pairwise.
    assert.deepEqual(report.parity.map((g) => g.student), ['lelp', 'kd', 'label']);
    for (const g of report.parity) assert.ok(g.compared.length === 5 && g.maxAbsDiff <= 1e-4 && g.agreement === 1, JSON.stringify(g));
    const runtimesByArtifact = new Set(report.benchmarks.map((b) => `${b.artifact}@${b.runtime}`));
    for (const a of report.artifacts) {
      for (const rt of runtimesOf[a.format]!) assert.ok(runtimesByArtifact.has(`${a.name}@${rt}`), `latency row for ${a.name} on ${rt}`);
    }
    for (const b of report.benchmarks) {
      assert.equal(b.batch, 1);
      assert.ok(b.initMs > 0 && b.p50Ms > 0 && b.p50Ms <= b.p90Ms && b.p90Ms <= b.p99Ms, JSON.stringify(b));
      // The memory a 784-8-2 student costs is its own (a few MB at most), not the worker process's: no row of any
      // profile, the watch's 128 MB included, is over its limit.
      assert.ok(!b.memory.overProfileLimit, `${b.artifact} on ${b.runtime} (${b.profile}): ${JSON.stringify(b.memory)}`);
      if (b.runtime === 'onnxruntime-node') assert.ok(b.memory.modelBytes !== null && b.memory.modelBytes < 20 * 2 ** 20, JSON.stringify(b.memory));
    }
  });

  await t.test('manifest lists every file with its size and hash; nothing is left staged', () => {
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    assert.ok(manifest.packages['onnxruntime-node'] && manifest.config.seed === 0);
    // Every tracked package that is a dependency is installed, so it has a version, whatever its exports map hides.
    const deps = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies as Record<string, string>;
    for (const [name, version] of Object.entries(manifest.packages as Record<string, string>)) {
      if (name in deps) assert.match(version, /^\d+\.\d+\.\d+/, `${name}: ${version}`);
    }
    assert.equal(manifest.trainEngine, 'onnxruntime', 'the default engine trained the students');
    const paths = manifest.files.map((f: { path: string }) => f.path);
    for (const p of ['report.json', 'report.md', 'artifacts/lelp/onnx/model.onnx', 'artifacts/lelp/onnx/deploy.json', 'artifacts/lelp/tfjs-layers/model.json', 'artifacts/lelp/tfjs-graph/weights.bin', 'students/lelp/student.json']) assert.ok(paths.includes(p), p);
    for (const f of manifest.files) {
      const bytes = readFileSync(join(out, f.path));
      assert.equal(bytes.length, f.bytes);
      assert.equal(sha256(bytes), f.sha256, f.path);
    }
    assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.staging')), []);
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /\| lelp \| \d+\.\d\d \|/);
  });

  await t.test('every exported ONNX file passes the official checker (full_check)', () => {
    for (const a of report.artifacts.filter((x) => x.format === 'onnx')) runOfficialChecker(join(out, a.path));
  });

  await t.test('ONNX and TF.js artifacts match the trained student within 1e-4 on 1,000 test images', async () => {
    const n = 1000;
    const x = await testImages(n);
    await useBackend('wasm');
    for (const name of ['lelp', 'kd', 'label']) {
      // The checkpoint holds the trained weights; its float64 reference forward pass is independent of both runtimes.
      const student = loadStudentCheckpoint(join(out, 'students', name));
      const ref = student.predict(x, n);
      const session = await ort.InferenceSession.create(join(out, 'artifacts', name, 'onnx', 'model.onnx'));
      const onnxProbs = (await session.run({ input: new ort.Tensor('float32', x, [n, 784]) })).probs!.data as Float32Array;
      await session.release();
      const model = await tfl.loadLayersModel(fileLoadHandler(join(out, 'artifacts', name, 'tfjs-layers', 'model.json')));
      const y = model.predict(tf.tensor2d(x, [n, 784]));
      const tfjsProbs = (Array.isArray(y) ? y[0]! : y).dataSync();
      model.dispose();
      assert.ok(maxAbsDiff(ref, onnxProbs) <= 1e-4, `${name} onnx ${maxAbsDiff(ref, onnxProbs)}`);
      assert.ok(maxAbsDiff(ref, tfjsProbs) <= 1e-4, `${name} tfjs ${maxAbsDiff(ref, tfjsProbs)}`);
      // The LELP student also exposes its C*S subclass logits as a second output.
      if (name === 'lelp') assert.deepEqual(model.outputs.map((o) => o.shape), [[null, 2], [null, 20]]);
    }
  });

  await t.test('every bundle has a deploy.json that validates against the schema and matches the model metadata', () => {
    const validate = deploySchemaValidator();
    for (const a of report.artifacts) {
      const deploy = JSON.parse(readFileSync(join(out, a.deploy), 'utf8'));
      assert.ok(validate(deploy), `${a.deploy}: ${JSON.stringify(validate.errors)}`);
      assert.equal(deploy.artifact.name, a.name);
      assert.equal(join(out, a.deploy, '..', deploy.artifact.model), join(out, a.path));
      assert.deepEqual(deploy.input, { name: 'input', dtype: 'float32', shape: ['batch', 784], layout: deploy.input.layout, rawShape: [28, 28], image: { height: 28, width: 28, channels: 1 } });
      assert.deepEqual(deploy.classes, { count: 2, names: ['top-or-bag', 'trouser-dress-or-shoe'] });
      assert.equal(deploy.preprocessing.scale, 1 / 255);
      assert.deepEqual(deploy.outputs.map((o: { name: string }) => o.name), a.method === 'lelp' ? ['probs', 'subclass_logits'] : ['probs']);
      assert.equal(deploy.provenance.teacherSha256, report.teacher!.sha256);
      assert.equal(embeddedDeploy(join(out, a.path)), JSON.stringify(deploy), `${a.name}: model metadata holds the same descriptor`);
    }
  });

  await t.test('a second run reuses the cached teacher outputs', () => {
    assert.ok(readdirSync(join(out, '.cache')).some((f) => f.startsWith('teacher-')));
    const again = cli(['distill', '--out', out, '--steps', '1', '--methods', 'label']);
    assert.equal(again.status, 0, again.stderr.slice(-2000));
    assert.match(again.stderr, /teacher outputs from cache/);
    assert.doesNotMatch(again.stderr, /teacher pass/);
  });
});

test('a CNN student: ONNX, TF.js layers and graph bundles agree on every runtime; its ONNX passes the checker', () => {
  const out = tempDir('cnn');
  const r = cli(['run', '--arch', 'cnn', '--methods', 'kd', '--steps', '60', '--runs', '3', '--warmup', '1', '--out', out, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.deepEqual(report.artifacts.map((a) => a.name), ['kd.onnx', 'kd.tfjs-layers', 'kd.tfjs-graph']);
  for (const a of report.artifacts) for (const p of a.parity) assert.ok(p.maxAbsDiff <= 1e-4 && p.examples === 1000, `${a.name} ${JSON.stringify(p)}`);
  const [group] = report.parity;
  assert.ok(group && group.compared.length === 5 && group.maxAbsDiff <= 1e-4, JSON.stringify(group));
  runOfficialChecker(join(out, report.artifacts[0]!.path));
  const graph = JSON.parse(readFileSync(join(out, report.artifacts[2]!.path), 'utf8'));
  assert.ok(graph.modelTopology.node.some((n: { op: string }) => n.op === '_FusedConv2D'), 'the graph model fuses conv + bias + relu');
});

test('the oracle method distils the true fine labels (label % 2: 5 subclasses per class) and the report gives each method\'s share of its gain over label-only', () => {
  const out = tempDir('oracle');
  const r = cli(['distill', '--methods', 'label,oracle,lelp', '--hidden', '8', '--steps', '300', '--out', out, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const by = new Map(report.students.map((s) => [s.method, s]));
  assert.equal(by.get('oracle')!.subclasses, 5);
  const [label, oracle] = [by.get('label')!.accuracy, by.get('oracle')!.accuracy];
  for (const s of report.students) {
    const want = oracle > label ? (s.accuracy - label) / (oracle - label) : null;
    assert.equal(s.shareOfOracleGain, want, `${s.method}: share ${s.shareOfOracleGain}`);
  }
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(md, /\| method \| test acc % \| val acc % \| Δ vs teacher \(pts\) \| share of oracle gain \|/);
  assert.match(md, oracle > label ? /\| oracle \| [\d.]+ \| [\d.]+ \| -?[\d.]+ \| 100 % \|/ : /\| oracle \|.*n\/a \(oracle ≤ label\)/);  // The fine labels exist, so the report says how well the teacher's embedding keeps them (fitted on the transfer set).
  const probe = report.teacher!.fineProbe!;
  assert.ok(probe, 'report.teacher!.fineProbe');
  assert.deepEqual([probe.fineLabels, probe.fittedOn, probe.measuredOn], [10, report.task.train, report.task.test]);
  assert.ok(probe.accuracy > 0.6 && probe.accuracy < 1, `probe ${probe.accuracy}`);
  assert.ok(md.includes(`A linear probe reads the 10 fine labels (data.labelMap) from the teacher's embedding at ${(probe.accuracy * 100).toFixed(2)} %`), 'the probe sentence in report.md');
  assert.ok(readFileSync(join(out, 'report.html'), 'utf8').includes('Fine-label probe'), 'the probe in report.html');
});

test('teacher train grows a CNN teacher for image data: ONNX with logits and its last hidden layer as the embedding, ready to distill from', async () => {
  const dir = tempDir('cnn-teacher');
  const cfg = JSON.parse(readFileSync(join(EXAMPLE_DIR, 'pipeline.json'), 'utf8'));
  for (const split of ['train', 'test']) for (const k of ['features', 'labels']) cfg.data[split][k] = join(EXAMPLE_DIR, cfg.data[split][k]);
  cfg.teacher = { model: join(dir, 'teacher.onnx'), train: { arch: 'cnn', filters: [8, 16], hidden: [32], steps: 200 } };
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(cfg));
  const r = cli(['teacher', 'train', '--config', join(dir, 'pipeline.json'), '--json', '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const trained = JSON.parse(r.stdout);
  const session = await ort.InferenceSession.create(join(dir, 'teacher.onnx'));
  for (const o of ['logits', 'embedding']) assert.ok(session.outputNames.includes(o), `output ${o} in ${session.outputNames}`);
  const images = await readIdx(join(EXAMPLE_DIR, 't10k-images-idx3-ubyte.gz'));
  const labels = await readIdx(join(EXAMPLE_DIR, 't10k-labels-idx1-ubyte.gz'));
  const n = 500;
  const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', Float32Array.from(images.data.subarray(0, n * 784), (v) => v / 255), [n, 784]) });
  await session.release();
  assert.deepEqual(out.embedding!.dims, [n, 32]);
  const logits = out.logits!.data as Float32Array;
  let right = 0;
  for (let i = 0; i < n; i++) if (Number(logits[2 * i + 1]! > logits[2 * i]!) === labels.data[i]! % 2) right++;
  assert.ok(right / n > 0.9, `the CNN teacher classifies ${right} of ${n} test images after 200 steps`);
  assert.ok(JSON.stringify(trained).includes('testAccuracy'), r.stdout.slice(0, 500));
  runOfficialChecker(join(dir, 'teacher.onnx'));
});

test('a foreign 3-class teacher with other input/output names works from a config alone', async () => {
  const dir = tempDir('three-class');
  const fx = await buildThreeClassFixture(dir);
  const config = {
    data: {
      train: { format: 'idx', features: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' },
      test: { format: 'idx', features: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
      classNames: ['pullover', 'coat', 'shirt'],
      preprocess: { scale: 1 / 255 },
    },
    teacher: { model: 'teacher.onnx', input: 'pixels', embedding: 'penultimate', logits: 'scores' },
    student: { arch: 'mlp', hidden: [16] },
    methods: [{ name: 'lelp', subclasses: 3 }, { name: 'kd' }, { name: 'label' }],
    train: { steps: 300 },
    bench: { runs: 10, warmup: 2 },
  };
  writeFileSync(join(fx.dir, 'pipeline.json'), JSON.stringify(config));
  const out = join(dir, 'out');
  const r = cli(['run', '--config', join(fx.dir, 'pipeline.json'), '--out', out]);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(report.task.classes, 3);
  assert.equal(report.teacher!.input, 'pixels');
  assert.equal(report.teacher!.embeddingDim, 32);
  assert.deepEqual(report.students.map((s) => s.method), ['lelp', 'kd', 'label']);
  for (const s of report.students) assert.ok(s.accuracy > 0.5, `${s.method} ${s.accuracy} is far above chance (1/3)`);
  const session = await ort.InferenceSession.create(join(out, 'artifacts', 'lelp', 'onnx', 'model.onnx'));
  assert.deepEqual(session.outputNames, ['probs', 'subclass_logits']);
  const probs = await session.run({ input: new ort.Tensor('float32', new Float32Array(2 * 784).fill(0.5), [2, 784]) });
  assert.deepEqual(probs.probs!.dims, [2, 3]);
  assert.deepEqual(probs.subclass_logits!.dims, [2, 9]);
  await session.release();
  assert.ok(existsSync(join(out, 'manifest.json')));
});

test('unlabeled transfer data: LELP and KD distill from the teacher alone; label-only is refused', () => {
  const dir = tempDir('unlabeled');
  const cfg = JSON.parse(readFileSync(join(EXAMPLE_DIR, 'pipeline.json'), 'utf8'));
  // The training images without their labels; test labels stay, since accuracy is measured on them.
  cfg.data.train = { format: 'idx', features: join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz') };
  cfg.data.test.features = join(EXAMPLE_DIR, cfg.data.test.features);
  cfg.data.test.labels = join(EXAMPLE_DIR, cfg.data.test.labels);
  cfg.teacher.model = join(EXAMPLE_DIR, 'teacher.onnx');
  cfg.methods = [{ name: 'lelp' }, { name: 'kd' }];
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(cfg));
  const out = join(dir, 'out');
  // 600 steps: without labels no validation check can keep the best weights, and k-means LELP (the default) needs
  // more steps than KD to fit its 20-way targets (300 steps: 88.1 %; docs/lelp.md).
  const r = cli(['distill', '--config', join(dir, 'pipeline.json'), '--out', out, '--steps', '600']);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.deepEqual(report.students.map((s) => s.method), ['lelp', 'kd']);
  for (const s of report.students) assert.ok(s.accuracy > 0.9, `${s.method} ${s.accuracy}`);
  const refused = cli(['distill', '--config', join(dir, 'pipeline.json'), '--out', join(dir, 'out2'), '--methods', 'label']);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /E_CONFIG: method "label" needs labels/);
  const noAuto = cli(['distill', '--config', join(dir, 'pipeline.json'), '--out', join(dir, 'out3'), '--method', 'auto']);
  assert.equal(noAuto.status, 2);
  assert.match(noAuto.stderr, /E_CONFIG: method "auto" ranks candidates by validation accuracy/);
});

test('method auto keeps the candidate with the best validation accuracy and lists the whole sweep (k-means LELP among them)', () => {
  const dir = tempDir('auto');
  const cfg = JSON.parse(readFileSync(join(EXAMPLE_DIR, 'pipeline.json'), 'utf8'));
  for (const split of ['train', 'test']) for (const k of ['features', 'labels']) cfg.data[split][k] = join(EXAMPLE_DIR, cfg.data[split][k]);
  cfg.teacher.model = join(EXAMPLE_DIR, 'teacher.onnx');
  cfg.methods = [{ name: 'auto', candidates: [{ name: 'label' }, { name: 'kd' }, { name: 'lelp', assign: 'kmeans', subclasses: 10 }, { name: 'lelp', assign: 'signed', subclasses: 4 }] }];
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(cfg));
  const out = join(dir, 'out');
  const r = cli(['distill', '--config', join(dir, 'pipeline.json'), '--out', out, '--steps', '200', '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const [s] = report.students;
  const sweep = String(s!.options.sweep).split(' ').map((x) => { const at = x.lastIndexOf('='); return [x.slice(0, at), Number(x.slice(at + 1))] as const; });
  assert.deepEqual(sweep.map(([name]) => name), ['label', 'kd(tau=2,alpha=0.5)', 'lelp(subclasses=10,beta=1,tau=1,alpha=0,assign=kmeans)', 'lelp(subclasses=4,beta=1,tau=1,alpha=0,assign=signed)']);
  const best = Math.max(...sweep.map(([, v]) => v));
  const chosen = sweep.find(([, v]) => v === best)![0];
  assert.equal(s!.options.chosen, chosen, `kept ${s!.options.chosen}, sweep ${s!.options.sweep}`);
  assert.equal((s!.validationAccuracy * 100).toFixed(2), best.toFixed(2));
  if (chosen.startsWith('lelp')) assert.equal(s!.subclasses, chosen.includes('kmeans') ? 10 : 4);
});

test('--formats tflite: float32 and int8 .tflite checked on LiteRT.js in Chromium, a TFLite Micro bundle, arena and flash budgets', () => {
  const students = distillExample('tflite-students', ['--steps', '400', '--methods', 'lelp']);
  const out = tempDir('tflite-quantize');
  // An arena budget of 1,000 bytes cannot hold 784 int8 inputs plus the persistent margin: exit 3, report written.
  const r = cli(['quantize', '--student', join(students, 'students', 'lelp'), '--formats', 'tflite', '--max-accuracy-drop', '0.5', '--max-arena-bytes', '1000', '--max-flash-bytes', '1048576', '--out', out, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  assert.equal(r.status, 3, r.stderr.slice(-2000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const by = new Map(report.artifacts.map((a) => [a.name, a]));
  const fp32 = by.get('lelp.tflite')!;
  const int8 = by.get('lelp.int8.tflite')!;
  assert.deepEqual([fp32.format, int8.format, fp32.accuracyRuntime, int8.accuracyRuntime], ['tflite', 'tflite', 'litert-wasm', 'litert-wasm']);
  assert.ok(fp32.parity[0]!.maxAbsDiff <= 1e-4 && fp32.parity[0]!.examples === 1000, JSON.stringify(fp32.parity));
  // Acceptance: int8 agrees on >= 99.5 % of the predicted classes and loses <= 0.5 points.
  assert.ok(int8.parity[0]!.agreement >= 0.995, `int8 agreement ${int8.parity[0]!.agreement}`);
  assert.ok(int8.accuracyDrop <= 0.5 && !int8.rejected, `int8 drop ${int8.accuracyDrop}`);
  console.log(`lelp MLP-8: int8 .tflite ${int8.bytes} bytes = ${(int8.bytes / fp32.bytes).toFixed(3)}x the float32 one (${fp32.bytes}), agreement ${(int8.parity[0]!.agreement * 100).toFixed(2)} %, drop ${int8.accuracyDrop.toFixed(2)} points`);
  assert.ok(int8.bytes < 0.45 * fp32.bytes, `int8 ${int8.bytes} vs fp32 ${fp32.bytes}`);
  // The micro bundle: the twin of lelp.int8.tflite, its model_data.cc array and micro.json beside it.
  const [micro] = report.micro ?? [];
  assert.ok(micro, 'report.micro');
  assert.equal(micro.twin, 'lelp.int8.tflite');
  assert.ok(micro.path && micro.rejected === null, 'written, as its twin was accepted');
  assert.equal(micro.flashBytes, readFileSync(join(out, micro.path, 'model.tflite')).length);
  assert.ok(micro.arenaBytes > micro.arena.activationBytes && micro.arena.activationBytes >= 784, JSON.stringify(micro.arena));
  assert.deepEqual(JSON.parse(readFileSync(join(out, micro.path, 'micro.json'), 'utf8')), micro);
  const arena = report.budgets.find((b) => b.budget === 'arenaBytes <= 1000')!;
  const flash = report.budgets.find((b) => b.budget === 'flashBytes <= 1048576')!;
  assert.deepEqual([arena.ok, arena.actual, flash.ok, flash.actual], [false, micro.arenaBytes, true, micro.flashBytes]);
  assert.match(r.stderr, /arenaBytes <= 1000 \(lelp\.micro\.tflite\)/);
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /## Microcontroller bundles \(TFLite Micro\)/);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /Microcontroller bundles \(TFLite Micro\)<\/h2>[\s\S]*lelp\.micro\.tflite/);
});
