// Types for featurizer.js, the dependency-free text featurizer shared by training and deployment bundles.
// Hand-written because the implementation must stay plain JavaScript; keep it in step with the JSDoc there.

/** Bump when any output could change for some input. */
export declare const FEATURIZER_VERSION: 1;

/** Inclusive n-gram lengths [min, max]. */
export type NgramRange = readonly [min: number, max: number];

/** The featurizer's whole configuration; it is written to deploy.json as is. */
export interface TextFeaturizerSpec {
  kind: 'hashed-ngrams';
  version: 1;
  /** Output length; feature hashes are taken modulo this (any integer in [1, 2^24]). */
  buckets: number;
  /** Lowercase (String#toLowerCase, locale-independent) after NFKC. */
  lowercase: boolean;
  /** Word n-gram lengths (1 <= min <= max <= 8), or null for none. */
  wordNgrams: NgramRange | null;
  /** Character n-gram lengths in code points (1 <= min <= max <= 16), or null for none. */
  charNgrams: NgramRange | null;
  /** Keep only the first maxChars code points of the normalised text. */
  maxChars: number;
  /** A bucket's value from its count c: 1 if c > 0, c, or ln(1 + c). */
  weighting: 'binary' | 'count' | 'log1p';
  /** 'l2' scales each non-zero row to unit Euclidean length. */
  normalize: 'l2' | 'none';
}

/** Throws an Error naming the bad field and the valid values unless spec is a valid TextFeaturizerSpec. */
export declare function validateSpec(spec: unknown): asserts spec is TextFeaturizerSpec;

/** The feature vector of one text: Float32Array(spec.buckets). */
export declare function featurize(text: string, spec: TextFeaturizerSpec): Float32Array;

/** Row-major Float32Array(texts.length * spec.buckets); row i equals featurize(texts[i], spec). */
export declare function featurizeMany(texts: readonly string[], spec: TextFeaturizerSpec): Float32Array;

/** The text the n-grams are taken from (NFKC, lowercase, url/email/digit tokens, whitespace, maxChars). */
export declare function normalizeText(text: string, spec: TextFeaturizerSpec): string;

/** The word tokens of a normalised text: maximal runs of /[\p{L}\p{N}']/u. */
export declare function wordTokens(normalized: string): string[];

/** 32-bit FNV-1a of the UTF-8 bytes of s, unsigned. */
export declare function fnv1a32(s: string): number;

/** ln(1 + c) computed from IEEE-exact operations only, identical in every engine. */
export declare function log1pExact(c: number): number;
