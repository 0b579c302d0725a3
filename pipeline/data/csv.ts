// The CSV reader: an RFC 4180 tokenizer (quotes, "" escapes, newlines in quotes, CRLF/LF, BOM)
// and the step that turns its cells into a numeric feature table with string labels.

import { EdgeDistillError, oneOf } from '../errors.ts';
import { BlockedRows, readAll, rowWriter, type RowWriter, type Rows } from './rows.ts';
import { InternedLabels, readTextChunks, readTextFile, stripBom, type Table } from './table.ts';

export interface CsvTableOptions {
  /** Column name (needs a header) or 0-based index of the label column; no labels when absent. */
  label?: string | number;
  /** Feature columns by name or 0-based index; default: every column except the label. */
  features?: (string | number)[];
  /** Whether the first row names the columns. Default true. */
  header?: boolean;
}

/** Receives each row's cells and the 1-based line it starts on (rows can span lines inside quotes). */
type RowSink = (cells: string[], line: number) => void;

/**
 * An RFC 4180 tokenizer fed a piece of text at a time, so a file of any size is read in bounded memory. Every piece
 * boundary is invisible: a quote, a "" escape or a CRLF split across two pieces reads as if the text were whole.
 */
class CsvTokenizer {
  private row: string[] = [];
  private cell = '';
  private line = 1;
  private rowLine = 1;
  private fieldStart = true;
  private inQuote = false;
  private quoteLine = 0;
  /** Inside a quoted field, a quote was just read: "" (a literal quote) or the closing quote, by the next char. */
  private quoteSeen = false;
  /** A quoted field just closed: the next char must end the field. */
  private closed = false;
  /** The row just ended with a CR: a LF right after it belongs to the same line break. */
  private skipLf = false;
  /** Blank rows seen but not passed on yet: dropped if only blank rows follow them (a file's trailing newlines). */
  private blanks: number[] = [];

  constructor(
    private readonly name: string,
    private readonly sink: RowSink,
  ) {}

  push(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (this.skipLf) {
        this.skipLf = false;
        if (ch === '\n') continue;
      }
      if (this.inQuote) {
        if (!this.quoteSeen) {
          if (ch === '"') this.quoteSeen = true;
          else {
            if (ch === '\n') this.line++;
            this.cell += ch;
          }
          continue;
        }
        this.quoteSeen = false;
        if (ch === '"') {
          this.cell += '"';
          continue;
        }
        this.inQuote = false;
        this.closed = true;
      }
      if (this.closed) {
        this.closed = false;
        if (ch !== ',' && ch !== '\n' && ch !== '\r') {
          throw new EdgeDistillError(
            'E_DATA_FORMAT',
            `${this.name}: line ${this.line} has ${JSON.stringify(ch)} right after a closing quote`,
            'A quoted field must be followed by a comma or the end of the line; write a quote inside it as "".',
          );
        }
      }
      if (ch === '"' && this.fieldStart) {
        // Quoted field: runs to the next lone quote; "" is a literal quote; newlines are data.
        this.inQuote = true;
        this.quoteLine = this.line;
        this.fieldStart = false;
      } else if (ch === ',') {
        this.endField();
      } else if (ch === '\n' || ch === '\r') {
        this.endRow();
        this.skipLf = ch === '\r';
        this.line++;
        this.rowLine = this.line;
      } else {
        // A bare quote inside an unquoted field is kept literally (as Python's csv does): 5'11" stays.
        this.cell += ch;
        this.fieldStart = false;
      }
    }
  }

  end(): void {
    if (this.inQuote && !this.quoteSeen) {
      throw new EdgeDistillError(
        'E_DATA_FORMAT',
        `${this.name}: the quoted field opened on line ${this.quoteLine} is never closed`,
        'Close the quote, or write a quote inside a quoted field as "".',
      );
    }
    this.inQuote = false;
    if (!this.fieldStart || this.row.length > 0) this.endRow();
    // A file that ends with a newline (or a few blank lines) must not grow empty rows.
    this.blanks = [];
  }

  private endField(): void {
    this.row.push(this.cell);
    this.cell = '';
    this.fieldStart = true;
  }

  private endRow(): void {
    this.endField();
    const row = this.row;
    this.row = [];
    if (row.length === 1 && row[0] === '') {
      this.blanks.push(this.rowLine);
      return;
    }
    for (const line of this.blanks) this.sink([''], line);
    this.blanks = [];
    this.sink(row, this.rowLine);
  }
}

