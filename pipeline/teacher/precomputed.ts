// Precomputed teacher outputs: logits (and optionally embeddings) of a teacher the user ran elsewhere,
// read from JSON Lines or NPY and matched to the data rows by id rather than by position.

import { EdgeDistillError } from '../errors.ts';
import { sha256 } from '../util/fsutil.ts';
import { parseJsonlTable, showJson } from '../data/jsonl.ts';
import { parseNpy, type NpyArray } from '../data/npy.ts';
import { readDataFile, stripBom } from '../data/table.ts';

export interface PrecomputedTeacherConfig {
  /** JSONL: one object per row with the id, the logits array and (optionally) the embedding array. */
  format: 'jsonl' | 'npy';
  // jsonl:
  path?: string;
  /** Default 'id'. Numeric ids are matched as their decimal string (17 -> "17"). */
  idKey?: string;
  /** Default 'logits'. */
  logitsKey?: string;
  /** Default 'embedding'; rows without it mean "no embedding", unless the key is set explicitly. */
  embeddingKey?: string;
  // npy: logits [N, C] float32/float64, optional embedding [N, D], and ids: a JSON array of strings or a text file with one id per line
  logits?: string;
  embedding?: string;
  ids?: string;
}

export interface PrecomputedOutputs {
  ids: string[];
  logits: Float32Array; // [N, C]
  embedding: Float32Array | null; // [N, D]
  classes: number;
  embeddingDim: number;
  /** The JSONL file's sha256 (what `sha256sum` prints); for NPY, the sha256 of the three files' labelled hashes. */
  sha256: string;
  /** The file(s) read, for messages; absent on hand-built outputs. */
  source?: string;
}

/** The teacher outputs for one split, rows in the split's order. */
export interface MatchedOutputs {
  logits: Float32Array; // [n, C]
  embedding: Float32Array | null; // [n, D]
}

/** How many ids an error lists before it says "and N more": enough to see the pattern, bounded for huge splits. */
const MAX_LISTED = 10;

const IDS_HINT =
  "Regenerate the teacher outputs for exactly these data rows, or check that the data's id column and the outputs' ids (idKey, or the ids file) name the rows the same way.";

function dataError(file: string, what: string, hint: string): EdgeDistillError {
  return new EdgeDistillError('E_DATA_FORMAT', `${file}: ${what}`, hint);
}

/** `"a", "b", "c" and 7 more`: ids quoted so stray spaces and empty ids are visible. */
function listIds(ids: readonly string[]): string {
  const shown = ids.slice(0, MAX_LISTED).map((id) => JSON.stringify(id)).join(', ');
  return ids.length > MAX_LISTED ? `${shown} and ${ids.length - MAX_LISTED} more` : shown;
}

// ---- reading -------------------------------------------------------------------------------------------

/** Read and check precomputed outputs: shapes, C >= 2, finite values, unique ids. Matching to the data comes later. */
export async function readPrecomputed(cfg: PrecomputedTeacherConfig): Promise<PrecomputedOutputs> {
  return cfg.format === 'jsonl' ? readJsonlOutputs(cfg) : readNpyOutputs(cfg);
}

/** Where row r is in the file, as the user would look for it: JSONL line numbers (from 1), NPY row indexes (from 0). */
interface Locate {
  unit: 'line' | 'row';
  num: (row: number) => number;
}
const where = (at: Locate, r: number) => `${at.unit} ${at.num(r)}`;

/** The files each check names: one JSONL file for all, or the NPY logits, embedding and ids files. */
interface Files {
  logits: string;
  embedding: string;
  ids: string;
}

