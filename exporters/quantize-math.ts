// The quantization math as small pure functions: rounding, int8 weight scales, uint8 activation parameters,
// float16 bits. Each matches the formula of the ONNX operator that undoes or reproduces it.

import type { ActivationRange } from './quantize-mode.ts';

/** Round half to even, the rounding of QuantizeLinear and DynamicQuantizeLinear. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // rounds .5 towards +Infinity
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Largest |q| of an int8 weight: 127, or 63 with reduceRange. With 7-bit weights the u8×s8 pair sums of
 * AVX2's vpmaddubsw stay within int16 (2·255·63 = 32130 <= 32767), so they cannot saturate.
 */
export function weightQMax(reduceRange: boolean): number {
  return reduceRange ? 63 : 127;
}

/** Symmetric scale s = max|w| / qmax, as the float32 that is stored; 1 for an all-zero tensor (q = 0). */
export function symmetricScale(maxAbs: number, qmax: number): number {
  return maxAbs > 0 ? Math.fround(maxAbs / qmax) : 1;
}

/**
 * uint8 asymmetric parameters (DynamicQuantizeLinear's formula): widen [min, max] to include 0, then
 * s = (hi − lo) / 255 and zp = clamp(roundHalfEven(−lo / s), 0, 255), so that 0 is exactly representable.
 */
export function uint8ActivationParams(range: ActivationRange): { scale: number; zeroPoint: number } {
  const lo = Math.min(range.min, 0);
  const hi = Math.max(range.max, 0);
  if (!(hi > lo)) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((hi - lo) / 255);
  return { scale, zeroPoint: clamp(roundHalfEven(-lo / scale), 0, 255) };
}

export interface QuantizedWeights {
  /** q[i] = clamp(roundHalfEven(w[i] / scale[channel(i)]), −qmax, qmax). */
  q: Int8Array;
  /** One scale per output channel, or a single one (per-tensor). */
  scales: Float32Array;
}

/** Symmetric int8 quantization of a weight tensor; `channelOf(i)` gives element i's output channel. */
export function quantizeWeights(
  w: Float32Array,
  channels: number,
  channelOf: (i: number) => number,
  opts: { perChannel: boolean; reduceRange: boolean },
): QuantizedWeights {
  const qmax = weightQMax(opts.reduceRange);
  const maxAbs = new Float64Array(opts.perChannel ? channels : 1);
  const slot = (i: number): number => (opts.perChannel ? channelOf(i) : 0);
  for (let i = 0; i < w.length; i++) maxAbs[slot(i)] = Math.max(maxAbs[slot(i)]!, Math.abs(w[i]!));
  const scales = Float32Array.from(maxAbs, (m) => symmetricScale(m, qmax));
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) q[i] = clamp(roundHalfEven(w[i]! / scales[slot(i)]!), -qmax, qmax);
  return { q, scales };
}

/**
 * int32 bias q[o] = clamp(roundHalfEven(b[o] / scale[o]), int32 range) with scale = input_scale · kernel_scale
 * (per channel when the kernel is): what QLinearConv / QGemm add straight to their int32 accumulator.
 */
export function quantizeBias(bias: Float32Array, inputScale: number, kernelScales: Float32Array): { q: Int32Array; scales: Float32Array } {
  const perChannel = kernelScales.length > 1;
  const scales = Float32Array.from(kernelScales, (s) => Math.fround(inputScale * s));
  const q = Int32Array.from(bias, (v, o) => clamp(roundHalfEven(v / scales[perChannel ? o : 0]!), -(2 ** 31), 2 ** 31 - 1));
  return { q, scales };
}

/** IEEE 754 binary16 bits of a number, rounded to nearest even (overflow -> ±Infinity, subnormals kept). */
export function float16Bits(value: number): number {
  F32[0] = value;
  const x = U32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: m · 2^-24 with m = (1.mant · 2^23) · 2^(e − 14).
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    return sign | roundShift(full, shift);
  }
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  return sign | ((e << 10) + roundShift(mant, 13));
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** v >> shift, rounded to nearest even. */
function roundShift(v: number, shift: number): number {
  const m = v >>> shift;
  const rem = v & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && (m & 1) === 1) ? m + 1 : m;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
