// FLOPs of an ONNX graph: static shapes propagated node by node with the batch dim set to 1, folding the
// small integer tensors (Shape -> Gather -> Concat -> Reshape chains of PyTorch exports) that shapes depend on.
// The per-op rules live in onnx-shape-rules.ts and onnx-layout-rules.ts; this file walks the graph and never
// throws on odd models: what it cannot infer it reports as unknown.
import { FlopCounter, isShape, numel, type Shape } from './flops.ts';
import type { FlopsEstimate } from './model-info.ts';
import { onnxRule, type Attr, type Tensor } from './onnx-shape-rules.ts';

export type { Attr, Tensor } from './onnx-shape-rules.ts';

/** A node with its attributes already decoded from protobuf. */
export interface OnnxNodeView {
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

/** What the FLOP estimate needs of a graph; onnx.ts builds it from the ModelProto. */
export interface OnnxGraphView {
  nodes: OnnxNodeView[];
  /** Initializers (and their values when small enough to matter for shapes). */
  initializers: Map<string, Tensor>;
  /** Non-initializer graph inputs, batch dim already 1; undefined when a non-batch dim is symbolic. */
  inputs: Map<string, Shape | undefined>;
  /** Shapes the file declares for intermediate tensors and outputs (value_info, graph.output), batch 1. */
  declared: Map<string, Shape>;
  /** Default-domain opset: attributes moved to inputs over the versions (Reshape, Squeeze, Slice, ...). */
  opset: number;
}

const DEFAULT_DOMAINS = new Set(['', 'ai.onnx']);

/** Estimate FLOPs per example; also returns every tensor shape it could infer (for outputs without declared shapes). */
export function onnxFlops(g: OnnxGraphView): { flops: FlopsEstimate; shapes: Map<string, Shape> } {
  const env = new Map<string, Tensor>(g.initializers);
  for (const [name, shape] of g.inputs) env.set(name, { shape });
  const counter = new FlopCounter();
  for (const node of g.nodes) {
    const rule = DEFAULT_DOMAINS.has(node.domain) ? onnxRule(node.opType) : undefined;
    // An empty input name is an omitted optional input; a missing tensor falls back to its declared shape.
    const ins = node.inputs.map((n) => (n ? env.get(n) ?? declared(g, n) : undefined));
    const ctx = { attrs: node.attrs, ins, opset: g.opset, outputs: node.outputs.length };
    let outs: (Tensor | undefined)[] = [];
    if (rule?.shape) {
      try {
        outs = rule.shape(ctx) ?? [];
      } catch {
        outs = []; // A malformed attribute or an unexpected rank: this node's shapes stay unknown.
      }
    }
    const outShapes = node.outputs.map((name, j) => {
      const t = outs[j];
      const shape = t && isShape(t.shape) ? t.shape : g.declared.get(name);
      env.set(name, { shape, values: shape && t?.values && t.values.length === numel(shape) ? t.values : undefined });
      return shape;
    });
    let cost: number | undefined;
    if (rule) {
      try {
        cost = rule.cost(ctx, outShapes);
      } catch {
        cost = undefined;
      }
    }
    counter.add(DEFAULT_DOMAINS.has(node.domain) ? node.opType : `${node.domain}.${node.opType}`, cost);
  }
  const shapes = new Map<string, Shape>();
  for (const [name, t] of env) if (t.shape) shapes.set(name, t.shape);
  return { flops: counter.result(), shapes };
}

function declared(g: OnnxGraphView, name: string): Tensor | undefined {
  const shape = g.declared.get(name);
  return shape ? { shape } : undefined;
}
