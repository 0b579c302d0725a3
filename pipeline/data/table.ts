// What the tabular readers (CSV, JSON Lines) return, and the file access all data parsers share,
// so a missing file reads the same way whichever format the config names.

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
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new EdgeDistillError('E_FILE_NOT_FOUND', `data file ${path} does not exist`, PATH_HINT, {
        cause: err,
      });
    }
    if (code === 'EISDIR') {
      throw new EdgeDistillError(
        'E_FILE_NOT_FOUND',
        `data path ${path} is a folder, not a file`,
        'Point the config at the data file itself, not the folder that holds it.',
        { cause: err },
      );
    }
    throw err;
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
