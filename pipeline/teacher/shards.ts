// The teacher pass split across processes or machines: shard K of N computes the teacher's outputs on the K-th
// contiguous row range of every split and writes them as NPY with the rows' ids and a manifest; a run (or `teacher
// merge`) checks that a folder of shards covers every row of every split exactly once, from the same teacher, data
// and preprocessing, and streams them into the teacher cache the single-process pass would have written. Ranges start
// on the teacher's batch grid, so every row is computed in the same batch as in one pass: the bytes are the same.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { z } from 'zod';
import type { DataConfig } from '../data/schema.ts';
import type { TeacherConfig } from './schema.ts';
import type { Datasets } from '../data/dataset.ts';
import { npyBytes } from '../data/npy.ts';
import { FileRows, hashRows, type Rows } from '../data/rows.ts';
import { EdgeDistillError } from '../errors.ts';
import { atomicFile, f32Bytes, writeAllAt, writeAtomic } from '../util/fsutil.ts';
import type { Progress } from '../util/progress.ts';
import { TOOL_VERSION } from '../util/versions.ts';
import { teacherBatches, teacherCacheFile, teacherFeatureShape, teacherInput, teacherInputShape, writeTeacherCache, type Teacher } from './teacher.ts';

export const SPLITS = ['train', 'validation', 'test'] as const;
type SplitName = (typeof SPLITS)[number];

const SplitEntry = z.strictObject({
  /** Rows of the whole split, and this shard's range [from, to). */
  rows: z.number().int().nonnegative(),
  from: z.number().int().nonnegative(),
  to: z.number().int().nonnegative(),
  /** sha256 of the split's teacher input rows (the data after preprocessing: what the teacher saw). */
  dataSha256: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.strictObject({ logits: z.string(), embedding: z.string(), ids: z.string() }),
  sha256: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
});

export const ShardManifestSchema = z.strictObject({
  kind: z.literal('edge-distill teacher shard'),
  tool: z.string(),
  shard: z.number().int().nonnegative(),
  shards: z.number().int().positive(),
  teacher: z.strictObject({ sha256: z.string(), input: z.string(), logits: z.string(), embedding: z.string(), classes: z.number().int().positive(), embeddingDim: z.number().int().nonnegative(), batchSize: z.number().int().positive() }),
  /** The data and preprocessing settings the rows came from (for the reader: the hashes are what is checked). */
  data: z.record(z.string(), z.unknown()),
  splits: z.strictObject({ train: SplitEntry, validation: SplitEntry, test: SplitEntry }),
});
export type ShardManifest = z.infer<typeof ShardManifestSchema>;

const shardError = (message: string, hint: string) => new EdgeDistillError('E_SHARD', message, hint);

/**
 * `--shard K/N`: K is 0-based, or `auto` for the batch engine's index (JOB_COMPLETION_INDEX of a Kubernetes Indexed
 * Job, SLURM_ARRAY_TASK_ID of a Slurm array), so that one command line serves every shard.
 */
export function parseShardSpec(spec: string, env: NodeJS.ProcessEnv = process.env): { shard: number; shards: number } {
  const m = /^(\d+|auto)\/(\d+)$/.exec(spec.trim());
  if (!m) throw new EdgeDistillError('E_CONFIG', `--shard ${JSON.stringify(spec)} is not K/N`, 'Give the shard as K/N with 0 <= K < N (e.g. --shard 0/4), or auto/N to read K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID.');
  const shards = Number(m[2]);
  let k = m[1]!;
  if (k === 'auto') {
    const from = ['JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID'].find((v) => env[v] !== undefined && env[v] !== '');
    if (!from) throw new EdgeDistillError('E_CONFIG', '--shard auto/N but neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set', 'Run it as a Kubernetes Indexed Job or a Slurm array task, or give K yourself (--shard 0/4).');
    k = env[from]!;
  }
  const shard = Number(k);
  if (!Number.isInteger(shard) || shards < 1 || shard < 0 || shard >= shards) {
    throw new EdgeDistillError('E_CONFIG', `shard ${k} of ${shards} is out of range`, `K runs from 0 to N - 1 (here 0 to ${Math.max(0, shards - 1)}).`);
  }
  return { shard, shards };
}

/** Shard k's rows of n: whole batches, spread as evenly as they go; [from, to). */
export function shardRange(n: number, batch: number, k: number, shards: number): { from: number; to: number } {
  const batches = Math.ceil(n / batch);
  const at = (j: number) => Math.min(n, Math.floor((j * batches) / shards) * batch);
  return { from: at(k), to: at(k + 1) };
}

const fileName = (split: SplitName, k: number, shards: number, what: string) => `${split}.${k}-of-${shards}.${what}`;
const manifestName = (k: number, shards: number) => `shard-${k}-of-${shards}.json`;

