// Tests for the text featurizer (pipeline/text/featurizer.js): FNV-1a against published vectors and a reference
// over Buffer bytes, a hand-worked example, Unicode, determinism, validation, speed on the real SpamAssassin corpus,
// and bit-for-bit parity with the same file run in Chromium (it ships in deployment bundles).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { FEATURIZER_VERSION, featurize, featurizeMany, fnv1a32, log1pExact, normalizeText, validateSpec, wordTokens, type TextFeaturizerSpec } from '../pipeline/text/featurizer.js';
import { loadSpamAssassin } from '../pipeline/text/corpora.ts';
import { launchChromium } from './helpers.ts';

const SOURCE = new URL('../pipeline/text/featurizer.js', import.meta.url);

function spec(over: Partial<TextFeaturizerSpec> = {}): TextFeaturizerSpec {
  return { kind: 'hashed-ngrams', version: 1, buckets: 4096, lowercase: true, wordNgrams: [1, 2], charNgrams: null, maxChars: 5000, weighting: 'log1p', normalize: 'l2', ...over };
}

/** FNV-1a 32 written from the definition, over Node's own UTF-8 encoding: independent of the featurizer's encoder. */
function refFnv(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) h = Number((BigInt((h ^ b) >>> 0) * 0x01000193n) & 0xffffffffn);
  return h >>> 0;
}

function l2(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

const bits = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

test('FNV-1a 32 matches the published test vectors and a reference over UTF-8 bytes', () => {
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  assert.equal(refFnv('foobar'), 0xbf9cf968, 'the reference itself');
  // 1-, 2-, 3- and 4-byte UTF-8, and a lone surrogate (encoded as U+FFFD by TextEncoder and Buffer alike).
  for (const s of ['w:the cat', 'café', 'naïve Ωmega', '日本語', '😀🎉', 'x\ud800y', '\udfff']) assert.equal(fnv1a32(s), refFnv(s), s);
});

test('normalisation: NFKC, lowercase, url/email tokens, digit runs, whitespace, word tokens', () => {
  const s = spec();
  assert.equal(normalizeText('  Visit HTTP://Example.com/x?a=1 or www.shop.biz,\n\tmail Bob.Smith@Example.org  ', s), 'visit url or url mail email');
  assert.equal(normalizeText('Call 555-1234 for $1,000 ＦＲＥＥ ﬁne ①', s), 'call 0-0 for $0,0 free fine 0');
  assert.equal(normalizeText('ÉTÉ', spec({ lowercase: false })), 'ÉTÉ');
  assert.equal(normalizeText('cafe\u0301', s), 'café', 'NFKC composes the combining accent');
  assert.deepEqual(wordTokens(normalizeText("Don't STOP -- it's 2002!", s)), ["don't", 'stop', "it's", '0']);
  assert.deepEqual(wordTokens('日本語のテキスト and 😀 ok'), ['日本語のテキスト', 'and', 'ok'], 'CJK runs are one word; emoji are not letters');
});

test('hand-worked example: "The cat sat. The cat ran!" with 8 buckets, word 1-2 grams', () => {
  // Words: the cat sat the cat ran. Features and their FNV-1a (computed by hand with Python), bucket = hash % 8:
  const table: [feature: string, count: number, hash: number, bucket: number][] = [
    ['w:the', 2, 0x5e150e97, 7],
    ['w:cat', 2, 0x997fea48, 0],
    ['w:sat', 1, 0x674d1bd8, 0],
    ['w:ran', 1, 0x066ab035, 5],
    ['w:the cat', 2, 0xb496a417, 7],
    ['w:cat sat', 1, 0x10189f2c, 4],
    ['w:sat the', 1, 0x06259183, 3],
    ['w:cat ran', 1, 0x9d5b1519, 1],
  ];
  for (const [f, , h, b] of table) {
    assert.equal(refFnv(f), h, f);
    assert.equal(h % 8, b, f);
  }
  // Bucket sums: 0 = cat 2 + sat 1; 1 = "cat ran"; 3 = "sat the"; 4 = "cat sat"; 5 = ran; 7 = the 2 + "the cat" 2.
  const counts = [3, 1, 0, 1, 1, 1, 0, 4];
  const text = 'The cat sat. The cat ran!';
  const small = spec({ buckets: 8, weighting: 'count', normalize: 'none' });
  assert.deepEqual([...featurize(text, small)], counts);

  // log1p then l2: ln(1 + c) / sqrt(sum ln(1 + c)^2) = [ln 4, ln 2, 0, ln 2, ln 2, ln 2, 0, ln 5] / sqrt(8 ln²2 + ln²5).
  const norm = Math.sqrt(8 * Math.LN2 ** 2 + Math.log(5) ** 2);
  const want = [Math.log(4), Math.LN2, 0, Math.LN2, Math.LN2, Math.LN2, 0, Math.log(5)].map((v) => v / norm);
  const got = featurize(text, spec({ buckets: 8 }));
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) < 1e-7, `bucket ${i}: ${got[i]} vs ${w}`));
  // binary: six occupied buckets of 1, divided by sqrt 6.
  assert.deepEqual([...featurize(text, spec({ buckets: 8, weighting: 'binary' }))], counts.map((c) => Math.fround(c > 0 ? 1 / Math.sqrt(6) : 0)));

  // Character bigrams of "Ab!": over " ab! " -> " a", "ab", "b!", "! ".
  const chars: [string, number, number][] = [['c: a', 0x1ebe3c8b, 3], ['c:ab', 0x426015fb, 3], ['c:b!', 0xeb61cb9d, 5], ['c:! ', 0x83c11a21, 1]];
  for (const [f, h, b] of chars) {
    assert.equal(refFnv(f), h, f);
    assert.equal(h % 8, b, f);
  }
  const charSpec = spec({ buckets: 8, wordNgrams: null, charNgrams: [2, 2], weighting: 'count', normalize: 'none' });
  assert.deepEqual([...featurize('Ab!', charSpec)], [0, 1, 0, 2, 0, 1, 0, 0]);

  // featurizeMany is the rows of featurize, back to back.
  const many = featurizeMany([text, 'Ab!'], { ...small, charNgrams: [2, 2] });
  assert.deepEqual([...many.subarray(0, 8)], [...featurize(text, { ...small, charNgrams: [2, 2] })]);
  assert.deepEqual([...many.subarray(8)], [...featurize('Ab!', { ...small, charNgrams: [2, 2] })]);
});

