// End to end: real bundles from the CLI, served by examples/web-app/serve.mjs, classified by the example app in
// headless Chromium with onnxruntime-web and TF.js (graph and layers bundles), checked against onnxruntime-node on
// the same pixels — and the page must load nothing from anywhere but the local server.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Browser } from 'playwright-core';
import { startServer, type RunningServer } from '../examples/web-app/serve.mjs';
import { readSample, type Sample } from '../examples/web-app/make-sample.ts';
import type { Deploy } from '../exporters/deploy.ts';
import { cli, distillExample, EXAMPLE_DIR, SHARED_TEACHER_CACHE, tempDir, maxAbsDiff, launchChromium } from './helpers.ts';
import { writeImageFolders, CLASS_NAMES } from '../examples/fmnist-images/make-images.ts';
import { closeDatasets, loadDatasets } from '../pipeline/data/dataset.ts';
import { DataSchema } from '../pipeline/data/schema.ts';

const METHOD = 'label';
const PARITY = 1e-4;

interface RuntimeResult {
  error?: string;
  bundle: string;
  format: string;
  class: string;
  index: number;
  probs: number[];
  pixels: number[];
  input?: number[];
}
type AppResult = { error?: string; onnx?: RuntimeResult; tfjs?: RuntimeResult };

interface Setup {
  bundles: string;
  server: RunningServer;
  browser: Browser;
  sample: Sample;
}

let setupOnce: Promise<Setup> | undefined;

