// Shared test helpers: run the real CLI as a user would, and read the artifacts it wrote.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS } from '../runtimes/browser/harness.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'edge-distill.mjs');
export const EXAMPLE_DIR = join(ROOT, 'examples', 'fmnist-bin');

const OFFICIAL_CHECKER = 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)';

/** onnx.checker with full_check (shape inference too); /usr/bin/python3 is Debian's, the interpreter that has onnx. */
export function runOfficialChecker(path: string): void {
  const r = spawnSync('/usr/bin/python3', ['-c', OFFICIAL_CHECKER, path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`onnx.checker rejected ${path}: ${r.stderr || r.error?.message}`);
}

/** Teacher outputs shared by the test files that distill the bundled example (runs write it atomically). */
export const SHARED_TEACHER_CACHE = join(tmpdir(), 'edge-distill-test-teacher-cache');

/** Distill the bundled example with the real CLI into a fresh folder; returns that folder. */
export function distillExample(prefix: string, args: string[]): string {
  const out = tempDir(prefix);
  const r = cli(['distill', '--out', out, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet', ...args]);
  if (r.status !== 0) throw new Error(`distill ${args.join(' ')} failed: ${r.stderr.slice(-2000)}`);
  return out;
}

/** sha256 of every artifact file and student weights, from a run's manifest (student.json also records train time). */
export function artifactHashes(out: string): Record<string, string> {
  const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  return Object.fromEntries(m.files.filter((f: { path: string }) => /^artifacts\/|^students\/.*\/weights\.bin$/.test(f.path)).map((f: { path: string; sha256: string }) => [f.path, f.sha256]));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `edge-distill-${prefix}-`));
}

export function cli(args: string[], opts: { cwd?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: opts.cwd ?? ROOT, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Largest elementwise |a - b| of two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Debian's Chromium (never a downloaded browser); the browser tests fail, not skip, without it. */
export const CHROMIUM = '/usr/bin/chromium';

export async function launchChromium(purpose: string): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: ${purpose} needs Debian's Chromium. Install it with \`apt-get update && apt-get install -y chromium\`.`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
