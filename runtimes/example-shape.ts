// The per-example input shape every runtime feeds: a model's input is [batch, ...exampleShape].
import { EdgeDistillError } from '../pipeline/errors.ts';

/** The per-example dims of a [batch, ...] input; every dim after the batch must be fixed. */
export function exampleShapeOf(dims: readonly (number | string | null | undefined)[], what: string): number[] {
  const rest = dims.slice(1);
  if (!dims.length || rest.some((d) => typeof d !== 'number' || d < 1)) {
    throw new EdgeDistillError('E_MODEL_FORMAT', `${what} has input shape [${dims.join(', ')}]; only the first (batch) dimension may be dynamic`, 'Export the model with fixed per-example dimensions and a dynamic batch dimension.');
  }
  return rest as number[];
}
