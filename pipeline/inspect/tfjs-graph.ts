// TF.js graph models (format 'graph-model': a TensorFlow GraphDef as JSON) for `inspect`: inputs (signature or
// Placeholders), outputs (signature or sink nodes), the op histogram and FLOPs, by propagating shapes from the
// Placeholders and the Const shapes of the weights manifest (small int32 Consts decoded for Reshape targets).
import { FlopCounter, numel, type Shape, type Tensor } from './flops.ts';
import type { ModelInfo, TensorInfo } from './model-info.ts';
import { graphRule, type GraphRule } from './tfjs-graph-rules.ts';
import type { GraphNode, GraphTensorShape, SignatureTensor, TfjsModelJson, WeightEntry } from './tfjs-model-json.ts';

export type TfjsGraphInfo = Pick<ModelInfo, 'inputs' | 'outputs' | 'ops' | 'flops'>;

const MAX_FOLDED = 4096;
const DTYPES: Record<string, string> = { DT_FLOAT: 'float32', DT_INT32: 'int32', DT_INT64: 'int64', DT_BOOL: 'bool', DT_STRING: 'string', DT_HALF: 'float16', DT_UINT8: 'uint8', DT_INT8: 'int8', DT_DOUBLE: 'float64' };

/** "node", "node:2", "^node" -> ["node:0" / "node:2", control?]. */
function ref(input: string): { key: string; node: string; control: boolean } {
  const control = input.startsWith('^');
  const bare = control ? input.slice(1) : input;
  const m = /^(.*):(\d+)$/.exec(bare);
  return m ? { key: `${m[1]}:${m[2]}`, node: m[1]!, control } : { key: `${bare}:0`, node: bare, control };
}

const dimsOf = (s: GraphTensorShape | undefined): number[] | undefined => (s && !s.unknownRank ? (s.dim ?? []).map((d) => Number(d.size ?? -1)) : undefined);
const show = (d: number[]): (number | string)[] => d.map((x, i) => (x >= 0 ? x : i === 0 ? 'batch' : '?'));
/** Batch-1 static shape: a free first dim becomes 1; another free dim leaves the shape unknown. */
function batchOne(d: number[] | undefined): Shape | undefined {
  const s = d?.map((x, i) => (i === 0 && x < 0 ? 1 : x));
  return s?.every((x) => x >= 0) ? s : undefined;
}

/** Values of small non-quantized int32 weights, walking the concatenated weight files in manifest order. */
function int32Values(entries: WeightEntry[], data: Uint8Array): Map<string, number[]> {
  const values = new Map<string, number[]>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };
  let off = 0;
  for (const w of entries) {
    const n = numel(w.shape);
    if (w.dtype === 'string' && !w.quantization) {
      for (let i = 0; i < n && off + 4 <= data.length; i++) off += 4 + view.getUint32(off, true); // uint32 length, then bytes
      continue;
    }
    const per = BYTES[w.quantization?.dtype ?? w.dtype];
    if (!per) break; // An unknown layout: the offsets of everything after it are unknown.
    if (w.dtype === 'int32' && !w.quantization && n <= MAX_FOLDED && off + 4 * n <= data.length) {
      values.set(w.name, Array.from({ length: n }, (_, i) => view.getInt32(off + 4 * i, true)));
    }
    off += per * n;
  }
  return values;
}

/** Nodes in dependency order: a GraphDef need not be sorted. Iterative, so deep graphs do not overflow the stack. */
function topoOrder(nodes: GraphNode[]): GraphNode[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const seen = new Set<string>(); // entered: its inputs are being visited, or it is done
  const order: GraphNode[] = [];
  for (const root of nodes) {
    const stack: [GraphNode, boolean][] = [[root, false]];
    while (stack.length) {
      const [n, inputsDone] = stack.pop()!;
      if (inputsDone) {
        order.push(n);
        continue;
      }
      if (seen.has(n.name)) continue; // done, or a cycle (control flow) back to a node being visited
      seen.add(n.name);
      stack.push([n, true]);
      for (const i of n.input ?? []) {
        const dep = byName.get(ref(i).node);
        if (dep && !seen.has(dep.name)) stack.push([dep, false]);
      }
    }
  }
  return order;
}

