// The house rules of the layout (pipeline/README.md): no import circle anywhere in the program, and every folder
// imports only what its README.md says it may — so stages sit above methods, exporters and runtimes, and those
// above data and util. Checked on the compiler's own import graph, and shown to fail on a copy of the project into
// which a circle and a forbidden import are written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCycles, importGraph, parseExplainFiles, readFolderRules, ruleViolations, type ImportGraph } from './import-graph.ts';
import { ROOT } from './helpers.ts';

/** Every folder with a rule: exporters/, runtimes/ (browser/ included) and each folder inside pipeline/. */
function ruledFolders(root: string): string[] {
  const inside = readdirSync(join(root, 'pipeline')).filter((f) => statSync(join(root, 'pipeline', f)).isDirectory()).map((f) => `pipeline/${f}`);
  return ['exporters', 'runtimes', ...inside].sort();
}

const describe = (v: { from: string; to: string; readme: string }[]) => v.map((x) => `${x.from} imports ${x.to}, which ${x.readme} does not allow`).join('\n');

test('the project has no import circle and every folder imports only what its README allows', () => {
  const graph = importGraph(ROOT);
  // The parse must see the program: a broken parse would find no circle in an empty graph.
  assert.ok(graph.size > 100, `only ${graph.size} files in the graph`);
  assert.ok(graph.get('pipeline/cli.ts')?.has('pipeline/api.ts') && graph.get('pipeline/api.ts')?.has('pipeline/runner.ts'), 'cli.ts -> api.ts -> runner.ts not seen');
  assert.ok(graph.get('pipeline/util/tfjs.ts')?.has('pipeline/util/tfjs-kernels.ts'), 'a dynamic import() was not seen');
  assert.ok(graph.get('pipeline/distill/train-one.ts')?.has('pipeline/teacher/teacher.ts'), 'an `import type` was not seen');
  assert.ok(graph.get('pipeline/data/schema.ts')?.has('pipeline/text/featurizer.js'), 'an import of a typed .js module was not seen');

  assert.deepEqual(findCycles(graph).map((c) => c.join(' -> ')), []);
  assert.equal(describe(ruleViolations(graph, readFolderRules(ROOT, ruledFolders(ROOT)))), '');
});

test('the direction rules themselves: nothing below the runner may import a stage, the runner or the CLI', () => {
  const rules = readFolderRules(ROOT, ruledFolders(ROOT));
  const entryPoints = ['pipeline/cli.ts', 'pipeline/runner.ts'];
  for (const r of rules) {
    for (const a of r.allowed) {
      assert.ok(!entryPoints.includes(a) && a !== 'pipeline/' && a !== 'pipeline', `${r.readme} allows ${a}`);
      if (r.folder !== 'pipeline/stages') assert.ok(!a.startsWith('pipeline/stages'), `${r.readme} allows ${a}`);
    }
  }
  for (const low of ['exporters', 'runtimes', 'pipeline/data', 'pipeline/util', 'pipeline/student', 'pipeline/text']) {
    const r = rules.find((x) => x.folder === low)!;
    assert.ok(!r.allowed.includes('pipeline/config.ts'), `${r.readme} allows the whole config: give it its section instead`);
  }
});

test('at most 8 source files directly in pipeline/', () => {
  const files = readdirSync(join(ROOT, 'pipeline')).filter((f) => /\.(ts|js)$/.test(f));
  assert.ok(files.length <= 8, files.join(', '));
});

test('the checks fail on a copy of the project with an import circle and an upward import added', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ed-layout-'));
  try {
    for (const f of ['pipeline', 'exporters', 'runtimes', 'benchmarks', 'test', 'examples', 'schemas', 'package.json', 'tsconfig.json']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    // util/math.ts -> util/progress.ts -> util/math.ts: a circle inside one folder (type-only, which still counts).
    const add = (file: string, line: string) => writeFileSync(join(dir, file), `${line}\n${readFileSync(join(dir, file), 'utf8')}`);
    add('pipeline/util/math.ts', "import type { Progress } from './progress.ts';\nexport type ProgressAlias = Progress;");
    add('pipeline/util/progress.ts', "import type { ProgressAlias } from './math.ts';\nexport type Again = ProgressAlias;");
    // An exporter reaching up into a stage (a new file, so that no circle hides the rule's own verdict).
    writeFileSync(join(dir, 'exporters/upward.ts'), "import type { Evaluation } from '../pipeline/stages/export.ts';\nexport type Upward = Evaluation;\n");
    const graph = importGraph(dir);
    assert.deepEqual(findCycles(graph), [['pipeline/util/math.ts', 'pipeline/util/progress.ts', 'pipeline/util/math.ts']]);
    const v = ruleViolations(graph, readFolderRules(dir, ruledFolders(dir)));
    assert.deepEqual(v, [{ from: 'exporters/upward.ts', to: 'pipeline/stages/export.ts', readme: 'exporters/README.md' }]);
    // A new folder inside pipeline/ has to say what it may import.
    cpSync(join(dir, 'pipeline/util'), join(dir, 'pipeline/engine'), { recursive: true });
    rmSync(join(dir, 'pipeline/engine/README.md'));
    assert.throws(() => readFolderRules(dir, ruledFolders(dir)), /pipeline\/engine\/README\.md is missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the parser of tsc --explainFiles and the circle finder on a hand-written listing', () => {
  const listing = [
    "node_modules/zod/index.d.cts",
    "   Imported via 'zod' from file 'a/x.ts' with packageId 'zod/index.d.cts@4.6.7'",
    'a/x.ts',
    "   Imported via './y.ts' from file 'a/y.ts'",
    '   Matched by include pattern \'a\' in \'tsconfig.json\'',
    'a/y.ts',
    "   Imported via \"./x.ts\" from file 'a/x.ts'",
    "   Imported via '../b/z.js' from file 'b/w.ts'",
    'b/z.d.ts',
    "   Imported via '../b/z.js' from file 'a/y.ts'",
    'b/w.ts',
    '',
  ].join('\n');
  const g: ImportGraph = parseExplainFiles(listing);
  assert.deepEqual(Object.fromEntries([...g].map(([k, v]) => [k, [...v].sort()])), {
    'a/x.ts': ['a/y.ts'],
    'a/y.ts': ['a/x.ts', 'b/z.js'],
    'b/w.ts': ['a/y.ts'],
    'b/z.js': [],
  });
  assert.deepEqual(findCycles(g), [['a/x.ts', 'a/y.ts', 'a/x.ts']]);
  const selfLoop: ImportGraph = new Map([['s.ts', new Set(['s.ts'])]]);
  assert.deepEqual(findCycles(selfLoop), [['s.ts', 's.ts']]);
  // Three files in one circle come back as one closed path through all of them.
  const tri: ImportGraph = new Map([['p', new Set(['q'])], ['q', new Set(['r'])], ['r', new Set(['p'])]]);
  assert.deepEqual(findCycles(tri), [['p', 'q', 'r', 'p']]);
});
