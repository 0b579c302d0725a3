// Text data sources: texts with labels and ids from CSV or JSON Lines files, and the real corpora the examples use
// (SpamAssassin e-mails, the UCI sentiment sentences). The featurizer (pipeline/text/featurizer.js) turns the texts
// into the student's input; the texts and ids stay with the split for the teacher's own featurizer and for
// precomputed teacher outputs matched by id.
import { resolve } from 'node:path';
import { EdgeDistillError } from '../errors.ts';
import { parseCsv } from './csv.ts';
import { readDataFile } from './table.ts';
import { loadSentiment, loadSpamAssassin } from '../text/corpora.ts';

export type TextSource =
  | { format: 'text-csv'; path: string; text: string | number; label?: string | number; id?: string | number; header?: boolean }
  | { format: 'text-jsonl'; path: string; textKey?: string; labelKey?: string; idKey?: string }
  | { format: 'spamassassin'; dir?: string; sets?: string[] }
  | { format: 'sentiment'; sets?: ('amazon' | 'imdb' | 'yelp')[] };

export const TEXT_FORMATS = ['text-csv', 'text-jsonl', 'spamassassin', 'sentiment'] as const;

export interface RawTextSplit {
  texts: string[];
  ids: string[];
  /** As written in the file (strings from CSV/JSONL, class indices from the corpora); null when unlabeled. */
  labels: string[] | number[] | null;
  /** Class names the corpus defines (e.g. ['ham', 'spam']); null for files. */
  classNames: string[] | null;
}

function column(header: string[] | null, c: string | number, path: string, what: string): number {
  if (typeof c === 'number') return c;
  const i = header?.indexOf(c) ?? -1;
  if (i < 0) throw new EdgeDistillError('E_CONFIG', `${what} column ${JSON.stringify(c)} is not in the header of ${path} (${header?.join(', ') ?? 'no header'})`, 'Name a column of the header, or give a 0-based index.');
  return i;
}

async function textCsv(src: Extract<TextSource, { format: 'text-csv' }>, path: string): Promise<RawTextSplit> {
  const rows = parseCsv(new TextDecoder().decode(await readDataFile(path)), path);
  const header = src.header === false ? null : (rows.shift() ?? null);
  const t = column(header, src.text, path, 'text');
  const l = src.label === undefined ? null : column(header, src.label, path, 'label');
  const id = src.id === undefined ? null : column(header, src.id, path, 'id');
  const cell = (r: string[], i: number, k: number) => {
    if (k >= r.length) throw new EdgeDistillError('E_DATA_FORMAT', `${path} row ${i + 1} has ${r.length} cells, column ${k} is missing`, 'Give every row the same columns.');
    return r[k]!;
  };
  return {
    texts: rows.map((r, i) => cell(r, i, t)),
    ids: rows.map((r, i) => (id === null ? String(i) : cell(r, i, id))),
    labels: l === null ? null : rows.map((r, i) => cell(r, i, l)),
    classNames: null,
  };
}

async function textJsonl(src: Extract<TextSource, { format: 'text-jsonl' }>, path: string): Promise<RawTextSplit> {
  const textKey = src.textKey ?? 'text';
  const labelKey = src.labelKey ?? 'label';
  const idKey = src.idKey ?? 'id';
  const lines = new TextDecoder().decode(await readDataFile(path)).split(/\r?\n/);
  const out: RawTextSplit = { texts: [], ids: [], labels: [], classNames: null };
  let labeled: boolean | null = null;
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch (err) {
      throw new EdgeDistillError('E_DATA_FORMAT', `${path} line ${i + 1} is not JSON (${(err as Error).message})`, 'Write one JSON object per line.');
    }
    if (typeof o?.[textKey] !== 'string') throw new EdgeDistillError('E_DATA_FORMAT', `${path} line ${i + 1} has no string under ${JSON.stringify(textKey)}`, 'Set textKey to the key that holds the text.');
    const has = o[labelKey] !== undefined;
    if (labeled !== null && has !== labeled) throw new EdgeDistillError('E_DATA_FORMAT', `${path} line ${i + 1} ${has ? 'has' : 'lacks'} ${JSON.stringify(labelKey)} unlike the lines before it`, 'Label every line or none.');
    labeled = has;
    out.texts.push(o[textKey] as string);
    out.ids.push(o[idKey] === undefined ? String(out.ids.length) : String(o[idKey]));
    // Numbers stay class indices; strings are looked up in data.classNames (as for numeric tables).
    if (has) (out.labels as (string | number)[]).push(typeof o[labelKey] === 'number' ? (o[labelKey] as number) : String(o[labelKey]));
  });
  return labeled ? out : { ...out, labels: null };
}

/**
 * Drop exact duplicate texts, keeping the first: the corpora hold some (SpamAssassin: 129 e-mails repeat another's
 * text), and a duplicate on both sides of a random train/test split would leak test examples into training.
 */
function dedupe(t: RawTextSplit): RawTextSplit {
  const seen = new Set<string>();
  const keep = t.texts.map((x) => !seen.has(x) && (seen.add(x), true));
  if (keep.every(Boolean)) return t;
  const f = <T,>(a: T[]) => a.filter((_, i) => keep[i]);
  return { ...t, texts: f(t.texts), ids: f(t.ids), labels: t.labels ? (f(t.labels as unknown[]) as string[] | number[]) : null };
}

export async function loadTextSource(src: TextSource, baseDir: string): Promise<RawTextSplit> {
  return dedupe(await loadRaw(src, baseDir));
}

async function loadRaw(src: TextSource, baseDir: string): Promise<RawTextSplit> {
  switch (src.format) {
    case 'text-csv':
      return textCsv(src, resolve(baseDir, src.path));
    case 'text-jsonl':
      return textJsonl(src, resolve(baseDir, src.path));
    case 'spamassassin':
      return loadSpamAssassin({ ...(src.dir ? { dir: resolve(baseDir, src.dir) } : {}), ...(src.sets ? { sets: src.sets } : {}) });
    case 'sentiment':
      return loadSentiment(src.sets ? { sets: src.sets } : {});
  }
}