/** The checks both formats share, once the arrays are flat Float32Arrays. */
function validate(o: PrecomputedOutputs, files: Files, at: Locate, logitsSrc?: ArrayLike<number>, embSrc?: ArrayLike<number>): void {
  const file = files.logits;
  const n = o.ids.length;
  if (n === 0) {
    throw new EdgeDistillError('E_DATA_EMPTY', `${file} holds no teacher outputs`, 'Write one row of teacher outputs per data row.');
  }
  if (o.classes < 2) {
    throw dataError(file, `the logits have ${o.classes} column${o.classes === 1 ? '' : 's'}; a classifier teacher needs at least 2`,
      'Save one logit per class. For a single sigmoid logit z, save the two columns [0, z]: their softmax equals the sigmoid.');
  }
  checkFinite(o.logits, o.classes, 'logit', o.ids, file, at, logitsSrc);
  if (o.embedding) checkFinite(o.embedding, o.embeddingDim, 'embedding value', o.ids, files.embedding, at, embSrc);
  const dups = duplicates(o.ids);
  if (dups.length) {
    const span = (rs: number[]) => `${at.unit}s ${rs.map(at.num).join(' and ')}`;
    const [id, rs] = dups[0]!;
    const what = dups.length === 1
      ? `duplicate id ${JSON.stringify(id)} in ${files.ids} (${span(rs)})`
      : `${dups.length} duplicate ids in ${files.ids}: ${listIds(dups.map(([d]) => d))}; the first, ${JSON.stringify(id)}, is on ${span(rs)}`;
    throw new EdgeDistillError('E_TEACHER_IDS', what, 'Each teacher output row needs its own data id; check the id column, or regenerate the outputs without repeating rows.');
  }
}

/** NaN/Infinity would poison every loss silently; float64 values beyond float32's range become Infinity here too. */
function checkFinite(v: Float32Array, cols: number, what: string, ids: string[], file: string, at: Locate, src?: ArrayLike<number>): void {
  for (let i = 0; i < v.length; i++) {
    if (Number.isFinite(v[i]!)) continue;
    const r = Math.floor(i / cols);
    const orig = src?.[i];
    const value = orig !== undefined && Number.isFinite(orig) ? `${orig} (beyond float32)` : String(orig ?? v[i]);
    throw dataError(file, `${where(at, r)} (id ${JSON.stringify(ids[r])}) has a non-finite ${what} in column ${i % cols}: ${value}`,
      'The teacher produced NaN/Infinity (or a value too large for float32) for this input; fix the teacher or its input and regenerate the outputs.');
  }
}

/** [id, rows] for each id seen more than once, in order of first repetition. */
function duplicates(ids: readonly string[]): [string, number[]][] {
  const rows = new Map<string, number[]>();
  ids.forEach((id, r) => {
    const rs = rows.get(id);
    if (rs) rs.push(r);
    else rows.set(id, [r]);
  });
  return [...rows].filter(([, rs]) => rs.length > 1);
}

async function readJsonlOutputs(cfg: PrecomputedTeacherConfig): Promise<PrecomputedOutputs> {
  const file = required(cfg, 'path', 'jsonl');
  const bytes = await readDataFile(file);
  const text = stripBom(new TextDecoder('utf-8').decode(bytes));
  const idKey = cfg.idKey ?? 'id';
  const logitsKey = cfg.logitsKey ?? 'logits';
  const embeddingKey = cfg.embeddingKey ?? 'embedding';
  // Same rule as the JSONL reader: blank lines are skipped, so row r is the r-th non-blank line.
  const lines = text.split(/\r?\n/).flatMap((src, i) => (src.trim() === '' ? [] : [{ line: i + 1, src }]));
  if (lines.length === 0) {
    throw new EdgeDistillError('E_DATA_EMPTY', `${file} holds no teacher outputs`, 'Write one line of teacher outputs per data row.');
  }
  const doc: JsonlDoc = { text, file, lines, idKey };

  const logits = readJsonlArrays(doc, { key: logitsKey, option: 'logitsKey', what: 'logits' });
  if (!logits.labels) {
    throw dataError(file, `line ${lines[0]!.line} has no ${JSON.stringify(idKey)}, so rows cannot be matched to the data`,
      `Write each row's data id under ${JSON.stringify(idKey)}, or set idKey to the key that holds it.`);
  }
  // The embedding is optional: read it when asked for by name, or when the key occurs in the file at all
  // (so rows that have it and rows that lack it are reported rather than the embedding silently dropped).
  const wantEmbedding = cfg.embeddingKey !== undefined || text.includes(JSON.stringify(embeddingKey));
  const emb = wantEmbedding ? readJsonlArrays(doc, { key: embeddingKey, option: 'embeddingKey', what: 'embedding values' }) : null;
  const out: PrecomputedOutputs = {
    ids: logits.labels, logits: logits.features, embedding: emb?.features ?? null,
    classes: logits.featureCount, embeddingDim: emb?.featureCount ?? 0, sha256: sha256(bytes), source: file,
  };
  validate(out, { logits: file, embedding: file, ids: file }, { unit: 'line', num: (r) => lines[r]!.line });
  return out;
}

