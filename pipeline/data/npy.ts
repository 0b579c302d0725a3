// The NumPy .npy reader (format versions 1.0, 2.0, 3.0): magic, a Python-dict header, raw C-order data.
// Only little-endian numeric dtypes; anything else is E_DATA_FORMAT with the fix in NumPy terms. And the writer of
// version 1.0 files (benchmarks and tests write their data sets with it).

import { EdgeDistillError } from '../errors.ts';
import { closeSync, readSync } from 'node:fs';
import { blockRows, type RowWriter, type Rows } from './rows.ts';
import { openDataFile, product, readDataFile } from './table.ts';

/**
 * 64-bit integers ('<i8', '<u8') come back as a Float64Array, after checking every value is a safe
 * integer (|v| <= 2^53 - 1): labels and features are plain numbers everywhere downstream, and a
 * BigInt64Array would force every caller to special-case it. `dtype` still says '<i8' / '<u8'.
 */
export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

export interface NpyArray {
  shape: number[];
  data: NpyData;
  /** The descr from the header, e.g. '<f4'. */
  dtype: string;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Decode `count` elements at `offset`; `first` is the first one's index in the file (for messages). */
type Decoder = (view: DataView, offset: number, count: number, name: string, first?: number) => NpyData;

function fill<T extends { length: number; [i: number]: number }>(arr: T, at: (i: number) => number): T {
  for (let i = 0; i < arr.length; i++) arr[i] = at(i);
  return arr;
}

function copyBytes(v: DataView, o: number, n: number): ArrayBuffer {
  return new Uint8Array(v.buffer, v.byteOffset + o, n).slice().buffer;
}

/** int64/uint64 -> Float64Array, refusing values a double cannot hold exactly. */
function decode64(signed: boolean): Decoder {
  return (v, o, n, name, first = 0) =>
    fill(new Float64Array(n), (i) => {
      const big = signed ? v.getBigInt64(o + 8 * i, true) : v.getBigUint64(o + 8 * i, true);
      if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new EdgeDistillError(
          'E_DATA_FORMAT',
          `${name}: element ${first + i} is ${big}, too large to represent exactly as a JavaScript number`,
          'Cast the array before saving, e.g. np.save(path, arr.astype(np.int32)) for labels or arr.astype(np.float32) for features.',
        );
      }
      return Number(big);
    });
}

/** Supported descrs. Single-byte types have no byte order; NumPy writes them with '|'. */
const DECODERS: Record<string, { bytes: number; decode: Decoder }> = {
  '<f4': { bytes: 4, decode: (v, o, n) => fill(new Float32Array(n), (i) => v.getFloat32(o + 4 * i, true)) },
  '<f8': { bytes: 8, decode: (v, o, n) => fill(new Float64Array(n), (i) => v.getFloat64(o + 8 * i, true)) },
  '|i1': { bytes: 1, decode: (v, o, n) => new Int8Array(copyBytes(v, o, n)) },
  '<i1': { bytes: 1, decode: (v, o, n) => new Int8Array(copyBytes(v, o, n)) },
  '|u1': { bytes: 1, decode: (v, o, n) => new Uint8Array(copyBytes(v, o, n)) },
  '|b1': { bytes: 1, decode: (v, o, n) => new Uint8Array(copyBytes(v, o, n)) },
  '<i2': { bytes: 2, decode: (v, o, n) => fill(new Int16Array(n), (i) => v.getInt16(o + 2 * i, true)) },
  '<u2': { bytes: 2, decode: (v, o, n) => fill(new Uint16Array(n), (i) => v.getUint16(o + 2 * i, true)) },
  '<i4': { bytes: 4, decode: (v, o, n) => fill(new Int32Array(n), (i) => v.getInt32(o + 4 * i, true)) },
  '<u4': { bytes: 4, decode: (v, o, n) => fill(new Uint32Array(n), (i) => v.getUint32(o + 4 * i, true)) },
  '<i8': { bytes: 8, decode: decode64(true) },
  '<u8': { bytes: 8, decode: decode64(false) },
};

export const SUPPORTED_NPY_DTYPES: readonly string[] = Object.keys(DECODERS);

function formatError(name: string, what: string, hint: string): EdgeDistillError {
  return new EdgeDistillError('E_DATA_FORMAT', `${name} is not a usable .npy file: ${what}`, hint);
}

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  dataStart: number;
}

const hasMagic = (bytes: Uint8Array) => bytes.length >= 10 && MAGIC.every((b, i) => bytes[i] === b);

/**
 * Where the data starts, from the file's first 12 bytes: v1 has a uint16 header length at byte 8, v2/v3 a uint32
 * (for huge structured headers). Infinity when the bytes are too few to say.
 */
function dataStartOf(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[6] === 1) return bytes.length >= 10 ? 10 + view.getUint16(8, true) : Infinity;
  return bytes.length >= 12 ? 12 + view.getUint32(8, true) : Infinity;
}

