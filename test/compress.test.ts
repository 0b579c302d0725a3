// The compress stage through the real CLI: variants are measured, an over-budget one is rejected in report.json
// and report.md and never recommended; checker-valid ONNX for every variant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, runOfficialChecker, tempDir, EXAMPLE_DIR, SHARED_TEACHER_CACHE } from './helpers.ts';
import type { Report } from '../pipeline/report/types.ts';

test('compress: quantized and pruned variants, an over-budget artifact rejected and not recommended', () => {
  const dir = tempDir('compress');
  const cfg = JSON.parse(readFileSync(join(EXAMPLE_DIR, 'pipeline.json'), 'utf8'));
  for (const split of ['train', 'test']) for (const k of ['features', 'labels']) cfg.data[split][k] = join(EXAMPLE_DIR, cfg.data[split][k]);
  cfg.teacher.model = join(EXAMPLE_DIR, 'teacher.onnx');
  cfg.student = { arch: 'mlp', hidden: [16] };
  cfg.methods = [{ name: 'kd' }];
  cfg.compress = {
    maxAccuracyDrop: 0.5,
    onnx: [{ kind: 'dynamic' }, { kind: 'static', calibration: 'percentile' }, { kind: 'float16' }],
    tfjs: ['uint8'],
    // 90 % of 16 hidden units removed and no fine-tuning: far over a 0.5-point budget.
    prune: { structured: [0.9], fineTuneSteps: 0 },
  };
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(cfg));
  const out = join(dir, 'out');
  const r = cli(['run', '--config', join(dir, 'pipeline.json'), '--out', out, '--steps', '400', '--runs', '5', '--warmup', '1', '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const byVariant = new Map(report.artifacts.map((a) => [`${a.variant}/${a.format}`, a]));
  for (const v of ['fp32/onnx', 'fp32/tfjs-layers', 'int8-dynamic/onnx', 'int8-static-pc-pctl/onnx', 'float16/onnx', 'uint8-weights/tfjs-layers', 'uint8-weights/tfjs-graph', 'pruned-90/onnx', 'pruned-90/tfjs-layers', 'pruned-90/tfjs-graph']) assert.ok(byVariant.has(v), `variant ${v}`);
  const pruned = byVariant.get('pruned-90/onnx')!;
  assert.ok(pruned.accuracyDrop > 0.5, `pruned-90 drop ${pruned.accuracyDrop}`);
  // 90 % of 16 hidden units removed: 2 left, so 784*2+2 + 2*2+2 parameters and no zeros.
  assert.equal(pruned.parameters, 784 * 2 + 2 + 2 * 2 + 2);
  assert.equal(pruned.sparsity, 0);
  assert.match(pruned.rejected ?? '', /accuracy drop \d+\.\d\d points exceeds the budget of 0\.5/);
  for (const a of report.artifacts) {
    assert.equal(a.rejected !== null, a.accuracyDrop > 0.5, `${a.name}: rejected iff over budget`);
    if (a.format === 'onnx') runOfficialChecker(join(out, a.path));
  }
  // Quantized ONNX is much smaller than fp32; the recommendation is the smallest accepted one, never a rejected one.
  assert.ok(byVariant.get('int8-dynamic/onnx')!.bytes < 0.4 * byVariant.get('fp32/onnx')!.bytes);
  assert.deepEqual(report.recommended.map((r) => r.format), ['onnx', 'tfjs-layers', 'tfjs-graph']);
  for (const rec of report.recommended) {
    const a = report.artifacts.find((x) => x.name === rec.artifact)!;
    assert.equal(a.rejected, null);
    const smaller = report.artifacts.filter((x) => x.format === a.format && !x.rejected && x.bytes < a.bytes);
    assert.deepEqual(smaller, [], `${rec.artifact} is the smallest accepted ${a.format}`);
  }
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(md, new RegExp(`\\| ${pruned.name.replace(/\./g, '\\.')} \\|.*\\*\\*rejected\\*\\*: accuracy drop`));
  assert.match(md, /## Recommended/);
  // Benchmarks cover the variants too.
  assert.ok(report.benchmarks.some((b) => b.artifact === 'kd.int8-dynamic.onnx' && b.runtime === 'onnxruntime-node'));

  // The same stage as commands, on what the run produced: a checkpoint, and an exported TF.js model read back.
  const common = ['--config', join(dir, 'pipeline.json'), '--runs', '3', '--warmup', '1', '--cache-dir', SHARED_TEACHER_CACHE, '--quiet', '--json'];
  const q = cli(['quantize', '--student', join(out, 'students', 'kd'), '--out', join(dir, 'q'), ...common]);
  assert.equal(q.status, 0, q.stderr.slice(-2000));
  const qr: Report = JSON.parse(q.stdout).report;
  assert.deepEqual(qr.artifacts.map((a) => a.variant).sort(), ['float16', 'fp32', 'fp32', 'fp32', 'int8-dynamic', 'int8-static-pc-pctl', 'uint8-weights', 'uint8-weights']);
  // prune benchmarks nothing: its flags have no --runs / --warmup.
  const p = cli(['prune', '--student', join(out, 'artifacts', 'kd', 'tfjs-layers', 'model.json'), '--structured', '0.5', '--fine-tune-steps', '50', '--out', join(dir, 'p'), ...common.filter((f, i) => !['--runs', '--warmup'].includes(f) && !['--runs', '--warmup'].includes(common[i - 1]!))]);
  assert.equal(p.status, 0, p.stderr.slice(-2000));
  const pr: Report = JSON.parse(p.stdout).report;
  const half = pr.artifacts.find((a) => a.variant === 'pruned-50' && a.format === 'onnx')!;
  assert.ok(half.bytes < 0.65 * pr.artifacts.find((a) => a.variant === 'fp32' && a.format === 'onnx')!.bytes, 'half the hidden units: a much smaller file');
  // The TF.js model read back is the same student: its fp32 re-export matches the checkpoint's accuracy.
  assert.equal(pr.artifacts.find((a) => a.variant === 'fp32' && a.format === 'onnx')!.accuracy, byVariant.get('fp32/onnx')!.accuracy);
});
