// The 'host' placement's Adam: the parameters, both moments and the gradients of a training step live in one
// WebAssembly memory, and adam.wat updates them four lanes at a time. onnxruntime-node reads the parameters from
// it in place (the parameter tensors wrap views of it) and writes the gradients into it (pre-allocated outputs),
// so a step moves no tensor through JavaScript. Measured against the scalar JavaScript loop it replaces in
// benchmarks/train-speed.ts.
import { ADAM_WASM_BASE64 } from './adam-wasm.ts';
import type { AdamSpec } from './train-graph.ts';

interface AdamExports {
  memory: WebAssembly.Memory;
  adam(w: number, m: number, v: number, g: number, n: number, b1: number, b2: number, c1: number, c2: number, step: number, eps: number): void;
}

let compiled: WebAssembly.Module | null = null;

/** wasm32 memory ends at 4 GiB: 16 bytes per parameter (weight, two moments, gradient). */
const MAX_BYTES = 2 ** 32 - 65536;

export class WasmAdam {
  /** Per tensor: its weights, moments and gradient, as views into the module's memory (never reallocated). */
  readonly w: Float32Array[] = [];
  readonly m: Float32Array[] = [];
  readonly v: Float32Array[] = [];
  readonly g: Float32Array[] = [];
  private readonly offsets: { w: number; m: number; v: number; g: number; n: number }[] = [];

  private constructor(private readonly exports: AdamExports, sizes: readonly number[]) {
    let at = 0;
    const take = (n: number) => {
      const offset = at;
      at += Math.ceil((n * 4) / 16) * 16;
      return offset;
    };
    const layout = sizes.map((n) => ({ w: take(n), m: take(n), v: take(n), g: take(n), n }));
    if (at > MAX_BYTES) throw new RangeError(`host Adam holds 16 bytes per parameter in a 4 GiB WebAssembly memory: ${sizes.reduce((a, b) => a + b, 0)} parameters do not fit`);
    const pages = Math.ceil(at / 65536) - exports.memory.buffer.byteLength / 65536;
    if (pages > 0) exports.memory.grow(pages);
    const buffer = exports.memory.buffer;
    for (const o of layout) {
      this.offsets.push(o);
      this.w.push(new Float32Array(buffer, o.w, o.n));
      this.m.push(new Float32Array(buffer, o.m, o.n));
      this.v.push(new Float32Array(buffer, o.v, o.n));
      this.g.push(new Float32Array(buffer, o.g, o.n));
    }
  }

  /** An arena for tensors of `sizes` elements, all zero. */
  static create(sizes: readonly number[]): WasmAdam {
    compiled ??= new WebAssembly.Module(Buffer.from(ADAM_WASM_BASE64, 'base64'));
    const instance = new WebAssembly.Instance(compiled, {});
    return new WasmAdam(instance.exports as unknown as AdamExports, sizes);
  }

  /** Adam's step for tensor i from its gradient in `g[i]`, in place (stepSize, epsilonHat: adamScalars). */
  update(i: number, adam: AdamSpec, s: { stepSize: number; epsilonHat: number }): void {
    const o = this.offsets[i]!;
    this.exports.adam(o.w, o.m, o.v, o.g, o.n, adam.beta1, adam.beta2, 1 - adam.beta1, 1 - adam.beta2, s.stepSize, s.epsilonHat);
  }
}