interface JsonlDoc {
  text: string;
  file: string;
  /** The non-blank lines with their 1-based line numbers. */
  lines: { line: number; src: string }[];
  idKey: string;
}
interface JsonlField {
  key: string;
  option: 'logitsKey' | 'embeddingKey';
  what: string;
}

/** The JSONL reader does the parsing; when it fails, re-read the lines to say the same in teacher-output terms. */
function readJsonlArrays(doc: JsonlDoc, field: JsonlField) {
  try {
    return parseJsonlTable(doc.text, doc.file, { featuresKey: field.key, labelKey: doc.idKey });
  } catch (err) {
    if (err instanceof EdgeDistillError && err.code === 'E_DATA_FORMAT') throw explainJsonl(doc, field) ?? err;
    throw err;
  }
}

// Python's json.dumps writes NaN, Infinity and -Infinity, which JSON (and JSON.parse) does not allow.
// Quoting them with a \u0000 marker lets us parse the line far enough to name its id and the bad value.
const NON_FINITE = /(?<![\w."])-?(?:NaN|Infinity)(?![\w"])/g;
const MARK = '\u0000';

/** The first row that breaks the reader's rules, named by line and id; null leaves the reader's message. */
function explainJsonl({ file, lines, idKey }: JsonlDoc, { key, option, what }: JsonlField): EdgeDistillError | null {
  let first: { line: number; id: unknown; length: number } | null = null;
  for (const { line, src } of lines) {
    let row: unknown;
    try {
      row = JSON.parse(src.replace(NON_FINITE, (t) => `"\\u0000${t}"`)); // JSON text for MARK + token
    } catch {
      return null; // not JSON even with NaN quoted: the reader's own message says it best
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) return null;
    const obj = row as Record<string, unknown>;
    const id = obj[idKey];
    if (typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
      return dataError(file, `line ${line} has ${id === undefined ? 'no id' : `id ${showJson(id)}, not a string or number,`} under ${JSON.stringify(idKey)}`,
        `Write each row's data id under ${JSON.stringify(idKey)} on every line, or set idKey to the key that holds it.`);
    }
    const here = `line ${line} (id ${JSON.stringify(id)})`;
    const arr = obj[key];
    if (!Array.isArray(arr)) {
      const keys = Object.keys(obj).map((k) => JSON.stringify(k)).join(', ');
      return dataError(file, `${here} has no array under ${JSON.stringify(key)} (keys: ${keys})`,
        option === 'logitsKey'
          ? 'Write the logits on every line, or set logitsKey to the key that holds them.'
          : 'Write the embedding on every line or on none (methods that need it are then refused), or set embeddingKey to the key that holds it.');
    }
    const bad = arr.findIndex((v) => typeof v !== 'number' || !Number.isFinite(Math.fround(v))); // stored as float32
    if (bad >= 0) {
      const v = arr[bad];
      const shown = typeof v === 'string' && v.startsWith(MARK) ? v.slice(1) : showJson(v);
      return dataError(file, `${here} has ${key}[${bad}] = ${shown}, ${typeof v === 'number' && Number.isFinite(v) ? "beyond float32's range (±3.4e38)" : 'not a finite number'}`,
        'The teacher produced NaN/Infinity (or a missing value) for this input; fix the teacher or its input and regenerate the outputs.');
    }
    first ??= { line, id, length: arr.length };
    if (arr.length !== first.length) {
      return dataError(file, `${here} has ${arr.length} ${what} under ${JSON.stringify(key)} but line ${first.line} (id ${JSON.stringify(first.id)}) has ${first.length}`,
        'Every row needs the same number of logits (one per class) and the same embedding width; regenerate the outputs with one teacher.');
    }
  }
  return null;
}

