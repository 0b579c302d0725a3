// What a training run takes and returns, whichever engine runs it (train.ts on TF.js, train-onnxruntime.ts), and the
// seeded order of mini-batches both draw: for one seed they see the same batches in the same order, and a resumed
// run draws the batches the killed one would have.
import { permutation, rng } from '../util/math.ts';
import type { Rows } from '../data/rows.ts';
import type { Progress } from '../util/progress.ts';
import type { LayerSpec } from '../student/spec.ts';

export interface TrainSet {
  /** [n, F]: in memory or a row store (read a batch at a time). */
  x: Rows | Float32Array;
  n: number;
  features: number;
  labels: Int32Array; // class per example (labels, or teacher argmax when unlabeled)
  classes: number;
}

export interface TrainResult {
  /** Steps run. */
  steps: number;
  finalLoss: number;
  ms: number;
  /** The step whose weights the student has: the last, or with train.keepBest the best validation check's. */
  chosenStep: number;
  /** That check's validation accuracy (null without keepBest). */
  chosenValidationAccuracy: number | null;
  /** True when train.patience ended training before its last step. */
  earlyStopped: boolean;
}

export interface TrainOptions {
  seed: number;
  progress: Progress;
  label: string;
  /**
   * Called after each optimizer step with the student's dense and conv kernels, in layer order and in StudentSpec's
   * layout (conv kernels HWIO), to change in place (magnitude pruning re-applies its mask); both engines train on
   * the changed values.
   */
  afterStep?: (step: number, kernels: readonly Float32Array[]) => void;
  /**
   * Save the training state to `file` after every complete epoch (floor(n / batch) steps) and at the end, and
   * resume from it when it holds a checkpoint of the same job (`key`; see train-checkpoint.ts).
   */
  checkpoint?: { file: string; key: string };
  /**
   * Validation accuracy of the student with these layers (StudentSpec's, current weights): with train.keepBest the
   * loops check it every train.evalEvery steps (default: every epoch) and keep the best weights.
   */
  evaluate?: (layers: LayerSpec[]) => Promise<number>;
}

/**
 * Returns the next batch's row indices on each call: consecutive slices of a seeded permutation of the n rows, and a
 * fresh permutation once the rest of the current one is shorter than a batch.
 */
export function batchOrder(n: number, batch: number, seed: number): () => Int32Array {
  const rand = rng(seed ^ 0x5eed);
  let order = permutation(n, rand);
  let pos = 0;
  return () => {
    if (pos + batch > n) {
      order = permutation(n, rand);
      pos = 0;
    }
    pos += batch;
    return order.subarray(pos - batch, pos);
  };
}

/** Writes one-hot rows for `labels[rows[k]]` into `out` [rows.length, classes]. */
export function oneHotRows(labels: Int32Array, rows: Int32Array, classes: number, out: Float32Array): void {
  out.fill(0);
  for (let k = 0; k < rows.length; k++) out[k * classes + labels[rows[k]!]!] = 1;
}
