// `edge-distill bench` as a user runs it on the shipped PyTorch teacher and on an exported student: every runtime
// that can load them, in Node and in headless Chromium, under the desktop, phone and watch profiles; the throttled
// profiles are really slower in Chromium, and report.md prints the ratios.
// In test/serial: run after the parallel suite, alone, because CPU throttling in Chromium does not hold on a machine
// loaded by other tests (its throttling thread gets starved).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, distillExample, EXAMPLE_DIR, SHARED_TEACHER_CACHE, tempDir } from '../helpers.ts';
import type { Report } from '../../pipeline/report/types.ts';

test('bench: the teacher and a student on every runtime, in Node and Chromium, desktop / phone / watch', () => {
  const students = distillExample('bench-cli', ['--steps', '100', '--methods', 'label']);
  const exported = tempDir('bench-cli-export');
  const e = cli(['export', '--student', join(students, 'students', 'label'), '--formats', 'onnx,tfjs-graph,tflite', '--out', exported, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  assert.equal(e.status, 0, e.stderr.slice(-2000));
  const out = tempDir('bench-cli-out');
  const models = [join(EXAMPLE_DIR, 'teacher.onnx'), join(exported, 'artifacts', 'label', 'onnx', 'model.onnx'), join(exported, 'artifacts', 'label', 'tfjs-graph'), join(exported, 'artifacts', 'label', 'tflite', 'model.tflite')];
  const r = cli(['bench', ...models, '--profiles', 'desktop,phone,watch', '--environments', 'node,chromium', '--browser-runtimes', 'onnxruntime-web,tfjs-wasm,litert-wasm', '--runs', '40', '--warmup', '3', '--out', out, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const rows = (artifact: string, environment: string, runtime: string) => report.benchmarks.filter((b) => b.artifact === artifact && b.environment === environment && b.runtime === runtime);

  // Every runtime that loads each format, under each profile (a runtime that could not run here must say why).
  const expected: [string, string, string][] = [
    ['teacher.onnx', 'node', 'onnxruntime-node'], ['teacher.onnx', 'node', 'onnxruntime-web'], ['teacher.onnx', 'chromium', 'onnxruntime-web'],
    ['model.onnx', 'node', 'onnxruntime-node'], ['model.onnx', 'node', 'onnxruntime-web'], ['model.onnx', 'chromium', 'onnxruntime-web'],
    ['tfjs-graph/model.json', 'node', 'tfjs-graph-wasm'], ['tfjs-graph/model.json', 'chromium', 'tfjs-wasm'],
    ['model.tflite', 'chromium', 'litert-wasm'],
  ];
  for (const [artifact, env, runtime] of expected) {
    const got = rows(artifact, env, runtime);
    const skipped = report.benchmarksSkipped.find((s) => s.artifact === artifact && s.environment === env && s.runtime === runtime);
    assert.ok(got.length === 3 || skipped, `${artifact} on ${runtime} (${env}): ${got.length} rows, skipped: ${skipped?.reason}`);
    for (const b of got) {
      assert.ok(b.runs >= 40 && b.initMs > 0 && b.minMs <= b.p50Ms && b.p50Ms <= b.p90Ms && b.p90Ms <= b.p95Ms && b.p95Ms <= b.p99Ms && b.p99Ms <= b.maxMs, JSON.stringify(b));
      assert.ok(b.stdMs >= 0 && b.throughput > 0 && b.model.bytes > 0 && b.model.gzipBytes > 0 && b.model.parameters > 0, JSON.stringify(b));
      assert.ok(env === 'node' ? b.memory.peakRssBytes! > 0 : b.memory.wasmBytes! > 0, JSON.stringify(b.memory));
    }
  }
  // The model's own memory on onnxruntime-node (its process minus a process with the runtime and an Identity model):
  // the 784-8-2 student well under 20 MB under every profile, the 1.2 M-parameter teacher above it.
  const student = rows('model.onnx', 'node', 'onnxruntime-node');
  const teacher = rows('teacher.onnx', 'node', 'onnxruntime-node');
  for (const b of student) assert.ok(b.memory.modelBytes! < 20 * 2 ** 20 && !b.memory.overProfileLimit, `student ${b.profile}: ${JSON.stringify(b.memory)}`);
  for (const b of teacher) assert.ok(b.memory.modelBytes! > Math.max(...student.map((s) => s.memory.modelBytes!)), `teacher ${b.profile}: ${JSON.stringify(b.memory)}`);
  // No watch row of the example's student, on any runtime in Node or Chromium, is over the watch's 128 MB.
  const watchRows = report.benchmarks.filter((b) => b.profile === 'watch' && b.artifact !== 'teacher.onnx');
  assert.ok(watchRows.length >= 4, `${watchRows.length} student rows under the watch profile`);
  for (const b of watchRows) assert.ok(!b.memory.overProfileLimit, `${b.artifact} on ${b.runtime} (${b.environment}, watch): ${JSON.stringify(b.memory)}`);
  console.log(`model memory on onnxruntime-node: student ${student.map((b) => (b.memory.modelBytes! / 2 ** 20).toFixed(1)).join(' / ')} MB, teacher ${teacher.map((b) => (b.memory.modelBytes! / 2 ** 20).toFixed(1)).join(' / ')} MB (desktop / phone / watch)`);
  // LiteRT.js (the .tflite) must really have run under every profile, not been skipped: desktop, phone and watch.
  const litert = Object.fromEntries(rows('model.tflite', 'chromium', 'litert-wasm').map((b) => [b.profile, b]));
  assert.deepEqual(Object.keys(litert).sort(), ['desktop', 'phone', 'watch'], `LiteRT.js rows; skipped: ${JSON.stringify(report.benchmarksSkipped.filter((s) => s.runtime === 'litert-wasm'))}`);
  assert.deepEqual([litert.desktop!.cpuThrottle, litert.watch!.cpuThrottle], [1, 10]);
  assert.equal(litert.phone!.format, 'tflite');
  console.log(`student .tflite on LiteRT.js in Chromium: mean ${['desktop', 'phone', 'watch'].map((p) => `${p} ${litert[p]!.meanMs.toFixed(3)} ms`).join(', ')}`);
  // The teacher's FLOPs come from inspect: 232,685,826 per example (test/inspect.test.ts derives it by hand).
  assert.equal(rows('teacher.onnx', 'node', 'onnxruntime-node')[0]!.model.flopsPerExample, 232685826);

  // In Chromium the throttled profiles are really slower: the teacher (milliseconds per run) on onnxruntime-web.
  const teacherWeb = Object.fromEntries(rows('teacher.onnx', 'chromium', 'onnxruntime-web').map((b) => [b.profile, b]));
  assert.ok(teacherWeb.phone && teacherWeb.watch && teacherWeb.desktop, `teacher on onnxruntime-web in Chromium under all three profiles; got ${Object.keys(teacherWeb).join(', ')}; skipped: ${JSON.stringify(report.benchmarksSkipped)}`);
  assert.equal(teacherWeb.watch.cpuThrottle, 10);
  const phone = teacherWeb.phone.meanMs / teacherWeb.desktop.meanMs;
  const watch = teacherWeb.watch.meanMs / teacherWeb.desktop.meanMs;
  console.log(`teacher on onnxruntime-web in Chromium: phone ${phone.toFixed(2)}x, watch ${watch.toFixed(2)}x the desktop mean`);
  assert.ok(phone > 1.5 && watch > 3, `phone ${phone}, watch ${watch}`);
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(md, /## Profile slowdown/);
  assert.match(md, /\| teacher\.onnx \| onnxruntime-web \| chromium \| 1 \| watch \| desktop \| \d+\.\d\d× \|/);
});
