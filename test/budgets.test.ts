// Release budgets end to end: one real short `run` of the bundled example (with a budget it must break) gives the
// report.json every unit test evaluates budgets on; `bench` of that run's ONNX model checks latency budgets and the
// kept case. JUnit files are parsed by a real XML parser (Python's ElementTree from Debian's python3).
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, SHARED_TEACHER_CACHE, tempDir } from './helpers.ts';
import { BudgetsSchema, evaluateBudgets, renderBudgetTable, wildcardMatch } from '../pipeline/report/budgets.ts';
import type { BudgetResult } from '../pipeline/report/types.ts';
import { junitXml, JUNIT_CLASSNAME } from '../pipeline/report/junit.ts';
import { compileConfig } from '../pipeline/cli.ts';
import { EXAMPLE_CONFIG_PATH, parseConfig, readConfigFile } from '../pipeline/config.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import type { Report } from '../pipeline/report/types.ts';

const EXIT_BUDGET = 3;
const SHORT = ['--steps', '100', '--methods', 'label', '--runs', '10', '--warmup', '1', '--cache-dir', SHARED_TEACHER_CACHE, '--quiet'];
/** The same for `bench`, which trains nothing (its --help has no training flags). */
const SHORT_BENCH = ['--runs', '10', '--warmup', '1', '--cache-dir', SHARED_TEACHER_CACHE, '--quiet'];

interface JunitCase {
  name: string;
  classname: string;
  failure: string | null;
}
interface Junit {
  tests: number;
  failures: number;
  cases: JunitCase[];
}