/** Read the magic, version and header dict. The dict is a Python literal, so it is matched, not eval'd. */
function parseHeader(bytes: Uint8Array, name: string): NpyHeader {
  if (!hasMagic(bytes)) {
    throw formatError(name, 'it does not start with the magic \\x93NUMPY',
      'Save the array with np.save(path, arr); .npz archives and pickles are not .npy files.');
  }
  const major = bytes[6]!;
  if (major !== 1 && major !== 2 && major !== 3) {
    throw formatError(name, `format version ${major}.${bytes[7]} is not 1.0, 2.0 or 3.0`,
      'Save the array with np.save from NumPy 1.x or 2.x.');
  }
  // v3 allows UTF-8 in the header.
  const lenBytes = major === 1 ? 2 : 4;
  const dataStart = dataStartOf(bytes);
  const headerLen = dataStart - 8 - lenBytes;
  if (dataStart > bytes.length) {
    throw formatError(name, `the header claims ${headerLen} bytes but the file has ${bytes.length}`,
      'The file is truncated; save it again.');
  }
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lenBytes, dataStart));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeSrc = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined) {
    // Structured dtypes have a list as descr; name what we saw.
    const seen = /'descr'\s*:\s*([^\n]{0,60})/.exec(text)?.[1] ?? text.slice(0, 60);
    throw formatError(name, `unsupported dtype ${seen.trim()} (supported: ${SUPPORTED_NPY_DTYPES.join(', ')})`,
      'Save a plain numeric array, e.g. np.save(path, arr.astype(np.float32)); structured arrays are not supported.');
  }
  if (fortran === undefined || shapeSrc === undefined) {
    throw formatError(name, `header ${JSON.stringify(text.trim())} lacks fortran_order or shape`,
      'Save the array with np.save(path, arr).');
  }
  const shape = shapeSrc
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const d = Number(s.replace(/L$/, '')); // Python 2 wrote long ints as 10L
      if (!Number.isSafeInteger(d) || d < 0) {
        throw formatError(name, `shape entry ${JSON.stringify(s)} is not a size`, 'Save the array with np.save(path, arr).');
      }
      return d;
    });
  return { descr, fortranOrder: fortran === 'True', shape, dataStart };
}

/** The header's facts checked against the file's size: everything but the data itself. */
interface NpyLayout {
  shape: number[];
  descr: string;
  dtype: { bytes: number; decode: Decoder };
  dataStart: number;
  count: number;
}

/** Check a header (the file's first bytes, up to its data) against the file's total size. */
function layout(head: Uint8Array, fileSize: number, name: string): NpyLayout {
  const { descr, fortranOrder, shape, dataStart } = parseHeader(head, name);
  const dtype = DECODERS[descr];
  if (!dtype) {
    const swapped = descr.startsWith('>') ? DECODERS[`<${descr.slice(1)}`] : undefined;
    if (swapped) {
      throw formatError(name, `dtype ${descr} is big-endian`,
        `Convert to little-endian before saving: np.save(path, arr.astype('<${descr.slice(1)}')).`);
    }
    throw formatError(name, `unsupported dtype ${JSON.stringify(descr)} (supported: ${SUPPORTED_NPY_DTYPES.join(', ')})`,
      'Cast the array before saving, e.g. np.save(path, arr.astype(np.float32)).');
  }
  if (fortranOrder) {
    throw formatError(name, 'fortran_order is True (column-major data)',
      'Save a C-ordered copy: np.save(path, np.ascontiguousarray(arr)).');
  }
  const count = product(shape);
  const expected = count * dtype.bytes;
  const actual = fileSize - dataStart;
  if (actual !== expected) {
    throw formatError(name, `shape (${shape.join(', ')}) of ${descr} needs ${expected} data bytes but the file has ${actual}`,
      'The file is truncated or was not written by np.save; save it again.');
  }
  return { shape, descr, dtype, dataStart, count };
}

/** Parse a .npy file's bytes. `name` is only used in error messages. */
export function parseNpy(bytes: Uint8Array, name: string): NpyArray {
  const { shape, descr, dtype, dataStart, count } = layout(bytes, bytes.length, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart, count * dtype.bytes);
  return { shape, data: dtype.decode(view, 0, count, name), dtype: descr };
}

/** Read a .npy file. */
export async function readNpy(path: string): Promise<NpyArray> {
  return parseNpy(await readDataFile(path), path);
}

/**
 * Read a .npy file of shape [N, ...] a block of rows at a time, converted to float32 and handed to `writer`, so a
 * file larger than memory is never whole in memory. The checks and errors of readNpy. Returns the shape.
 */
export function streamNpyRows(path: string, writer: RowWriter): { shape: number[]; rows: Rows } {
  const { fd, size } = openDataFile(path);
  try {
    // The fixed part (magic, version, header length), then the header itself.
    const fixed = readAt(fd, 0, Math.min(size, 12));
    const end = hasMagic(fixed) ? dataStartOf(fixed) : Infinity;
    const head = Number.isFinite(end) ? readAt(fd, 0, Math.min(size, end)) : fixed;
    const { shape, dtype, dataStart, count } = layout(head, size, path);
    if (shape.length === 0) return { shape, rows: writer.finish(0) };
    const rows = shape[0]!;
    const width = rows ? count / rows : product(shape.slice(1));
    const step = blockRows(width);
    for (let r = 0; r < rows; r += step) {
      const k = Math.min(step, rows - r);
      const bytes = readAt(fd, dataStart + r * width * dtype.bytes, k * width * dtype.bytes);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const data = dtype.decode(view, 0, k * width, path, r * width);
      writer.append(data instanceof Float32Array ? data : Float32Array.from(data), k);
    }
    return { shape, rows: writer.finish(width) };
  } catch (err) {
    writer.abort();
    throw err;
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const r = readSync(fd, out, done, length - done, position + done);
    if (r === 0) break;
    done += r;
  }
  return out.subarray(0, done);
}

/**
 * A version 1.0 .npy file of `data` (little-endian, as JavaScript's typed arrays are on the machines we run on) with
 * header dtype `descr` (e.g. '<f4', '<i8') and `shape`; the header is padded so that the data starts 64-byte aligned.
 */
export function npyBytes(descr: string, shape: readonly number[], data: ArrayBufferView, fortranOrder = false): Buffer {
  const shapeSrc = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': ${fortranOrder ? 'True' : 'False'}, 'shape': ${shapeSrc}, }`;
  const unpadded = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(dict.length, 8);
  return Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}