const UNICODE = ['Crème brûlée à la carte — déjà vu', '😀🎉👍🏽 family: 👨‍👩‍👧 flags 🇫🇷', '東京の天気は晴れです。明日も晴れ。', 'Ελληνικά и русский текст', 'مرحبا بالعالم', 'x\ud800y lone surrogate', '\u0000\u0007 control'];

test('unicode (accents, emoji, CJK, other scripts) featurizes without error, stably, with unit l2 norm', () => {
  const full = spec({ charNgrams: [1, 4] });
  for (const t of UNICODE) {
    const v = featurize(t, full);
    assert.equal(v.length, 4096);
    assert.ok(v.every(Number.isFinite), t);
    assert.ok(Math.abs(l2(v) - 1) < 1e-6, `${t}: norm ${l2(v)}`);
    assert.ok(bits(featurize(t, full)).equals(bits(v)), `${t} is stable`);
  }
  // Composed and decomposed accents are the same text after NFKC.
  assert.ok(bits(featurize('Cafe\u0301 crème', full)).equals(bits(featurize('Café crème', full))));
  // Emoji are whole code points in character n-grams, so two emoji never collapse into one broken feature.
  assert.notDeepEqual([...featurize('😀', spec({ wordNgrams: null, charNgrams: [1, 1] }))], [...featurize('😁', spec({ wordNgrams: null, charNgrams: [1, 1] }))]);
});

test('determinism, l2 norm 1, empty text, maxChars in code points', () => {
  const texts = ['Hello world', 'hello   WORLD', 'Free money!!! Click http://x.y/z now', 'a'];
  for (const s of [spec(), spec({ charNgrams: [2, 5] }), spec({ wordNgrams: null, charNgrams: [3, 3], weighting: 'count' })]) {
    const a = featurizeMany(texts, s);
    assert.ok(bits(a).equals(bits(featurizeMany(texts, s))));
    texts.forEach((t, i) => {
      const row = a.subarray(i * s.buckets, (i + 1) * s.buckets);
      assert.ok(Math.abs(l2(row) - 1) < 1e-6, `${t}: ${l2(row)}`);
      assert.ok(bits(row).equals(bits(featurize(t, s))));
    });
  }
  assert.ok(bits(featurize('Hello world', spec())).equals(bits(featurize('  hello\n\tWORLD ', spec()))), 'case and layout do not matter');
  for (const empty of ['', '   \n\t', '\u00a0']) assert.ok(featurize(empty, spec({ charNgrams: [1, 3] })).every((v) => v === 0), JSON.stringify(empty));
  assert.ok(featurize('!!! ...', spec()).every((v) => v === 0), 'no words, word n-grams only: zeros');
  const s = spec({ maxChars: 3, wordNgrams: null, charNgrams: [1, 2] });
  assert.ok(bits(featurize('😀😀😀😀😀😀', s)).equals(bits(featurize('😀😀😀', s))), 'maxChars counts code points');
  assert.ok(bits(featurize('abc defgh', s)).equals(bits(featurize('abc', s))), 'the cut end is trimmed');
  assert.ok(!bits(featurize('abcd', spec({ maxChars: 4, wordNgrams: null, charNgrams: [1, 2] }))).equals(bits(featurize('abc', s))));
  assert.equal(FEATURIZER_VERSION, 1);
});

