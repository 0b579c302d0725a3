// A forgiving RFC 822 / MIME e-mail reader: raw message bytes -> { subject, from, text } for text models.
// Real mail is often malformed (wrong charsets, missing boundaries, bad base64), so parseEmail never throws: what
// cannot be decoded falls back to the raw bytes as text (UTF-8 if valid, else Latin-1). It works on "binary strings"
// (one char per byte) until a part's charset is known, so bytes survive header parsing and transfer decoding.

export interface ParsedEmail {
  /** Subject with RFC 2047 encoded-words decoded; '' when missing. */
  subject: string;
  /** From header, decoded like the subject; '' when missing. */
  from: string;
  /** The readable body: text/plain parts, or text/html converted to text where a part has no plain version. */
  text: string;
}

interface Part {
  headers: Map<string, string>;
  /** Binary string: one char per byte. */
  body: string;
}

/** The text a model sees for an e-mail: subject, newline, body. */
export function emailModelText(mail: ParsedEmail): string {
  return `${mail.subject}\n${mail.text}`;
}

/** Parse raw message bytes (or a binary string, one char per byte). Never throws. */
export function parseEmail(raw: Uint8Array | string): ParsedEmail {
  const bin = (typeof raw === 'string' ? raw : bytesToBinary(raw)).replace(/\r\n?/g, '\n');
  try {
    return parseMessage(bin);
  } catch {
    return { subject: '', from: '', text: tidy(decodeCharset(bin, undefined)) }; // a last resort; not seen in the corpus
  }
}

function parseMessage(bin: string): ParsedEmail {
  const msg = splitPart(bin);
  // Raw 8-bit headers (common in Asian spam) are mostly in the charset the body declares.
  const charset = declaredCharset(msg, 0);
  const subject = decodeHeader(msg.headers.get('subject') ?? '', charset);
  const from = decodeHeader(msg.headers.get('from') ?? '', charset);
  let text: string;
  try {
    text = partText(msg, 0);
  } catch {
    text = decodeCharset(msg.body, undefined); // malformed beyond what the walk tolerates: the raw body
  }
  return { subject, from, text: tidy(text) };
}

/** Headers (unfolded, names lowercased, first occurrence wins) and body of a message or MIME part. */
function splitPart(s: string): Part {
  const end = s.search(/\n\n/);
  const head = end < 0 ? s : s.slice(0, end);
  const body = end < 0 ? '' : s.slice(end + 2);
  const headers = new Map<string, string>();
  let name: string | null = null;
  let value = '';
  const flush = () => {
    if (name !== null && !headers.has(name)) headers.set(name, value.trim());
  };
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line) && name !== null) {
      value += ' ' + line.trim(); // unfolding: a continuation line belongs to the header above
      continue;
    }
    flush();
    const m = /^([!-9;-~]+):(.*)$/.exec(line);
    // Lines that are not "Name: value" (the mbox "From " envelope line, junk) are skipped.
    [name, value] = m ? [m[1]!.toLowerCase(), m[2]!] : [null, ''];
  }
  flush();
  return { headers, body };
}

/** Content-Type as "type/subtype" plus lowercased parameter names; text/plain when missing or unparsable. */
function contentType(p: Part): { type: string; params: Map<string, string> } {
  const raw = p.headers.get('content-type') ?? '';
  const [first = '', ...rest] = raw.split(';');
  const type = /^\s*[\w.+-]+\/[\w.+-]+\s*$/.test(first) ? first.trim().toLowerCase() : 'text/plain';
  const params = new Map<string, string>();
  // Parameters may be quoted; re-join the rest since a quoted value can contain ';'.
  for (const m of rest.join(';').matchAll(/([\w.*-]+)\s*=\s*(?:"([^"]*)"|([^\s;]+))/g)) {
    params.set(m[1]!.toLowerCase(), m[2] ?? m[3]!);
  }
  return { type, params };
}

const MAX_DEPTH = 20;
const ALTERNATIVE_RANK: Record<string, number> = { 'text/plain': 0, 'text/html': 1 };

