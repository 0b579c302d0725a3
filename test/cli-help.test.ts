// Each command's --help lists the flags that command reads, grouped, and no others (yargs then refuses the rest);
// LELP's own flags reach every lelp method of the run and show in the report's options column.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from '../pipeline/report/types.ts';
import { cli, SHARED_TEACHER_CACHE, tempDir } from './helpers.ts';

const HELP: Record<string, { has: string[]; lacks: string[]; groups: string[] }> = {
  run: { has: ['--steps', '--subclasses', '--formats', '--max-accuracy-drop', '--structured', '--runtimes', '--max-p90-ms', '--junit'], lacks: ['--class-output', '--student'], groups: ['Training:', 'LELP (every lelp method):', 'Benchmark:', 'Release budgets'] },
  distill: { has: ['--steps', '--lr', '--arch', '--methods', '--subclasses', '--no-null-space', '--no-rotate', '--projection', '--teacher'], lacks: ['--max-p90-ms', '--structured', '--runtimes', '--formats', '--max-accuracy-drop', '--junit'], groups: ['Data:', 'Student:', 'Method:', 'Training:'] },
  export: { has: ['--student', '--formats', '--max-bytes'], lacks: ['--steps', '--runtimes', '--max-accuracy-drop', '--subclasses', '--arch'], groups: ['Export:'] },
  quantize: { has: ['--student', '--class-output', '--calibration', '--bench', '--max-accuracy-drop', '--formats', '--runtimes', '--max-bytes'], lacks: ['--steps', '--lr', '--subclasses', '--structured', '--arch', '--methods'], groups: ['Compress:', 'Benchmark:'] },
  prune: { has: ['--student', '--structured', '--magnitude', '--fine-tune-steps', '--lr', '--max-accuracy-drop'], lacks: ['--runtimes', '--arch', '--subclasses', '--methods'], groups: ['Pruning:'] },
  bench: { has: ['--runtimes', '--profiles', '--bench-batch', '--max-p90-ms'], lacks: ['--steps', '--formats', '--structured', '--subclasses', '--max-accuracy-drop'], groups: ['Benchmark:'] },
  'teacher train': { has: ['--steps', '--teacher'], lacks: ['--runtimes', '--formats', '--subclasses', '--max-p90-ms'], groups: ['Training:'] },
};

for (const [command, want] of Object.entries(HELP)) {
  test(`edge-distill ${command} --help lists its own flags only`, () => {
    const r = cli([...command.split(' '), '--help']);
    assert.equal(r.status, 0, r.stderr);
    const flags = new Set(r.stdout.match(/--[a-z][a-z0-9-]*/g));
    for (const f of want.has) assert.ok(flags.has(f), `${command} --help lists ${f}\n${r.stdout}`);
    for (const f of want.lacks) assert.ok(!flags.has(f), `${command} --help does not list ${f}\n${r.stdout}`);
    for (const g of want.groups) assert.ok(r.stdout.includes(g), `${command} --help has the group ${g}`);
  });
}

test('a flag of another command is refused with E_UNKNOWN_OPTION', () => {
  const r = cli(['distill', '--max-p90-ms', '5', '--quiet']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /E_UNKNOWN_OPTION: unknown option max-p90-ms/);
});

test('LELP flags set every lelp method and show in the report\'s options; without a lelp method they are an E_CONFIG', () => {
  const out = tempDir('lelp-flags');
  const r = cli(['distill', '--methods', 'lelp', '--subclasses', '4', '--assign', 'signed', '--no-rotate', '--beta', '2', '--steps', '30', '--out', out, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const report: Report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const o = report.students[0]!.options;
  assert.deepEqual([o.subclasses, o.assign, o.rotate, o.beta], [4, 'signed', false, 2], JSON.stringify(o));
  assert.equal(report.students[0]!.subclasses, 4);
  const bad = cli(['distill', '--methods', 'kd', '--subclasses', '4', '--quiet']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /E_CONFIG: --subclasses set LELP's options but the methods \(kd\) have no lelp/);
});

test('shell completion: `edge-distill completion` prints a script naming the commands', () => {
  const r = cli(['completion']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /edge-distill/);
  assert.match(r.stdout, /complete/);
});
