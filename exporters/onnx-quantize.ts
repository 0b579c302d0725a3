// StudentSpec -> quantized ONNX (int8 dynamic, int8 static QDQ, float16 weights): the public entry point. The
// modes are defined in quantize-mode.ts, their math in quantize-math.ts, calibration in calibrate.ts and their
// graph forms in quantize-emitters.ts; the layer semantics are onnx-graph.ts's, shared with the fp32 export,
// so both name their tensors alike (`/layers.<i>/...`).

import type { StudentSpec } from '../pipeline/student/spec.ts';
import { foldBatchNorms } from '../pipeline/student/fold.ts';
import { BATCH_DIM, OnnxGraphBuilder } from './onnx-builder.ts';
import { emitHead, emitInput, emitLayer, isWeighted, metadataOf } from './onnx-graph.ts';
import { quantize, QUANT_EMITTERS } from './quantize-emitters.ts';
import type { QuantContext, QuantEmitted, QuantParams } from './quantize-emitters.ts';
import { uint8ActivationParams } from './quantize-math.ts';
import { DEFAULT_PERCENTILE, checkMode, describeQuantMode, quantizeConfigError } from './quantize-mode.ts';
import type { Calibration, QuantMode } from './quantize-mode.ts';

export { calibrate } from './calibrate.ts';
export { float16Bits, quantizeWeights, roundHalfEven, symmetricScale, uint8ActivationParams, weightQMax } from './quantize-math.ts';
export type { QuantizedWeights } from './quantize-math.ts';
export { CALIBRATION_METHODS, DEFAULT_PERCENTILE, describeQuantMode, QUANT_MODE_KINDS } from './quantize-mode.ts';
export type { ActivationRange, Calibration, CalibrationMethod, QuantMode } from './quantize-mode.ts';

/** Metadata key holding the quantization mode as JSON (keys in a fixed order). */
export const ONNX_METADATA_QUANTIZATION = 'edge-distill.quantization';
/** Metadata key holding the number of calibration examples (static mode). */
export const ONNX_METADATA_CALIBRATION_EXAMPLES = 'edge-distill.calibration-examples';

export interface QuantizedOnnxExportOptions {
  /** Written to ModelProto.producer_version (the edge-distill version). */
  producerVersion: string;
  /** Required by the static mode, with the mode's method (and percentile). */
  calibration?: Calibration;
}

/**
 * Builds the quantized ONNX model of a student, with the fp32 export's interface: input `spec.inputName`
 * float32 [batch, features]; outputs `outputNames.probs` [batch, C] and, when subclasses > 1,
 * `outputNames.subclassLogits` [batch, C*S]. Same spec, mode and options give byte-identical output.
 */
export function exportQuantizedOnnx(student: StudentSpec, mode: QuantMode, opts: QuantizedOnnxExportOptions): Uint8Array {
  checkMode(mode);
  // Batch norms folded first, as calibrate() folds them: the calibration's layers are the folded spec's.
  const spec = foldBatchNorms(student);
  const params = mode.kind === 'static' ? staticParams(spec, mode, opts.calibration) : null;
  const g = new OnnxGraphBuilder({ graphName: 'edge_distill_student', producerVersion: opts.producerVersion });
  const ctx: QuantContext = { g, target: 'quantized ONNX', mode };
  const weighted = spec.layers.flatMap((l, i) => (isWeighted(l) ? [i] : []));
  const at = quantizeAt(spec, weighted);
  g.addInput(spec.inputName, [BATCH_DIM, spec.features]);
  let cur: QuantEmitted = { tensor: spec.inputName, shape: { kind: 'flat', size: spec.features } };
  // Static: quantize once at the input, so the NHWC -> NCHW reshape and transpose move uint8.
  if (params && weighted.length > 0 && at.get(-1) !== undefined) cur = quantize(g, cur, weighted[0]!, params[weighted[0]!]!, '/input');
  cur = { ...cur, ...emitInput(ctx, spec, cur.tensor) };
  const outputs: QuantEmitted[] = [];
  spec.layers.forEach((layer, i) => {
    const p = `/layers.${i}`;
    cur = emitLayer(ctx, QUANT_EMITTERS[mode.kind], layer, p, cur, outputs);
    outputs.push(cur);
    const next = at.get(i);
    if (params && next !== undefined) cur = quantize(g, cur, next, params[next]!, p);
  });
  emitHead(ctx, spec, cur);
  const own: Record<string, string> = { [ONNX_METADATA_QUANTIZATION]: describeQuantMode(mode) };
  if (mode.kind === 'static' && opts.calibration) own[ONNX_METADATA_CALIBRATION_EXAMPLES] = String(opts.calibration.examples);
  for (const [key, value] of Object.entries(metadataOf(spec, own))) g.setMetadata(key, value);
  return g.encode();
}

/**
 * Where static mode quantizes each weighted layer's input: after the layer with the returned key (-1: the graph input),
 * mapped to the weighted layer it feeds. That is right after the previous weighted layer's activation when only max
 * pooling and flatten lie between (they move uint8 exactly), else after the last layer that cannot take uint8 (a
 * global average pool, an unfolded batch norm, a residual add): onnxruntime's ops for those are float only. The
 * calibration measured the weighted layer's own input, which is what that point carries.
 */
function quantizeAt(spec: StudentSpec, weighted: readonly number[]): Map<number, number> {
  const at = new Map<number, number>();
  weighted.forEach((j, w) => {
    let k = j - 1;
    const stop = w === 0 ? -1 : weighted[w - 1]!;
    while (k > stop && (spec.layers[k]!.kind === 'maxpool2d' || spec.layers[k]!.kind === 'flatten')) k--;
    at.set(k, j);
  });
  return at;
}

/** uint8 parameters of every weighted layer's input (indexed like spec.layers), from a matching calibration. */
function staticParams(spec: StudentSpec, mode: Extract<QuantMode, { kind: 'static' }>, cal: Calibration | undefined): (QuantParams | null)[] {
  const hint = `Run calibrate(spec, x, n, ${JSON.stringify(mode.calibration)}${mode.percentile === undefined ? '' : `, ${mode.percentile}`}) on this student and pass it as opts.calibration.`;
  if (!cal) throw quantizeConfigError('static quantization needs activation ranges (opts.calibration is missing)', hint);
  const percentile = mode.calibration === 'percentile' ? (mode.percentile ?? DEFAULT_PERCENTILE) : undefined;
  if (cal.method !== mode.calibration || cal.percentile !== percentile) {
    const got = cal.method + (cal.percentile === undefined ? '' : ` ${cal.percentile}`);
    const want = mode.calibration + (percentile === undefined ? '' : ` ${percentile}`);
    throw quantizeConfigError(`the calibration was measured with ${got}, the mode asks for ${want}`, hint);
  }
  if (cal.layerInputs.length !== spec.layers.length || spec.layers.some((l, i) => isWeighted(l) !== (cal.layerInputs[i] != null))) {
    throw quantizeConfigError('the calibration does not belong to this student (its layers differ)', hint);
  }
  return cal.layerInputs.map((r) => (r ? uint8ActivationParams(r) : null));
}
