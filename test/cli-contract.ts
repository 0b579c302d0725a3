// The CLI's error contract as test helpers: run the real bin/edge-distill.mjs as a child process, assert the one
// `edge-distill: E_CODE: message. hint` line, and that --out holds no partial artifact. Shared by cli-errors.test.ts
// and bad-inputs.test.ts; the data writers build small files from the bundled Fashion-MNIST example.

import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readIdx } from '../pipeline/data/idx.ts';
import { npyBytes } from '../pipeline/data/npy.ts';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../bin/edge-distill.mjs', import.meta.url));
export const EXAMPLE = fileURLToPath(new URL('../examples/fmnist-bin/', import.meta.url));
export const TEACHER = join(EXAMPLE, 'teacher.onnx');
export const TRAIN_IMAGES = join(EXAMPLE, 'train-images-idx3-ubyte.gz');
export const TRAIN_LABELS = join(EXAMPLE, 'train-labels-idx1-ubyte.gz');
/** Fashion-MNIST label % 2, as the example's pipeline.json maps it for the 2-class teacher. */
export const LABEL_MAP = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1];
/** Flags that keep a run short should it ever get past validation. */
export const FAST = ['--steps', '1', '--runs', '1', '--warmup', '0'];
/** Rows of the real training set the small data files hold. */
export const ROWS = 600;

/**
 * parseConfig joins every issue ("unknown option ... at ...", "path.to.key: message") with "; ". The rest of the
 * config must be valid, so the bad key is the only issue named.
 */
export const ONLY_ISSUE = [/unknown option.*unknown option/, /; [\w.]+: /, /Invalid input/];

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

// ---------- child process ----------

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], cwd: string): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    cwd,
    timeout: 60_000,
    // No TTY and no colour: stderr is plain lines.
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

export interface Expect {
  code: string;
  status: number;
  /** Each must occur in the error line: the bad path, option, output name, label... */
  names: (string | RegExp)[];
  /** None may occur in the error line (e.g. a second, unrelated config complaint). */
  absent?: RegExp[];
  /** The --out folder the run was given, if any. */
  out?: string;
}

