// The CSV reader: an RFC 4180 tokenizer (quotes, "" escapes, newlines in quotes, CRLF/LF, BOM)
// and the step that turns its cells into a numeric feature table with string labels.

import { EdgeDistillError, oneOf } from '../errors.ts';
import { readTextFile, stripBom, type Table } from './table.ts';

export interface CsvTableOptions {
  /** Column name (needs a header) or 0-based index of the label column; no labels when absent. */
  label?: string | number;
  /** Feature columns by name or 0-based index; default: every column except the label. */
  features?: (string | number)[];
  /** Whether the first row names the columns. Default true. */
  header?: boolean;
}

interface CsvRows {
  rows: string[][];
  /** 1-based line on which each row starts (rows can span lines inside quotes). */
  lines: number[];
}

/** Tokenize CSV text into rows of cells; also reports the line each row starts on. */
function tokenize(input: string, name: string): CsvRows {
  const text = stripBom(input);
  const rows: string[][] = [];
  const lines: number[] = [];
  let row: string[] = [];
  let cell = '';
  let line = 1;
  let rowLine = 1;
  let fieldStart = true;
  let i = 0;
  const endField = (): void => {
    row.push(cell);
    cell = '';
    fieldStart = true;
  };
  const endRow = (): void => {
    endField();
    rows.push(row);
    lines.push(rowLine);
    row = [];
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"' && fieldStart) {
      // Quoted field: runs to the next lone quote; "" is a literal quote; newlines are data.
      const openLine = line;
      fieldStart = false;
      i++;
      for (;;) {
        if (i >= text.length) {
          throw new EdgeDistillError(
            'E_DATA_FORMAT',
            `${name}: the quoted field opened on line ${openLine} is never closed`,
            'Close the quote, or write a quote inside a quoted field as "".',
          );
        }
        const c = text[i]!;
        if (c === '"' && text[i + 1] === '"') {
          cell += '"';
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          if (c === '\n') line++;
          cell += c;
          i++;
        }
      }
      const next = text[i];
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
        throw new EdgeDistillError(
          'E_DATA_FORMAT',
          `${name}: line ${line} has ${JSON.stringify(next)} right after a closing quote`,
          'A quoted field must be followed by a comma or the end of the line; write a quote inside it as "".',
        );
      }
      continue;
    }
    if (ch === ',') {
      endField();
      i++;
    } else if (ch === '\n' || ch === '\r') {
      endRow();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      rowLine = line;
    } else {
      // A bare quote inside an unquoted field is kept literally (as Python's csv does): 5'11" stays.
      cell += ch;
      fieldStart = false;
      i++;
    }
  }
  if (!fieldStart || row.length > 0) endRow();
  // A file that ends with a newline (or a few blank lines) must not grow empty rows.
  while (rows.length > 0 && isBlankRow(rows[rows.length - 1]!)) {
    rows.pop();
    lines.pop();
  }
  return { rows, lines };
}

function isBlankRow(row: string[]): boolean {
  return row.length === 1 && row[0] === '';
}

/** Parse CSV text (RFC 4180) into rows of cells. Trailing empty lines are dropped. */
export function parseCsv(text: string, name: string): string[][] {
  return tokenize(text, name).rows;
}

/** Resolve a column given by name or index to its index; unknown ones are a config error. */
function columnIndex(ref: string | number, names: string[] | null, count: number, name: string, role: string): number {
  if (typeof ref === 'number') {
    if (Number.isInteger(ref) && ref >= 0 && ref < count) return ref;
    throw new EdgeDistillError(
      'E_CONFIG',
      `${role} column index ${ref} is out of range for ${name}, which has ${count} columns`,
      `Use a 0-based index from 0 to ${count - 1}${names ? `, or a column name: ${oneOf(names)}` : ''}.`,
    );
  }
  if (!names) {
    throw new EdgeDistillError(
      'E_CONFIG',
      `${role} column ${JSON.stringify(ref)} is a name, but ${name} is read without a header row`,
      `Set header: true if the first row names the columns, or give a 0-based index (0 to ${count - 1}).`,
    );
  }
  const idx = names.indexOf(ref);
  if (idx >= 0) return idx;
  throw new EdgeDistillError(
    'E_CONFIG',
    `${role} column ${JSON.stringify(ref)} does not exist in ${name}`,
    names.length > 0 ? `Columns that exist: ${oneOf(names)}.` : 'The file has no header row to name columns.',
  );
}

/**
 * Parse a feature cell. Number('') is 0 and Number(' ') is 0, so blank cells are rejected first; features are stored
 * as float32, so a finite double beyond its range (e.g. 1e39) is rejected too rather than becoming Infinity.
 */
function parseNumber(cell: string): number | null {
  if (cell.trim() === '') return null;
  const v = Number(cell);
  return Number.isFinite(Math.fround(v)) ? v : null;
}

/** Turn parsed CSV rows into a numeric feature table. Pure; `name` is only for messages. */
function toTable({ rows: csv, lines }: CsvRows, name: string, opts: CsvTableOptions): Table {
  const header = opts.header ?? true;
  const names = header ? (csv[0] ?? []) : null;
  const body = header ? csv.slice(1) : csv;
  const bodyLines = header ? lines.slice(1) : lines;
  const width = names ? names.length : (csv[0]?.length ?? 0);

  const labelCol =
    opts.label === undefined ? null : columnIndex(opts.label, names, width, name, 'label');
  const featureCols = opts.features
    ? opts.features.map((f) => columnIndex(f, names, width, name, 'feature'))
    : [...Array(width).keys()].filter((c) => c !== labelCol);
  if (labelCol !== null && featureCols.includes(labelCol)) {
    throw new EdgeDistillError(
      'E_CONFIG',
      `column ${names ? JSON.stringify(names[labelCol]) : labelCol} of ${name} is both the label and a feature`,
      'Remove the label column from the feature list.',
    );
  }

  const featureCount = featureCols.length;
  const features = new Float32Array(body.length * featureCount);
  const labels: string[] | null = labelCol === null ? null : [];
  body.forEach((row, r) => {
    const line = bodyLines[r]!;
    if (row.length !== width) {
      throw new EdgeDistillError(
        'E_DATA_FORMAT',
        `${name}: line ${line} has ${row.length} cells but the ${header ? 'header' : 'first row'} has ${width}`,
        'Every row needs the same number of comma-separated cells; quote cells that contain commas.',
      );
    }
    featureCols.forEach((c, j) => {
      const v = parseNumber(row[c]!);
      if (v === null) {
        throw new EdgeDistillError(
          'E_DATA_FORMAT',
          `${name}: line ${line}, column ${names ? JSON.stringify(names[c]) : c}: ${JSON.stringify(row[c])} is not a number`,
          'Feature columns must hold finite numbers within float32\'s range (±3.4e38); choose the feature columns with `features`, or mark the label column with `label`.',
        );
      }
      features[r * featureCount + j] = v;
    });
    if (labels) labels.push(row[labelCol!]!);
  });

  return {
    features,
    featureCount,
    rows: body.length,
    labels,
    // Without a header there are no names; `col<i>` keeps reports readable and matches the index.
    featureNames: featureCols.map((c) => (names ? names[c]! : `col${c}`)),
  };
}

/** Read a CSV file into a numeric feature table with string labels. */
export async function readCsvTable(path: string, opts: CsvTableOptions = {}): Promise<Table> {
  return toTable(tokenize(await readTextFile(path), path), path, opts);
}