async function readNpyOutputs(cfg: PrecomputedTeacherConfig): Promise<PrecomputedOutputs> {
  const logitsFile = required(cfg, 'logits', 'npy');
  const idsFile = required(cfg, 'ids', 'npy');
  const [logitsBytes, embBytes, idsBytes] = await Promise.all([
    readDataFile(logitsFile), cfg.embedding ? readDataFile(cfg.embedding) : null, readDataFile(idsFile),
  ]);
  const ids = parseIds(stripBom(new TextDecoder('utf-8').decode(idsBytes)), idsFile);
  const logits = matrix(parseNpy(logitsBytes, logitsFile), logitsFile, 'logits');
  const emb = embBytes && cfg.embedding ? matrix(parseNpy(embBytes, cfg.embedding), cfg.embedding, 'embedding') : null;
  if (logits.rows !== ids.length) {
    throw dataError(logitsFile, `has ${logits.rows} rows but ${idsFile} has ${ids.length} ids`,
      'Write one id per logits row, in the same order as the rows.');
  }
  if (emb && emb.rows !== logits.rows) {
    throw dataError(cfg.embedding!, `has ${emb.rows} rows but ${logitsFile} has ${logits.rows}`,
      'Save the embedding and the logits of the same inputs, in the same order.');
  }
  const hashes = [`logits:${sha256(logitsBytes)}`, `embedding:${embBytes ? sha256(embBytes) : '-'}`, `ids:${sha256(idsBytes)}`];
  const out: PrecomputedOutputs = {
    ids, logits: logits.values, embedding: emb?.values ?? null, classes: logits.cols, embeddingDim: emb?.cols ?? 0,
    sha256: sha256(hashes.join('\n')), source: [logitsFile, cfg.embedding, idsFile].filter(Boolean).join(' + '),
  };
  validate(out, { logits: logitsFile, embedding: cfg.embedding ?? '', ids: idsFile }, { unit: 'row', num: (r) => r }, logits.src, emb?.src);
  return out;
}

/** A 2-D float .npy as a flat Float32Array; `src` keeps float64 values for overflow messages. */
function matrix(a: NpyArray, file: string, what: string): { rows: number; cols: number; values: Float32Array; src: ArrayLike<number> } {
  if (a.shape.length !== 2) {
    throw dataError(file, `${what} has shape (${a.shape.join(', ')}); expected 2 dimensions [rows, ${what === 'logits' ? 'classes' : 'width'}]`,
      `Reshape before saving, e.g. np.save(path, ${what}.reshape(len(${what}), -1)).`);
  }
  if (a.dtype !== '<f4' && a.dtype !== '<f8') {
    throw dataError(file, `${what} has dtype ${a.dtype}; expected float32 or float64`,
      `Save the raw float outputs, e.g. np.save(path, ${what}.astype(np.float32)).`);
  }
  const values = a.data instanceof Float32Array ? a.data : Float32Array.from(a.data);
  return { rows: a.shape[0]!, cols: a.shape[1]!, values, src: a.data };
}

/** A JSON array of ids, or a text file with one id per line. Numeric ids become their decimal string. */
function parseIds(text: string, file: string): string[] {
  if (text.trimStart().startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (err) {
      throw dataError(file, `starts with "[" but is not valid JSON (${(err as Error).message})`,
        'Write the ids as a JSON array of strings (json.dump(ids, f)), or as plain text with one id per line.');
    }
    return (arr as unknown[]).map((v, i) => {
      if (typeof v === 'string') return v;
      if (typeof v === 'number' && Number.isFinite(v)) return String(v);
      throw dataError(file, `element ${i} is ${showJson(v)}, not a string id`, 'Write the ids as a JSON array of strings.');
    });
  }
  const ids = text.split(/\r?\n/);
  while (ids.length && ids[ids.length - 1] === '') ids.pop(); // the final newline
  const blank = ids.indexOf('');
  if (blank >= 0) {
    throw dataError(file, `line ${blank + 1} is empty; every line must hold one id`,
      'Write one id per logits row and no blank lines.');
  }
  return ids;
}

function required(cfg: PrecomputedTeacherConfig, key: 'path' | 'logits' | 'ids', format: string): string {
  const v = cfg[key];
  if (!v) {
    throw new EdgeDistillError('E_CONFIG', `precomputed teacher outputs in ${format} format need "${key}"`,
      format === 'jsonl' ? 'Set path to the JSONL file of teacher outputs.' : 'Set logits to the [N, C] .npy file and ids to the ids file (JSON array or one id per line).');
  }
  return v;
}

// ---- matching ------------------------------------------------------------------------------------------

