// What the tabular readers (CSV, JSON Lines) return, and the file access all data parsers share,
// so a missing file reads the same way whichever format the config names.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { EdgeDistillError } from '../errors.ts';

/** A table of numeric features with optional string labels, row-major. */
export interface Table {
  /** rows * featureCount values: features[r * featureCount + c]. */
  features: Float32Array;
  featureCount: number;
  rows: number;
  /** One label per row, as written in the file; null when the file has no label column/key. */
  labels: string[] | null;
  /** Column names (CSV with header), generated names (CSV without header) or `features[i]` (JSONL). */
  featureNames: string[];
}

/** Labels as read, one string per distinct value: a million rows of "0" and "1" hold two strings, not a million. */
export class InternedLabels {
  readonly values: string[] = [];
  private readonly seen = new Map<string, string>();
  push(label: string): void {
    let s = this.seen.get(label);
    if (s === undefined) this.seen.set(label, (s = label));
    this.values.push(s);
  }
}

/** The hint every E_FILE_NOT_FOUND from the data layer carries. */
export const PATH_HINT =
  "Check the path in the config; relative paths resolve against the config file's folder.";

/**
 * Read a whole data file. ENOENT / EISDIR become E_FILE_NOT_FOUND naming the path, so callers
 * never see a bare Node error for the most common config mistake.
 */
export async function readDataFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw fileError(path, err);
  }
}

/** The data layer's error for a file that cannot be opened: E_FILE_NOT_FOUND for the usual mistakes. */
function fileError(path: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new EdgeDistillError('E_FILE_NOT_FOUND', `data file ${path} does not exist`, PATH_HINT, { cause: err });
  }
  if (code === 'EISDIR') {
    return new EdgeDistillError(
      'E_FILE_NOT_FOUND',
      `data path ${path} is a folder, not a file`,
      'Point the config at the data file itself, not the folder that holds it.',
      { cause: err },
    );
  }
  return err;
}

/** Open a data file for reading in pieces (a folder or a missing file is E_FILE_NOT_FOUND, as for readDataFile). */
export function openDataFile(path: string): { fd: number; size: number } {
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: ${path}`), { code: 'EISDIR' });
    return { fd, size: st.size };
  } catch (err) {
    if (fd !== null) closeSync(fd);
    throw fileError(path, err);
  }
}

/** A text data file as UTF-8 pieces of about `chunkBytes` (the byte-order mark dropped), read one at a time. */
export function* readTextChunks(path: string, chunkBytes = 1 << 20): Generator<string> {
  const { fd } = openDataFile(path);
  try {
    const decoder = new TextDecoder('utf-8');
    const buf = new Uint8Array(chunkBytes);
    for (;;) {
      const r = readSync(fd, buf, 0, buf.length, null);
      if (r === 0) break;
      const text = decoder.decode(buf.subarray(0, r), { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    closeSync(fd);
  }
}

/** Decode a text data file as UTF-8, dropping a leading byte-order mark (Excel writes one). */
export async function readTextFile(path: string): Promise<string> {
  const bytes = await readDataFile(path);
  const text = new TextDecoder('utf-8').decode(bytes);
  return stripBom(text);
}

export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Product of dimensions; [] is a scalar and holds one element. */
export function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