/** Parse CSV text (RFC 4180) into rows of cells. Trailing empty lines are dropped. */
export function parseCsv(text: string, name: string): string[][] {
  const rows: string[][] = [];
  const t = new CsvTokenizer(name, (cells) => rows.push(cells));
  t.push(stripBom(text));
  t.end();
  return rows;
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

/**
 * Turns rows of cells into numeric feature rows: resolves the columns from the first row (the header, or the first
 * data row), checks each row and hands its features to `writer` a block at a time. `name` is only for messages.
 */
class CsvTableBuilder {
  private names: string[] | null = null;
  private width = 0;
  private labelCol: number | null = null;
  private featureCols: number[] = [];
  private resolved = false;
  private rows = 0;
  private out: BlockedRows | null = null;
  private readonly labels: InternedLabels | null;

  constructor(
    private readonly name: string,
    private readonly opts: CsvTableOptions,
    private readonly writer: RowWriter,
  ) {
    this.labels = opts.label === undefined ? null : new InternedLabels();
  }

  private resolve(first: string[] | null): void {
    const { name, opts } = this;
    const header = opts.header ?? true;
    this.names = header ? (first ?? []) : null;
    this.width = this.names ? this.names.length : (first?.length ?? 0);
    const { names, width } = this;
    this.labelCol = opts.label === undefined ? null : columnIndex(opts.label, names, width, name, 'label');
    this.featureCols = opts.features
      ? opts.features.map((f) => columnIndex(f, names, width, name, 'feature'))
      : [...Array(width).keys()].filter((c) => c !== this.labelCol);
    if (this.labelCol !== null && this.featureCols.includes(this.labelCol)) {
      throw new EdgeDistillError(
        'E_CONFIG',
        `column ${names ? JSON.stringify(names[this.labelCol]) : this.labelCol} of ${name} is both the label and a feature`,
        'Remove the label column from the feature list.',
      );
    }
    this.out = new BlockedRows(this.writer, this.featureCols.length);
    this.resolved = true;
  }

  row(cells: string[], line: number): void {
    if (!this.resolved) {
      this.resolve(cells);
      if (this.names) return; // the header
    }
    const { name, names, width, featureCols } = this;
    if (cells.length !== width) {
      throw new EdgeDistillError(
        'E_DATA_FORMAT',
        `${name}: line ${line} has ${cells.length} cells but the ${names ? 'header' : 'first row'} has ${width}`,
        'Every row needs the same number of comma-separated cells; quote cells that contain commas.',
      );
    }
    const values = this.out!.next();
    for (let j = 0; j < featureCols.length; j++) {
      const c = featureCols[j]!;
      const v = parseNumber(cells[c]!);
      if (v === null) {
        throw new EdgeDistillError(
          'E_DATA_FORMAT',
          `${name}: line ${line}, column ${names ? JSON.stringify(names[c]) : c}: ${JSON.stringify(cells[c])} is not a number`,
          'Feature columns must hold finite numbers within float32\'s range (±3.4e38); choose the feature columns with `features`, or mark the label column with `label`.',
        );
      }
      values[j] = v;
    }
    this.labels?.push(cells[this.labelCol!]!);
    this.out!.commit();
    this.rows++;
  }

  finish(): Omit<Table, 'features'> & { features: Rows } {
    if (!this.resolved) this.resolve(null);
    const { names, featureCols } = this;
    return {
      features: this.out!.finish(),
      featureCount: featureCols.length,
      rows: this.rows,
      labels: this.labels?.values ?? null,
      // Without a header there are no names; `col<i>` keeps reports readable and matches the index.
      featureNames: featureCols.map((c) => (names ? names[c]! : `col${c}`)),
    };
  }
}

/** Read CSV text pieces into a feature table whose rows go to `writer`; `name` is only for messages. */
function buildTable(pieces: Iterable<string>, name: string, opts: CsvTableOptions, writer: RowWriter): Omit<Table, 'features'> & { features: Rows } {
  try {
    const table = new CsvTableBuilder(name, opts, writer);
    const tokenizer = new CsvTokenizer(name, (cells, line) => table.row(cells, line));
    for (const piece of pieces) tokenizer.push(piece);
    tokenizer.end();
    return table.finish();
  } catch (err) {
    writer.abort();
    throw err;
  }
}

/** Read a CSV file into a numeric feature table with string labels. */
export async function readCsvTable(path: string, opts: CsvTableOptions = {}): Promise<Table> {
  const text = await readTextFile(path);
  const t = buildTable([text], path, opts, rowWriter(null));
  return { ...t, features: readAll(t.features) };
}

/**
 * Read a CSV file a piece at a time, its feature rows going to `writer` (a file, for data larger than memory).
 * The same checks and errors as readCsvTable.
 */
export function streamCsvTable(path: string, opts: CsvTableOptions, writer: RowWriter, chunkBytes = 1 << 20): Omit<Table, 'features'> & { features: Rows } {
  return buildTable(readTextChunks(path, chunkBytes), path, opts, writer);
}