/** id -> row; duplicates are caught by readPrecomputed, checked again here for hand-built outputs. */
function rowIndex(outputs: PrecomputedOutputs): Map<string, number> {
  const index = new Map<string, number>();
  outputs.ids.forEach((id, r) => index.set(id, r));
  if (index.size !== outputs.ids.length) {
    const [id, rs] = duplicates(outputs.ids)[0]!;
    throw new EdgeDistillError('E_TEACHER_IDS', `duplicate id ${JSON.stringify(id)} in ${outputs.source ?? 'the teacher outputs'} (rows ${rs.join(' and ')})`,
      'Each teacher output row needs its own data id; check the id column.');
  }
  return index;
}

/** Split ids repeat: the data's id column is probably not an id (e.g. a label or a per-file row number). */
function checkSplitIds(splits: Record<string, string[]>): void {
  const seen = new Map<string, string>();
  const clashes: string[] = [];
  let clashCount = 0;
  for (const [split, ids] of Object.entries(splits)) {
    const dups = duplicates(ids);
    if (dups.length) {
      const [id, rs] = dups[0]!;
      throw new EdgeDistillError('E_TEACHER_IDS', `duplicate id ${JSON.stringify(id)} in the ${split} split (rows ${rs.join(' and ')})${dups.length > 1 ? ` and ${dups.length - 1} more duplicated ids` : ''}`,
        'Teacher outputs are matched by id, so every data row needs a unique id; check the id column.');
    }
    for (const id of ids) {
      const other = seen.get(id);
      if (other === undefined) seen.set(id, split);
      else if (++clashCount <= MAX_LISTED) clashes.push(`${JSON.stringify(id)} (${other} and ${split})`);
    }
  }
  if (clashCount) {
    throw new EdgeDistillError('E_TEACHER_IDS', `${clashCount} ${clashCount === 1 ? 'id is' : 'ids are'} in more than one split: ${clashes.join(', ')}${clashCount > MAX_LISTED ? ` and ${clashCount - MAX_LISTED} more` : ''}`,
      'Teacher outputs are matched by id, so ids must be unique across splits; use an id column that is (e.g. prefix ids with the file or split).');
  }
}

/** The bounded "N ids of the X split have no teacher outputs" / "N teacher output ids match no data row" message. */
function throwIdProblems(missing: [string, string[]][], extra: string[]): void {
  const parts = missing
    .filter(([, ids]) => ids.length)
    .map(([split, ids]) => `${ids.length} ${ids.length === 1 ? 'id' : 'ids'} of the ${split} split ${ids.length === 1 ? 'has' : 'have'} no teacher outputs: ${listIds(ids)}`);
  if (extra.length) parts.push(`${extra.length} teacher output ${extra.length === 1 ? 'id matches' : 'ids match'} no data row: ${listIds(extra)}`);
  if (parts.length) throw new EdgeDistillError('E_TEACHER_IDS', parts.join('; '), IDS_HINT);
}

/** Rows of `outputs` in the order of `splitIds`; throws E_TEACHER_IDS naming missing ids, duplicate ids, and — when `exact` — extra ids. */
export function matchById(outputs: PrecomputedOutputs, splitIds: string[], opts: { split: string; exact?: boolean }): MatchedOutputs {
  const index = rowIndex(outputs);
  checkSplitIds({ [opts.split]: splitIds });
  const inSplit = opts.exact ? new Set(splitIds) : null;
  throwIdProblems([[opts.split, splitIds.filter((id) => !index.has(id))]], inSplit ? outputs.ids.filter((id) => !inSplit.has(id)) : []);
  const C = outputs.classes;
  const D = outputs.embeddingDim;
  const logits = new Float32Array(splitIds.length * C);
  const embedding = outputs.embedding ? new Float32Array(splitIds.length * D) : null;
  splitIds.forEach((id, i) => {
    const r = index.get(id)!;
    logits.set(outputs.logits.subarray(r * C, (r + 1) * C), i * C);
    embedding?.set(outputs.embedding!.subarray(r * D, (r + 1) * D), i * D);
  });
  return { logits, embedding };
}

/** Checks the union of all splits' ids against the outputs: every split id present exactly once; outputs' ids not used by any split are "extra". */
export function checkIdCoverage(outputs: PrecomputedOutputs, splits: Record<string, string[]>): void {
  const index = rowIndex(outputs);
  checkSplitIds(splits);
  const used = new Set(Object.values(splits).flat());
  throwIdProblems(
    Object.entries(splits).map(([split, ids]) => [split, ids.filter((id) => !index.has(id))]),
    outputs.ids.filter((id) => !used.has(id)),
  );
}
