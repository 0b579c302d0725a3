// The text featurizer: text -> a fixed-length Float32Array of hashed word / character n-grams.
// This one file is used for training AND copied unchanged into deployment bundles, so an app's input is
// bit-for-bit the training input. Hence: plain JavaScript, no imports, only language built-ins that Node and
// browsers share (String#normalize, Unicode regexes, Math.imul, typed arrays); the regex lookbehind below needs
// Chrome 62+, Firefox 78+ or Safari 16.4+. Types: featurizer.d.ts.
//
// Determinism: every step is pure. Weighting and normalisation run in float64 using only IEEE-exact operations
// (+ - * / and sqrt; log1p is computed below from those, since Math.log1p is allowed to differ between engines)
// and are rounded to float32 once. What can still differ is Unicode data (NFKC, toLowerCase, \p{...}) between
// engines built on different Unicode versions, which only affects characters new in the newer version.

/** Bump when any output could change for some input; deploy.json records the spec with this version. */
export const FEATURIZER_VERSION = 1;

/**
 * @typedef {object} TextFeaturizerSpec
 * @property {'hashed-ngrams'} kind
 * @property {1} version FEATURIZER_VERSION the spec was made for.
 * @property {number} buckets Output length; feature hashes are taken modulo this (any integer >= 1).
 * @property {boolean} lowercase Lowercase (String#toLowerCase, locale-independent) after NFKC.
 * @property {[number, number] | null} wordNgrams Inclusive [min, max] word n-gram lengths, or null for none.
 * @property {[number, number] | null} charNgrams Inclusive [min, max] character n-gram lengths (code points).
 * @property {number} maxChars Keep only the first maxChars code points of the normalised text.
 * @property {'binary' | 'count' | 'log1p'} weighting Value of a bucket from its count c: c > 0 ? 1 : 0, c, ln(1 + c).
 * @property {'l2' | 'none'} normalize 'l2' scales each non-zero row to unit Euclidean length.
 */

const MAX_BUCKETS = 1 << 24;
const MAX_WORD_N = 8;
const MAX_CHAR_N = 16;
const SPEC_KEYS = ['kind', 'version', 'buckets', 'lowercase', 'wordNgrams', 'charNgrams', 'maxChars', 'weighting', 'normalize'];
const WEIGHTINGS = ['binary', 'count', 'log1p'];
const NORMALIZES = ['l2', 'none'];

/**
 * Throw an Error naming the field, the bad value and the valid ones unless `spec` is a valid spec.
 * Unknown keys are rejected too: the spec travels in deploy.json, and a misspelt key must not be silently ignored.
 * @param {unknown} spec
 */
export function validateSpec(spec) {
  const bad = (/** @type {string} */ what) => {
    throw new Error(`invalid text featurizer spec: ${what}`);
  };
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) bad(`expected an object, got ${JSON.stringify(spec)}`);
  const s = /** @type {Record<string, unknown>} */ (spec);
  for (const k of Object.keys(s)) if (!SPEC_KEYS.includes(k)) bad(`unknown key ${JSON.stringify(k)}; valid keys: ${SPEC_KEYS.join(', ')}`);
  if (s.kind !== 'hashed-ngrams') bad(`kind must be "hashed-ngrams", got ${JSON.stringify(s.kind)}`);
  if (s.version !== FEATURIZER_VERSION) bad(`version ${JSON.stringify(s.version)} is not supported by this featurizer (version ${FEATURIZER_VERSION}); use the featurizer.js shipped with the model`);
  if (!isInt(s.buckets, 1, MAX_BUCKETS)) bad(`buckets must be an integer in [1, ${MAX_BUCKETS}], got ${JSON.stringify(s.buckets)}`);
  if (typeof s.lowercase !== 'boolean') bad(`lowercase must be true or false, got ${JSON.stringify(s.lowercase)}`);
  checkRange(s.wordNgrams, 'wordNgrams', MAX_WORD_N, bad);
  checkRange(s.charNgrams, 'charNgrams', MAX_CHAR_N, bad);
  if (s.wordNgrams === null && s.charNgrams === null) bad('wordNgrams and charNgrams are both null, so every text would featurize to zeros; set at least one');
  if (!isInt(s.maxChars, 1, Number.MAX_SAFE_INTEGER)) bad(`maxChars must be a positive integer, got ${JSON.stringify(s.maxChars)}`);
  if (!WEIGHTINGS.includes(/** @type {string} */ (s.weighting))) bad(`weighting must be one of ${WEIGHTINGS.join(', ')}, got ${JSON.stringify(s.weighting)}`);
  if (!NORMALIZES.includes(/** @type {string} */ (s.normalize))) bad(`normalize must be one of ${NORMALIZES.join(', ')}, got ${JSON.stringify(s.normalize)}`);
}

