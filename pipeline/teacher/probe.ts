// The fine-label probe: how well a linear map reads the fine labels (data.labelMap's raw labels, class * S + subclass)
// from the teacher's embedding. It says whether the embedding keeps the subclass structure LELP mines: a teacher
// trained on coarse labels may have collapsed it. The oracle says whether that structure helps a student at all.
import { Matrix } from 'ml-matrix';
import type { FineLabels } from '../data/dataset.ts';
import { forEachBlock, type Rows } from '../data/rows.ts';
import { fitAffine, permutation, rng, toMatrix, withBias } from '../util/math.ts';

/** The probe is fitted on at most this many rows (a seeded sample beyond it): memory stays flat. */
export const PROBE_FIT_ROWS = 20_000;

export interface FineProbe {
  /** Argmax accuracy of the fine labels on the measured split. */
  accuracy: number;
  /** Fine labels told apart: classes * subclasses. */
  fineLabels: number;
  fittedOn: number;
  measuredOn: number;
}

/** Fine labels as one index per example: class * S + subclass. */
export function globalFine(labels: Int32Array, fine: FineLabels): Int32Array {
  return Int32Array.from(fine.subclass, (s, i) => labels[i]! * fine.subclasses + s);
}

/**
 * Least squares from the embedding (with a bias) to the one-hot fine labels, fitted on `fit` and scored by argmax
 * accuracy on `measure`. `K` is the number of fine labels.
 */
export function fineProbe(fit: { embedding: Rows; fine: Int32Array }, measure: { embedding: Rows; fine: Int32Array }, K: number, seed = 0, maxRows = PROBE_FIT_ROWS): FineProbe {
  const D = fit.embedding.width;
  const rows = fit.embedding.n > maxRows ? permutation(fit.embedding.n, rng(seed ^ 0x9b0e)).slice(0, maxRows).sort() : null;
  const n = rows ? rows.length : fit.embedding.n;
  const X = rows ? fit.embedding.gather(rows) : fit.embedding.read(0, n);
  const Y = new Matrix(n, K);
  for (let i = 0; i < n; i++) Y.set(i, fit.fine[rows ? rows[i]! : i]!, 1);
  const coef = fitAffine(toMatrix(X, n, D), Y);
  let right = 0;
  forEachBlock(measure.embedding, (block, from, count) => {
    const scores = withBias(toMatrix(block, count, D)).mmul(coef);
    for (let i = 0; i < count; i++) if (scores.maxRowIndex(i)[1] === measure.fine[from + i]) right++;
  });
  return { accuracy: right / Math.max(1, measure.embedding.n), fineLabels: K, fittedOn: n, measuredOn: measure.embedding.n };
}
