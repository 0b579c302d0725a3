// StudentSpec -> ONNX (IR 8, opset 17), float32 weights. The layer semantics (NHWC input, 'same' pads, H-W-C
// flatten, the class head) live in onnx-graph.ts, shared with the quantized exporter; this file owns the
// float32 form of the weighted layers and the optional teacher outputs.

import type { StudentSpec } from '../pipeline/student/spec.ts';
import { foldBatchNorms } from '../pipeline/student/fold.ts';
import { BATCH_DIM, OnnxGraphBuilder } from './onnx-builder.ts';
import { convWeight, emitHead, emitInput, emitLayer, metadataOf, specError } from './onnx-graph.ts';
import type { Emitted, GraphContext, WeightedEmitter } from './onnx-graph.ts';

export { hwioToOihw, ONNX_METADATA_CLASSES, ONNX_METADATA_SUBCLASSES } from './onnx-graph.ts';

export interface OnnxExportOptions {
  /** Written to ModelProto.producer_version (the edge-distill version). */
  producerVersion: string;
  /**
   * Also output the raw logits and the penultimate activations under these names, so the model can serve as
   * a teacher (its embedding and logits) for another distillation. Only for students with subclasses == 1.
   */
  teacherOutputs?: { logits: string; embedding: string };
}

/** Dense as Gemm (transB=0 takes the Keras [inputs, units] kernel as is), conv as Conv with an OIHW weight. */
const FLOAT32: WeightedEmitter<GraphContext> = {
  dense({ g }, l, p, x) {
    const w = g.addFloatInitializer(`${p}/kernel`, [l.inputs, l.units], l.kernel);
    const b = g.addFloatInitializer(`${p}/bias`, [l.units], l.bias);
    return g.addNode({ opType: 'Gemm', inputs: [x.tensor, w, b], outputs: [`${p}/Gemm_output`], name: `${p}/Gemm` });
  },
  conv({ g }, l, p, x, attributes) {
    const { dims, data } = convWeight(l);
    const w = g.addFloatInitializer(`${p}/kernel`, dims, data);
    const b = g.addFloatInitializer(`${p}/bias`, [l.filters], l.bias);
    return g.addNode({ opType: 'Conv', inputs: [x.tensor, w, b], outputs: [`${p}/Conv_output`], name: `${p}/Conv`, attributes });
  },
};

/**
 * Builds the ONNX model of a student: input `spec.inputName` float32 [batch, features]; outputs
 * `outputNames.probs` [batch, C] and, when subclasses > 1, `outputNames.subclassLogits` [batch, C*S].
 * Same spec and options give byte-identical output.
 */
export function exportOnnx(spec: StudentSpec, opts: OnnxExportOptions): Uint8Array {
  const g = new OnnxGraphBuilder({ graphName: 'edge_distill_student', producerVersion: opts.producerVersion });
  const ctx: GraphContext = { g, target: 'ONNX' };
  g.addInput(spec.inputName, [BATCH_DIM, spec.features]);
  let cur: Emitted = emitInput(ctx, spec, spec.inputName);
  let penultimate = cur;
  const outputs: Emitted[] = [];
  foldBatchNorms(spec).layers.forEach((layer, i) => {
    penultimate = cur;
    cur = emitLayer(ctx, FLOAT32, layer, `/layers.${i}`, cur, outputs);
    outputs.push(cur);
  });
  emitHead(ctx, spec, cur);
  if (opts.teacherOutputs) {
    const t = opts.teacherOutputs;
    if (spec.subclasses !== 1 || penultimate.shape.kind !== 'flat') {
      throw specError(ctx.target, 'teacher outputs need subclasses == 1 and a flat penultimate layer');
    }
    g.addNode({ opType: 'Identity', inputs: [cur.tensor], outputs: [t.logits], name: '/teacher/logits' });
    g.addNode({ opType: 'Identity', inputs: [penultimate.tensor], outputs: [t.embedding], name: '/teacher/embedding' });
    g.addOutput(t.logits, [BATCH_DIM, spec.classes]);
    g.addOutput(t.embedding, [BATCH_DIM, penultimate.shape.size]);
  }
  for (const [key, value] of Object.entries(metadataOf(spec))) g.setMetadata(key, value);
  return g.encode();
}