/** Shard K of N of the teacher pass over every split, written into `out` (files first, the manifest last). */
export async function runShard(cfg: { teacher: TeacherConfig; data: DataConfig; seed: number }, teacher: Teacher, data: Datasets, spec: { shard: number; shards: number }, out: string, progress: Progress): Promise<ShardManifest> {
  mkdirSync(out, { recursive: true });
  const { shard: k, shards } = spec;
  const splits = {} as ShardManifest['splits'];
  for (const name of SPLITS) {
    const s = data[name];
    const t = teacherInput(cfg.teacher, s);
    const shape = teacherInputShape(teacher, teacherFeatureShape(cfg.teacher, s), t.x.width);
    const { from, to } = shardRange(s.n, teacher.batchSize, k, shards);
    const files = { logits: fileName(name, k, shards, 'logits.npy'), embedding: fileName(name, k, shards, 'embedding.npy'), ids: fileName(name, k, shards, 'ids.txt') };
    const rows = to - from;
    const [C, D] = [teacher.classes, teacher.embeddingDim];
    const logits = appendOnly(join(out, files.logits), npyBytes('<f4', [rows, C], new Float32Array(0)));
    const embedding = appendOnly(join(out, files.embedding), npyBytes('<f4', [rows, D], new Float32Array(0)));
    // Row ids a block at a time (a 1M-row shard's ids as one string would be most of its memory): as splitIds gives them.
    const ids = appendOnly(join(out, files.ids));
    const sha256: Record<string, string> = {};
    try {
      const step = progress.step(`teacher shard ${k}/${shards} (${name})`, rows);
      for await (const b of teacherBatches(teacher, t.x, shape, from, to)) {
        logits.append(f32Bytes(b.logits));
        embedding.append(f32Bytes(b.embedding));
        step.tick(b.count);
      }
      step.done(`rows ${from}..${to} of ${s.n}`);
      for (let r = from; r < to; r += 65536) {
        const end = Math.min(to, r + 65536);
        ids.append(Buffer.from(Array.from({ length: end - r }, (_, i) => `${s.ids ? s.ids[r + i] : s.positions[r + i]}\n`).join('')));
      }
      [sha256[files.logits], sha256[files.embedding], sha256[files.ids]] = [logits.commit(), embedding.commit(), ids.commit()];
    } catch (err) {
      for (const f of [logits, embedding, ids]) f.abort();
      throw err;
    }
    splits[name] = { rows: s.n, from, to, dataSha256: hashRows(t.x), files, sha256 };
  }
  const manifest: ShardManifest = {
    kind: 'edge-distill teacher shard', tool: `edge-distill ${TOOL_VERSION}`, shard: k, shards,
    teacher: { sha256: teacher.sha256, input: teacher.input, logits: teacher.logits, embedding: teacher.embedding, classes: teacher.classes, embeddingDim: teacher.embeddingDim, batchSize: teacher.batchSize },
    data: { ...cfg.data, seed: cfg.seed },
    splits,
  };
  writeAtomic(join(out, manifestName(k, shards)), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/**
 * A file written atomically front to back, hashed as it is written: the shard files and the merged ones. `commit`
 * moves it into place and returns its sha256.
 */
function appendOnly(file: string, head?: Uint8Array): { append(bytes: Uint8Array): void; commit(): string; abort(): void } {
  const f = atomicFile(file);
  const hash = createHash('sha256');
  let at = 0;
  const append = (bytes: Uint8Array) => {
    writeAllAt(f.fd, bytes, at);
    hash.update(bytes);
    at += bytes.length;
  };
  if (head) append(head);
  return { append, commit: () => (f.commit(), hash.digest('hex')), abort: () => f.abort() };
}

/** Every shard manifest in `dir`, parsed; E_SHARD naming the file for one that does not parse. */
export function readShardManifests(dir: string): { file: string; manifest: ShardManifest }[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw shardError(`the shard folder ${dir} does not exist`, 'Point teacher.precomputed.dir at the folder `edge-distill teacher run --out` wrote the shards into.');
  const files = readdirSync(dir).filter((f) => /^shard-\d+-of-\d+\.json$/.test(f)).sort();
  if (!files.length) throw shardError(`${dir} holds no shard manifest (shard-K-of-N.json)`, 'Run `edge-distill teacher run --shard K/N --out DIR` for every K first.');
  return files.map((f) => {
    const file = join(dir, f);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw shardError(`shard manifest ${file} is not JSON (${(err as Error).message})`, 'The shard did not finish or was damaged: run that shard again.');
    }
    const r = ShardManifestSchema.safeParse(raw);
    if (!r.success) throw shardError(`shard manifest ${file} is not a shard manifest (${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`, 'Run that shard again with this edge-distill.');
    return { file, manifest: r.data };
  });
}

/**
 * The shards must fit together: one teacher, one data set, and for every split ranges that cover [0, rows) exactly
 * once. `expect` (a run's teacher and data) must match them too. Returns the manifests in row order.
 */
export function checkShards(dir: string, expect?: { teacher: Teacher; dataSha256: Record<SplitName, string>; rows: Record<SplitName, number> }): ShardManifest[] {
  const all = readShardManifests(dir);
  const first = all[0]!;
  for (const { file, manifest: m } of all) {
    if (JSON.stringify(m.teacher) !== JSON.stringify(first.manifest.teacher)) throw shardError(`shard ${file} comes from another teacher than ${first.file} (${m.teacher.sha256.slice(0, 12)}… vs ${first.manifest.teacher.sha256.slice(0, 12)}…)`, 'Every shard must be computed with the same teacher model and settings: run the odd ones again.');
    for (const name of SPLITS) {
      if (m.splits[name].dataSha256 !== first.manifest.splits[name].dataSha256 || m.splits[name].rows !== first.manifest.splits[name].rows) throw shardError(`shard ${file} was computed on other ${name} data than ${first.file}`, 'Every shard must run with the same config (data, preprocessing, seed): run the odd ones again.');
    }
  }
  if (expect) {
    const t = expect.teacher;
    const mt = first.manifest.teacher;
    if (mt.sha256 !== t.sha256 || mt.input !== t.input || mt.logits !== t.logits || mt.embedding !== t.embedding || mt.batchSize !== t.batchSize) {
      throw shardError(`the shards in ${dir} come from teacher ${mt.sha256.slice(0, 12)}… (${mt.logits}, ${mt.embedding}, batch ${mt.batchSize}); this run's is ${t.sha256.slice(0, 12)}… (${t.logits}, ${t.embedding}, batch ${t.batchSize})`, 'Point teacher.model at the model the shards were computed with, or compute the shards again.');
    }
    for (const name of SPLITS) {
      if (first.manifest.splits[name].dataSha256 !== expect.dataSha256[name] || first.manifest.splits[name].rows !== expect.rows[name]) {
        throw shardError(`the shards in ${dir} were computed on other ${name} data (${first.manifest.splits[name].rows} rows) than this run has (${expect.rows[name]} rows)`, 'Run with the config the shards were computed with (data, preprocessing, seed), or compute the shards again.');
      }
    }
  }
  for (const name of SPLITS) {
    const ranges = all.map(({ file, manifest }) => ({ file, ...manifest.splits[name] })).filter((r) => r.to > r.from).sort((a, b) => a.from - b.from);
    let at = 0;
    for (const r of ranges) {
      if (r.from > at) throw shardError(`the shards in ${dir} miss ${name} rows ${at}..${r.from} (before ${basename(r.file)})`, 'A shard is missing: run every K of N (or the one that failed) again.');
      if (r.from < at) throw shardError(`shard ${basename(r.file)} overlaps another on ${name} rows ${r.from}..${at}`, 'Shards of different N, or one run twice, are in the same folder: keep one set.');
      at = r.to;
    }
    const rows = first.manifest.splits[name].rows;
    if (at !== rows) throw shardError(`the shards in ${dir} miss ${name} rows ${at}..${rows}`, 'A shard is missing: run every K of N (or the one that failed) again.');
  }
  return all.map((a) => a.manifest).sort((a, b) => a.splits.train.from - b.splits.train.from || a.shard - b.shard);
}

/** The shards in the order of their rows of one split (blocks then follow each other). */
const inRowOrder = (shards: ShardManifest[], name: SplitName) => [...shards].sort((a, b) => a.splits[name].from - b.splits[name].from);

/** sha256 of a file, read a block at a time. */
function fileSha256(file: string): string {
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    const buf = new Uint8Array(1 << 20);
    let r: number;
    let at = 0;
    while ((r = readSync(fd, buf, 0, buf.length, at)) > 0) {
      h.update(buf.subarray(0, r));
      at += r;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/**
 * Streams one split's outputs from checked shards into `write` (rows in order, a block at a time): what a run feeds
 * the teacher cache with. Each file's sha256 is checked against its manifest first.
 */
export function streamShardSplit(dir: string, shards: ShardManifest[], name: SplitName, write: (from: number, logits: Float32Array, embedding: Float32Array) => void): void {
  for (const m of inRowOrder(shards, name)) {
    const e = m.splits[name];
    if (e.to === e.from) continue;
    for (const f of [e.files.logits, e.files.embedding, e.files.ids]) {
      const file = join(dir, f);
      if (!existsSync(file)) throw shardError(`shard file ${file} is missing (named by shard-${m.shard}-of-${m.shards}.json)`, 'Run that shard again.');
      if (fileSha256(file) !== e.sha256[f]) throw shardError(`shard file ${file} does not match its manifest's sha256 (damaged or from another run)`, 'Run that shard again.');
    }
    const logits = readRows(join(dir, e.files.logits), e.to - e.from, m.teacher.classes);
    const embedding = readRows(join(dir, e.files.embedding), e.to - e.from, m.teacher.embeddingDim);
    try {
      const step = Math.max(1, Math.floor((1 << 22) / Math.max(1, m.teacher.embeddingDim)));
      for (let r = 0; r < e.to - e.from; r += step) {
        const k = Math.min(step, e.to - e.from - r);
        write(e.from + r, logits.read(r, k), embedding.read(r, k));
      }
    } finally {
      logits.close();
      embedding.close();
    }
  }
}

/** A shard's NPY as rows read straight from the file (its header must be exactly the one runShard writes). */
function readRows(file: string, rows: number, width: number): Rows {
  const head = npyBytes('<f4', [rows, width], new Float32Array(0));
  const fd = openSync(file, 'r');
  const got = new Uint8Array(head.length);
  readSync(fd, got, 0, got.length, 0);
  if (!Buffer.from(got).equals(head) || fstatSync(fd).size !== head.length + rows * width * 4) {
    closeSync(fd);
    throw shardError(`shard file ${file} is not a float32 [${rows}, ${width}] NPY as its manifest says`, 'Run that shard again.');
  }
  return new FileRows(fd, head.length, rows, width, true);
}

/**
 * The teacher's outputs on one split of a run, from the shards in `dir`: written into the teacher cache file the
 * single-process pass would have written (same key, same bytes), so the rest of the run cannot tell the difference.
 */
export async function fillCacheFromShards(dir: string, shards: ShardManifest[], name: SplitName, teacher: Teacher, x: Rows, cacheDir: string): Promise<void> {
  const file = teacherCacheFile(teacher, x, cacheDir);
  if (existsSync(file)) return;
  await writeTeacherCache(file, x.n, teacher.classes, teacher.embeddingDim, async (put) => streamShardSplit(dir, shards, name, put));
}

/** `teacher merge`: the shards of `dir` checked and written into `out` as one shard (0 of 1) a run reads the same way. */
export function mergeShards(dir: string, out: string): ShardManifest {
  const shards = checkShards(dir);
  const first = shards[0]!;
  const tmp = join(out, `.merge-${process.pid}-${Date.now()}`);
  mkdirSync(tmp, { recursive: true });
  try {
    const splits = {} as ShardManifest['splits'];
    for (const name of SPLITS) {
      const rows = first.splits[name].rows;
      const files = { logits: fileName(name, 0, 1, 'logits.npy'), embedding: fileName(name, 0, 1, 'embedding.npy'), ids: fileName(name, 0, 1, 'ids.txt') };
      const [C, D] = [first.teacher.classes, first.teacher.embeddingDim];
      const logits = appendOnly(join(tmp, files.logits), npyBytes('<f4', [rows, C], new Float32Array(0)));
      const embedding = appendOnly(join(tmp, files.embedding), npyBytes('<f4', [rows, D], new Float32Array(0)));
      const ids = appendOnly(join(tmp, files.ids));
      const sha256: Record<string, string> = {};
      try {
        // The checked shards cover the rows in order: each block follows the one before.
        streamShardSplit(dir, shards, name, (_from, l, e) => {
          logits.append(f32Bytes(l));
          embedding.append(f32Bytes(e));
        });
        for (const m of inRowOrder(shards, name)) ids.append(readFileSync(join(dir, m.splits[name].files.ids)));
        [sha256[files.logits], sha256[files.embedding], sha256[files.ids]] = [logits.commit(), embedding.commit(), ids.commit()];
      } catch (err) {
        for (const f of [logits, embedding, ids]) f.abort();
        throw err;
      }
      splits[name] = { rows, from: 0, to: rows, dataSha256: first.splits[name].dataSha256, files, sha256 };
    }
    const manifest: ShardManifest = { ...first, tool: `edge-distill ${TOOL_VERSION}`, shard: 0, shards: 1, splits };
    writeAtomic(join(tmp, manifestName(0, 1)), JSON.stringify(manifest, null, 2) + '\n');
    // The data files first, the manifest last: a reader never sees a manifest without its files.
    const names = readdirSync(tmp).sort((a, b) => Number(a.endsWith('.json')) - Number(b.endsWith('.json')));
    for (const f of names) renameSync(join(tmp, f), join(out, f));
    return manifest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