/** The readable text of a part; nested multiparts and attached messages are walked. */
function partText(p: Part, depth: number): string {
  if (depth > MAX_DEPTH) return '';
  const { type, params } = contentType(p);
  const boundary = params.get('boundary');
  if (type.startsWith('multipart/') && boundary) {
    const children = splitMultipart(p.body, boundary);
    if (children === null) return leafText(p, 'text/plain', params.get('charset')); // boundary never occurs
    if (type === 'multipart/alternative') {
      // Versions of one content: the plain one, else the HTML one, else whatever nested part has text.
      const rank = (c: Part) => ALTERNATIVE_RANK[contentType(c).type] ?? 2;
      const best = [...children].sort((a, b) => rank(a) - rank(b));
      for (const c of best) {
        const t = partText(c, depth + 1);
        if (t.trim()) return t;
      }
      return '';
    }
    return children.map((c) => partText(c, depth + 1)).filter((t) => t.trim()).join('\n\n');
  }
  if (type === 'message/rfc822') {
    // A forwarded message: its subject is content too.
    const inner = splitPart(transferDecode(p));
    return `${decodeHeader(inner.headers.get('subject') ?? '', declaredCharset(inner, depth + 1))}\n${partText(inner, depth + 1)}`;
  }
  if (/^\s*attachment/i.test(p.headers.get('content-disposition') ?? '')) return '';
  if (type.startsWith('text/') || type.startsWith('multipart/')) return leafText(p, type, params.get('charset'));
  return ''; // images, applications, ...
}

/** The first charset the message or one of its parts declares. */
function declaredCharset(p: Part, depth: number): string | undefined {
  const { type, params } = contentType(p);
  const own = params.get('charset');
  if (own || depth > MAX_DEPTH || !type.startsWith('multipart/') || !params.get('boundary')) return own;
  for (const c of splitMultipart(p.body, params.get('boundary')!) ?? []) {
    const cs = declaredCharset(c, depth + 1);
    if (cs) return cs;
  }
  return undefined;
}

/** The parts between "--boundary" lines; null when the boundary never occurs (then the body is read as text). */
function splitMultipart(body: string, boundary: string): Part[] | null {
  const lines = body.split('\n');
  const delim = `--${boundary}`;
  const parts: Part[] = [];
  let current: string[] | null = null;
  let seen = false;
  for (const line of lines) {
    const rest = line.startsWith(delim) ? line.slice(delim.length) : null;
    // "--boundary" then only whitespace; a longer boundary that merely starts the same way is content.
    if (rest !== null && (rest.trim() === '' || rest.startsWith('--'))) {
      seen = true;
      if (current) parts.push(splitPart(current.join('\n')));
      // "--boundary--" closes the multipart; the epilogue after it is not content.
      if (rest.startsWith('--')) return parts;
      current = [];
    } else if (current) current.push(line);
  }
  if (current) parts.push(splitPart(current.join('\n'))); // unterminated: keep the last part anyway
  return seen ? parts : null;
}

function leafText(p: Part, type: string, charset: string | undefined): string {
  const text = decodeCharset(transferDecode(p), charset);
  return type === 'text/html' ? htmlToText(text) : text;
}

/** Undo Content-Transfer-Encoding; 7bit, 8bit, binary and unknown encodings pass through. */
function transferDecode(p: Part): string {
  const cte = (p.headers.get('content-transfer-encoding') ?? '').trim().toLowerCase();
  if (cte === 'quoted-printable') return decodeQuotedPrintable(p.body);
  if (cte === 'base64') return decodeBase64(p.body) ?? p.body;
  return p.body;
}

