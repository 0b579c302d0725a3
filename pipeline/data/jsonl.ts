// The JSON Lines reader: one object per non-empty line, a numeric feature array and an optional label.
// Every line must agree on the feature length and on whether a label is present.

import { EdgeDistillError } from '../errors.ts';
import { readTextFile, stripBom, type Table } from './table.ts';

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

/** Parse JSON Lines text into a feature table. Pure; `name` is only for messages. */
export function parseJsonlTable(text: string, name: string, opts: JsonlTableOptions = {}): Table {
  const featuresKey = opts.featuresKey ?? 'features';
  const labelKey = opts.labelKey ?? 'label';
  const rows: JsonlRow[] = [];
  stripBom(text)
    .split(/\r?\n/)
    .forEach((src, i) => {
      if (src.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(src);
      } catch (err) {
        throw lineError(name, i + 1, `is not valid JSON (${(err as Error).message})`,
          'Each line must hold one complete JSON object; JSON Lines does not allow an object to span lines.');
      }
      rows.push(readRow(value, i + 1, name, featuresKey, labelKey));
    });

  const first = rows[0];
  const featureCount = first ? first.features.length : 0;
  const hasLabels = first ? first.label !== undefined : false;
  const features = new Float32Array(rows.length * featureCount);
  rows.forEach((row, r) => {
    if (row.features.length !== featureCount) {
      throw lineError(name, row.line, `has ${row.features.length} features but line ${first!.line} has ${featureCount}`,
        'Every line needs a feature array of the same length.');
    }
    if ((row.label !== undefined) !== hasLabels) {
      const [self, other] = hasLabels ? ['has no', 'has one'] : ['has a', 'does not'];
      throw lineError(name, row.line, `${self} ${JSON.stringify(labelKey)} but line ${first!.line} ${other}`,
        `Give every line a label under ${JSON.stringify(labelKey)}, or none.`);
    }
    features.set(row.features, r * featureCount);
  });

  return {
    features,
    featureCount,
    rows: rows.length,
    labels: hasLabels ? rows.map((r) => r.label!) : null,
    featureNames: Array.from({ length: featureCount }, (_, i) => `${featuresKey}[${i}]`),
  };
}

/** Read a JSON Lines file into a feature table with string labels. */
export async function readJsonlTable(path: string, opts: JsonlTableOptions = {}): Promise<Table> {
  return parseJsonlTable(await readTextFile(path), path, opts);
}
