// A student checkpoint, what `edge-distill distill` writes per method and `export`, `quantize` and `prune` read back:
// student.json (the StudentSpec, its result and method) beside weights.bin (every tensor, float32, in layer order).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MethodConfig } from './schema.ts';
import { EdgeDistillError } from '../errors.ts';
import { f32Bytes, writeAtomic } from '../util/fsutil.ts';
import type { StudentResult } from '../report/types.ts';
import type { LayerSpec, StudentSpec } from '../student/spec.ts';
import { referencePredict, type TrainedStudent } from './trained.ts';

// A checkpoint is the StudentSpec as JSON with every Float32Array replaced by a [offset, length] slice of weights.bin.
type Slice = { offset: number; length: number };

export function writeStudentCheckpoint(dir: string, spec: StudentSpec, result: StudentResult, method: MethodConfig | null): void {
  const chunks: Float32Array[] = [];
  let offset = 0;
  const slice = (a: Float32Array): Slice => {
    chunks.push(a);
    const s = { offset, length: a.length };
    offset += a.length;
    return s;
  };
  // Every array field of a layer (kernel, bias; batch norm's gamma, beta and moving statistics), in field order.
  const layers = spec.layers.map((l) => Object.fromEntries(Object.entries(l).map(([k, v]) => [k, v instanceof Float32Array ? slice(v) : v])));
  const weights = new Float32Array(offset);
  let o = 0;
  for (const c of chunks) {
    weights.set(c, o);
    o += c.length;
  }
  writeAtomic(join(dir, 'weights.bin'), f32Bytes(weights));
  writeAtomic(join(dir, 'student.json'), JSON.stringify({ format: 'edge-distill-student', version: 1, spec: { ...spec, layers }, result, method }, null, 2) + '\n');
}

export function loadStudentCheckpoint(dir: string): TrainedStudent {
  const file = join(dir, 'student.json');
  if (!existsSync(file)) {
    throw new EdgeDistillError('E_FILE_NOT_FOUND', `${file} does not exist`, 'Point --student at a folder written by `edge-distill distill` (out/students/<method>).');
  }
  let doc: { format: string; spec: StudentSpec & { layers: unknown[] }; result: StudentResult; method?: MethodConfig };
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
    if (doc.format !== 'edge-distill-student') throw new Error(`format is ${JSON.stringify(doc.format)}`);
  } catch (err) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${file} is not an edge-distill student checkpoint (${(err as Error).message})`, 'Point --student at a folder written by `edge-distill distill`.');
  }
  const raw = readFileSync(join(dir, 'weights.bin'));
  const w = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const take = (s: Slice) => {
    if (s.offset + s.length > w.length) throw new EdgeDistillError('E_MODEL_FORMAT', `${dir}/weights.bin is shorter than student.json says`, 'Re-run `edge-distill distill`.');
    return w.slice(s.offset, s.offset + s.length);
  };
  const isSlice = (v: unknown): v is Slice => typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as Slice).offset === 'number' && typeof (v as Slice).length === 'number';
  const layers = (doc.spec.layers as Record<string, unknown>[]).map((l) => Object.fromEntries(Object.entries(l).map(([k, v]) => [k, isSlice(v) ? take(v) : v]))) as LayerSpec[];
  const spec: StudentSpec = { ...doc.spec, layers };
  return { name: doc.result.method, spec, predict: referencePredict(spec), result: null, method: doc.method ?? null, dispose: () => {} };
}
