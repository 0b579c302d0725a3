// `edge-distill quantize MODEL.onnx` on models edge-distill did not make, through the real CLI: a PyTorch-style MLP
// (784-1024-1024-2, trained here with `teacher train`, then stripped of our metadata and of every output but
// `logits`), the shipped PyTorch CNN teacher, and that MLP with one layer made deliberately fragile.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkg from 'onnx-proto';
import type { Report } from '../pipeline/report/types.ts';
import type { Manifest } from '../pipeline/runner.ts';
import { floatData, keepOutputs } from '../exporters/onnx-any-quantize.ts';
import { cli, EXAMPLE_DIR, runOfficialChecker, tempDir } from './helpers.ts';

const { onnx } = pkg;
const dir = tempDir('quantize-any');
const PLAIN = join(dir, 'mlp.onnx');

/** The example's config with absolute paths, the teacher pointing at `teacher`, and `extra` on top. */
function config(name: string, extra: Record<string, unknown>): string {
  const cfg = JSON.parse(readFileSync(join(EXAMPLE_DIR, 'pipeline.json'), 'utf8'));
  for (const split of ['train', 'test']) for (const k of ['features', 'labels']) cfg.data[split][k] = join(EXAMPLE_DIR, cfg.data[split][k]);
  cfg.teacher = { model: join(EXAMPLE_DIR, 'teacher.onnx') };
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ ...cfg, ...extra }));
  return path;
}

function quantize(args: string[]): { report: Report; manifest: Manifest; out: string; stderr: string } {
  const out = join(dir, `out-${args.join('-').replace(/[^a-z0-9]+/gi, '').slice(-40)}-${Math.random().toString(36).slice(2, 8)}`);
  const r = cli(['quantize', ...args, '--out', out]);
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  return { report: JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')), manifest: JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')), out, stderr: r.stderr };
}