/** Quoted-printable: "=" at a line end is a soft break, "=XX" a byte; a stray "=" stays literal. */
export function decodeQuotedPrintable(s: string): string {
  return s.replace(/=[ \t]*\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * Base64 to a binary string; null when nothing decodable is left. Reads the leading run of base64 lines and stops
 * at padding or at the first other line, so a text footer a mailing list appended is not decoded as data.
 */
export function decodeBase64(s: string): string | null {
  const lines = s.replace(/^\s+/, '').split('\n');
  const end = lines.findIndex((l) => !/^[A-Za-z0-9+/=\s]*$/.test(l));
  const data = (end < 0 ? lines : lines.slice(0, end)).join('');
  let clean = data.replace(/=[\s\S]*$/, '').replace(/[^A-Za-z0-9+/]/g, ''); // stop at padding
  if (clean.length % 4 === 1) clean = clean.slice(0, -1); // a dangling 6 bits cannot form a byte
  if (!clean) return null;
  try {
    return atob(clean);
  } catch {
    return null;
  }
}

/** Windows-1252's characters for bytes 0x80-0x9F (WHATWG index); elsewhere it equals Latin-1. */
const CP1252_C1 = '€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ';

/**
 * Latin-1 as browsers read it: Windows-1252, whose 0x80-0x9F are quotes, dashes and € where ISO-8859-1 has unused
 * control codes. Done by hand because Node >= 20.18.3's TextDecoder decodes windows-1252 (and the labels latin1,
 * iso-8859-1, us-ascii that mean it) as plain ISO-8859-1 (nodejs/node#56542).
 */
function decodeWindows1252(bin: string): string {
  return bin.replace(/[\x80-\x9f]/g, (c) => CP1252_C1[c.charCodeAt(0) - 0x80]!);
}

/**
 * Binary string -> text in the declared charset (any label TextDecoder knows). Without a usable charset: UTF-8 if
 * the bytes are valid UTF-8, else `guess` if given, else Latin-1 read as Windows-1252 (every byte is a character,
 * so nothing throws).
 */
export function decodeCharset(bin: string, charset: string | undefined, guess?: string): string {
  const label = (charset ?? '').trim().toLowerCase().replace(/^["']|["']$/g, '');
  // Pure ASCII reads the same in every ASCII-compatible charset; ISO-2022 and UTF-16 are not.
  if (!/[^\x00-\x7f]/.test(bin) && !/^(?:iso-2022|utf-16|hz)/.test(label)) return bin;
  const bytes = binaryToBytes(bin);
  if (label) {
    let decoder: TextDecoder | null = null;
    try {
      decoder = new TextDecoder(label);
    } catch {
      // unknown label (e.g. "default", "utf-7"): fall through
    }
    // "replacement" (ISO-2022-KR, HZ) would turn the whole text into one U+FFFD: better to guess.
    if (decoder && decoder.encoding !== 'replacement') return decoder.encoding === 'windows-1252' ? decodeWindows1252(bin) : decoder.decode(bytes);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return guess ? decodeCharset(bin, guess) : decodeWindows1252(bin);
  }
}

/**
 * A raw header value (binary string) as text. RFC 2047 encoded-words (=?charset?B|Q?data?=) are decoded, and the
 * whitespace between adjacent ones dropped; raw 8-bit bytes outside them are read as UTF-8 if valid, else in
 * `charset` (the body's), else as Latin-1.
 */
export function decodeHeader(value: string, charset?: string): string {
  const words = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;
  // Encoded-words are ASCII, so they survive decoding the raw bytes first.
  const guessed = decodeCharset(value, undefined, charset);
  const decoded = guessed.replace(/(\?=)[ \t]+(?==\?)/g, '$1').replace(words, (_m, cs: string, enc: string, data: string) => {
    const bin = enc.toUpperCase() === 'B' ? (decodeBase64(data) ?? '') : decodeQuotedPrintable(data.replace(/_/g, ' '));
    return decodeCharset(bin, cs.replace(/\*.*$/, '')); // RFC 2231 language suffix: "utf-8*en"
  });
  return decoded.replace(/\s+/g, ' ').trim();
}

const ENTITIES: Record<string, string> = {
  nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", copy: '©', reg: '®', trade: '™', hellip: '…',
  mdash: '—', ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', bull: '•', middot: '·', euro: '€',
  pound: '£', cent: '¢', yen: '¥', sect: '§', deg: '°', laquo: '«', raquo: '»', times: '×', iexcl: '¡', iquest: '¿',
};

/** HTML -> text: drop comments, scripts, styles and tags; block tags become line breaks; decode entities last. */
export function htmlToText(html: string): string {
  const text = html
    .replace(/<!--[\s\S]*?(?:-->|$)/g, '')
    // Only closed elements: an unclosed <head> in sloppy spam HTML must not swallow the whole message.
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<\/?(?:br|p|div|tr|li|ul|ol|table|h[1-6]|blockquote|pre|hr|center|title)\b[^>]*>/gi, '\n')
    .replace(/<\/?[a-z!][^>]*>/gi, '');
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] !== '#') return ENTITIES[e.toLowerCase()] ?? m;
    const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    // Browsers read &#128;-&#159; as Windows-1252 (e.g. &#146; is a right quote); so do we.
    if (cp >= 0x80 && cp <= 0x9f) return CP1252_C1[cp - 0x80]!;
    return cp > 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : '\ufffd';
  });
}

/** Trim lines and squeeze blank-line runs: layout whitespace carries no meaning for the model. */
function tidy(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((l) => l.replace(/[ \t\u00a0]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function bytesToBinary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return s;
}

function binaryToBytes(bin: string): Uint8Array {
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i) & 0xff;
  return out;
}
