// TF.js layers models (Keras topology, Sequential or functional) for `inspect`: inputs, outputs, the layer-class
// histogram and FLOPs, by propagating shapes layer by layer from the input layers' batch_input_shape.
import { FlopCounter, type Shape } from './flops.ts';
import { layerRule } from './tfjs-layer-rules.ts';
import type { ModelInfo, TensorInfo } from './model-info.ts';
import type { KerasLayer, KerasModelConfig, TfjsModelJson } from './tfjs-model-json.ts';

export type TfjsLayersInfo = Pick<ModelInfo, 'inputs' | 'outputs' | 'ops' | 'flops'>;

/** A dim of a Keras shape as inspect shows it: the free batch dim as 'batch', another free one as '?'. */
function showShape(shape: (number | null)[]): (number | string)[] {
  return shape.map((d, i) => (typeof d === 'number' && d >= 0 ? d : i === 0 ? 'batch' : '?'));
}

/** The batch-1 static shape of a Keras shape, or undefined if a non-batch dim is free. */
function staticShape(shape: (number | null)[] | undefined): Shape | undefined {
  if (!shape) return undefined;
  const s = shape.map((d, i) => (i === 0 && (d === null || d < 0) ? 1 : d));
  return s.every((d) => typeof d === 'number' && d >= 0) ? (s as Shape) : undefined;
}

function inputShapeOf(l: KerasLayer): (number | null)[] | undefined {
  const c = l.config as { batch_input_shape?: (number | null)[]; batch_shape?: (number | null)[]; input_shape?: (number | null)[] };
  return c.batch_input_shape ?? c.batch_shape ?? (c.input_shape ? [null, ...c.input_shape] : undefined);
}

const nameOf = (l: KerasLayer): string => l.name ?? l.config.name ?? l.class_name;

/** [layer, nodeIndex, tensorIndex] references of one inbound node, in the Keras 2 (lists) or Keras 3 (keras_history) form. */
function inboundRefs(node: unknown): [string, number, number][] {
  if (Array.isArray(node) && node.every((e) => Array.isArray(e) && typeof e[0] === 'string')) {
    return node.map((e) => [e[0] as string, Number(e[1] ?? 0), Number(e[2] ?? 0)]);
  }
  const refs: [string, number, number][] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const h = (v as { config?: { keras_history?: unknown[] } }).config?.keras_history;
      if (Array.isArray(h)) refs.push([String(h[0]), Number(h[1] ?? 0), Number(h[2] ?? 0)]);
      else Object.values(v).forEach(walk);
    }
  };
  walk(node);
  return refs;
}

export function inspectTfjsLayers(j: TfjsModelJson): TfjsLayersInfo {
  const top = (j.modelTopology?.model_config ?? j.modelTopology) as KerasModelConfig;
  const cfg = top.config;
  const layers = Array.isArray(cfg) ? cfg : cfg?.layers ?? [];
  const ops: Record<string, number> = {};
  for (const l of layers) ops[l.class_name] = (ops[l.class_name] ?? 0) + 1;
  const counter = new FlopCounter();
  const shapes = new Map<string, Shape | undefined>(); // "layer:node:tensor" -> shape
  const dtypes = new Map<string, string>();

  const apply = (l: KerasLayer, ins: (Shape | undefined)[], key: string): void => {
    const rule = layerRule(l.class_name);
    let r: { out?: Shape; flops?: number } = {};
    try {
      r = rule ? rule(l.config, ins) : {};
    } catch {
      r = {}; // An unexpected config: this layer's output shape and cost stay unknown.
    }
    shapes.set(key, r.out && r.out.every((d) => Number.isSafeInteger(d) && d >= 0) ? r.out : undefined);
    counter.add(l.class_name, rule ? r.flops : undefined);
  };

  const sequential = Array.isArray(cfg) || !cfg?.input_layers;
  let inputs: TensorInfo[] = [];
  let outputs: TensorInfo[] = [];
  if (sequential) {
    // The input is an InputLayer, or the first layer's batch_input_shape (Keras names that input "<layer>_input").
    const first = layers[0];
    const declared = first && inputShapeOf(first);
    if (first && declared) {
      const name = first.class_name === 'InputLayer' ? nameOf(first) : `${nameOf(first)}_input`;
      inputs = [{ name, shape: showShape(declared), dtype: String(first.config.dtype ?? 'float32') }];
    }
    let cur = staticShape(declared);
    for (const l of layers) {
      if (l.class_name === 'InputLayer') continue;
      apply(l, [cur], nameOf(l));
      cur = shapes.get(nameOf(l));
    }
    const last = layers[layers.length - 1];
    if (last) outputs = [{ name: nameOf(last), shape: showOut(cur), dtype: 'float32' }];
  } else {
    for (const l of layers) {
      const name = nameOf(l);
      if (l.class_name === 'InputLayer') {
        shapes.set(`${name}:0:0`, staticShape(inputShapeOf(l)));
        dtypes.set(name, String(l.config.dtype ?? 'float32'));
        continue;
      }
      (l.inbound_nodes ?? []).forEach((node, k) => apply(l, inboundRefs(node).map(([n, ni, ti]) => shapes.get(`${n}:${ni}:${ti}`)), `${name}:${k}:0`));
    }
    const byName = new Map(layers.map((l) => [nameOf(l), l]));
    inputs = (cfg.input_layers ?? []).map(([n]) => {
      const s = inputShapeOf(byName.get(n) ?? ({ config: {} } as KerasLayer));
      return { name: n, shape: s ? showShape(s) : [], dtype: dtypes.get(n) ?? 'float32' };
    });
    outputs = (cfg.output_layers ?? []).map(([n, ni, ti]) => ({ name: n, shape: showOut(shapes.get(`${n}:${ni}:${ti}`)), dtype: 'float32' }));
  }
  return { inputs, outputs, ops, flops: counter.result() };
}

/** Output shapes are computed with batch 1: show the first dim as the batch again. */
function showOut(s: Shape | undefined): (number | string)[] {
  return s ? s.map((d, i) => (i === 0 ? 'batch' : d)) : [];
}