before(() => {
  // A 784-1024-1024-2 MLP trained by `teacher train` on the example's Fashion-MNIST images, then made to look like a
  // plain PyTorch export: no metadata, one `logits` output, only the nodes that compute it.
  const trained = join(dir, 'trained.onnx');
  const r = cli(['teacher', 'train', '--config', config('train', { teacher: { model: trained, train: { arch: 'mlp', hidden: [1024, 1024], steps: 300 } } }), '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  writeFileSync(PLAIN, keepOutputs(onnx.ModelProto.decode(readFileSync(trained)), ['logits']));
});

test('a PyTorch-style MLP: dynamic int8 <= 0.3x the size, <= 0.1 points lost; every variant passes the checker; no teacher pass', () => {
  const { report, manifest, out, stderr } = quantize([PLAIN, '--max-accuracy-drop', '0.1']);
  assert.equal(report.teacher, null);
  assert.equal(report.source!.judged, 'accuracy');
  assert.equal(report.source!.classOutput, 'logits');
  assert.deepEqual(report.source!.quantizable.map((q) => q.op), ['Gemm', 'Gemm', 'Gemm']);
  // Acceptance 4: no teacher stage ran and nothing mentions a teacher in the log.
  assert.deepEqual(manifest.stages.map((s) => s.name).sort(), ['compress', 'pipeline', 'validate']);
  assert.doesNotMatch(stderr, /teacher/i);
  const by = new Map(report.artifacts.map((a) => [a.variant, a]));
  assert.deepEqual([...by.keys()], ['fp32', 'int8-dynamic', 'int8-static-pc', 'float16']);
  const fp32 = by.get('fp32')!;
  assert.ok(fp32.accuracy > 0.9, `float32 accuracy ${fp32.accuracy}`);
  const dyn = by.get('int8-dynamic')!;
  assert.ok(dyn.bytes <= 0.3 * fp32.bytes, `dynamic ${dyn.bytes} vs ${fp32.bytes}`);
  assert.ok(dyn.accuracyDrop <= 0.1 && !dyn.rejected, `dynamic drop ${dyn.accuracyDrop}`);
  for (const a of report.artifacts) {
    runOfficialChecker(join(out, a.path));
    // The interface is kept: one input `input` [batch, 784], one output `logits`; the opset too.
    const m = onnx.ModelProto.decode(readFileSync(join(out, a.path)));
    assert.deepEqual(m.graph!.output!.map((o) => o.name), ['logits']);
    assert.equal(m.graph!.input!.filter((i) => !m.graph!.initializer!.some((t) => t.name === i.name))[0]!.type!.tensorType!.shape!.dim![0]!.dimParam, 'batch');
    assert.equal(Number(m.opsetImport[0]!.version), 17);
  }
  // The per-layer report: every quantized node of each int8 variant, worst first.
  for (const a of [dyn, by.get('int8-static-pc')!]) {
    assert.equal(a.layers!.length, 3);
    assert.deepEqual(a.layers!.map((l) => l.sqnrDb), [...a.layers!.map((l) => l.sqnrDb)].sort((x, y) => x - y));
    assert.ok(a.layers!.every((l) => l.sqnrDb > 20), JSON.stringify(a.layers));
  }
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /## Per-layer quantization error[\s\S]*mlp\.int8-dynamic\.onnx/);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /Per-layer quantization error/);
});

test('one deliberately fragile layer: the per-layer report names it first, and mixed precision keeps exactly it in float32', () => {
  // Hidden unit 0 of the first layer is made dead (a bias no input can overcome: ReLU gives exactly 0), and the
  // second layer's weights from it are set to 1000. The float32 model computes the same function (1000 x 0), but
  // that layer's weights now span +-1000: int8 rounds every other weight of it to 0.
  const m = onnx.ModelProto.decode(readFileSync(PLAIN));
  const init = (name: string) => m.graph!.initializer!.find((t) => t.name === name)!;
  const gemms = m.graph!.node!.filter((n) => n.opType === 'Gemm');
  const setData = (name: string, edit: (v: Float32Array, dims: number[]) => void) => {
    const t = init(name);
    const v = floatData(t);
    edit(v, t.dims!.map(Number));
    t.rawData = new Uint8Array(v.buffer);
    t.floatData = [];
  };
  setData(gemms[0]!.input![2]!, (b) => (b[0] = -1e4));
  const transB = gemms[1]!.attribute!.some((a) => a.name === 'transB' && Number(a.i) === 1);
  setData(gemms[1]!.input![1]!, (w, [rows, cols]) => {
    for (let j = 0; j < (transB ? rows! : cols!); j++) w[transB ? j * cols! : j] = 1000;
  });
  const fragile = join(dir, 'fragile.onnx');
  writeFileSync(fragile, onnx.ModelProto.encode(m).finish());
  // The model named by the config (compress.model), not the command line.
  const cfg = config('fragile', { compress: { onnx: [{ kind: 'dynamic' }], model: fragile } });
  const { report } = quantize(['--config', cfg, '--max-accuracy-drop', '0.5']);
  assert.equal(report.source!.path, fragile);
  const [fp32, dyn] = report.artifacts;
  assert.equal(dyn!.variant, 'int8-dynamic');
  const fragileNode = gemms[1]!.name!;
  assert.equal(dyn!.layers![0]!.node, fragileNode, JSON.stringify(dyn!.layers));
  assert.ok(dyn!.layers![0]!.sqnrDb < 10 && dyn!.layers![1]!.sqnrDb > 20, JSON.stringify(dyn!.layers));
  assert.deepEqual(dyn!.keptFloat, [fragileNode]);
  assert.ok(!dyn!.rejected && dyn!.accuracyDrop <= 0.5, `drop ${dyn!.accuracyDrop}`);
  // Its weights stayed float32: the variant is larger than a fully int8 one by about that layer's float size.
  assert.ok(dyn!.bytes > 0.5 * fp32!.bytes && dyn!.bytes < 0.75 * fp32!.bytes, `${dyn!.bytes} of ${fp32!.bytes}`);
});

/** The teacher tests judge on 250 of the example's training images (testFraction 0.05): the CNN is slow on one core. */
const teacherConfig = (name: string, compress: object) => {
  const path = config(name, { compress });
  const cfg = JSON.parse(readFileSync(path, 'utf8'));
  delete cfg.data.test;
  cfg.data.testFraction = 0.05;
  writeFileSync(path, JSON.stringify(cfg));
  return path;
};

test('the shipped PyTorch CNN teacher: static per-channel int8 passes the checker and its accuracy drop is reported (its batch-1 speed: benchmarks/compress.ts)', () => {
  const cfg = teacherConfig('teacher', { onnx: [{ kind: 'static', perChannel: true }], calibrationExamples: 256 });
  // Calibrated on the example's training images given by --calibration (an IDX file), not on the train split.
  const { report, out, stderr } = quantize([join(EXAMPLE_DIR, 'teacher.onnx'), '--config', cfg, '--class-output', 'logits', '--calibration', join(EXAMPLE_DIR, 'train-images-idx3-ubyte.gz'), '--max-accuracy-drop', '0.5']);
  const [fp32, st] = report.artifacts;
  assert.equal(report.task.test, 250);
  assert.match(stderr, /calibrating .* on 256 rows of compress\.calibration/);
  assert.equal(st!.variant, 'int8-static-pc');
  runOfficialChecker(join(out, st!.path));
  assert.deepEqual(report.source!.quantizable.map((q) => q.op), ['Conv', 'Conv', 'Conv', 'Conv', 'Conv', 'Conv', 'Gemm', 'Gemm']);
  assert.ok(st!.accuracyDrop <= 0.5 && !st!.rejected, `drop ${st!.accuracyDrop}`);
  assert.ok(st!.bytes < 0.3 * fp32!.bytes, `${st!.bytes} of ${fp32!.bytes}`);
  // Both outputs are kept; the embedding (not a class output) is judged by fidelity.
  assert.ok(st!.fidelity!.sqnrDb > 15 && st!.fidelity!.agreement > 0.99, JSON.stringify(st!.fidelity));
  console.log(`teacher static per-channel: ${(st!.accuracy * 100).toFixed(2)} % vs ${(fp32!.accuracy * 100).toFixed(2)} % (drop ${st!.accuracyDrop.toFixed(2)}), ${st!.bytes} of ${fp32!.bytes} bytes`);
});

test('where int8 is slower than float32 (dynamic ConvInteger on onnxruntime-node), float32 is recommended as the fastest and int8 as the smallest', () => {
  const cfg = teacherConfig('teacher-dynamic', { onnx: [{ kind: 'dynamic', perChannel: true }] });
  const { report, out } = quantize([join(EXAMPLE_DIR, 'teacher.onnx'), '--config', cfg, '--class-output', 'logits', '--bench', '--runtimes', 'onnxruntime-node', '--environments', 'node', '--profiles', 'desktop', '--bench-batch', '1', '--threads', '1', '--runs', '20', '--warmup', '3', '--quiet']);
  const [fp32, dyn] = report.artifacts;
  const p50 = (a: string) => report.benchmarks.find((b) => b.artifact === a && b.batch === 1)!.p50Ms;
  // The premise, measured in this run: ConvInteger makes the dynamic teacher slower than float32.
  assert.ok(p50(dyn!.name) > p50(fp32!.name), `dynamic ${p50(dyn!.name)} ms vs float32 ${p50(fp32!.name)} ms`);
  const [target] = report.recommendedFor!;
  assert.deepEqual([report.recommendedFor!.length, target!.runtime, target!.profile, target!.batch], [1, 'onnxruntime-node', 'desktop', 1]);
  assert.equal(target!.fastest.artifact, fp32!.name);
  assert.equal(target!.smallest.artifact, dyn!.name);
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /## Recommended per target[\s\S]*teacher\.onnx \(/);
});