/** Shared by the tests, started on first use so a missing browser fails each test with the same clear message. */
function setup(): Promise<Setup> {
  setupOnce ??= (async () => {
    const browser = await launchChromium('the example-app test');
    const sample = await readSample(JSON.parse(readFileSync(new URL('../examples/web-app/sample.json', import.meta.url), 'utf8')).index);
    const students = distillExample('webapp', ['--steps', '200', '--methods', METHOD]);
    const bundles = tempDir('webapp-bundles');
    const r = cli(['export', '--student', join(students, 'students', METHOD), '--out', bundles, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
    if (r.status !== 0) throw new Error(`export failed: ${r.stderr.slice(-2000)}`);
    const server = await startServer({ bundles, port: 0 });
    return { bundles, server, browser, sample };
  })();
  return setupOnce;
}

after(async () => {
  const s = await setupOnce?.catch(() => undefined);
  await s?.browser.close();
  await s?.server.close();
});

/** Open the app with these query parameters; returns its #result and every URL the page requested. */
async function runApp(s: Setup, query: string): Promise<{ result: AppResult; requests: string[] }> {
  const origin = s.server.url;
  const context = await s.browser.newContext();
  try {
    const requests: string[] = [];
    const logs: string[] = [];
    // Anything not for the local server is aborted (and still recorded): the app must work offline.
    await context.route('**/*', (route) => (route.request().url().startsWith(`${origin}/`) ? route.continue() : route.abort()));
    const page = await context.newPage();
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(`${origin}/?${query}`);
    const pre = page.locator('#result[data-status="done"], #result[data-status="error"]');
    await pre.waitFor({ timeout: 30_000 });
    const status = await pre.getAttribute('data-status');
    const result = JSON.parse((await pre.textContent()) ?? '{}') as AppResult;
    assert.equal(status, 'done', `the app reported an error:\n${result.error}\nconsole:\n${logs.join('\n')}`);
    return { result, requests };
  } finally {
    await context.close();
  }
}

/** What onnxruntime-node says for the same raw pixels, preprocessed as deploy.json says. */
async function nodeReference(s: Setup): Promise<{ index: number; probs: Float32Array }> {
  const dir = join(s.bundles, 'artifacts', METHOD, 'onnx');
  const deploy = JSON.parse(readFileSync(join(dir, 'deploy.json'), 'utf8')) as Deploy;
  const { scale, shift } = deploy.preprocessing;
  const x = Float32Array.from(s.sample.pixels, (v) => v * scale + shift);
  const session = await ort.InferenceSession.create(join(dir, deploy.artifact.model));
  try {
    const out = await session.run({ [deploy.input.name]: new ort.Tensor('float32', x, [1, x.length]) });
    const probs = out[deploy.outputs[0]!.name]!.data as Float32Array;
    return { index: probs.indexOf(Math.max(...probs)), probs };
  } finally {
    await session.release();
  }
}

for (const tfjsFormat of ['tfjs-graph', 'tfjs-layers'] as const) {
  test(`the example app classifies the sample with onnxruntime-web and a ${tfjsFormat} bundle, as onnxruntime-node does`, async () => {
    const s = await setup();
    const bundle = (format: string) => `/bundles/artifacts/${METHOD}/${format}/deploy.json`;
    const { result, requests } = await runApp(s, `onnx=${bundle('onnx')}&tfjs=${bundle(tfjsFormat)}&image=/sample.png`);
    const onnx = result.onnx!;
    const tfjs = result.tfjs!;
    assert.equal(tfjs.format, tfjsFormat);

    // The browser decoded the PNG to exactly the dataset's bytes (lossless, no colour management).
    assert.deepEqual(onnx.pixels, Array.from(s.sample.pixels));
    assert.deepEqual(tfjs.pixels, onnx.pixels);

    assert.equal(tfjs.class, onnx.class);
    assert.ok(maxAbsDiff(onnx.probs, tfjs.probs) <= PARITY, `onnx ${onnx.probs} vs tfjs ${tfjs.probs}`);
    const ref = await nodeReference(s);
    assert.equal(onnx.index, ref.index);
    assert.ok(maxAbsDiff(onnx.probs, ref.probs) <= PARITY, `web ${onnx.probs} vs node ${Array.from(ref.probs)}`);
    // The sample was picked because the student gets it right with confidence.
    assert.equal(onnx.class, s.sample.className);

    assert.ok(requests.length > 0);
    const foreign = requests.filter((u) => !u.startsWith(`${s.server.url}/`));
    assert.deepEqual(foreign, [], 'the page requested URLs outside the local server');
  });
}

test('the example server keeps requests inside its roots and serves wasm as application/wasm', async () => {
  const s = await setup();
  const get = (path: string) =>
    new Promise<{ status: number; type: string }>((ok, fail) => {
      // node:http sends the path as written (fetch would normalise `..` away before it left the client).
      request(`${s.server.url}${path}`, { method: 'HEAD' }, (res) => {
        res.resume();
        ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type']) });
      })
        .on('error', fail)
        .end();
    });
  // The URL parser folds `..` and `%2e%2e` segments; an encoded slash survives it and must be caught by the server.
  const escapes = ['/..%2f..%2fetc/passwd', '/bundles/..%2f..%2f..%2fetc/passwd', '/bundles/%2e%2e%2f%2e%2e%2fetc/passwd', '/../package.json'];
  // Only the listed vendor files are served, not whole dist folders.
  for (const path of [...escapes, '/vendor/onnxruntime-web/ort.min.mjs', '/vendor/tfjs-core/package.json']) {
    assert.equal((await get(path)).status, 404, path);
  }
  assert.equal((await get('/vendor/tfjs-backend-wasm/tfjs-backend-wasm-simd.wasm')).type, 'application/wasm');
  assert.match((await get('/vendor/onnxruntime-web/ort-wasm-simd-threaded.mjs')).type, /^text\/javascript/);
  assert.match((await get(`/bundles/artifacts/${METHOD}/onnx/deploy.json`)).type, /^application\/json/);
});

test('the example app classifies a PNG with an image bundle through the bundle\'s own image-preprocess.js: the training input, and onnxruntime-node\'s probabilities', { timeout: 240_000 }, async () => {
  const s = await setup();
  // A dscnn student trained on RGB PNG class folders (the grayscale NCHW teacher gets its own rows).
  const dir = tempDir('webapp-images');
  await writeImageFolders(join(dir, 'images'), { train: 400, test: 50 });
  const config = {
    data: { train: { format: 'images', path: join(dir, 'images/train') }, test: { format: 'images', path: join(dir, 'images/test') }, classNames: [...CLASS_NAMES], image: { channels: 3 } },
    teacher: { model: join(EXAMPLE_DIR, 'teacher.onnx'), image: { channels: 1 } },
    student: { arch: 'dscnn', stem: 8, blocks: [{ filters: 16, stride: 2 }] },
    methods: [{ name: METHOD }],
    export: { formats: ['onnx', 'tfjs-graph'] },
  };
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(config));
  const out = join(dir, 'out');
  const r = cli(['run', '--config', join(dir, 'pipeline.json'), '--out', out, '--steps', '100', '--runs', '1', '--warmup', '0', '--runtimes', 'onnxruntime-node', '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const server = await startServer({ bundles: out, port: 0 });
  try {
    const cfg = DataSchema.parse({ ...config.data });
    const d = await loadDatasets(cfg, 0, 2, { teacherImage: { channels: 1 } });
    const k = 7;
    const id = d.test.ids![k]!;
    const want = d.test.x.read(k, 1);
    closeDatasets(d);
    mkdirSync(join(out, 'img'));
    copyFileSync(join(dir, 'images/test', id), join(out, 'img', 'test.png'));
    const bundle = (format: string) => `/bundles/artifacts/${METHOD}/${format}/deploy.json`;
    const { result } = await runApp({ ...s, server }, `onnx=${bundle('onnx')}&tfjs=${bundle('tfjs-graph')}&image=/bundles/img/test.png`);
    const onnx = result.onnx!;
    const tfjs = result.tfjs!;
    assert.deepEqual(Float32Array.from(onnx.input!), want, `${id}: the app fed what training read for this image`);
    assert.deepEqual(tfjs.input, onnx.input);
    const deploy = JSON.parse(readFileSync(join(out, 'artifacts', METHOD, 'onnx', 'deploy.json'), 'utf8')) as Deploy;
    const session = await ort.InferenceSession.create(join(out, 'artifacts', METHOD, 'onnx', deploy.artifact.model));
    const ref = (await session.run({ [deploy.input.name]: new ort.Tensor('float32', want, [1, want.length]) }))[deploy.outputs[0]!.name]!.data as Float32Array;
    await session.release();
    assert.ok(maxAbsDiff(onnx.probs, ref) <= PARITY && maxAbsDiff(tfjs.probs, ref) <= PARITY, `web ${onnx.probs} / ${tfjs.probs} vs node ${Array.from(ref)}`);
  } finally {
    await server.close();
  }
});