/** Parse a JUnit file with a strict XML parser; a malformed file fails the test here. */
function parseJunit(file: string): Junit {
  const script = `
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == 'testsuites', root.tag
suite = root.find('testsuite')
cases = [{'name': c.get('name'), 'classname': c.get('classname'), 'failure': (c.find('failure').get('message') if c.find('failure') is not None else None)} for c in suite.findall('testcase')]
print(json.dumps({'tests': int(suite.get('tests')), 'failures': int(suite.get('failures')), 'cases': cases}))`;
  const r = spawnSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`not well-formed JUnit XML (${file}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Junit;
}

function parseJunitText(xml: string): Junit {
  const file = join(tempDir('junit'), 'j.xml');
  writeFileSync(file, xml);
  return parseJunit(file);
}

const budgets = (raw: unknown) => BudgetsSchema.parse(raw);
const lastLine = (s: string) => s.trim().split('\n').at(-1)!;

describe('release budgets', () => {
  let out: string;
  let cwd: string;
  let run: ReturnType<typeof cli>;
  let report: Report;

  before(() => {
    out = tempDir('budgets-run');
    cwd = tempDir('budgets-cwd');
    run = cli(['run', ...SHORT, '--out', out, '--max-gzip-bytes', '100', '--junit', 'ci/budgets.xml'], { cwd });
    if (!existsSync(join(out, 'report.json'))) throw new Error(`run wrote no report (exit ${run.status}): ${run.stderr.slice(-3000)}`);
    report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Report;
  });

  test('run: a broken budget exits 3 with the table and a summary line, and still writes its outputs', () => {
    assert.equal(run.status, EXIT_BUDGET, run.stderr.slice(-3000));
    const names = report.artifacts.map((a) => a.name);
    assert.ok(names.includes('label.onnx'), names.join(', '));
    // Every artifact is over 100 gzipped bytes: one broken verdict each.
    assert.equal(report.budgets.length, names.length);
    assert.ok(report.budgets.every((b) => !b.ok && b.budget === 'gzipBytes <= 100'));
    assert.match(run.stderr, /\| budget +\| artifact +\| limit +\| actual +\| verdict \|/);
    assert.match(run.stderr, /\| gzipBytes <= 100 +\| label\.onnx +\| 100 bytes +\| \d+ bytes +\| FAIL +\|/);
    assert.match(lastLine(run.stderr), new RegExp(`^edge-distill: E_BUDGET: ${names.length} of ${names.length} budgets broken: gzipBytes <= 100 \\(label\\.onnx\\)`));
    assert.match(run.stdout, /## Budgets/);
    assert.ok(existsSync(join(out, 'manifest.json')), 'the run commits its outputs although a budget broke');
  });

  test('run: --junit (relative to the working directory) names the broken budget with a <failure>', () => {
    const j = parseJunit(join(cwd, 'ci', 'budgets.xml'));
    assert.equal(j.tests, report.budgets.length);
    assert.equal(j.failures, report.budgets.length);
    const c = j.cases.find((x) => x.name === 'gzipBytes <= 100 — label.onnx');
    assert.ok(c, j.cases.map((x) => x.name).join('; '));
    assert.equal(c.classname, JUNIT_CLASSNAME);
    assert.match(c.failure!, /broken: \d+ bytes > 100 bytes on label\.onnx/);
  });

  test('wildcards choose the artifacts every budget applies to', () => {
    assert.ok(wildcardMatch('*.onnx', 'label.onnx'));
    assert.ok(!wildcardMatch('*.onnx', 'label.onnx-int8-dynamic'));
    assert.ok(wildcardMatch('label.*', 'label.tfjs-graph'));
    assert.ok(!wildcardMatch('label.onnx', 'labelxonnx'), 'a dot is literal');
    const onnx = evaluateBudgets(budgets({ artifacts: ['*.onnx'], maxBytes: 1e9 }), report);
    assert.deepEqual(onnx.map((r) => r.artifact), ['label.onnx']);
    const tfjs = evaluateBudgets(budgets({ artifacts: ['label.tfjs-*'], maxBytes: 1e9 }), report);
    assert.deepEqual(tfjs.map((r) => r.artifact).sort(), ['label.tfjs-graph', 'label.tfjs-layers']);
    // A pattern naming nothing is a broken budget: a typo must not shrink the checks to none.
    const typo = evaluateBudgets(budgets({ artifacts: ['*.onnx', 'lelp.*'], maxBytes: 1e9 }), report);
    const miss = typo.find((r) => r.artifact === null)!;
    assert.equal(miss.ok, false);
    assert.match(miss.message, /no artifact matched "lelp\.\*"; artifacts: label\.onnx/);
    // Latency rows follow the same scope.
    const lat = evaluateBudgets(budgets({ artifacts: ['*.onnx'], latency: [{ maxMs: 1e6 }] }), report);
    assert.ok(lat.length > 0 && lat.every((r) => r.ok && r.artifact === 'label.onnx'));
  });

  test('latency: one verdict per matching row on the chosen metric; a budget matching no row fails', () => {
    const all = evaluateBudgets(budgets({ latency: [{ maxMs: 1e6 }] }), report);
    assert.equal(all.length, report.benchmarks.length);
    assert.ok(all.every((r) => r.ok && r.unit === 'ms'));
    const row = report.benchmarks.find((b) => b.artifact === 'label.onnx')!;
    assert.match(all.find((r) => r.artifact === 'label.onnx' && r.actual === row.p90Ms)!.budget, new RegExp(`^p90Ms <= 1000000 ms \\[${row.profile}/${row.environment}/${row.runtime}\\]$`));
    const filter = { artifact: 'label.onnx', runtime: row.runtime, environment: row.environment, profile: row.profile, batch: row.batch, metric: 'p99Ms' };
    const atLimit = evaluateBudgets(budgets({ latency: [{ ...filter, maxMs: row.p99Ms }] }), report);
    assert.deepEqual(atLimit.map((r) => [r.ok, r.actual]), [[true, row.p99Ms]], 'the limit itself passes');
    const under = evaluateBudgets(budgets({ latency: [{ ...filter, maxMs: row.p99Ms * 0.999 }] }), report);
    assert.equal(under[0]!.ok, false);
    const typo = evaluateBudgets(budgets({ latency: [{ maxMs: 1e6, runtime: 'onnxruntme-node' }] }), report);
    assert.equal(typo.length, 1);
    assert.deepEqual([typo[0]!.ok, typo[0]!.artifact, typo[0]!.actual], [false, null, null]);
    assert.match(typo[0]!.message, /no benchmark matched runtime=onnxruntme-node/);
    assert.match(typo[0]!.message, new RegExp(`benchmarked: .*label\\.onnx ${row.profile}/${row.environment}/${row.runtime}`));
  });

  test('accuracy: percent, drop vs teacher = (teacher - artifact) * 100, drop vs fp32, limits inclusive', () => {
    const a = report.artifacts.find((x) => x.name === 'label.onnx')!;
    const drop = (report.teacher!.accuracy - a.accuracy) * 100;
    const res = evaluateBudgets(budgets({ artifacts: ['label.onnx'], minAccuracy: 50, maxAccuracyDropVsTeacher: 0, maxAccuracyDropVsFp32: 0 }), report);
    const by = (prefix: string) => res.find((r) => r.budget.startsWith(prefix))!;
    assert.ok(Math.abs(by('accuracy >=').actual! - a.accuracy * 100) < 1e-9);
    assert.equal(by('accuracy >=').ok, true);
    assert.ok(Math.abs(by('accuracyDropVsTeacher').actual! - drop) < 1e-9);
    assert.equal(by('accuracyDropVsTeacher').ok, drop <= 0);
    assert.equal(by('accuracyDropVsFp32').actual, a.accuracyDrop);
    const exact = evaluateBudgets(budgets({ artifacts: ['label.onnx'], maxAccuracyDropVsTeacher: by('accuracyDropVsTeacher').actual! }), report);
    assert.equal(exact[0]!.ok, true, 'a drop equal to the limit keeps the budget');
    // Float noise must not break a budget set exactly at the drop: 0.95 - 0.94 is 1.0000000000000009 points naively.
    const noisy = structuredClone(report);
    noisy.teacher!.accuracy = 0.95;
    noisy.artifacts.find((x) => x.name === 'label.onnx')!.accuracy = 0.94;
    const r1 = evaluateBudgets(budgets({ artifacts: ['label.onnx'], maxAccuracyDropVsTeacher: 1 }), noisy);
    assert.deepEqual([r1[0]!.ok, r1[0]!.actual], [true, 1]);
  });

  test('rejected artifacts are out of scope; stages that did not run are not budgeted; foreign models use their benchmark sizes', () => {
    const rej = structuredClone(report);
    rej.artifacts.find((x) => x.name === 'label.onnx')!.rejected = 'accuracy drop 2.00 points exceeds the budget of 1';
    assert.ok(!evaluateBudgets(budgets({ maxBytes: 1e9 }), rej).some((r) => r.artifact === 'label.onnx'));
    const only = evaluateBudgets(budgets({ artifacts: ['label.onnx'], maxBytes: 1e9 }), rej);
    assert.match(only.find((r) => !r.ok)!.message, /matches only rejected artifacts \(label\.onnx\)/);

    assert.deepEqual(evaluateBudgets(budgets({ maxBytes: 1, latency: [{ maxMs: 1 }] }), report, ['distill']), []);

    const foreign: Report = { ...structuredClone(report), artifacts: [] };
    const sizes = evaluateBudgets(budgets({ maxGzipBytes: 1e9, minAccuracy: 1 }), foreign);
    const onnxRow = report.benchmarks.find((b) => b.artifact === 'label.onnx')!;
    const size = sizes.find((r) => r.artifact === 'label.onnx' && r.unit === 'bytes')!;
    assert.equal(size.actual, onnxRow.model.gzipBytes);
    const acc = sizes.find((r) => r.artifact === 'label.onnx' && r.unit === '%')!;
    assert.deepEqual([acc.ok, acc.actual], [false, null]);
    assert.match(acc.message, /no measured accuracy/);
  });

  test('the table lists every budget with its verdict', () => {
    const res = evaluateBudgets(budgets({ maxBytes: 1e9, maxGzipBytes: 100, latency: [{ maxMs: 1, profile: 'nokia-3310' }] }), report);
    const table = renderBudgetTable(res);
    for (const r of res) assert.ok(table.includes(r.budget), r.budget);
    assert.equal((table.match(/\| PASS +\|/g) ?? []).length, res.filter((r) => r.ok).length);
    assert.equal((table.match(/\| FAIL +\|/g) ?? []).length, res.filter((r) => !r.ok).length);
    assert.match(table, /no benchmark matched profile=nokia-3310/);
  });

  test('JUnit XML is well-formed with hostile names and counts every verdict', () => {
    const hostile: BudgetResult = { budget: `p90Ms <= 5 ms [a&b/"c"/'d'/<e>]\u0001`, artifact: 'x<y>.onnx', limit: 5, actual: 7, unit: 'ms', ok: false, message: 'broken: 7 ms > 5 ms & "more"\nsecond line' };
    const ok: BudgetResult = { ...hostile, budget: 'bytes <= 10', artifact: 'a.onnx', ok: true };
    const j = parseJunitText(junitXml([hostile, ok], { name: 'suite <&>' }));
    assert.deepEqual([j.tests, j.failures], [2, 1]);
    assert.equal(j.cases[0]!.name, `p90Ms <= 5 ms [a&b/"c"/'d'/<e>]\uFFFD — x<y>.onnx`);
    assert.equal(j.cases[0]!.failure, hostile.message, 'newlines in the message survive attribute normalisation');
    assert.equal(j.cases[1]!.failure, null);
    assert.deepEqual(parseJunitText(junitXml([], { name: 'empty' })), { tests: 0, failures: 0, cases: [] });
  });

  test('config: budgets validate strictly; --max-p90-ms appends to the file\'s latency budgets', () => {
    const { raw, baseDir } = readConfigFile(EXAMPLE_CONFIG_PATH);
    const expectCode = (b: unknown, code: string, re: RegExp) =>
      assert.throws(() => parseConfig({ ...raw, budgets: b }, baseDir), (e: unknown) => e instanceof EdgeDistillError && e.code === code && re.test(e.message));
    expectCode({ latency: [{ maxMs: 5, metric: 'p91Ms' }] }, 'E_CONFIG', /budgets\.latency\.0\.metric/);
    expectCode({ maxGzip: 5 }, 'E_UNKNOWN_OPTION', /"maxGzip" at budgets/);
    expectCode({ latency: [{ maxMs: 5, enviroment: 'node' }] }, 'E_UNKNOWN_OPTION', /"enviroment"/);
    assert.equal(parseConfig({ ...raw, budgets: { latency: [{ maxMs: 5 }] } }, baseDir).budgets!.latency[0]!.metric, 'p90Ms');

    const file = join(tempDir('budgets-cfg'), 'pipeline.json');
    writeFileSync(file, JSON.stringify({ ...raw, budgets: { latency: [{ maxMs: 9, profile: 'phone' }], maxBytes: 5 } }));
    const cfg = compileConfig({ config: file, 'max-p90-ms': 4, 'max-gzip-bytes': 3, 'min-accuracy': 90, 'max-drop-vs-teacher': 2, 'max-drop-vs-fp32': 0.5 }, ['bench']);
    assert.deepEqual(cfg.budgets, {
      latency: [{ maxMs: 9, profile: 'phone', metric: 'p90Ms' }, { maxMs: 4, metric: 'p90Ms' }],
      maxBytes: 5,
      maxGzipBytes: 3,
      minAccuracy: 90,
      maxAccuracyDropVsTeacher: 2,
      maxAccuracyDropVsFp32: 0.5,
    });
  });

  test('bench: a broken latency budget exits 3 and the JUnit names it', () => {
    const model = join(out, 'artifacts', 'label', 'onnx', 'model.onnx');
    const junit = join(tempDir('budgets-junit'), 'bench.xml');
    const r = cli(['bench', model, ...SHORT_BENCH, '--out', tempDir('budgets-bench'), '--max-p90-ms', '0.000001', '--junit', junit]);
    assert.equal(r.status, EXIT_BUDGET, r.stderr.slice(-3000));
    assert.match(lastLine(r.stderr), /^edge-distill: E_BUDGET: (\d+) of \1 budgets broken: p90Ms <= 0\.000001 ms \[/);
    const j = parseJunit(junit);
    assert.ok(j.failures >= 1 && j.failures === j.tests);
    for (const c of j.cases) {
      assert.match(c.name, /^p90Ms <= 0\.000001 ms \[[^\]]+\] — \S+/);
      assert.match(c.failure!, /broken: [\d.e-]+ ms > 0\.000001 ms/);
    }
  });

  test('bench: kept budgets print the table and exit 0, and --junit is written anyway', () => {
    const model = join(out, 'artifacts', 'label', 'onnx', 'model.onnx');
    const junit = join(tempDir('budgets-junit'), 'kept.xml');
    const r = cli(['bench', model, ...SHORT_BENCH, '--out', tempDir('budgets-kept'), '--max-p90-ms', '60000', '--max-gzip-bytes', '100000000', '--junit', junit]);
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    assert.match(r.stderr, /\| p90Ms <= 60000 ms \[.*\| PASS +\|/);
    assert.match(r.stderr, /\| gzipBytes <= 100000000 +\|.*\| PASS +\|/);
    assert.doesNotMatch(r.stderr, /E_BUDGET|FAIL/);
    const j = parseJunit(junit);
    assert.ok(j.tests >= 2);
    assert.equal(j.failures, 0);
  });
});
