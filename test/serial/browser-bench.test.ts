// In-browser benchmarks end to end: a student distilled and exported by the real CLI, and the shipped PyTorch
// teacher, timed in headless Chromium (onnxruntime-web, TF.js wasm and WebGL) on real Fashion-MNIST test images —
// and DevTools CPU throttling must really slow the runs down.
// In test/serial: run after the parallel suite, alone, because CPU throttling in Chromium does not hold on a machine
// loaded by other tests (its throttling thread gets starved).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runInChromium, type BrowserJob, type BrowserOutcome, type BrowserSuccess } from '../../runtimes/browser/harness.ts';
import { readIdx } from '../../pipeline/data/idx.ts';
import { cli, distillExample, EXAMPLE_DIR, SHARED_TEACHER_CACHE, tempDir, CHROMIUM } from '../helpers.ts';

const EXAMPLES = 256;
const RUNS = 100;
const TEACHER_RUNS = 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function ok(o: BrowserOutcome | undefined): BrowserSuccess {
  assert.ok(o, 'no outcome');
  assert.ok(o.ok, `${o.id} failed: ${o.ok ? '' : o.reason}`);
  return o;
}

let artifacts: string;
let images: Float32Array;

before(() => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's Chromium with \`apt-get update && apt-get install -y chromium\``);
  const students = distillExample('browser-bench', ['--steps', '100', '--methods', 'label']);
  const out = tempDir('browser-bench-export');
  const r = cli(['export', '--student', join(students, 'students', 'label'), '--out', out, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  if (r.status !== 0) throw new Error(`export failed: ${r.stderr.slice(-2000)}`);
  artifacts = join(out, 'artifacts', 'label');
});

before(async () => {
  const idx = await readIdx(join(EXAMPLE_DIR, 't10k-images-idx3-ubyte.gz'));
  images = Float32Array.from(idx.data.subarray(0, EXAMPLES * 784), (v) => v / 255);
});

test('every browser runtime benchmarks real models in Chromium, and CPU throttling slows them down', async () => {
  const student = { x: images, n: EXAMPLES, exampleShape: [784], name: 'input' };
  const teacher = { x: images, n: EXAMPLES, exampleShape: [1, 28, 28], name: 'image' };
  const common = { batch: 1, warmup: 5, runs: RUNS, minDurationMs: 0, threads: 1, cpuThrottle: 1 };
  const onnx = { modelFile: join(artifacts, 'onnx', 'model.onnx'), format: 'onnx', runtime: 'onnxruntime-web', inputs: student } as const;
  const graph = { modelFile: join(artifacts, 'tfjs-graph', 'model.json'), format: 'tfjs-graph', inputs: student } as const;
  const shippedTeacher = { modelFile: join(EXAMPLE_DIR, 'teacher.onnx'), format: 'onnx', runtime: 'onnxruntime-web', inputs: teacher, runs: TEACHER_RUNS } as const;
  const jobs: BrowserJob[] = [
    { ...common, ...onnx, id: 'student-onnx-x1' },
    { ...common, ...onnx, id: 'student-onnx-x10', cpuThrottle: 10 },
    { ...common, ...onnx, id: 'student-onnx-2-threads', threads: 2 },
    { ...common, id: 'student-layers-wasm', modelFile: join(artifacts, 'tfjs-layers', 'model.json'), format: 'tfjs-layers', runtime: 'tfjs-wasm', inputs: student },
    { ...common, ...graph, id: 'student-graph-wasm', runtime: 'tfjs-wasm' },
    { ...common, ...graph, id: 'student-graph-webgl', runtime: 'tfjs-webgl', runs: 20 },
    { ...common, ...shippedTeacher, id: 'teacher-x1' },
    { ...common, ...shippedTeacher, id: 'teacher-x10', cpuThrottle: 10 },
    // Not runnable: must fail alone, with a reason, while the others run.
    { ...common, ...onnx, id: 'onnx-on-tfjs', runtime: 'tfjs-wasm' },
  ];
  const progress: string[] = [];
  const outcomes = await runInChromium(jobs, { chromium: CHROMIUM, onProgress: (done, total, job) => progress.push(`${done}/${total} ${job.id}`) });
  assert.equal(progress.length, jobs.length);
  const byId = new Map(outcomes.map((o) => [o.id, o]));

  for (const job of jobs.filter((j) => j.id !== 'onnx-on-tfjs')) {
    const o = byId.get(job.id);
    if (job.runtime === 'tfjs-webgl' && o && !o.ok) {
      // No WebGL here is an answer, not a crash; it must say so.
      assert.match(o.reason, /webgl/i);
      console.log(`${job.id}: not run: ${o.reason}`);
      continue;
    }
    const r = ok(o);
    assert.ok(r.times.length >= job.runs, `${job.id}: ${r.times.length} times for ${job.runs} runs`);
    assert.ok(r.times.every((t) => Number.isFinite(t) && t >= 0));
    assert.ok(r.initMs > 0 && r.firstRunMs > 0, `${job.id}: init ${r.initMs} first ${r.firstRunMs}`);
    assert.ok(r.jsHeapBytes !== null && r.jsHeapBytes > 0, `${job.id}: JS heap ${r.jsHeapBytes}`);
    if (job.runtime === 'tfjs-webgl') assert.equal(r.wasmBytes, null);
    else assert.ok(r.wasmBytes !== null && r.wasmBytes > 0, `${job.id}: wasm memory ${r.wasmBytes}`);
    assert.match(r.userAgent, /Chrome\//);
    console.log(
      `${job.id}: init ${r.initMs.toFixed(1)} ms, first ${r.firstRunMs.toFixed(2)} ms, p50 ${median(r.times).toFixed(3)} ms over ${r.times.length}, ` +
        `threads ${r.threads}, JS heap ${(r.jsHeapBytes! / 2 ** 20).toFixed(1)} MiB, wasm ${r.wasmBytes === null ? '-' : (r.wasmBytes / 2 ** 20).toFixed(1) + ' MiB'}`,
    );
  }

  // The page is cross-origin isolated, so onnxruntime-web really gets its wasm threads.
  assert.equal(ok(byId.get('student-onnx-2-threads')).threads, 2);
  assert.equal(ok(byId.get('student-onnx-x1')).threads, 1);

  const bad = byId.get('onnx-on-tfjs');
  assert.ok(bad && !bad.ok && /onnxruntime-web/.test(bad.reason), JSON.stringify(bad));

  // Chromium throttles by time-slicing the page's main thread in ~200 µs quanta (a signal makes it busy-wait for
  // (rate - 1) x the time it ran). A run much shorter than a quantum is often not hit at all, so the student's
  // per-run median barely moves while its mean does; the teacher's runs span many quanta and slow down throughout.
  const ratio = (subject: string, stat: (xs: number[]) => number) =>
    stat(ok(byId.get(`${subject}-x10`)).times) / stat(ok(byId.get(`${subject}-x1`)).times);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const subject of ['student-onnx', 'teacher']) {
    console.log(`${subject}: 10x CPU throttling / unthrottled: median ${ratio(subject, median).toFixed(1)}x, mean ${ratio(subject, mean).toFixed(1)}x`);
  }
  assert.ok(ratio('teacher', median) > 2, `throttling 10x made the teacher's runs only ${ratio('teacher', median).toFixed(2)}x slower`);
});

test('a missing Chromium is an error that says how to install it', async () => {
  await assert.rejects(runInChromium([], { chromium: '/nonexistent/chromium' }), /apt-get install chromium/);
});