export function inspectTfjsGraph(j: TfjsModelJson, weightData: Uint8Array): TfjsGraphInfo {
  const nodes = j.modelTopology?.node ?? [];
  const ops: Record<string, number> = {};
  for (const n of nodes) ops[n.op] = (ops[n.op] ?? 0) + 1;
  const entries = (j.weightsManifest ?? []).flatMap((g) => g.weights);
  const weights = new Map(entries.map((w) => [w.name, w]));
  const values = int32Values(entries, weightData);
  const sigIn = Object.entries(j.signature?.inputs ?? {});
  const sigOut = Object.entries(j.signature?.outputs ?? {});
  const sigShape = new Map(sigIn.map(([k, t]) => [ref(t.name ?? k).key, dimsOf(t.tensorShape)]));

  const env = new Map<string, Tensor>();
  const counter = new FlopCounter();
  for (const n of topoOrder(nodes)) {
    if (n.op === 'Placeholder' || n.op === 'PlaceholderWithDefault') {
      env.set(`${n.name}:0`, { shape: batchOne(dimsOf(n.attr?.shape?.shape) ?? sigShape.get(`${n.name}:0`)) });
      continue;
    }
    if (n.op === 'Const') {
      const w = weights.get(n.name);
      const t = n.attr?.value?.tensor;
      const shape = w?.shape ?? dimsOf(t?.tensorShape);
      const inline = t?.intVal && shape && t.intVal.length === numel(shape) ? t.intVal.map(Number) : undefined;
      env.set(`${n.name}:0`, { shape, values: values.get(n.name) ?? inline });
      continue;
    }
    const rule = graphRule(n.op);
    const ins = (n.input ?? []).map(ref).filter((r) => !r.control).map((r) => env.get(r.key));
    let r: ReturnType<GraphRule> = {};
    try {
      r = rule ? rule({ attr: n.attr ?? {}, ins }) : {};
    } catch {
      r = {}; // An unexpected attribute or rank: this node's shapes and cost stay unknown.
    }
    (r.outs ?? []).forEach((t, i) => env.set(`${n.name}:${i}`, { shape: t?.shape?.every((d) => Number.isSafeInteger(d) && d >= 0) ? t.shape : undefined, values: t?.values }));
    counter.add(n.op, rule ? r.flops : undefined);
  }

  // Named by signature key when there is one: that is what loadGraphModel's inputNodes/outputNodes report.
  const tensor = (name: string, t: SignatureTensor | undefined, fallbackDtype: string): TensorInfo => {
    const declared = dimsOf(t?.tensorShape);
    const inferred = env.get(ref(t?.name ?? name).key)?.shape;
    const shape = declared ? show(declared) : inferred ? inferred.map((d, i) => (i === 0 ? 'batch' : d)) : [];
    return { name, shape, dtype: DTYPES[t?.dtype ?? ''] ?? fallbackDtype };
  };
  const placeholders = nodes.filter((n) => n.op === 'Placeholder');
  const inputs = sigIn.length
    ? sigIn.map(([k, t]) => tensor(k, t, 'unknown'))
    : placeholders.map((n) => ({ name: n.name, shape: show(dimsOf(n.attr?.shape?.shape) ?? []), dtype: DTYPES[n.attr?.dtype?.type ?? ''] ?? 'unknown' }));
  // Without a signature, the outputs are the sinks: nodes nothing else reads (Consts and NoOps aside).
  const consumed = new Set(nodes.flatMap((n) => (n.input ?? []).map((i) => ref(i).node)));
  const outputs = sigOut.length
    ? sigOut.map(([k, t]) => tensor(k, t, 'unknown'))
    : nodes.filter((n) => !consumed.has(n.name) && !['Const', 'NoOp', 'Placeholder'].includes(n.op)).map((n) => tensor(n.name, undefined, 'float32'));
  return { inputs, outputs, ops, flops: counter.result() };
}
