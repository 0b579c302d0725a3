// .tflite exports run on LiteRT.js (Google's runtime, @litertjs/core) in headless Chromium and agree with the float64
// reference forward pass of their spec (float32: within 1e-4; int8: on >= 99.5 % of the predicted classes) on 1,000
// real Fashion-MNIST test images: an MLP, the exporter
// test CNN (LELP head, S=4), the MobileNet-style dscnn and the conv1d student as the pipeline builds them (batch
// norm statistics perturbed, so the folding is exercised), and a residual net whose batch norm cannot be folded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportTflite } from '../exporters/tflite.ts';
import { exportTfliteInt8 } from '../exporters/tflite-quantize.ts';
import { forwardSpec } from '../exporters/reference-forward.ts';
import { runInChromium, type BrowserJob } from '../runtimes/browser/harness.ts';
import { compareProbs } from '../pipeline/stages/export.ts';
import type { StudentSpec } from '../pipeline/student/spec.ts';
import { architectureSpecs as students, fashionImages, testSpecs } from './specs.ts';
import { CHROMIUM } from './helpers.ts';

const N = 1000;

test('every student architecture\'s .tflite matches its spec within 1e-4 on LiteRT.js in Chromium (1,000 test images)', { timeout: 600_000, skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} not found` }, async () => {
  const x = fashionImages(N);
  const dir = mkdtempSync(join(tmpdir(), 'edge-distill-litert-'));
  const all = students();
  const jobs: BrowserJob[] = Object.entries(all).map(([name, spec]) => {
    const file = join(dir, `${name}.tflite`);
    writeFileSync(file, exportTflite(spec));
    return { id: name, modelFile: file, format: 'tflite', runtime: 'litert-wasm', mode: 'outputs', cpuThrottle: 1, threads: 1, batch: 1, warmup: 0, runs: 1, minDurationMs: 0, inputs: { x, n: N, exampleShape: [784], name: spec.inputName } };
  });
  const outcomes = await runInChromium(jobs, { chromium: CHROMIUM, jobTimeoutMs: 300_000 });
  for (const o of outcomes) {
    assert.ok(o.ok, `${o.id}: ${o.ok ? '' : o.reason}`);
    const spec = all[o.id]!;
    const ref = forwardSpec(spec, x, N).probs;
    assert.equal(o.outputs!.length, N * spec.classes, o.id);
    const { maxAbsDiff: worst, agreement } = compareProbs(o.outputs!, ref, N, spec.classes);
    const agree = Math.round(agreement * N);
    console.log(`${o.id}: max |Δp| ${worst.toExponential(2)} over ${N} images, ${agree} predictions agree`);
    assert.ok(worst <= 1e-4, `${o.id}: max |Δp| ${worst}`);
    // The students are not trivial: their outputs vary across images (a constant model would pass any tolerance).
    const spread = Math.max(...ref) - Math.min(...ref);
    assert.ok(spread > 0.05, `${o.id}: reference probabilities span only ${spread}`);
  }
});

test('the int8 .tflite (float I/O) of every student architecture agrees with its spec on >= 99.5 % of 1,000 test images on LiteRT.js', { timeout: 600_000, skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} not found` }, async () => {
  // Calibrated on 256 other images (the test images after the first 1,000), as the compress stage calibrates on training ones.
  const all = fashionImages(N + 256);
  const x = all.subarray(0, N * 784);
  const dir = mkdtempSync(join(tmpdir(), 'edge-distill-litert-int8-'));
  const specs = students();
  const jobs: BrowserJob[] = Object.entries(specs).map(([name, spec]) => {
    const file = join(dir, `${name}.int8.tflite`);
    writeFileSync(file, exportTfliteInt8(spec, { io: 'float', calibration: { x: all.subarray(N * 784), n: 256 } }));
    return { id: name, modelFile: file, format: 'tflite', runtime: 'litert-wasm', mode: 'outputs', cpuThrottle: 1, threads: 1, batch: 1, warmup: 0, runs: 1, minDurationMs: 0, inputs: { x, n: N, exampleShape: [784], name: spec.inputName } };
  });
  for (const o of await runInChromium(jobs, { chromium: CHROMIUM, jobTimeoutMs: 300_000 })) {
    assert.ok(o.ok, `${o.id}: ${o.ok ? '' : o.reason}`);
    const spec = specs[o.id]!;
    const C = spec.classes;
    const ref = forwardSpec(spec, x, N).probs;
    const { maxAbsDiff: worst, agreement } = compareProbs(o.outputs!, ref, N, C);
    const agree = Math.round(agreement * N);
    console.log(`${o.id} int8: max |Δp| ${worst.toFixed(4)}, ${agree} of ${N} predictions agree`);
    assert.ok(agree >= 0.995 * N, `${o.id}: ${agree} of ${N} agree`);
    // Quantized, so not exact: but within a few int8 steps of the probabilities' 1/256 resolution.
    assert.ok(worst > 0 && worst < 0.05, `${o.id}: max |Δp| ${worst}`);
  }
});

test('a .tflite runs only at its fixed batch: a job feeding batches of 4 fails with a reason that says so', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} not found` }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-distill-litert-batch-'));
  const file = join(dir, 'mlp.tflite');
  writeFileSync(file, exportTflite(testSpecs().mlp1));
  const [o] = await runInChromium([{ id: 'b4', modelFile: file, format: 'tflite', runtime: 'litert-wasm', cpuThrottle: 1, threads: 1, batch: 4, warmup: 0, runs: 3, minDurationMs: 0, inputs: { x: fashionImages(8), n: 8, exampleShape: [784], name: 'pixels' } }], { chromium: CHROMIUM });
  assert.ok(o && !o.ok, 'the job must fail');
  assert.match(o.reason, /takes input \[1, 784\].*\[4, 784\].*fixed batch/);
});
