// The IDX reader (the MNIST family's format): a 4-byte magic, big-endian uint32 dims, big-endian data.
// Files may be gzipped or raw; we tell by the gzip magic bytes, never by the file name.

import { gunzipSync } from 'node:zlib';
import { EdgeDistillError } from '../errors.ts';
import { product, readDataFile } from './table.ts';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dims: number[];
  data: IdxData;
}

interface IdxType {
  name: string;
  bytes: number;
  /** Decode `count` big-endian elements starting at `offset`. */
  decode: (view: DataView, offset: number, count: number) => IdxData;
}

/** Type codes from the IDX spec (byte 2 of the magic). */
const IDX_TYPES: Record<number, IdxType> = {
  0x08: { name: 'ubyte', bytes: 1, decode: (v, o, n) => new Uint8Array(v.buffer.slice(v.byteOffset + o, v.byteOffset + o + n)) },
  0x09: { name: 'sbyte', bytes: 1, decode: (v, o, n) => new Int8Array(v.buffer.slice(v.byteOffset + o, v.byteOffset + o + n)) },
  0x0b: { name: 'int16', bytes: 2, decode: (v, o, n) => fill(new Int16Array(n), (i) => v.getInt16(o + 2 * i, false)) },
  0x0c: { name: 'int32', bytes: 4, decode: (v, o, n) => fill(new Int32Array(n), (i) => v.getInt32(o + 4 * i, false)) },
  0x0d: { name: 'float32', bytes: 4, decode: (v, o, n) => fill(new Float32Array(n), (i) => v.getFloat32(o + 4 * i, false)) },
  0x0e: { name: 'float64', bytes: 8, decode: (v, o, n) => fill(new Float64Array(n), (i) => v.getFloat64(o + 8 * i, false)) },
};

function fill<T extends { length: number; [i: number]: number }>(arr: T, at: (i: number) => number): T {
  for (let i = 0; i < arr.length; i++) arr[i] = at(i);
  return arr;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

function formatError(name: string, what: string, hint: string): EdgeDistillError {
  return new EdgeDistillError('E_DATA_FORMAT', `${name} is not a valid IDX file: ${what}`, hint);
}

const REDOWNLOAD_HINT = 'The file is probably truncated or corrupt; download it again.';

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parse an uncompressed IDX file. `name` is only used in error messages. */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.length < 4) {
    throw formatError(name, `only ${bytes.length} bytes, shorter than the 4-byte header`, REDOWNLOAD_HINT);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw formatError(
      name,
      `magic starts with ${hex(bytes[0]!)} ${hex(bytes[1]!)}, expected 0x00 0x00`,
      'Check that the config points at an IDX file (e.g. train-images-idx3-ubyte[.gz]), not another format.',
    );
  }
  const typeCode = bytes[2]!;
  const type = IDX_TYPES[typeCode];
  if (!type) {
    const known = Object.entries(IDX_TYPES).map(([c, t]) => `${hex(Number(c))} ${t.name}`);
    throw formatError(name, `unknown type code ${hex(typeCode)} (known: ${known.join(', ')})`, REDOWNLOAD_HINT);
  }
  const ndims = bytes[3]!;
  const dataStart = 4 + 4 * ndims;
  if (bytes.length < dataStart) {
    throw formatError(name, `header declares ${ndims} dims but the file is only ${bytes.length} bytes`, REDOWNLOAD_HINT);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));

  const count = product(dims);
  const expected = dataStart + count * type.bytes;
  if (bytes.length !== expected) {
    throw formatError(
      name,
      `dims [${dims.join(', ')}] of ${type.name} need ${expected} bytes but the file has ${bytes.length}`,
      REDOWNLOAD_HINT,
    );
  }
  return { dims, data: type.decode(view, dataStart, count) };
}

/** Gunzip when the bytes are gzip; a corrupt stream is E_DATA_FORMAT, not a zlib error. */
export function maybeGunzip(bytes: Uint8Array, name: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (err) {
    throw new EdgeDistillError(
      'E_DATA_FORMAT',
      `${name} starts like gzip but cannot be decompressed (${(err as Error).message})`,
      REDOWNLOAD_HINT,
      { cause: err },
    );
  }
}

/** Read an IDX file, gzipped or raw. */
export async function readIdx(path: string): Promise<IdxArray> {
  const bytes = await readDataFile(path);
  return parseIdx(maybeGunzip(bytes, path), path);
}
