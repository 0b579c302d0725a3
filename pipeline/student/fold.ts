// Batch norm folded into the conv or dense layer before it, for export: the layer's kernel scaled per output
// channel by gamma / sqrt(movingVariance + epsilon), its bias shifted, the batch norm's activation moved onto it.
// Inference then runs one op where training ran two, with the same function (to float32 rounding).
import type { LayerSpec, StudentSpec } from './spec.ts';

/** A batch norm at inference as a per-channel affine map, before its activation: y = x * scale + shift. */
export function batchNormAffine(l: Extract<LayerSpec, { kind: 'batchNorm' }>): { scale: Float32Array; shift: Float32Array } {
  const scale = Float32Array.from(l.gamma, (g, c) => g / Math.sqrt(l.movingVariance[c]! + l.epsilon));
  return { scale, shift: Float32Array.from(l.beta, (b, c) => b - l.movingMean[c]! * scale[c]!) };
}

/**
 * The spec with every batch norm that directly follows a linear (no activation) conv2d or dense layer folded into
 * it, unless a residual add reads that layer's own output. Other batch norms stay (exporters emit them as a
 * per-channel scale and shift). `add` layers' indices follow the removed layers. The input is not modified.
 */
export function foldBatchNorms(spec: StudentSpec): StudentSpec {
  const { layers } = spec;
  const readByAdd = new Set(layers.flatMap((l) => (l.kind === 'add' ? [l.from] : [])));
  const folds = new Set<number>();
  layers.forEach((l, i) => {
    const prev = layers[i - 1];
    if (l.kind !== 'batchNorm' || !prev || readByAdd.has(i - 1)) return;
    if ((prev.kind === 'conv2d' || prev.kind === 'dense') && prev.activation === 'linear' && !folds.has(i - 1)) folds.add(i);
  });
  if (folds.size === 0) return spec;
  // Old index -> new index of the layer whose output is that layer's output after folding.
  const newIndex: number[] = [];
  let removed = 0;
  layers.forEach((_, i) => {
    if (folds.has(i)) removed++;
    newIndex.push(i - removed);
  });
  const out: LayerSpec[] = [];
  layers.forEach((l, i) => {
    if (folds.has(i) && l.kind === 'batchNorm') {
      const prev = out.pop() as Extract<LayerSpec, { kind: 'conv2d' | 'dense' }>;
      const O = prev.kind === 'conv2d' ? prev.filters : prev.units;
      const { scale } = batchNormAffine(l);
      out.push({
        ...prev,
        // HWIO and [in, units] kernels both keep the output channel last.
        kernel: Float32Array.from(prev.kernel, (w, j) => w * scale[j % O]!),
        bias: Float32Array.from(prev.bias, (b, c) => (b - l.movingMean[c]!) * scale[c]! + l.beta[c]!),
        activation: l.activation,
      });
      return;
    }
    out.push(l.kind === 'add' ? { kind: 'add', from: newIndex[l.from]! } : l);
  });
  return { ...spec, layers: out };
}