test('log1pExact equals Math.log1p to within rounding for counts 0..10000', () => {
  for (let c = 0; c <= 10000; c++) {
    const want = Math.log1p(c);
    assert.ok(Math.abs(log1pExact(c) - want) <= 2 * Number.EPSILON * Math.max(1, want), `${c}: ${log1pExact(c)} vs ${want}`);
  }
});

test('validateSpec rejects bad specs with a message naming the field', () => {
  assert.doesNotThrow(() => validateSpec(spec()));
  const cases: [unknown, RegExp][] = [
    [null, /expected an object/],
    [[1, 2], /expected an object/],
    [{ ...spec(), kind: 'bag-of-words' }, /kind must be "hashed-ngrams"/],
    [{ ...spec(), version: 2 }, /version 2 is not supported/],
    [{ ...spec(), buckets: 0 }, /buckets must be an integer in \[1, 16777216\], got 0/],
    [{ ...spec(), buckets: 1.5 }, /buckets/],
    [{ ...spec(), lowercase: 'yes' }, /lowercase must be true or false/],
    [{ ...spec(), wordNgrams: [2, 1] }, /wordNgrams must be null or \[min, max\]/],
    [{ ...spec(), wordNgrams: [0, 1] }, /wordNgrams/],
    [{ ...spec(), charNgrams: [3] }, /charNgrams/],
    [{ ...spec(), wordNgrams: null, charNgrams: null }, /both null/],
    [{ ...spec(), maxChars: -1 }, /maxChars must be a positive integer/],
    [{ ...spec(), weighting: 'tfidf' }, /weighting must be one of binary, count, log1p, got "tfidf"/],
    [{ ...spec(), normalize: 'l1' }, /normalize must be one of l2, none/],
    [{ ...spec(), bucket: 10 }, /unknown key "bucket"; valid keys: kind, version, buckets/],
  ];
  for (const [bad, msg] of cases) assert.throws(() => validateSpec(bad), msg, JSON.stringify(bad));
  assert.throws(() => featurize('x', { ...spec(), buckets: -3 }), /buckets/);
  assert.throws(() => featurizeMany(['ok', 3 as unknown as string], spec()), /expects strings, got number at index 1/);
});

test('featurizer.js is self-contained: no imports, no require, no Node globals', () => {
  const src = readFileSync(SOURCE, 'utf8');
  assert.doesNotMatch(src, /^\s*import\b|\bimport\s*\(|\brequire\s*\(/m);
  assert.doesNotMatch(src, /\b(?:Buffer|process|globalThis|window)\b/);
});

let emails: Promise<string[]> | undefined;
const spamAssassinTexts = () => (emails ??= loadSpamAssassin().then((c) => c.texts));

test('speed: 5,000 SpamAssassin e-mails featurize in seconds', async () => {
  const texts = (await spamAssassinTexts()).slice(0, 5000);
  for (const [name, s] of [['word 1-2', spec()], ['word 1-2 + char 3-5', spec({ charNgrams: [3, 5] })]] as const) {
    const t0 = performance.now();
    const X = featurizeMany(texts, s);
    const secs = (performance.now() - t0) / 1000;
    console.log(`featurize 5,000 e-mails (${name}, 4096 buckets, maxChars 5000): ${secs.toFixed(2)} s`);
    assert.equal(X.length, 5000 * 4096);
    assert.ok(secs < 60, `${secs} s`);
  }
});

let browser: Browser | undefined;
after(async () => browser?.close());

test('Chromium gives bit-identical features from the same file (real e-mails and unicode)', async () => {
  const texts = [...UNICODE, ...(await spamAssassinTexts()).filter((_, i) => i % 20 === 0)];
  const specs = [spec({ buckets: 1024 }), spec({ buckets: 1000, charNgrams: [1, 5], wordNgrams: [1, 3], weighting: 'count', normalize: 'none', lowercase: false, maxChars: 2000 })];
  browser = await launchChromium('the featurizer parity test');
  const page = await browser.newPage();
  const src = readFileSync(SOURCE, 'utf8');
  const fromBrowser = await page.evaluate(
    async ({ src, texts, specs }) => {
      const m = await import(`data:text/javascript,${encodeURIComponent(src)}`);
      return specs.map((s) => {
        const bytes = new Uint8Array((m.featurizeMany(texts, s) as Float32Array).buffer);
        let bin = '';
        for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(bin);
      });
    },
    { src, texts, specs },
  );
  specs.forEach((s, k) => {
    const node = bits(featurizeMany(texts, s));
    const chromium = Buffer.from(fromBrowser[k]!, 'base64');
    assert.equal(chromium.length, node.length);
    assert.ok(chromium.equals(node), `spec ${k}: Node and Chromium differ`);
  });
  console.log(`Chromium parity: ${texts.length} texts x ${specs.length} specs bit-identical`);
});