/** @param {unknown} v @param {number} lo @param {number} hi */
function isInt(v, lo, hi) {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

/** @param {unknown} r @param {string} name @param {number} maxN @param {(what: string) => never} bad */
function checkRange(r, name, maxN, bad) {
  if (r === null) return;
  if (!Array.isArray(r) || r.length !== 2 || !isInt(r[0], 1, maxN) || !isInt(r[1], 1, maxN) || r[0] > r[1]) {
    bad(`${name} must be null or [min, max] with integers 1 <= min <= max <= ${maxN}, got ${JSON.stringify(r)}`);
  }
}

// URLs (with a scheme, or starting "www."), and e-mail addresses. One regex so the leftmost match wins:
// "http://a@b.com" is a URL, "john@www.x.org" an address. The lookbehind makes an address start only where a run
// of address characters starts, which keeps the scan linear on long runs without "@". Group 1 is the address.
const URL_OR_EMAIL_RE = /(?:https?|ftp):\/\/[^\s<>"']+|((?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+)|\bwww\.[^\s<>"']+/giu;
const DIGITS_RE = /\p{Nd}+/gu;
const SPACE_RE = /\s+/gu;
/** A word: a maximal run of letters, numbers (any script) and ASCII apostrophes. */
const WORD_RE = /[\p{L}\p{N}']+/gu;

/**
 * The text the n-grams are taken from. Steps, in order:
 * 1. Unicode NFKC, so compatibility forms (full-width "Ａ", ligature "ﬁ", "①") match their plain forms.
 * 2. toLowerCase() when spec.lowercase.
 * 3. URLs -> " url ", e-mail addresses -> " email ": their exact spelling rarely generalises, their presence does.
 * 4. Every run of decimal digits (any script) -> "0": "$1,000" and "$5,500" share features.
 * 5. Whitespace runs (any Unicode \s, including newlines) -> one " "; trim both ends.
 * 6. Keep the first spec.maxChars code points (bounds the cost of long e-mails), then trim the end again.
 * @param {string} text
 * @param {TextFeaturizerSpec} spec
 * @returns {string}
 */
export function normalizeText(text, spec) {
  let t = text.normalize('NFKC');
  if (spec.lowercase) t = t.toLowerCase();
  t = t.replace(URL_OR_EMAIL_RE, (_m, email) => (email === undefined ? ' url ' : ' email '));
  t = t.replace(DIGITS_RE, '0').replace(SPACE_RE, ' ').trim();
  // Code points never outnumber UTF-16 units, so a short string needs no counting.
  if (t.length > spec.maxChars) {
    let units = 0;
    for (let cps = 0; cps < spec.maxChars && units < t.length; cps++) units += t.codePointAt(units) > 0xffff ? 2 : 1;
    t = t.slice(0, units).trimEnd();
  }
  return t;
}

/** @param {string} normalized output of normalizeText @returns {string[]} */
export function wordTokens(normalized) {
  return normalized.match(WORD_RE) ?? [];
}

// 32-bit FNV-1a (http://www.isthe.com/chongo/tech/comp/fnv/): h = (h XOR byte) * 16777619 mod 2^32, starting at
// 2166136261, over UTF-8 bytes. Math.imul gives the low 32 bits of the product exactly; `>>> 0` makes it unsigned.
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** @param {number} h @param {number} b a byte */
function fnvByte(h, b) {
  return Math.imul(h ^ b, FNV_PRIME);
}

/** Feed one code point's UTF-8 bytes; lone surrogates count as U+FFFD, exactly as TextEncoder encodes them. */
function fnvCodePoint(/** @type {number} */ h, /** @type {number} */ cp) {
  if (cp < 0x80) return fnvByte(h, cp);
  if (cp < 0x800) return fnvByte(fnvByte(h, 0xc0 | (cp >> 6)), 0x80 | (cp & 63));
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x10000) return fnvByte(fnvByte(fnvByte(h, 0xe0 | (cp >> 12)), 0x80 | ((cp >> 6) & 63)), 0x80 | (cp & 63));
  h = fnvByte(fnvByte(h, 0xf0 | (cp >> 18)), 0x80 | ((cp >> 12) & 63));
  return fnvByte(fnvByte(h, 0x80 | ((cp >> 6) & 63)), 0x80 | (cp & 63));
}

/** Feed a string's UTF-8 bytes into running hash h (FNV-1a streams, so hash(a + b) = feed(feed(start, a), b)). */
function fnvString(/** @type {number} */ h, /** @type {string} */ s) {
  for (let i = 0; i < s.length; i++) {
    const cp = /** @type {number} */ (s.codePointAt(i));
    if (cp > 0xffff) i++;
    h = fnvCodePoint(h, cp);
  }
  return h;
}

/**
 * 32-bit FNV-1a of the UTF-8 bytes of s, unsigned.
 * @param {string} s
 * @returns {number}
 */
export function fnv1a32(s) {
  return fnvString(FNV_OFFSET, s) >>> 0;
}

// The prefixes keep word and character n-grams apart: the word "ab" and the character bigram "ab" hash differently.
const WORD_START = fnvString(FNV_OFFSET, 'w:');
const CHAR_START = fnvString(FNV_OFFSET, 'c:');

/**
 * Add 1 to counts[bucket] for every n-gram of the text. Features, each hashed as a UTF-8 string:
 * - word n-grams: "w:" + n consecutive words joined by one space, e.g. "w:free money";
 * - character n-grams: "c:" + n consecutive code points of " " + normalised text + " ", taken over the whole
 *   string, across word boundaries, so they also cover text without spaces (CJK), punctuation, emoji, and short
 *   phrases. The added spaces mark the start and the end of the text. An empty text has no features at all.
 * @param {string} text @param {TextFeaturizerSpec} spec @param {Float64Array} counts
 */
function countFeatures(text, spec, counts) {
  const t = normalizeText(text, spec);
  if (t === '') return;
  const B = spec.buckets;
  if (spec.wordNgrams) {
    const [lo, hi] = spec.wordNgrams;
    const words = wordTokens(t);
    for (let i = 0; i < words.length; i++) {
      let h = WORD_START;
      for (let n = 1; n <= hi && i + n <= words.length; n++) {
        if (n > 1) h = fnvByte(h, 0x20);
        h = fnvString(h, /** @type {string} */ (words[i + n - 1]));
        if (n >= lo) counts[(h >>> 0) % B] += 1;
      }
    }
  }
  if (spec.charNgrams) {
    const [lo, hi] = spec.charNgrams;
    const cps = [0x20];
    for (let i = 0; i < t.length; i++) {
      const cp = /** @type {number} */ (t.codePointAt(i));
      if (cp > 0xffff) i++;
      cps.push(cp);
    }
    cps.push(0x20);
    for (let i = 0; i < cps.length; i++) {
      let h = CHAR_START;
      for (let n = 1; n <= hi && i + n <= cps.length; n++) {
        h = fnvCodePoint(h, /** @type {number} */ (cps[i + n - 1]));
        if (n >= lo) counts[(h >>> 0) % B] += 1;
      }
    }
  }
}

/**
 * ln(1 + c) for c >= 0 from IEEE-exact operations only, so every engine gets the same bits (Math.log1p is only
 * "implementation-approximated" by the ECMAScript spec). y = 1 + c = m * 2^k with m in [1, sqrt 2) (exact halvings),
 * then ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1)/(m + 1) <= 0.172: 14 terms reach 1e-22.
 * @param {number} c
 */
export function log1pExact(c) {
  let y = 1 + c;
  let k = 0;
  while (y >= Math.SQRT2) {
    y /= 2;
    k++;
  }
  const s = (y - 1) / (y + 1);
  const s2 = s * s;
  let term = s;
  let sum = s;
  for (let j = 3; j <= 29; j += 2) {
    term *= s2;
    sum += term / j;
  }
  return k * Math.LN2 + 2 * sum;
}

/** Weight and normalise counts (float64) into out[offset, offset + buckets) (rounded to float32 once). */
function finish(/** @type {Float64Array} */ counts, /** @type {TextFeaturizerSpec} */ spec, /** @type {Float32Array} */ out, /** @type {number} */ offset) {
  let sumSq = 0;
  for (let j = 0; j < counts.length; j++) {
    const c = /** @type {number} */ (counts[j]);
    if (c === 0) continue;
    const v = spec.weighting === 'binary' ? 1 : spec.weighting === 'count' ? c : log1pExact(c);
    counts[j] = v;
    sumSq += v * v;
  }
  const scale = spec.normalize === 'l2' && sumSq > 0 ? Math.sqrt(sumSq) : 1;
  for (let j = 0; j < counts.length; j++) out[offset + j] = /** @type {number} */ (counts[j]) / scale;
}

/**
 * The feature vector of one text: Float32Array(spec.buckets).
 * @param {string} text
 * @param {TextFeaturizerSpec} spec
 * @returns {Float32Array}
 */
export function featurize(text, spec) {
  validateSpec(spec);
  if (typeof text !== 'string') throw new TypeError(`featurize expects a string, got ${typeof text}`);
  const counts = new Float64Array(spec.buckets);
  countFeatures(text, spec, counts);
  const out = new Float32Array(spec.buckets);
  finish(counts, spec, out, 0);
  return out;
}

/**
 * The feature vectors of many texts, row-major: Float32Array(texts.length * spec.buckets); row i = featurize(texts[i]).
 * @param {readonly string[]} texts
 * @param {TextFeaturizerSpec} spec
 * @returns {Float32Array}
 */
export function featurizeMany(texts, spec) {
  validateSpec(spec);
  const B = spec.buckets;
  const out = new Float32Array(texts.length * B);
  const counts = new Float64Array(B);
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i];
    if (typeof text !== 'string') throw new TypeError(`featurizeMany expects strings, got ${typeof text} at index ${i}`);
    counts.fill(0);
    countFeatures(text, spec, counts);
    finish(counts, spec, out, i * B);
  }
  return out;
}