/** Asserts the whole error contract and returns the error line (also logged as a test diagnostic). */
export function assertFails(t: TestContext | null, r: CliResult, e: Expect): string {
  const ctx = `\n--- status ${r.status} signal ${r.signal}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr.slice(0, 4000)}`;
  assert.equal(r.signal, null, `the CLI was killed${ctx}`);
  assert.notEqual(r.status, 0, `exit status must be non-zero${ctx}`);
  assert.equal(r.status, e.status, `exit status${ctx}`);

  // An unexpected crash (E_INTERNAL, or the wasm backend's uncaughtException dump of a minified source line).
  assert.doesNotMatch(r.stderr, /E_INTERNAL/, `the CLI crashed instead of reporting a coded error${ctx}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  for (const l of lines) assert.ok(l.length < 1500, `stderr has a ${l.length}-char line: a crash dump, not an error line${ctx}`);

  const last = lines.at(-1) ?? '';
  t?.diagnostic(`exit ${r.status}: ${last}`);
  assert.match(last, /^edge-distill: E_[A-Z_]+: /, `last stderr line is the error line${ctx}`);
  assert.equal(/^edge-distill: (E_[A-Z_]+): /.exec(last)![1], e.code, `error code${ctx}`);
  assert.equal(lines.filter((l) => l.startsWith('edge-distill: E_')).length, 1, `exactly one error line${ctx}`);
  // `E_CODE: message. hint`: a message and a hint after it.
  assert.match(last, /^edge-distill: E_[A-Z_]+: \S.*\. \S.+$/, `the line is "E_CODE: message. hint"${ctx}`);
  for (const n of e.names) {
    if (typeof n === 'string') assert.ok(last.includes(n), `error line names ${JSON.stringify(n)}${ctx}`);
    else assert.match(last, n, `error line matches ${n}${ctx}`);
  }
  for (const n of e.absent ?? []) assert.doesNotMatch(last, n, `error line must not match ${n}${ctx}`);

  // No report: not the markdown one, not the JSON one, not the "Wrote ..." line.
  assert.equal(r.stdout, '', `stdout must be empty on failure${ctx}`);
  assert.doesNotMatch(r.stderr, /Wrote .*report\.json/, `no report written${ctx}`);

  if (e.out) assertNoArtifacts(e.out);
  return last;
}

/** --out either does not exist or holds nothing but the teacher cache. */
export function assertNoArtifacts(out: string): void {
  if (!existsSync(out)) return;
  assert.ok(statSync(out).isDirectory(), `${out} is a folder`);
  const entries = readdirSync(out);
  for (const f of ['manifest.json', 'report.json', 'report.md', 'students', 'artifacts']) {
    assert.ok(!entries.includes(f), `${out} must not hold ${f} after a failed run (has: ${entries.join(', ')})`);
  }
  const staging = entries.filter((f) => f.startsWith('.staging-'));
  assert.deepEqual(staging, [], `no staging folder left behind in ${out}`);
  assert.deepEqual(entries.filter((f) => f !== '.cache'), [], `${out} holds only .cache`);
  if (entries.includes('.cache')) assert.ok(statSync(join(out, '.cache')).isDirectory(), '.cache is a folder');
}

// ---------- data files built from the real example ----------

/** IDX (uncompressed), type ubyte: magic 00 00 08 ndims, big-endian uint32 dims, then the bytes. */
export function writeIdx(path: string, dims: number[], data: Uint8Array): string {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt8(0x08, 2);
  header.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  assert.equal(data.length, dims.reduce((a, b) => a * b, 1), 'IDX data matches its dims');
  writeFileSync(path, Buffer.concat([header, data]));
  return path;
}

/**
 * .npy version 1.0, little-endian, C order unless `fortranOrder`; the header is padded so the data starts on a
 * 64-byte boundary. Raw bytes (a Uint8Array) are written as given, for dtypes JS has no typed array for.
 */
export function writeNpy(path: string, descr: string, shape: number[], data: Float32Array | BigInt64Array | Uint8Array, fortranOrder = false): string {
  if (!(data instanceof Uint8Array)) assert.equal(data.length, shape.reduce((a, b) => a * b, 1), 'NPY data matches its shape');
  writeFileSync(path, npyBytes(descr, shape, data, fortranOrder));
  return path;
}

export function writeJson(path: string, value: unknown): string {
  writeFileSync(path, JSON.stringify(value, null, 2));
  return path;
}

/** The example's training images ([N, 28, 28] bytes, N >= ROWS) and their raw Fashion-MNIST labels 0..9. */
export async function readExampleTrain(): Promise<{ images: Uint8Array; labels: Uint8Array }> {
  const im = await readIdx(TRAIN_IMAGES);
  const lb = await readIdx(TRAIN_LABELS);
  assert.deepEqual(im.dims.slice(1), [28, 28], 'the example holds 28x28 images');
  assert.ok(im.data instanceof Uint8Array && lb.data instanceof Uint8Array);
  assert.equal(lb.dims[0], im.dims[0]);
  assert.ok(im.dims[0]! >= ROWS);
  return { images: im.data, labels: lb.data };
}

/** The first ROWS real images and labels as IDX files in dir; labels optionally rewritten. */
export function writeRealSubset(dir: string, train: { images: Uint8Array; labels: Uint8Array }, mapLabel: (raw: number, row: number) => number = (v) => v): { features: string; labels: string } {
  return {
    features: writeIdx(join(dir, 'train-images.idx'), [ROWS, 28, 28], train.images.subarray(0, ROWS * 784)),
    labels: writeIdx(join(dir, 'train-labels.idx'), [ROWS], Uint8Array.from(train.labels.subarray(0, ROWS), mapLabel)),
  };
}

/** A fresh temp folder per test (its --out, config and data); `cleanup` removes them all. */
export function tempFolders(prefix: string): { fresh: () => string; cleanup: () => void } {
  const dirs: string[] = [];
  return {
    fresh: () => {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    cleanup: () => {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}
