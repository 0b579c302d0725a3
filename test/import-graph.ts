// The project's import graph as the TypeScript compiler resolves it, and the layout checks test/layout.test.ts runs
// on it: import circles, and imports that a folder's README.md does not allow. The compiler is the authority on
// what a specifier resolves to: `tsc --explainFiles` lists, for every file of the program, each import that pulled
// it in — static, type-only (`import type`) and dynamic (`import('…')`) alike, so no kind of circle hides.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** File -> the project files it imports. Paths are relative to the project root, with '/' separators. */
export type ImportGraph = Map<string, Set<string>>;

const IMPORTED_VIA = /^\s+Imported via (['"]).*?\1 from file '([^']+)'/;

/** A JavaScript module typed by a hand-written declaration file is the .js file at run time. */
const runtimeFile = (f: string) => f.replace(/\.d\.ts$/, '.js');
const isProjectFile = (f: string) => !f.startsWith('node_modules/') && !f.startsWith('/') && !f.includes('/node_modules/');

/** Parse `tsc --explainFiles` output: a line naming a file, then indented lines saying why it is in the program. */
export function parseExplainFiles(text: string): ImportGraph {
  const graph: ImportGraph = new Map();
  let target: string | null = null;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (!/^\s/.test(line)) {
      target = isProjectFile(line.trim()) ? runtimeFile(line.trim()) : null;
      if (target && !graph.has(target)) graph.set(target, new Set());
      continue;
    }
    const m = IMPORTED_VIA.exec(line);
    if (!target || !m || !isProjectFile(m[2]!)) continue;
    const from = runtimeFile(m[2]!);
    if (!graph.has(from)) graph.set(from, new Set());
    graph.get(from)!.add(target);
  }
  return graph;
}

/** The import graph of the program that `tsconfig` (relative to root) describes, from the project's own tsc. */
export function importGraph(root: string, tsconfig = 'tsconfig.json'): ImportGraph {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const run = spawnSync(process.execPath, [tsc, '--noEmit', '-p', tsconfig, '--explainFiles'], { cwd: root, encoding: 'utf8', maxBuffer: 256 << 20 });
  // A program that does not type-check has no trustworthy graph: say why rather than check half of it.
  if (run.status !== 0) throw new Error(`tsc failed in ${root}:\n${run.stdout.split('\n').filter((l) => /error TS\d+/.test(l)).join('\n') || run.stderr}`);
  return parseExplainFiles(run.stdout);
}

/**
 * Every import circle: the strongly connected components with more than one file, or a file importing itself
 * (Tarjan's algorithm). Each is returned as one closed path through the component, e.g. [a, b, a].
 */
export function findCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || graph.get(v)?.has(v)) components.push(c.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return components.map((c) => closedPath(graph, c));
}

/** A shortest closed path from the component's first file back to itself, staying inside the component. */
function closedPath(graph: ImportGraph, component: string[]): string[] {
  const inside = new Set(component);
  const start = component[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...component, start];
}

/** What a folder's README.md allows its modules to import: the line `May import: `a/`, `b.ts`.` (or "nothing"). */
export interface FolderRule {
  folder: string;
  readme: string;
  /** Files (`x.ts`) or folders (`x/`) outside the folder, relative to the project root. */
  allowed: string[];
}

/** The rule of every listed folder; a folder without a README.md or without its "May import:" line is an error. */
export function readFolderRules(root: string, folders: string[]): FolderRule[] {
  return folders.map((folder) => {
    const readme = `${folder}/README.md`;
    if (!existsSync(join(root, readme))) throw new Error(`${readme} is missing: each folder says what it owns and what it may import`);
    const line = readFileSync(join(root, readme), 'utf8').split('\n').find((l) => l.startsWith('May import:'));
    if (!line) throw new Error(`${readme} has no "May import:" line`);
    const allowed = [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    if (!allowed.length && !/May import: nothing/.test(line)) throw new Error(`${readme}: "May import:" lists no \`path\` and does not say "nothing"`);
    return { folder, readme, allowed };
  });
}

export interface RuleViolation {
  from: string;
  to: string;
  readme: string;
}

/** Imports that leave a ruled folder for a place its README does not list. The deepest ruled folder applies. */
export function ruleViolations(graph: ImportGraph, rules: FolderRule[]): RuleViolation[] {
  const byDepth = [...rules].sort((a, b) => b.folder.length - a.folder.length);
  const within = (file: string, place: string) => (place.endsWith('/') ? file.startsWith(place) : file === place);
  const out: RuleViolation[] = [];
  for (const [from, targets] of [...graph].sort(([a], [b]) => a.localeCompare(b))) {
    const rule = byDepth.find((r) => from.startsWith(`${r.folder}/`));
    if (!rule) continue;
    for (const to of [...targets].sort()) {
      if (to.startsWith(`${rule.folder}/`)) continue;
      if (!rule.allowed.some((a) => within(to, a))) out.push({ from, to, readme: rule.readme });
    }
  }
  return out;
}
