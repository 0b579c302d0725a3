// Weight quantization for TF.js models in the manifest's own format, which stock TF.js dequantizes on load:
// uint8 / uint16 with one affine map per tensor (w ≈ q * scale + min), or float16. Only the download shrinks:
// TF.js computes in float32 after loading.
import type { tf } from '../pipeline/util/tfjs.ts';
import { concatBytes } from '../pipeline/util/fsutil.ts';

export const TFJS_WEIGHT_DTYPES = ['uint8', 'uint16', 'float16'] as const;
export type TfjsWeightDtype = (typeof TFJS_WEIGHT_DTYPES)[number];

/** float32 -> IEEE 754 half bits, rounding to nearest even; overflow to ±Inf, underflow through subnormals to ±0. */
export function float32ToFloat16Bits(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000; // implicit leading 1
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** Affine uint quantization of one tensor: scale = (max - min) / (2^bits - 1); q = round((w - min) / scale). */
export function affineQuantize(w: Float32Array, bits: 8 | 16): { q: Uint8Array | Uint16Array; scale: number; min: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of w) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!w.length) min = max = 0;
  const levels = 2 ** bits - 1;
  const scale = max > min ? (max - min) / levels : 1;
  const q = bits === 8 ? new Uint8Array(w.length) : new Uint16Array(w.length);
  for (let i = 0; i < w.length; i++) q[i] = Math.min(levels, Math.max(0, Math.round((w[i]! - min) / scale)));
  return { q, scale, min };
}

/**
 * Rewrite a float32 weights manifest and its data with quantized weights. Non-float32 entries are copied as is.
 * Returns the new manifest entries and the new weight bytes, in the same order.
 */
export function quantizeWeights(specs: tf.io.WeightsManifestEntry[], data: Uint8Array, dtype: TfjsWeightDtype): { specs: tf.io.WeightsManifestEntry[]; data: Uint8Array } {
  const parts: Uint8Array[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let off = 0;
  for (const s of specs) {
    const count = s.shape.reduce((a, b) => a * b, 1);
    const bytes = count * 4;
    if (s.dtype !== 'float32' || s.quantization) {
      parts.push(data.slice(off, off + bytes));
      out.push(s);
      off += bytes;
      continue;
    }
    const w = new Float32Array(data.slice(off, off + bytes).buffer);
    off += bytes;
    if (dtype === 'float16') {
      const h = Uint16Array.from(w, float32ToFloat16Bits);
      parts.push(new Uint8Array(h.buffer));
      out.push({ ...s, quantization: { dtype: 'float16' } });
    } else {
      const { q, scale, min } = affineQuantize(w, dtype === 'uint8' ? 8 : 16);
      parts.push(new Uint8Array(q.buffer));
      out.push({ ...s, quantization: { dtype, scale, min } });
    }
  }
  return { specs: out, data: concatBytes(parts) };
}
