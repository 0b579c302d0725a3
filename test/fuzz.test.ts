// Property-based fuzzing of every parser: generated inputs and mutated real files (byte flips, truncations,
// insertions, duplications) must give a well-formed result or an EdgeDistillError — never a TypeError, RangeError or
// protobuf error, and never a hang. Each suite runs in a worker thread, because a parser stuck in a synchronous loop
// cannot be interrupted by a Promise timeout; the main thread terminates a worker that stops making progress.
// Seeds are fixed (FUZZ_SEED overrides); fast-check prints the seed and the shrunk counterexample of a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { EdgeDistillError } from '../pipeline/errors.ts';
import { readAll, rowWriter, type RowWriter, type Rows } from '../pipeline/data/rows.ts';
import type { Table } from '../pipeline/data/table.ts';

const SUITES = ['idx', 'csv', 'jsonl', 'npy', 'onnx', 'tflite', 'tfjs', 'email', 'precomputed', 'images', 'shards'] as const;
type Suite = (typeof SUITES)[number];
const SEED = Number(process.env.FUZZ_SEED ?? 20250611);
/** A single parser call slower than this fails the property (and is shrunk like any other failure). */
const CALL_MS = 2000;
/** A worker that reports no new call for this long is stuck in one: terminated, and the call is reported as a hang. */
const HANG_MS = 5000;
const ROOT = new URL('..', import.meta.url).pathname;
const EXAMPLE = join(ROOT, 'examples', 'fmnist-bin');
const SPAM = join(ROOT, 'node_modules', '@stdlib', 'datasets-spam-assassin', 'data', 'spam-1');

interface Tally {
  runs: number;
  /** 'ok' or the EdgeDistillError code -> count. */
  outcomes: Record<string, number>;
}
interface SuiteReport {
  tallies: Record<string, Tally>;
  failure?: string;
}

// ---- main thread: one test per suite, each in its own worker -------------------------------------------

