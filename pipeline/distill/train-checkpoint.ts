// Training checkpoints, so a run killed during training (or after it, during export) resumes where the last complete
// epoch left off instead of starting over. One file per student being trained, in the cache folder beside the
// teacher's outputs, written atomically: [u32 header length][header JSON][zero padding to 4][float32 tensors].
// It holds everything the next steps depend on: the student's weights, the method's own trainable variables (FitNet's
// regressor), and Adam's state, including the running beta powers exactly as they were (tf's Adam.setWeights
// recomputes them with pow(), which is not bit-identical to the running product, so they are saved too). The batch
// order is not saved: it is replayed from the seed, which is cheap. A resumed run therefore ends with the same bits as
// one that never stopped (test/crash-resume.test.ts checks the artifacts' hashes).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, writeAtomic } from '../util/fsutil.ts';
import { hashRows, type Rows } from '../data/rows.ts';

const FORMAT = 'edge-distill-train-checkpoint';
const VERSION = 1;

export interface CheckpointTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface TrainCheckpoint {
  /** What was trained: a hash of the data, teacher outputs, method, student, training settings and seed. */
  key: string;
  /** Optimizer steps done (the next step to run). */
  step: number;
  /** Steps the training was configured for. */
  steps: number;
  /** The last loss read, reported as the student's final loss when no step is left to run. */
  lastLoss: number;
  /** In order: the model's weights, the method's variables, Adam's iterations and moments, its two beta powers. */
  tensors: CheckpointTensor[];
}

interface Header {
  format: string;
  version: number;
  key: string;
  step: number;
  steps: number;
  lastLoss: number | null;
  tensors: { name: string; shape: number[]; length: number }[];
}

/** The checkpoint file for `key` in `dir` (the run's cache folder). */
export function checkpointFile(dir: string, key: string): string {
  return join(dir, `train-${key.slice(0, 32)}.ckpt`);
}

/** The key of a training job: everything that decides its result. Data arrays are hashed by content, not by path. */
export function checkpointKey(parts: unknown, arrays: (Rows | Float32Array | Int32Array | null)[]): string {
  const hashes = arrays.map((a) => {
    if (!a) return null;
    if (a instanceof Float32Array || a instanceof Int32Array) return sha256(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return hashRows(a);
  });
  return sha256(JSON.stringify({ format: FORMAT, version: VERSION, parts, hashes }));
}

export function saveCheckpoint(file: string, c: TrainCheckpoint): void {
  const header: Header = {
    format: FORMAT,
    version: VERSION,
    key: c.key,
    step: c.step,
    steps: c.steps,
    lastLoss: Number.isFinite(c.lastLoss) ? c.lastLoss : null,
    tensors: c.tensors.map((t) => ({ name: t.name, shape: t.shape, length: t.data.length })),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const start = 4 + json.length + ((4 - ((4 + json.length) % 4)) % 4);
  const out = new Uint8Array(start + c.tensors.reduce((a, t) => a + t.data.byteLength, 0));
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  let offset = start;
  for (const t of c.tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
    offset += t.data.byteLength;
  }
  writeAtomic(file, out);
}

/**
 * The checkpoint in `file` if it is one for `key`, else null with the reason (absent, another job's, unreadable).
 * Files are only ever renamed into place whole, so an unreadable one was damaged by something else: it is not used.
 */
export function loadCheckpoint(file: string, key: string): { checkpoint: TrainCheckpoint | null; reason: string } {
  if (!existsSync(file)) return { checkpoint: null, reason: 'no checkpoint' };
  try {
    const bytes = readFileSync(file);
    const length = bytes.readUInt32LE(0);
    const header: Header = JSON.parse(bytes.subarray(4, 4 + length).toString('utf8'));
    if (header.format !== FORMAT || header.version !== VERSION) return { checkpoint: null, reason: `${file} is not a version ${VERSION} checkpoint` };
    if (header.key !== key) return { checkpoint: null, reason: `${file} belongs to another training job` };
    let offset = 4 + length + ((4 - ((4 + length) % 4)) % 4);
    const tensors = header.tensors.map((t) => {
      const end = offset + t.length * 4;
      if (end > bytes.length || t.shape.reduce((a, b) => a * b, 1) !== t.length) throw new Error(`tensor ${t.name} does not fit the file`);
      const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + end));
      offset = end;
      return { name: t.name, shape: t.shape, data };
    });
    if (offset !== bytes.length) throw new Error(`${bytes.length - offset} bytes after the last tensor`);
    if (!(Number.isInteger(header.step) && header.step >= 0 && header.step <= header.steps)) throw new Error(`step ${header.step} of ${header.steps}`);
    return { checkpoint: { key, step: header.step, steps: header.steps, lastLoss: header.lastLoss ?? NaN, tensors }, reason: '' };
  } catch (err) {
    return { checkpoint: null, reason: `${file} is unreadable (${(err as Error).message}); training starts over` };
  }
}

export function removeCheckpoint(file: string): void {
  rmSync(file, { force: true });
}
