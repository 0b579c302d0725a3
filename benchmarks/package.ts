// What a user downloads and waits for: the packed tarball, the install it pulls in (node_modules of an empty project
// that installs it from the registry), and `edge-distill --help` startup — for this checkout and for an earlier
// commit, in one run.
//   node --import tsx benchmarks/package.ts [--before REV] [--runs N]
// The earlier commit is exported with `git archive` and packed as it is (its own package.json decides what ships).
// Installs use npm's cache (--prefer-offline) and ONNXRUNTIME_NODE_INSTALL=skip, as the README's Install says.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..');
const ENV = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_onnxruntime_node_install: 'skip' };
const log = (s: string) => process.stderr.write(`[package-bench] ${s}\n`);

interface Measured {
  label: string;
  rev: string;
  packedBytes: number;
  unpackedBytes: number;
  files: number;
  installBytes: number;
  installSeconds: number;
  packages: number;
  helpMs: { median: number; min: number; runs: number };
}

function du(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

function measure(label: string, rev: string, source: string, work: string, runs: number): Measured {
  log(`${label} (${rev}): npm pack`);
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: source, env: ENV, encoding: 'utf8', maxBuffer: 1 << 28 }))[0];
  const app = join(work, `app-${label}`);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  log(`${label}: npm install ${packed.filename}`);
  const t0 = performance.now();
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, packed.filename)], { cwd: app, env: ENV, stdio: 'ignore' });
  const installSeconds = (performance.now() - t0) / 1000;
  const nm = join(app, 'node_modules');
  const packages = readdirSync(nm).flatMap((d) => (d.startsWith('@') ? readdirSync(join(nm, d)).map((x) => `${d}/${x}`) : d.startsWith('.') ? [] : [d])).length;
  const bin = join(nm, '.bin', 'edge-distill');
  const times: number[] = [];
  spawnSync(bin, ['--help'], { cwd: app }); // a first run warms the file cache
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    const r = spawnSync(bin, ['--help'], { cwd: app, encoding: 'utf8' });
    times.push(performance.now() - s);
    if (r.status !== 0) throw new Error(`${label}: edge-distill --help exited ${r.status}: ${r.stderr}`);
  }
  times.sort((a, b) => a - b);
  return {
    label, rev, packedBytes: packed.size, unpackedBytes: packed.unpackedSize, files: packed.files.length, installBytes: du(nm), installSeconds, packages,
    helpMs: { median: times[Math.floor(times.length / 2)]!, min: times[0]!, runs },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { before: { type: 'string', default: '909befd' }, runs: { type: 'string', default: '10' }, out: { type: 'string', default: join(HERE, 'results') } } });
  const runs = Number(values.runs);
  const work = mkdtempSync(join(tmpdir(), 'edge-distill-package-bench-'));
  try {
    const old = join(work, 'before');
    mkdirSync(old);
    execFileSync('sh', ['-c', `git archive ${values.before} | tar -x -C ${old}`], { cwd: ROOT });
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).trim() ? ' + uncommitted changes' : '';
    const before = measure('before', values.before!, old, work, runs);
    const after = measure('after', `${head}${dirty}`, ROOT, work, runs);
    const mb = (b: number) => (b / 1e6).toFixed(1);
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    const rows: [string, (m: Measured) => string, (a: Measured, b: Measured) => string][] = [
      ['packed tarball (MB)', (m) => mb(m.packedBytes), (a, b) => ratio(a.packedBytes, b.packedBytes)],
      ['unpacked (MB)', (m) => mb(m.unpackedBytes), (a, b) => ratio(a.unpackedBytes, b.unpackedBytes)],
      ['files in the tarball', (m) => String(m.files), (a, b) => ratio(a.files, b.files)],
      ['node_modules after install (MB)', (m) => mb(m.installBytes), (a, b) => ratio(a.installBytes, b.installBytes)],
      ['packages installed', (m) => String(m.packages), (a, b) => ratio(a.packages, b.packages)],
      ['install time from the npm cache (s)', (m) => m.installSeconds.toFixed(1), (a, b) => ratio(a.installSeconds, b.installSeconds)],
      [`edge-distill --help, median of ${runs} (ms)`, (m) => m.helpMs.median.toFixed(0), (a, b) => ratio(a.helpMs.median, b.helpMs.median)],
    ];
    const md = [
      '# The package a user installs',
      '',
      `Command: \`node --import tsx benchmarks/package.ts --before ${values.before} --runs ${runs}\` on ${cpus().length}× ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}. Each version is packed with \`npm pack\` and installed from the tarball into an empty project (\`npm install --prefer-offline\`, ONNXRUNTIME_NODE_INSTALL=skip); startup is \`node_modules/.bin/edge-distill --help\` in that project.`,
      '',
      `| | before (${before.rev}) | after (${after.rev}) | after / before |`,
      '| --- | --- | --- | --- |',
      ...rows.map(([name, f, r]) => `| ${name} | ${f(before)} | ${f(after)} | ${r(after, before)} |`),
      '',
      `Target (package issue): \`--help\` startup <= 500 ms: ${after.helpMs.median <= 500 ? 'PASS' : 'FAIL'} (${after.helpMs.median.toFixed(0)} ms).`,
    ];
    mkdirSync(values.out!, { recursive: true });
    writeFileSync(join(values.out!, 'package-size.md'), md.join('\n') + '\n');
    writeFileSync(join(values.out!, 'package-size.json'), JSON.stringify({ before, after }, null, 2) + '\n');
    console.log(md.join('\n'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