if (isMainThread) {
  for (const suite of SUITES) {
    test(`fuzz ${suite}: well-formed result or EdgeDistillError, never a crash or hang`, { timeout: 120_000 }, async (t) => {
      const report = await runWorker(suite);
      for (const [label, { runs, outcomes }] of Object.entries(report.tallies)) {
        t.diagnostic(`${label}: ${runs} inputs; ${Object.entries(outcomes).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      }
      if (report.failure) assert.fail(`${suite} (FUZZ_SEED=${SEED}): ${report.failure}`);
    });
  }
}

function runWorker(suite: Suite): Promise<SuiteReport> {
  // tsx's loader does not reach worker threads by itself: register it, then load this file as the worker.
  const src = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  return new Promise((resolve, reject) => {
    const w = new Worker(src, { eval: true, execArgv: [], workerData: { suite, seed: SEED } });
    let last = { at: Date.now(), what: 'worker start-up', limit: 60_000 };
    let report: SuiteReport | null = null;
    const watchdog = setInterval(() => {
      if (Date.now() - last.at <= last.limit) return;
      clearInterval(watchdog);
      void w.terminate();
      reject(new Error(`${suite} (FUZZ_SEED=${SEED}): hang — no progress for ${last.limit} ms in ${last.what}`));
    }, 200);
    w.on('message', (m: { type: 'call'; what: string } | { type: 'report'; report: SuiteReport }) => {
      if (m.type === 'call') last = { at: Date.now(), what: m.what, limit: HANG_MS };
      else report = m.report;
    });
    w.on('error', (err) => {
      clearInterval(watchdog);
      reject(err);
    });
    w.on('exit', (code) => {
      clearInterval(watchdog);
      if (report) resolve(report);
      else reject(new Error(`${suite}: worker exited with code ${code} before reporting`));
    });
  });
}

// ---- worker: the properties --------------------------------------------------------------------------

/** Byte-level mutations of a real file. Positions are taken modulo the length, biased towards the header. */
type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'int32'; at: number; value: number; le: boolean }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'token'; at: number; token: string }
  | { op: 'duplicate'; at: number; len: number; to: number }
  | { op: 'delete'; at: number; len: number };

/** Bytes that mean something to one of the formats: quotes, separators, brackets, MIME and encoding markers. */
const TOKENS = ['"', ',', '\n', '\r\n', '\r', '""', '{', '}', '[', ']', ':', 'null', 'NaN', '-Infinity', '1e309', '-0', '\ufeff',
  '\u0000', '\xff\xfe', '\xc3', '--', '=?utf-8?B?', '=?x?Q?=FF?=', '?=', '=\n', '=ZZ', '<', '&#xFFFFFF;', '\n\n', '\t',
  'Content-Type: multipart/mixed; boundary=b\n', '--b\n', 'Content-Transfer-Encoding: base64\n', "'descr'", "'shape': (", 'True'];

const position = fc.oneof(fc.nat(64), fc.nat(1 << 20));
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat(7) }),
  fc.record({ op: fc.constant('set' as const), at: position, value: fc.oneof(fc.constantFrom(0, 0xff, 0x7f, 0x80, 0x0a), fc.nat(255)) }),
  fc.record({ op: fc.constant('int32' as const), at: position, value: fc.constantFrom(0, 1, 0xff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff), le: fc.boolean() }),
  fc.record({ op: fc.constant('truncate' as const), at: position }),
  fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('token' as const), at: position, token: fc.constantFrom(...TOKENS) }),
  fc.record({ op: fc.constant('duplicate' as const), at: position, len: fc.integer({ min: 1, max: 512 }), to: position }),
  fc.record({ op: fc.constant('delete' as const), at: position, len: fc.integer({ min: 1, max: 64 }) }),
);
const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

function mutate(base: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(base);
  for (const m of ms) {
    const at = b.length ? m.at % b.length : 0;
    const splice = (pos: number, del: number, ins: Uint8Array) => Buffer.concat([b.subarray(0, pos), ins, b.subarray(pos + del)]);
    if (m.op === 'flip' && b.length) b[at] = b[at]! ^ (1 << m.bit);
    else if (m.op === 'set' && b.length) b[at] = m.value;
    else if (m.op === 'int32' && b.length >= 4) {
      const pos = Math.min(at, b.length - 4);
      if (m.le) b.writeUInt32LE(m.value, pos);
      else b.writeUInt32BE(m.value, pos);
    } else if (m.op === 'truncate') b = b.subarray(0, at);
    else if (m.op === 'insert') b = splice(at, 0, m.bytes);
    else if (m.op === 'token') b = splice(at, 0, Buffer.from(m.token, 'latin1'));
    else if (m.op === 'duplicate') b = splice(b.length ? m.to % b.length : 0, 0, Buffer.from(b.subarray(at, at + m.len)));
    else if (m.op === 'delete') b = splice(at, m.len, new Uint8Array(0));
  }
  return new Uint8Array(b);
}

/** Stands for an array nested 50 000 deep (more than JSON.stringify's recursion can print) in edited JSON Lines. */
const DEEP = '\u0001deep';

/** Structure-aware JSON mutations: replace or delete the value at the n-th node (document order) of a parsed file. */
interface JsonEdit {
  pick: number;
  action: 'replace' | 'delete' | 'wrap' | 'stringify';
  value: unknown;
}
const jsonEdits = fc.array(
  fc.record({ pick: fc.nat(), action: fc.constantFrom('replace' as const, 'delete' as const, 'wrap' as const, 'stringify' as const), value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(null, -1, 0, 1e308, 2 ** 31, 'float32', [], {}, DEEP)) }),
  { minLength: 1, maxLength: 3 },
);

function editJson(doc: unknown, edits: readonly JsonEdit[]): unknown {
  const root = { doc: structuredClone(doc) };
  for (const e of edits) {
    const slots: [Record<string, unknown> | unknown[], string | number][] = [];
    const walk = (parent: Record<string, unknown> | unknown[], key: string | number) => {
      slots.push([parent, key]);
      const v = (parent as Record<string, unknown>)[key];
      if (Array.isArray(v)) v.forEach((_, i) => walk(v, i));
      else if (v && typeof v === 'object') Object.keys(v).forEach((k) => walk(v as Record<string, unknown>, k));
    };
    walk(root, 'doc');
    const [parent, key] = slots[e.pick % slots.length]!;
    const obj = parent as Record<string, unknown>;
    if (e.action === 'replace') obj[key] = structuredClone(e.value);
    else if (e.action === 'wrap') obj[key] = [obj[key]];
    else if (e.action === 'stringify') obj[key] = JSON.stringify(obj[key]) ?? null;
    else if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete obj[key];
  }
  return root.doc;
}

/** An edited list of rows as JSON Lines; an edit that replaced the whole list gives one line. */
function jsonLines(doc: unknown): string {
  const text = Array.isArray(doc) ? doc.map((r) => JSON.stringify(r) ?? '').join('\n') : (JSON.stringify(doc) ?? '');
  return text.replaceAll(JSON.stringify(DEEP), `${'['.repeat(50_000)}${']'.repeat(50_000)}`);
}

/** A readable, reproducible description of an input for hang reports (the full bytes of a mutated file are not). */
function describe(input: unknown): string {
  const s = JSON.stringify(input, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v)) ?? String(input);
  return s.length > 600 ? `${s.slice(0, 600)}…` : s;
}

class Fuzz {
  readonly tallies: Record<string, Tally> = {};
  constructor(private readonly seed: number, readonly dir: string) {}

  /**
   * Run `call` on `numRuns` inputs; each must return a value `check` accepts or throw an EdgeDistillError, within
   * CALL_MS. `neverThrows` (the e-mail parser) makes even an EdgeDistillError a failure.
   */
  async property<T, R>(label: string, arb: fc.Arbitrary<T>, numRuns: number, call: (input: T) => R | Promise<R>, check: (r: Awaited<R>) => void, opts: { neverThrows?: boolean } = {}): Promise<void> {
    const tally: Tally = (this.tallies[label] = { runs: 0, outcomes: {} });
    let seed = this.seed;
    for (const ch of label) seed = (Math.imul(seed, 31) + ch.charCodeAt(0)) | 0; // one stream per property
    await fc.assert(
      fc.asyncProperty(arb, async (input) => {
        parentPort!.postMessage({ type: 'call', what: `${label}: ${describe(input)}` });
        const outcome = await typedOutcome(label, () => call(input), check, opts.neverThrows ?? false);
        tally.runs++;
        tally.outcomes[outcome] = (tally.outcomes[outcome] ?? 0) + 1;
      }),
      { numRuns, seed },
    );
  }
}

async function typedOutcome<R>(label: string, call: () => R | Promise<R>, check: (r: Awaited<R>) => void, neverThrows: boolean): Promise<string> {
  const t0 = performance.now();
  let result: Awaited<R>;
  try {
    result = await call();
  } catch (err) {
    if (err instanceof EdgeDistillError && !neverThrows) {
      assert.ok(err.message.length > 0 && err.hint.length > 0, `${label}: EdgeDistillError without message or hint`);
      return err.code;
    }
    const e = err as Error;
    const where = (e?.stack ?? '').split('\n').slice(1, 4).map((l) => l.trim()).join(' < ');
    throw new Error(`${label} threw ${e?.constructor?.name ?? typeof err}: ${e?.message ?? String(err)} (at ${where})`, { cause: err });
  } finally {
    const ms = performance.now() - t0;
    if (ms > CALL_MS) throw new Error(`${label} took ${Math.round(ms)} ms (limit ${CALL_MS} ms)`);
  }
  check(result);
  return 'ok';
}

// Well-formedness checks shared by the suites.
const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
function checkTable(t: { features: Float32Array; featureCount: number; rows: number; labels: string[] | null; featureNames: string[] }): void {
  assert.equal(t.features.length, t.rows * t.featureCount);
  assert.equal(t.featureNames.length, t.featureCount);
  assert.ok(t.labels === null || (t.labels.length === t.rows && t.labels.every((l) => typeof l === 'string')));
  assert.ok(t.features.every(Number.isFinite), 'non-finite feature');
}

/**
 * Read `path` whole and streamed (rows into an anonymous file in `dir`): the streamed table must equal the whole one,
 * or fail with the same code and message. Returns the table (features in memory) or throws that error.
 */
async function sameAsWhole(
  path: string,
  whole: (path: string) => Promise<Table>,
  streamed: (path: string, writer: RowWriter) => Omit<Table, 'features'> & { features: Rows },
  dir: string,
): Promise<Table> {
  const a = await whole(path).then((t) => ({ t }), (err: unknown) => ({ err }));
  let b: Table;
  try {
    const s = streamed(path, rowWriter(dir));
    b = { ...s, features: Float32Array.from(readAll(s.features)) };
    s.features.close();
  } catch (err) {
    assert.ok('err' in a, `the whole file read fine but streamed it failed: ${(err as Error).message}`);
    assert.ok(err instanceof EdgeDistillError && a.err instanceof EdgeDistillError && err.message === a.err.message, `different errors: ${(err as Error).message} / ${(a.err as Error).message}`);
    throw err;
  }
  assert.ok('t' in a, `streamed it read fine but the whole file failed: ${'err' in a ? (a.err as Error).message : ''}`);
  assert.deepEqual(b, a.t);
  return b;
}

const writer = (dir: string, name: string) => (bytes: Uint8Array | string): string => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};

// ---- real inputs -----------------------------------------------------------------------------------------

function idxHeader(type: number, dims: number[]): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h[2] = type;
  h[3] = dims.length;
  dims.forEach((d, i) => h.writeUInt32BE(d >>> 0, 4 + 4 * i));
  return h;
}

/** The first `n` real Fashion-MNIST test images (uint8 28x28) and labels, as small raw IDX files. */
function realIdx(n: number): { images: Uint8Array; labels: Uint8Array } {
  const images = gunzipSync(readFileSync(join(EXAMPLE, 't10k-images-idx3-ubyte.gz')));
  const labels = gunzipSync(readFileSync(join(EXAMPLE, 't10k-labels-idx1-ubyte.gz')));
  return {
    images: Buffer.concat([idxHeader(0x08, [n, 28, 28]), images.subarray(16, 16 + n * 784)]),
    labels: Buffer.concat([idxHeader(0x08, [n]), labels.subarray(8, 8 + n)]),
  };
}

const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal, open', 'Shirt "casual"', 'Sneaker', 'Bag', 'Ankle boot'];

/** Real rows: 12 pixels of each of 30 Fashion-MNIST images, scaled to [0, 1], with the class name as label. */
function realRows(): { features: number[]; label: string }[] {
  const { images, labels } = realIdx(30);
  return Array.from({ length: 30 }, (_, r) => ({
    features: Array.from({ length: 12 }, (_, c) => Number((images[16 + r * 784 + 300 + 7 * c]! / 255).toFixed(4))),
    label: CLASS_NAMES[labels[8 + r]!]!,
  }));
}

function npy(descr: string, shape: number[], data: Uint8Array, major = 1): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = 8 + (major === 1 ? 2 : 4);
  const len = Math.ceil((pre + dict.length + 1) / 64) * 64 - pre;
  const header = Buffer.from(dict.padEnd(len - 1, ' ') + '\n', 'latin1');
  const lenBytes = Buffer.alloc(major === 1 ? 2 : 4);
  if (major === 1) lenBytes.writeUInt16LE(len);
  else lenBytes.writeUInt32LE(len);
  return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]), lenBytes, header, data]);
}

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
const f64 = (values: number[]) => new Uint8Array(Float64Array.from(values).buffer);

// ---- suites ------------------------------------------------------------------------------------------------

const SUITE_RUNS: Record<Suite, (f: Fuzz) => Promise<void>> = {
  async idx(f) {
    const { readIdx } = await import('../pipeline/data/idx.ts');
    const { images, labels } = realIdx(3);
    const bases = [images, labels, gzipSync(images), gzipSync(labels)];
    const write = writer(f.dir, 'data.idx');
    const checkIdx = (a: { dims: number[]; data: ArrayLike<number> }) => {
      assert.ok(a.dims.every((d) => Number.isInteger(d) && d >= 0));
      assert.equal(a.data.length, product(a.dims));
    };
    await f.property('IDX mutated (raw and gzip)', fc.tuple(fc.nat(bases.length - 1), mutations), 1200, ([i, ms]) => readIdx(write(mutate(bases[i]!, ms))), checkIdx);
    const generated = fc.record({
      type: fc.oneof(fc.constantFrom(0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e), fc.nat(255)),
      dims: fc.array(fc.oneof(fc.nat(4), fc.constantFrom(0, 0xffffffff, 0x80000000, 0x10000)), { maxLength: 5 }),
      ndims: fc.option(fc.nat(255)),
      payload: fc.uint8Array({ maxLength: 200 }),
      exact: fc.boolean(),
    });
    await f.property('IDX generated headers', generated, 800, ({ type, dims, ndims, payload, exact }) => {
      const h = idxHeader(type, dims);
      if (ndims !== null) h[3] = ndims;
      const need = product(dims) * ({ 8: 1, 9: 1, 11: 2, 12: 4, 13: 4, 14: 8 }[type] ?? 1);
      const body = exact && need <= 4096 ? new Uint8Array(need).map((_, i) => payload[i % Math.max(1, payload.length)] ?? i) : payload;
      return readIdx(write(Buffer.concat([h, body])));
    }, checkIdx);
  },

  async csv(f) {
    const { parseCsv, readCsvTable, streamCsvTable } = await import('../pipeline/data/csv.ts');
    const rows = realRows();
    const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const header = [...rows[0]!.features.map((_, i) => `px${i}`), 'label'].join(',');
    const real = Buffer.from('\ufeff' + [header, ...rows.map((r) => [...r.features, quote(r.label)].join(','))].join('\r\n') + '\r\n');
    await f.property('parseCsv generated text', fc.string({ unit: fc.constantFrom('"', ',', '\n', '\r', ' ', 'a', '1', '.', '\ufeff', 'é'), maxLength: 300 }), 800,
      (text) => parseCsv(text, 'gen.csv'),
      (out) => assert.ok(out.every((row) => Array.isArray(row) && row.length > 0 && row.every((c) => typeof c === 'string'))));
    const options = fc.record({
      // Mostly the options that fit the file, so most inputs reach the row checks rather than stop at E_CONFIG.
      label: fc.oneof({ weight: 4, arbitrary: fc.constant('label') }, fc.constantFrom(undefined, 'px0', 'nope', 12, -1, 14)),
      features: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, fc.array(fc.oneof(fc.constantFrom('px1', 'px3', 'label'), fc.integer({ min: -1, max: 14 })), { maxLength: 3 })),
      header: fc.option(fc.boolean(), { nil: undefined }),
    });
    const write = writer(f.dir, 'data.csv');
    await f.property('readCsvTable mutated real rows', fc.tuple(mutations, options), 1000, ([ms, opts]) => readCsvTable(write(mutate(real, ms)), opts), checkTable);
    // The streamed reader (data larger than memory) on the same inputs, in pieces of 1 to 64 bytes: the same table,
    // or the same error, as reading the whole file.
    await f.property('streamCsvTable mutated real rows in pieces', fc.tuple(mutations, options, fc.integer({ min: 1, max: 64 })), 500,
      ([ms, opts, piece]) => sameAsWhole(write(mutate(real, ms)), (p) => readCsvTable(p, opts), (p, w) => streamCsvTable(p, opts, w, piece), f.dir), checkTable);
  },

  async jsonl(f) {
    const { parseJsonlTable, readJsonlTable, streamJsonlTable } = await import('../pipeline/data/jsonl.ts');
    const rows = realRows();
    const real = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const deep = fc.integer({ min: 1, max: 100_000 }).map((d) => `{"features":[${'['.repeat(d)}${']'.repeat(d)}],"label":1}`);
    const line = fc.oneof(fc.json(), fc.string(), deep, fc.record({ features: fc.array(fc.oneof(fc.double(), fc.jsonValue({ maxDepth: 1 })), { maxLength: 4 }), label: fc.jsonValue({ maxDepth: 1 }) }).map((o) => JSON.stringify(o)));
    const lines = fc.tuple(fc.array(line, { maxLength: 6 }), fc.constantFrom('\n', '\r\n'));
    await f.property('parseJsonlTable generated lines', lines, 600, ([ls, eol]) => parseJsonlTable(ls.join(eol), 'gen.jsonl'), checkTable);
    const write = writer(f.dir, 'data.jsonl');
    const keys = fc.record({ featuresKey: fc.constantFrom(undefined, 'features', 'label'), labelKey: fc.constantFrom(undefined, 'label', 'features', 'id') });
    await f.property('readJsonlTable mutated real rows', fc.tuple(mutations, keys), 800, ([ms, opts]) => readJsonlTable(write(mutate(Buffer.from(real), ms)), opts), checkTable);
    await f.property('streamJsonlTable mutated real rows in pieces', fc.tuple(mutations, keys, fc.integer({ min: 1, max: 64 })), 400,
      ([ms, opts, piece]) => sameAsWhole(write(mutate(Buffer.from(real), ms)), (p) => readJsonlTable(p, opts), (p, w) => streamJsonlTable(p, opts, w, piece), f.dir), checkTable);
    await f.property('parseJsonlTable edited real rows', jsonEdits, 400,
      (edits) => parseJsonlTable(jsonLines(editJson(rows, edits)), 'edited.jsonl'), checkTable);
  },

  async npy(f) {
    const { readNpy, SUPPORTED_NPY_DTYPES } = await import('../pipeline/data/npy.ts');
    const bases = [
      npy('<f4', [3, 4], f32(realRows().slice(0, 3).flatMap((r) => r.features.slice(0, 4)))),
      npy('<i8', [5], new Uint8Array(BigInt64Array.from([0n, 1n, 9n, -3n, 2n ** 40n]).buffer)),
      npy('|u1', [2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6])),
      npy('<f8', [2, 2], f64([0.5, -1, 1e300, 3]), 2),
    ];
    const write = writer(f.dir, 'data.npy');
    const checkNpy = (a: { shape: number[]; data: ArrayLike<number>; dtype: string }) => {
      assert.ok(SUPPORTED_NPY_DTYPES.includes(a.dtype), a.dtype);
      assert.equal(a.data.length, product(a.shape));
    };
    await f.property('NPY mutated', fc.tuple(fc.nat(bases.length - 1), mutations), 1000, ([i, ms]) => readNpy(write(mutate(bases[i]!, ms))), checkNpy);
    const size = fc.oneof(fc.nat(5).map(String), fc.constantFrom('0', '-1', '3L', '1e3', '2.5', '99999999999999999999', '4294967296', ' ', 'x', ''));
    const header = fc.record({
      major: fc.constantFrom(1, 2, 3, 0, 4),
      descr: fc.oneof(fc.constantFrom(...SUPPORTED_NPY_DTYPES, '>f4', '<c8', '|O', '<U3'), fc.string({ maxLength: 5 })),
      list: fc.boolean(),
      fortran: fc.constantFrom('False', 'True', 'None', ''),
      shape: fc.array(size, { maxLength: 4 }),
      lenDelta: fc.oneof(fc.constant(0), fc.integer({ min: -16, max: 16 })),
      payload: fc.uint8Array({ maxLength: 128 }),
      exact: fc.boolean(),
    });
    await f.property('NPY generated headers', header, 800, (h) => {
      const descr = h.list ? `[('a', '${h.descr}')]` : `'${h.descr}'`;
      const dict = Buffer.from(`{'descr': ${descr}, 'fortran_order': ${h.fortran}, 'shape': (${h.shape.join(', ')}), }\n`, h.major === 3 ? 'utf8' : 'latin1');
      const len = Buffer.alloc(h.major === 1 ? 2 : 4);
      const claimed = Math.max(0, dict.length + h.lenDelta);
      if (h.major === 1) len.writeUInt16LE(Math.min(claimed, 0xffff));
      else len.writeUInt32LE(claimed);
      const n = product(h.shape.map(Number)) * 8;
      const body = h.exact && Number.isSafeInteger(n) && n >= 0 && n <= 8192 ? new Uint8Array(n).map((_, i) => h.payload[i % Math.max(1, h.payload.length)] ?? 7) : h.payload;
      return readNpy(write(Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, h.major, 0]), len, dict, body])));
    }, checkNpy);
  },

  async onnx(f) {
    const { inspectModel } = await import('../pipeline/inspect/inspect.ts');
    const { importStudent } = await import('../pipeline/distill/student-import.ts');
    const { exportOnnx } = await import('../exporters/onnx.ts');
    const { testSpecs } = await import('./specs.ts');
    const student = exportOnnx(testSpecs().rgb, { producerVersion: 'fuzz' });
    const teacher = readFileSync(join(EXAMPLE, 'teacher.onnx'));
    const write = writer(f.dir, 'model.onnx');
    const checkInfo = (i: { format: string; inputs: unknown[]; outputs: unknown[]; parameters: number; ops: object }) => {
      assert.ok(['onnx', 'tfjs-layers', 'tfjs-graph'].includes(i.format));
      assert.ok(Array.isArray(i.inputs) && Array.isArray(i.outputs) && typeof i.parameters === 'number' && typeof i.ops === 'object');
    };
    await f.property('inspectModel mutated student ONNX', mutations, 800, (ms) => inspectModel(write(mutate(student, ms))), checkInfo);
    await f.property('inspectModel mutated teacher.onnx', mutations, 12, (ms) => inspectModel(write(mutate(teacher, ms))), checkInfo);
    await f.property('importStudent mutated student ONNX', mutations, 600, (ms) => importStudent(write(mutate(student, ms))), checkStudent);
    // quantize MODEL.onnx: opening a foreign model, finding its targets and rewriting it (dynamic int8, float16).
    const { openForeignModel } = await import('../pipeline/stages/quantize-any.ts');
    const { quantizeAnyOnnx } = await import('../exporters/onnx-any-quantize.ts');
    const checkQuantized = (bytes: Uint8Array[]) => assert.ok(bytes.every((b) => b instanceof Uint8Array && b.length > 0));
    await f.property('quantize mutated student ONNX (dynamic int8, float16)', mutations, 400, (ms) => {
      const m = openForeignModel(write(mutate(student, ms)), undefined);
      return [quantizeAnyOnnx(m.model, { kind: 'dynamic', perChannel: true, reduceRange: true }), quantizeAnyOnnx(m.model, { kind: 'float16' })];
    }, checkQuantized);
  },

  async tflite(f) {
    const { inspectModel } = await import('../pipeline/inspect/inspect.ts');
    const { readTflite } = await import('../exporters/tflite-read.ts');
    const { exportTflite } = await import('../exporters/tflite.ts');
    const { testSpecs } = await import('./specs.ts');
    const specs = testSpecs();
    const models = [exportTflite(specs.rgb), exportTflite(specs.mlp5)];
    const write = writer(f.dir, 'model.tflite');
    const checkModel = (m: { tensors: unknown[]; operators: { inputs: number[] }[]; inputs: number[] }) => {
      assert.ok(Array.isArray(m.tensors) && Array.isArray(m.operators) && Array.isArray(m.inputs));
      for (const o of m.operators) for (const i of o.inputs) assert.ok(i >= -1 && i < m.tensors.length, `operator input ${i}`);
    };
    // Flatbuffer offsets and lengths are 32-bit little-endian words: besides byte flips, overwrite whole words with
    // absurd values (huge vector lengths, offsets past the end, negative vtable offsets).
    const word = fc.record({ at: fc.nat(), value: fc.constantFrom(0, 1, 4, 0x7fffffff, 0xffffffff, 0x80000000, 0xfffffffc, 65535) });
    const withWords = (bytes: Uint8Array, ws: { at: number; value: number }[]) => {
      const b = Buffer.from(bytes);
      for (const w of ws) b.writeUInt32LE(w.value, (w.at % Math.max(1, b.length - 4)) & ~3);
      return b;
    };
    await f.property('readTflite mutated student .tflite', fc.tuple(fc.nat(models.length - 1), mutations), 800, ([i, ms]) => readTflite(mutate(models[i]!, ms)), checkModel);
    await f.property('readTflite absurd words', fc.tuple(fc.nat(models.length - 1), fc.array(word, { minLength: 1, maxLength: 4 })), 800, ([i, ws]) => readTflite(withWords(models[i]!, ws)), checkModel);
    await f.property('readTflite truncated', fc.tuple(fc.nat(models.length - 1), fc.nat()), 400, ([i, n]) => readTflite(models[i]!.subarray(0, n % models[i]!.length)), checkModel);
    await f.property('inspectModel mutated .tflite', mutations, 400, (ms) => inspectModel(write(mutate(models[0]!, ms))), (i: { format: string; inputs: unknown[] }) => assert.ok(Array.isArray(i.inputs)));
  },

  async tfjs(f) {
    const { inspectModel } = await import('../pipeline/inspect/inspect.ts');
    const { importStudent } = await import('../pipeline/distill/student-import.ts');
    const { fileLoadHandler } = await import('../exporters/tfjs-io.ts');
    const { exportTfjsLayers } = await import('../exporters/tfjs-layers.ts');
    const { exportTfjsGraph } = await import('../exporters/tfjs-graph.ts');
    const { testSpecs } = await import('./specs.ts');
    const spec = testSpecs().rgb;
    const models = { layers: await exportTfjsLayers(spec), graph: await exportTfjsGraph(spec) };
    const folder = join(f.dir, 'tfjs');
    mkdirSync(folder);
    /** Write model.json (byte-mutated, or edited as a document) and weights.bin (maybe mutated) into the folder. */
    const place = (kind: keyof typeof models, json: { ms?: Mutation[]; edits?: JsonEdit[] }, weights: Mutation[] | null): string => {
      const m = models[kind];
      const text = json.edits ? JSON.stringify(editJson(JSON.parse(m.modelJson), json.edits)) ?? '' : mutate(Buffer.from(m.modelJson), json.ms ?? []);
      writeFileSync(join(folder, 'model.json'), text);
      writeFileSync(join(folder, 'weights.bin'), weights ? mutate(m.weights, weights) : m.weights);
      return folder;
    };
    const kind = fc.constantFrom('layers' as const, 'graph' as const);
    const input = fc.oneof(
      fc.record({ k: kind, json: fc.record({ ms: mutations }), w: fc.option(mutations) }),
      fc.record({ k: kind, json: fc.record({ edits: jsonEdits }), w: fc.option(mutations) }),
    );
    const checkInfo = (i: { format: string; inputs: unknown[]; outputs: unknown[]; parameters: number }) => {
      assert.ok(['tfjs-layers', 'tfjs-graph'].includes(i.format));
      assert.ok(Array.isArray(i.inputs) && Array.isArray(i.outputs) && typeof i.parameters === 'number');
    };
    await f.property('inspectModel mutated TF.js folder', input, 700, ({ k, json, w }) => inspectModel(place(k, json, w)), checkInfo);
    await f.property('fileLoadHandler().load() mutated TF.js folder', input, 500, ({ k, json, w }) => fileLoadHandler(join(place(k, json, w), 'model.json')).load!(), (a) => {
      assert.ok(a.modelTopology && typeof a.modelTopology === 'object', 'modelTopology');
      assert.ok(Array.isArray(a.weightSpecs) && a.weightData instanceof ArrayBuffer);
    });
    const layersOnly = fc.oneof(
      fc.record({ json: fc.record({ ms: mutations }), w: fc.option(mutations) }),
      fc.record({ json: fc.record({ edits: jsonEdits }), w: fc.option(mutations) }),
    );
    await f.property('importStudent mutated TF.js layers model', layersOnly, 300, ({ json, w }) => importStudent(place('layers', json, w)), checkStudent);
  },

  async email(f) {
    const { parseEmail } = await import('../pipeline/text/email.ts');
    const mails = readdirSync(SPAM).filter((n) => n.endsWith('.txt')).sort().slice(0, 40).map((n) => readFileSync(join(SPAM, n)));
    const checkMail = (m: { subject: string; from: string; text: string }) => assert.ok([m.subject, m.from, m.text].every((s) => typeof s === 'string'));
    await f.property('parseEmail mutated SpamAssassin spam', fc.tuple(fc.nat(mails.length - 1), mutations), 900, ([i, ms]) => parseEmail(mutate(mails[i]!, ms)), checkMail, { neverThrows: true });
    // MIME trees: nested multiparts, forwarded messages, encodings and charsets, some of them broken.
    const leaf = fc.record({
      type: fc.constantFrom('text/plain', 'text/html', 'image/gif', 'bogus', ''),
      charset: fc.constantFrom('', 'utf-8', 'iso-2022-jp', 'utf-16', 'windows-1252', 'x-unknown', '"koi8-r"'),
      cte: fc.constantFrom('', 'base64', 'quoted-printable', '8bit', 'x-uue'),
      body: fc.string({ unit: 'binary', maxLength: 120 }),
    }).map((p) => `Content-Type: ${p.type}${p.charset ? `; charset=${p.charset}` : ''}\nContent-Transfer-Encoding: ${p.cte}\n\n${p.body}`);
    const { tree } = fc.letrec<{ tree: string }>((tie) => ({
      tree: fc.oneof({ depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.tuple(fc.constantFrom('mixed', 'alternative', 'related'), fc.constantFrom('b', 'b', '', '"a;b"'), fc.array(tie('tree'), { maxLength: 3 }), fc.boolean())
          .map(([sub, b, parts, close]) => `Content-Type: multipart/${sub}; boundary=${b}\n\n${parts.map((p) => `--${b.replace(/"/g, '')}\n${p}\n`).join('')}${close ? `--${b}--\n` : ''}`),
        tie('tree').map((inner) => `Content-Type: message/rfc822\n\nSubject: =?utf-8?B?${Buffer.from('fwd é').toString('base64')}?=\n${inner}`),
      ),
    }));
    const subject = fc.constantFrom('hello', '=?utf-8?B?w6k=?=', '=?bogus?Q?=E9_=ZZ?=', '=?iso-8859-1?B?????=', '\xe9\xe8 raw');
    await f.property('parseEmail generated MIME trees', fc.tuple(subject, tree), 500, ([s, body]) => parseEmail(`From: a@b\nSubject: ${s}\n${body}`), checkMail, { neverThrows: true });
  },

  async precomputed(f) {
    const { readPrecomputed } = await import('../pipeline/teacher/precomputed.ts');
    // Logits of a real (linear) read-out of the real rows: 3 classes, 2-d embedding on every row.
    const rows = realRows().map((r, i) => ({
      id: `img-${i}`,
      logits: [0, 1, 2].map((c) => Number(r.features.reduce((a, x, j) => a + x * Math.cos(c + j), 0).toFixed(5))),
      embedding: [r.features[0]!, r.features[5]!],
    }));
    const jsonlPath = writer(f.dir, 'teacher.jsonl');
    const real = Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const checkOutputs = (o: { ids: string[]; logits: Float32Array; embedding: Float32Array | null; classes: number; embeddingDim: number }) => {
      assert.ok(o.classes >= 2 && o.ids.length > 0 && new Set(o.ids).size === o.ids.length);
      assert.equal(o.logits.length, o.ids.length * o.classes);
      assert.ok(o.embedding === null || o.embedding.length === o.ids.length * o.embeddingDim);
      assert.ok(o.logits.every(Number.isFinite) && (o.embedding ?? []).every(Number.isFinite));
    };
    const keys = fc.record({ idKey: fc.constantFrom(undefined, 'id', 'logits'), embeddingKey: fc.constantFrom(undefined, 'embedding', 'id') });
    await f.property('readPrecomputed JSONL mutated', fc.tuple(mutations, keys), 600, ([ms, k]) => readPrecomputed({ format: 'jsonl', path: jsonlPath(mutate(real, ms)), ...k }), checkOutputs);
    await f.property('readPrecomputed JSONL edited', jsonEdits, 400,
      (edits) => readPrecomputed({ format: 'jsonl', path: jsonlPath(jsonLines(editJson(rows, edits))) }), checkOutputs);
    const files = {
      logits: npy('<f4', [rows.length, 3], f32(rows.flatMap((r) => r.logits))),
      embedding: npy('<f8', [rows.length, 2], f64(rows.flatMap((r) => r.embedding))),
      ids: Buffer.from(rows.map((r) => r.id).join('\n') + '\n'),
      idsJson: Buffer.from(JSON.stringify(rows.map((r) => r.id))),
    };
    const which = fc.constantFrom('logits' as const, 'embedding' as const, 'ids' as const, 'idsJson' as const);
    await f.property('readPrecomputed NPY mutated', fc.tuple(which, mutations, fc.boolean(), fc.boolean()), 600, ([target, ms, withEmb, jsonIds]) => {
      const bytes = (k: keyof typeof files) => (k === target ? mutate(files[k], ms) : files[k]);
      return readPrecomputed({
        format: 'npy',
        logits: writer(f.dir, 'logits.npy')(bytes('logits')),
        ...(withEmb || target === 'embedding' ? { embedding: writer(f.dir, 'emb.npy')(bytes('embedding')) } : {}),
        ids: jsonIds || target === 'idsJson' ? writer(f.dir, 'ids.json')(bytes('idsJson')) : writer(f.dir, 'ids.txt')(bytes('ids')),
      });
    }, checkOutputs);
  },
  async images(f) {
    const sharp = (await import('sharp')).default;
    const { streamImages } = await import('../pipeline/data/images.ts');
    const { ImageSettingsSchema } = await import('../pipeline/data/schema.ts');
    const { images } = realIdx(2);
    const gray = Buffer.from(images.subarray(16, 16 + 784));
    const raw = { raw: { width: 28, height: 28, channels: 1 as const } };
    const bases: [string, Uint8Array][] = [
      ['png', await sharp(gray, raw).toColourspace('b-w').png().toBuffer()],
      ['png', await sharp(gray, raw).toColourspace('srgb').png().toBuffer()],
      ['jpg', await sharp(gray, raw).toColourspace('srgb').jpeg().toBuffer()],
      ['webp', await sharp(gray, raw).webp({ lossless: true }).toBuffer()],
      ['gif', await sharp(gray, raw).toColourspace('srgb').gif().toBuffer()],
    ];
    const root = join(f.dir, 'images');
    // A small pixel cap: a mutated header may claim any size, and the property is about the checks, not decoding time.
    const settings = ImageSettingsSchema.parse({ size: [28, 28], channels: 3, maxPixels: 1_000_000 });
    const checkImages = (r: { rows: number; features: Rows; featureShape: number[] }) => {
      assert.deepEqual(r.featureShape, [28, 28, 3]);
      const x = readAll(r.features);
      assert.equal(x.length, r.rows * 2352);
      assert.ok(x.every((v) => v >= 0 && v <= 1), 'a pixel outside [0, 1]');
      r.features.close();
    };
    await f.property('images mutated (PNG, JPEG, WebP, GIF) in a class folder', fc.tuple(fc.nat(bases.length - 1), mutations), 400, async ([i, ms]) => {
      rmSync(root, { recursive: true, force: true });
      mkdirSync(join(root, 'a'), { recursive: true });
      writeFileSync(join(root, 'a', `x.${bases[i]![0]}`), mutate(bases[i]![1], ms));
      return streamImages({ format: 'images', path: root }, '/', settings, rowWriter(f.dir), null);
    }, checkImages);
    // Listings: real image files named by mutated CSV and JSON Lines text.
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, 'a'), { recursive: true });
    for (let k = 0; k < 3; k++) writeFileSync(join(root, 'a', `${k}.png`), bases[k % 2]![1]);
    const listings: [string, string][] = [
      ['list.csv', 'file,label\na/0.png,0\na/1.png,1\n"a/2.png",0\n'],
      ['list.jsonl', '{"file": "a/0.png", "label": 0}\n{"file": "a/1.png", "label": "1"}\n{"file": "a/2.png", "label": 0}\n'],
    ];
    await f.property('image listings mutated (CSV, JSON Lines)', fc.tuple(fc.nat(listings.length - 1), mutations), 400, ([i, ms]) => {
      const [name, text] = listings[i]!;
      writeFileSync(join(root, name), mutate(Buffer.from(text), ms));
      return streamImages({ format: 'images', path: join(root, name) }, '/', settings, rowWriter(f.dir), null);
    }, checkImages);
  },

  async shards(f) {
    const { checkShards, streamShardSplit } = await import('../pipeline/teacher/shards.ts');
    const { npyBytes } = await import('../pipeline/data/npy.ts');
    const { createHash } = await import('node:crypto');
    // Two consistent shards of a 3-class, 2-d teacher over 6 train / 2 validation / 2 test rows, files included.
    const dir = join(f.dir, 'shards');
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const base = (k: number) => {
      const split = (name: string, rows: number) => {
        const from = k === 0 ? 0 : rows / 2;
        const to = k === 0 ? rows / 2 : rows;
        const files = { logits: `${name}.${k}-of-2.logits.npy`, embedding: `${name}.${k}-of-2.embedding.npy`, ids: `${name}.${k}-of-2.ids.txt` };
        const bytes = {
          [files.logits]: npyBytes('<f4', [to - from, 3], Float32Array.from({ length: (to - from) * 3 }, (_, i) => i / 7)),
          [files.embedding]: npyBytes('<f4', [to - from, 2], Float32Array.from({ length: (to - from) * 2 }, (_, i) => -i / 3)),
          [files.ids]: Buffer.from(Array.from({ length: to - from }, (_, i) => `r${from + i}`).join('\n') + '\n'),
        };
        for (const [f2, b] of Object.entries(bytes)) writeFileSync(join(dir, f2), b);
        return { rows, from, to, dataSha256: 'a'.repeat(64), files, sha256: Object.fromEntries(Object.entries(bytes).map(([f2, b]) => [f2, sha(b)])) };
      };
      return { kind: 'edge-distill teacher shard', tool: 'edge-distill fuzz', shard: k, shards: 2, teacher: { sha256: 'b'.repeat(64), input: 'x', logits: 'logits', embedding: 'emb', classes: 3, embeddingDim: 2, batchSize: 2 }, data: {}, splits: { train: split('train', 6), validation: split('validation', 2), test: split('test', 2) } };
    };
    mkdirSync(dir, { recursive: true });
    const manifests = [base(0), base(1)];
    const text = manifests.map((m) => Buffer.from(JSON.stringify(m, null, 2)));
    const files = readdirSync(dir).filter((x) => x.endsWith('.npy'));
    const reset = () => {
      for (const x of readdirSync(dir).filter((y) => y.endsWith('.json'))) rmSync(join(dir, x));
      manifests.forEach((_, k) => writeFileSync(join(dir, `shard-${k}-of-2.json`), text[k]!));
    };
    const originals = new Map(files.map((x) => [x, readFileSync(join(dir, x))]));
    const consume = () => {
      const ok = checkShards(dir);
      let rows = 0;
      streamShardSplit(dir, ok, 'train', (_from, l) => (rows += l.length / 3));
      return { shards: ok.length, rows };
    };
    const checkConsumed = (r: { shards: number; rows: number }) => assert.ok(r.shards >= 1 && r.rows === 6, JSON.stringify(r));
    await f.property('shard manifests mutated (bytes)', fc.tuple(fc.nat(1), mutations), 500, ([k, ms]) => {
      reset();
      writeFileSync(join(dir, `shard-${k}-of-2.json`), mutate(text[k]!, ms));
      return consume();
    }, checkConsumed);
    await f.property('shard manifests edited (JSON)', fc.tuple(fc.nat(1), jsonEdits), 500, ([k, edits]) => {
      reset();
      writeFileSync(join(dir, `shard-${k}-of-2.json`), JSON.stringify(editJson(manifests[k], edits)) ?? 'null');
      return consume();
    }, checkConsumed);
    await f.property('shard NPY files mutated', fc.tuple(fc.nat(files.length - 1), mutations), 300, ([i, ms]) => {
      reset();
      for (const [x, b] of originals) writeFileSync(join(dir, x), b);
      writeFileSync(join(dir, files[i]!), mutate(originals.get(files[i]!)!, ms));
      return consume();
    }, checkConsumed);
  },
};

/** A student read back must be usable: a name, layers whose weights fit their sizes, a predict function. */
function checkStudent(s: { name: string; spec: { features: number; layers: unknown[]; classes: number; subclasses: number }; predict: unknown }): void {
  assert.equal(typeof s.name, 'string');
  assert.ok(Array.isArray(s.spec.layers) && typeof s.predict === 'function');
}

if (!isMainThread) {
  const { suite, seed } = workerData as { suite: Suite; seed: number };
  const dir = mkdtempSync(join(tmpdir(), `edge-distill-fuzz-${suite}-`));
  const f = new Fuzz(seed, dir);
  let failure: string | undefined;
  try {
    await SUITE_RUNS[suite](f);
  } catch (err) {
    // fast-check keeps the property's own error as the cause; long counterexamples are cut in the middle.
    const cause = (err as Error)?.cause as Error | undefined;
    failure = [(err as Error)?.message ?? String(err), cause ? `Got error: ${cause.message}` : '']
      .join('\n')
      .split('\n')
      .map((l) => (l.length > 1500 ? `${l.slice(0, 700)} …[${l.length - 1400} chars]… ${l.slice(-700)}` : l))
      .join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  parentPort!.postMessage({ type: 'report', report: { tallies: f.tallies, failure } satisfies SuiteReport });
}
