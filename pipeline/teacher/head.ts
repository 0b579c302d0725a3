// Reads the teacher's final linear layer W (C x D) from its ONNX graph, for LELP's null-space projection:
// the logits must come from a Gemm, or a MatMul (+ Add), applied directly to the embedding output.
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { Matrix } from 'ml-matrix';

const { onnx } = onnxProto;
type Tensor = onnxProto.onnx.ITensorProto;
type Node = onnxProto.onnx.INodeProto;

function floats(t: Tensor): Float32Array | null {
  if (t.dataType !== 1) return null;
  if (t.rawData && t.rawData.length) {
    const b = t.rawData;
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  return t.floatData && t.floatData.length ? Float32Array.from(t.floatData) : null;
}

/** W as C x D, or null with the reason when the graph does not end in a readable linear layer. */
export function readTeacherHead(modelPath: string, embedding: string, logits: string): { W: Matrix | null; reason: string } {
  const m = onnx.ModelProto.decode(readFileSync(modelPath));
  const g = m.graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const byOutput = new Map<string, Node>();
  for (const n of g.node ?? []) for (const o of n.output ?? []) byOutput.set(o, n);
  let node = byOutput.get(logits);
  // Look through a trailing Identity and a bias Add to the matrix product.
  if (node?.opType === 'Identity') node = byOutput.get(node.input![0]!);
  if (node?.opType === 'Add') node = (node.input ?? []).map((i) => byOutput.get(i)).find((n) => n?.opType === 'MatMul');
  if (!node || (node.opType !== 'Gemm' && node.opType !== 'MatMul')) return { W: null, reason: `logits are produced by ${node?.opType ?? 'no node'}, not Gemm/MatMul` };
  const [a, b] = node.input ?? [];
  if (a !== embedding) return { W: null, reason: `the final ${node.opType} does not read the embedding output directly` };
  const t = inits.get(b!);
  const w = t && floats(t);
  if (!t || !w || (t.dims ?? []).length !== 2) return { W: null, reason: `the final ${node.opType}'s weight is not a float32 matrix initializer` };
  const [r, c] = (t.dims ?? []).map(Number) as [number, number];
  const attr = (name: string) => Number((node!.attribute ?? []).find((x) => x.name === name)?.i ?? 0);
  if (node.opType === 'Gemm' && attr('transA')) return { W: null, reason: 'the final Gemm transposes the embedding' };
  // Gemm with transB=1 stores W as C x D (PyTorch's Linear); MatMul and transB=0 store D x C.
  const transB = node.opType === 'Gemm' && attr('transB') === 1;
  const M = new Matrix(r, c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) M.set(i, j, w[i * c + j]!);
  return { W: transB ? M : M.transpose(), reason: `read from the graph (${node.opType} "${b}")` };
}
