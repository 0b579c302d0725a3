// The teacher pass: the teacher's outputs (class logits and embedding) on a split, from the ONNX teacher run in
// batches (cached on disk by model and data hash) or matched by id from precomputed outputs; and the transfer set
// the methods learn from: the train split's outputs, the groups LELP mines subclasses in, and the teacher's head.
import { splitIds, type Datasets } from '../data/dataset.ts';
import { MemoryRows, type Rows } from '../data/rows.ts';
import type { TransferSet } from '../distill/train-one.ts';
import { readTeacherHead } from '../teacher/head.ts';
import { matchById } from '../teacher/precomputed.ts';
import { checkShards, fillCacheFromShards } from '../teacher/shards.ts';
import type { TeacherConfig } from '../teacher/schema.ts';
import { runTeacher, teacherInput, type Teacher, type TeacherOutputs } from '../teacher/teacher.ts';
import { argmaxRows } from '../util/math.ts';
import type { Progress } from '../util/progress.ts';

export interface TeacherPassContext {
  teacher: Teacher;
  data: Datasets;
  /** Where the ONNX teacher's outputs are cached between runs. */
  cacheDir: string;
  progress: Progress;
  /** Row stores the pass opened (embeddings read from the cache file); the caller closes them when the run ends. */
  opened: Rows[];
}

/** The teacher's outputs on one split, rows in the split's order; `cached` when nothing had to be computed. */
export async function teacherOutputs(cfg: TeacherConfig, split: 'train' | 'validation' | 'test', ctx: TeacherPassContext): Promise<TeacherOutputs & { cached: boolean }> {
  const { teacher, data } = ctx;
  const s = data[split];
  if (teacher.precomputed) {
    const m = matchById(teacher.precomputed, splitIds(s), { split });
    return { logits: m.logits, embedding: new MemoryRows(m.embedding ?? new Float32Array(0), m.embedding ? s.n : 0, teacher.embeddingDim), cached: true };
  }
  const t = teacherInput(cfg, s);
  // Shards (checked against this run's teacher and data when it started) fill the cache the pass reads.
  if (cfg.precomputed?.format === 'shards') await fillCacheFromShards(cfg.precomputed.dir!, checkShards(cfg.precomputed.dir!), split, teacher, t.x, ctx.cacheDir);
  const outputs = await runTeacher(teacher, t.x, s.n, { featureShape: t.featureShape, cacheDir: ctx.cacheDir, label: split, progress: ctx.progress, stream: data.spillDir !== null });
  ctx.opened.push(outputs.embedding);
  return outputs;
}

/**
 * The transfer set from the train split's teacher outputs. Groups are the labels, or the teacher's predictions for
 * unlabelled data; the head is the teacher's final linear layer read from its graph, or null (LELP then fits it).
 * `noteHead`: say in the log where LELP's head came from (when a method that uses it is configured).
 */
export function transferSet(trainOutputs: TeacherOutputs, ctx: Pick<TeacherPassContext, 'teacher' | 'data' | 'progress'>, opts: { noteHead: boolean }): TransferSet {
  const { teacher, data } = ctx;
  const groups = data.train.labels ?? argmaxRows(trainOutputs.logits, data.train.n, teacher.classes);
  const head = teacher.session ? readTeacherHead(teacher.path, teacher.embedding, teacher.logits) : { W: null, reason: 'the teacher is precomputed outputs, not a model' };
  if (opts.noteHead) ctx.progress.note(`teacher head W for LELP's null space: ${head.W ? head.reason : `fitted by least squares (${head.reason})`}`);
  return { ...trainOutputs, groups, teacher, head: head.W };
}
