// The JSON Lines reader: one object per non-empty line, a numeric feature array and an optional label.
// Every line must agree on the feature length and on whether a label is present.

import { EdgeDistillError } from '../errors.ts';
import { BlockedRows, readAll, rowWriter, type RowWriter, type Rows } from './rows.ts';
import { InternedLabels, readTextChunks, readTextFile, stripBom, type Table } from './table.ts';

export interface JsonlTableOptions {
  /** Key of the feature array on each line. Default 'features'. */
  featuresKey?: string;
  /** Key of the label (number or string) on each line. Default 'label'. */
  labelKey?: string;
}

interface JsonlRow {
  line: number;
  features: number[];
  label: string | undefined;
}

/** A parsed value for an error message; JSON.stringify overflows the stack on deeply nested arrays (fuzzing found it). */
export function showJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Array.isArray(value) ? 'a deeply nested array' : 'a deeply nested object';
  }
}

function lineError(name: string, line: number, what: string, hint: string): EdgeDistillError {
  return new EdgeDistillError('E_DATA_FORMAT', `${name}: line ${line} ${what}`, hint);
}

/** Check one parsed line and pull out its features and label. */
function readRow(value: unknown, line: number, name: string, featuresKey: string, labelKey: string): JsonlRow {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw lineError(name, line, `is ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}, not an object`,
      `Write one object per line, e.g. {"${featuresKey}": [0.1, 0.2], "${labelKey}": 3}.`);
  }
  const obj = value as Record<string, unknown>;
  const feats = obj[featuresKey];
  if (!Array.isArray(feats)) {
    const keys = Object.keys(obj).map((k) => JSON.stringify(k)).join(', ') || 'none';
    throw lineError(name, line, `has no array under ${JSON.stringify(featuresKey)} (keys: ${keys})`,
      'Set featuresKey to the key that holds the feature array.');
  }
  // Features are stored as float32: a finite double beyond its range (e.g. 1e39) would silently become Infinity.
  const bad = feats.findIndex((v) => typeof v !== 'number' || !Number.isFinite(Math.fround(v)));
  if (bad >= 0) {
    const v = feats[bad];
    const why = typeof v === 'number' && Number.isFinite(v) ? "beyond float32's range (±3.4e38)" : 'not a finite number';
    throw lineError(name, line, `${featuresKey}[${bad}] is ${showJson(v)}, ${why}`,
      'Features must be finite numbers; replace missing values (NaN/null) before training.');
  }
  const raw = obj[labelKey];
  let label: string | undefined;
  if (typeof raw === 'number' && Number.isFinite(raw)) label = String(raw);
  else if (typeof raw === 'string') label = raw;
  else if (raw !== undefined) {
    throw lineError(name, line, `has ${labelKey} ${showJson(raw)}, which is neither a number nor a string`,
      `Give every line a number or string under ${JSON.stringify(labelKey)}, or leave it out on every line.`);
  }
  return { line, features: feats as number[], label };
}

/** Checks each line against the first and hands the feature rows to `writer` a block at a time. */
class JsonlTableBuilder {
  private first: JsonlRow | null = null;
  private featureCount = 0;
  private hasLabels = false;
  private rows = 0;
  private out: BlockedRows | null = null;
  private readonly labels = new InternedLabels();
  private readonly featuresKey: string;
  private readonly labelKey: string;

  constructor(
    private readonly name: string,
    opts: JsonlTableOptions,
    private readonly writer: RowWriter,
  ) {
    this.featuresKey = opts.featuresKey ?? 'features';
    this.labelKey = opts.labelKey ?? 'label';
  }

  line(src: string, line: number): void {
    const { name, featuresKey, labelKey } = this;
    if (src.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(src);
    } catch (err) {
      throw lineError(name, line, `is not valid JSON (${(err as Error).message})`,
        'Each line must hold one complete JSON object; JSON Lines does not allow an object to span lines.');
    }
    const row = readRow(value, line, name, featuresKey, labelKey);
    const first = this.first;
    if (!first) {
      this.first = row;
      this.featureCount = row.features.length;
      this.hasLabels = row.label !== undefined;
      this.out = new BlockedRows(this.writer, this.featureCount);
    } else {
      if (row.features.length !== this.featureCount) {
        throw lineError(name, row.line, `has ${row.features.length} features but line ${first.line} has ${this.featureCount}`,
          'Every line needs a feature array of the same length.');
      }
      if ((row.label !== undefined) !== this.hasLabels) {
        const [self, other] = this.hasLabels ? ['has no', 'has one'] : ['has a', 'does not'];
        throw lineError(name, row.line, `${self} ${JSON.stringify(labelKey)} but line ${first.line} ${other}`,
          `Give every line a label under ${JSON.stringify(labelKey)}, or none.`);
      }
    }
    this.out!.next().set(row.features);
    this.out!.commit();
    if (row.label !== undefined) this.labels.push(row.label);
    this.rows++;
  }

  finish(): Omit<Table, 'features'> & { features: Rows } {
    const F = this.featureCount;
    return {
      features: (this.out ?? new BlockedRows(this.writer, 0)).finish(),
      featureCount: F,
      rows: this.rows,
      labels: this.hasLabels ? this.labels.values : null,
      featureNames: Array.from({ length: F }, (_, i) => `${this.featuresKey}[${i}]`),
    };
  }
}

/** Read JSON Lines text pieces into a table whose rows go to `writer`. A line may span pieces; CRLF is one break. */
function buildTable(pieces: Iterable<string>, name: string, opts: JsonlTableOptions, writer: RowWriter): Omit<Table, 'features'> & { features: Rows } {
  try {
    const table = new JsonlTableBuilder(name, opts, writer);
    let rest = '';
    let line = 1;
    let first = true;
    for (let piece of pieces) {
      if (first) piece = stripBom(piece);
      first = false;
      const parts = (rest + piece).split('\n');
      rest = parts.pop()!;
      for (const p of parts) table.line(p.endsWith('\r') ? p.slice(0, -1) : p, line++);
    }
    table.line(rest, line);
    return table.finish();
  } catch (err) {
    writer.abort();
    throw err;
  }
}

/** Parse JSON Lines text into a feature table. Pure; `name` is only for messages. */
export function parseJsonlTable(text: string, name: string, opts: JsonlTableOptions = {}): Table {
  const t = buildTable([text], name, opts, rowWriter(null));
  return { ...t, features: readAll(t.features) };
}

/** Read a JSON Lines file into a feature table with string labels. */
export async function readJsonlTable(path: string, opts: JsonlTableOptions = {}): Promise<Table> {
  return parseJsonlTable(await readTextFile(path), path, opts);
}

/** Read a JSON Lines file a piece at a time, its feature rows going to `writer`; the checks of readJsonlTable. */
export function streamJsonlTable(path: string, opts: JsonlTableOptions, writer: RowWriter, chunkBytes = 1 << 20): Omit<Table, 'features'> & { features: Rows } {
  return buildTable(readTextChunks(path, chunkBytes), path, opts, writer);
}
