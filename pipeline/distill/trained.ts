// A trained student in memory: its StudentSpec (what every exporter consumes) and the predict() that exported artifacts
// are compared with. Made by the distill stage, read back from a checkpoint, or imported from an exported model.
import type { MethodConfig } from './schema.ts';
import type { StudentResult } from '../report/types.ts';
import type { StudentSpec } from '../student/spec.ts';
import type { Rows } from '../data/rows.ts';
import { predictInBlocks } from './train.ts';
import { forwardSpec } from '../../exporters/reference-forward.ts';

export interface TrainedStudent {
  /** Unique name within the run (the method name, suffixed when a method appears twice). */
  name: string;
  spec: StudentSpec;
  /** Class probabilities [n, C] from the in-memory student: the reference for exported artifacts. */
  predict(x: Rows | Float32Array, n: number): Float32Array;
  result: StudentResult | null;
  /** The method it was distilled with (the chosen candidate for `auto`); null for checkpoints that predate it. */
  method: MethodConfig | null;
  /** Frees the in-memory model (candidates that `auto` does not keep). */
  dispose(): void;
}

/** A student's predict() from its weights alone: the float64 reference forward pass, a block of rows at a time. */
export function referencePredict(spec: StudentSpec): TrainedStudent['predict'] {
  return (x, n) => predictInBlocks(x, n, spec.features, spec.classes, (b, k) => forwardSpec(spec, b, k).probs);
}
