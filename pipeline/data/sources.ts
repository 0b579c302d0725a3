// The one entry point the pipeline calls to load a data split, whatever its file format.
// It resolves paths, converts features to Float32 as-is (no scaling) and checks labels against rows.

import { resolve } from 'node:path';
import { EdgeDistillError } from '../errors.ts';
import { readCsvTable, streamCsvTable } from './csv.ts';
import { readIdx } from './idx.ts';
import { readJsonlTable, streamJsonlTable } from './jsonl.ts';
import { readNpy, streamNpyRows } from './npy.ts';
import type { RowWriter, Rows } from './rows.ts';
import type { Table } from './table.ts';

export type DataSource =
  | { format: 'idx'; features: string; labels?: string }
  | { format: 'csv'; path: string; label?: string | number; features?: (string | number)[]; header?: boolean }
  | { format: 'jsonl'; path: string; featuresKey?: string; labelKey?: string }
  | { format: 'npy'; features: string; labels?: string };

export interface RawSplit {
  /** rows * product(featureShape) values, row-major, exactly as stored in the file. */
  features: Float32Array;
  /** Per-example shape: [28, 28] for MNIST images, [featureCount] for tables. */
  featureShape: number[];
  rows: number;
  /** Numbers from IDX/NPY label files, strings from CSV/JSONL (the caller maps them); null if none. */
  labels: number[] | string[] | null;
}

/** A dense array as the binary readers return it: dims plus flat data. */
interface Dense {
  shape: number[];
  data: ArrayLike<number>;
}

type BinaryReader = (path: string) => Promise<Dense>;

const BINARY_READERS: Record<'idx' | 'npy', BinaryReader> = {
  idx: async (path) => {
    const { dims, data } = await readIdx(path);
    return { shape: dims, data };
  },
  npy: readNpy,
};

/** Float32 copy of the values; a Float32Array from a parser is already a fresh copy, so reuse it. */
function toFloat32(data: ArrayLike<number>): Float32Array {
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

/** Features file: first dim is the example count, the rest is the per-example shape. */
function splitFromDense(dense: Dense, path: string): { rows: number; featureShape: number[]; features: Float32Array } {
  const { rows, featureShape } = rowShape(dense.shape, path);
  return { rows, featureShape, features: toFloat32(dense.data) };
}

/** A features file's shape as the example count and the per-example shape. */
function rowShape(shape: number[], path: string): { rows: number; featureShape: number[] } {
  if (shape.length === 0) {
    throw new EdgeDistillError(
      'E_DATA_FORMAT',
      `${path} holds a single scalar, not one row per example`,
      'Save the features with the example count as the first dimension, e.g. shape (N, 784) or (N, 28, 28).',
    );
  }
  const [rows, ...rest] = shape as [number, ...number[]];
  // A 1-D file [N] is one scalar feature per example.
  return { rows, featureShape: rest.length > 0 ? rest : [1] };
}

/** Labels file: [N] or [N, 1] integers, N matching the feature rows. */
function labelsFromDense(dense: Dense, path: string, rows: number, featuresPath: string): number[] {
  const { shape, data } = dense;
  const flat = shape.length === 1 || (shape.length === 2 && shape[1] === 1);
  if (!flat) {
    throw new EdgeDistillError(
      'E_DATA_FORMAT',
      `label file ${path} has shape [${shape.join(', ')}], expected [N] or [N, 1] class indices`,
      'Save one integer class index per example; for one-hot labels save labels.argmax(axis=1).',
    );
  }
  const count = shape[0]!;
  if (count !== rows) {
    throw new EdgeDistillError(
      'E_DATA_FORMAT',
      `label file ${path} has ${count} labels but feature file ${featuresPath} has ${rows} rows`,
      'Pair each feature file with the label file of the same split (e.g. t10k-images with t10k-labels).',
    );
  }
  const labels = Array.from(data);
  const bad = labels.findIndex((v) => !Number.isInteger(v));
  if (bad >= 0) {
    throw new EdgeDistillError(
      'E_DATA_FORMAT',
      `label file ${path}: label ${bad} is ${labels[bad]}, not an integer class index`,
      'Save labels as integers, e.g. np.save(path, labels.astype(np.int64)).',
    );
  }
  return labels;
}

async function loadBinary(format: 'idx' | 'npy', features: string, labels: string | undefined, baseDir: string): Promise<RawSplit> {
  const read = BINARY_READERS[format];
  const featuresPath = resolve(baseDir, features);
  const split = splitFromDense(await read(featuresPath), featuresPath);
  if (labels === undefined) return { ...split, labels: null };
  const labelsPath = resolve(baseDir, labels);
  return { ...split, labels: labelsFromDense(await read(labelsPath), labelsPath, split.rows, featuresPath) };
}

function fromTable(t: Table): RawSplit {
  return { features: t.features, featureShape: [t.featureCount], rows: t.rows, labels: t.labels };
}

/**
 * Load one split. Relative paths resolve against baseDir (the config file's folder).
 * Zero rows is not an error here: the caller knows which split it is and reports E_DATA_EMPTY.
 */
export async function loadSource(src: DataSource, baseDir: string): Promise<RawSplit> {
  switch (src.format) {
    case 'idx':
    case 'npy':
      return loadBinary(src.format, src.features, src.labels, baseDir);
    // The source object doubles as the reader's options: it carries exactly those keys plus format/path.
    case 'csv':
      return fromTable(await readCsvTable(resolve(baseDir, src.path), src));
    case 'jsonl':
      return fromTable(await readJsonlTable(resolve(baseDir, src.path), src));
  }
}

/** The formats read a block at a time into a row store (a file, for data larger than memory). */
export const STREAMED_FORMATS = ['csv', 'jsonl', 'npy'] as const;
export type StreamedSource = Extract<DataSource, { format: (typeof STREAMED_FORMATS)[number] }>;

/** A split whose features went to a row store as they were read. */
export interface StreamedSplit extends Omit<RawSplit, 'features'> {
  features: Rows;
}

/**
 * Load one split a block of rows at a time into `writer`: the same checks, errors and values as loadSource, without
 * ever holding the whole file or all of its rows in memory.
 */
export async function streamSource(src: StreamedSource, baseDir: string, writer: RowWriter): Promise<StreamedSplit> {
  switch (src.format) {
    case 'csv':
    case 'jsonl': {
      const path = resolve(baseDir, src.path);
      const t = src.format === 'csv' ? streamCsvTable(path, src, writer) : streamJsonlTable(path, src, writer);
      return { features: t.features, featureShape: [t.featureCount], rows: t.rows, labels: t.labels };
    }
    case 'npy': {
      const featuresPath = resolve(baseDir, src.features);
      const { shape, rows: features } = streamNpyRows(featuresPath, writer);
      try {
        const { rows, featureShape } = rowShape(shape, featuresPath);
        if (src.labels === undefined) return { features, featureShape, rows, labels: null };
        const labelsPath = resolve(baseDir, src.labels);
        return { features, featureShape, rows, labels: labelsFromDense(await readNpy(labelsPath), labelsPath, rows, featuresPath) };
      } catch (err) {
        features.close();
        throw err;
      }
    }
  }
}
