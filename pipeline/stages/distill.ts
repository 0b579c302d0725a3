// The distill stage: one student per configured method, trained on the same transfer set and teacher outputs,
// evaluated in memory, and saved as a checkpoint (student.json + weights.bin) that `edge-distill export` reads.
import { join } from 'node:path';
import type { AutoMethodConfig, MethodConfig } from '../distill/schema.ts';
import type { Datasets } from '../data/dataset.ts';
import { runAuto } from '../distill/auto.ts';
import { trainOne, type Checkpoints, type StudentSetup, type TransferSet } from '../distill/train-one.ts';
import { writeStudentCheckpoint } from '../distill/student-checkpoint.ts';
import type { TrainedStudent } from '../distill/trained.ts';
import type { Progress } from '../util/progress.ts';

type MethodSpec = MethodConfig | AutoMethodConfig;

export async function distillStudents(setup: StudentSetup & { methods: MethodSpec[] }, data: Datasets, t: TransferSet, opts: { progress: Progress; staging: string; checkpoints?: Checkpoints }): Promise<TrainedStudent[]> {
  const seen = new Map<string, number>();
  const students: TrainedStudent[] = [];
  for (const m of setup.methods) {
    const count = (seen.get(m.name) ?? 0) + 1;
    seen.set(m.name, count);
    const name = count === 1 ? m.name : `${m.name}-${count}`;
    const s = m.name === 'auto' ? await runAuto(setup, m, name, data, t, opts) : await trainOne(setup, m, name, data, t, opts);
    opts.progress.note(`${name}: test accuracy ${(s.result.accuracy * 100).toFixed(2)} %, validation ${(s.result.validationAccuracy * 100).toFixed(2)} %`);
    writeStudentCheckpoint(join(opts.staging, 'students', name), s.spec, s.result, s.method);
    students.push(s);
  }
  return students;
}
