// Row stores: a matrix of float32 rows [n, width] that is either in memory or in a file, read a block or a batch
// at a time. Data sets larger than memory (CSV, JSONL and NPY transfer sets), the teacher's outputs on them and the
// methods' per-example targets live in files, so the pipeline's memory stays flat as the rows grow; everything that
// walks the rows (teacher pass, training batches, prediction, hashing) goes through this interface either way.
import { closeSync, mkdirSync, openSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';

export interface Rows {
  readonly n: number;
  readonly width: number;
  /** Rows [from, from + count), row-major. In-memory stores return a view: do not modify it. */
  read(from: number, count: number): Float32Array;
  /** The rows at `indices`, in that order, into `out` (allocated when not given). */
  gather(indices: ArrayLike<number>, out?: Float32Array): Float32Array;
  /** Releases the store's file (if any); reading afterwards throws. */
  close(): void;
}

/** How many rows to read at once when walking a store from start to end (~4 MB per block). */
export function blockRows(width: number): number {
  return Math.max(1, Math.floor((1 << 20) / Math.max(1, width)));
}

export class MemoryRows implements Rows {
  constructor(
    readonly data: Float32Array,
    readonly n: number,
    readonly width: number,
  ) {
    if (data.length !== n * width) throw new Error(`MemoryRows: ${data.length} values are not ${n} rows of ${width}`);
  }
  read(from: number, count: number): Float32Array {
    return this.data.subarray(from * this.width, (from + count) * this.width);
  }
  gather(indices: ArrayLike<number>, out = new Float32Array(indices.length * this.width)): Float32Array {
    const w = this.width;
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]!;
      out.set(this.data.subarray(i * w, (i + 1) * w), k * w);
    }
    return out;
  }
  close(): void {}
}

/** Rows stored as little-endian float32 in a file, from byte `offset`; read with positioned reads (no mmap). */
export class FileRows implements Rows {
  private fd: number | null;
  constructor(
    fd: number,
    private readonly offset: number,
    readonly n: number,
    readonly width: number,
    private readonly ownsFd: boolean,
  ) {
    this.fd = fd;
  }
  private readInto(out: Float32Array, at: number, row: number, count: number): void {
    if (this.fd === null) throw new Error('FileRows: read after close');
    const bytes = count * this.width * 4;
    const view = new Uint8Array(out.buffer, out.byteOffset + at * this.width * 4, bytes);
    let done = 0;
    while (done < bytes) {
      const r = readSync(this.fd, view, done, bytes - done, this.offset + row * this.width * 4 + done);
      if (r === 0) throw new Error(`FileRows: the file ended before row ${row + count} of ${this.n}`);
      done += r;
    }
  }
  read(from: number, count: number): Float32Array {
    const out = new Float32Array(count * this.width);
    if (count > 0) this.readInto(out, 0, from, count);
    return out;
  }
  gather(indices: ArrayLike<number>, out = new Float32Array(indices.length * this.width)): Float32Array {
    // Runs of consecutive indices (a sorted subset, a block) are one read each.
    for (let k = 0; k < indices.length; ) {
      let run = 1;
      while (k + run < indices.length && indices[k + run] === indices[k]! + run) run++;
      this.readInto(out, k, indices[k]!, run);
      k += run;
    }
    return out;
  }
  close(): void {
    if (this.fd !== null && this.ownsFd) closeSync(this.fd);
    this.fd = null;
  }
}

/** The rows of `base` at `index` (a split carved from a file, without copying its rows). */
export class IndexedRows implements Rows {
  readonly width: number;
  readonly n: number;
  constructor(
    readonly base: Rows,
    readonly index: Int32Array,
  ) {
    this.width = base.width;
    this.n = index.length;
  }
  read(from: number, count: number): Float32Array {
    return this.base.gather(this.index.subarray(from, from + count));
  }
  gather(indices: ArrayLike<number>, out?: Float32Array): Float32Array {
    return this.base.gather(Int32Array.from(indices as ArrayLike<number>, (i) => this.index[i]!), out);
  }
  close(): void {
    this.base.close();
  }
}

/** Rows appended a block at a time, then read back: in memory, or (with a folder) in an anonymous file there. */
export interface RowWriter {
  /** Rows appended so far. */
  readonly n: number;
  append(rows: Float32Array, count: number): void;
  /** The rows written, as a store of rows of `width` values. */
  finish(width: number): Rows;
  /** Discards what was written (an error while filling it). */
  abort(): void;
}

class MemoryWriter implements RowWriter {
  private chunks: Float32Array[] = [];
  n = 0;
  append(rows: Float32Array, count: number): void {
    this.chunks.push(Float32Array.from(rows));
    this.n += count;
  }
  finish(width: number): Rows {
    const data = new Float32Array(this.n * width);
    let o = 0;
    for (const c of this.chunks) {
      data.set(c, o);
      o += c.length;
    }
    this.chunks = [];
    return new MemoryRows(data, this.n, width);
  }
  abort(): void {
    this.chunks = [];
  }
}

/**
 * An anonymous file in `dir`: created and unlinked at once, so it is never visible and the kernel frees it when the
 * process ends however it ends (a crash leaves nothing behind). Where unlinking an open file fails (Windows), it is
 * removed on close instead.
 */
class FileWriter implements RowWriter {
  private fd: number;
  private bytes = 0;
  private path: string | null;
  n = 0;
  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `.rows-${process.pid}-${randomBytes(6).toString('hex')}`);
    this.fd = openSync(path, 'wx+');
    try {
      unlinkSync(path);
      this.path = null;
    } catch {
      this.path = path;
    }
  }
  append(rows: Float32Array, count: number): void {
    const view = new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
    let done = 0;
    while (done < view.length) done += writeSync(this.fd, view, done, view.length - done, this.bytes + done);
    this.bytes += view.length;
    this.n += count;
  }
  finish(width: number): Rows {
    if (this.bytes !== this.n * width * 4) throw new Error(`FileWriter: ${this.bytes} bytes are not ${this.n} rows of ${width}`);
    const rows = new FileRows(this.fd, 0, this.n, width, true);
    const path = this.path;
    if (path) {
      const close = rows.close.bind(rows);
      rows.close = () => {
        close();
        rmSync(path, { force: true });
      };
    }
    return rows;
  }
  abort(): void {
    closeSync(this.fd);
    if (this.path) rmSync(this.path, { force: true });
  }
}

/** Rows filled one at a time into a ~4 MB block, which goes to `writer` when full (a reader's output). */
export class BlockedRows {
  private readonly block: Float32Array;
  private inBlock = 0;
  constructor(
    private readonly writer: RowWriter,
    readonly width: number,
  ) {
    this.block = new Float32Array(blockRows(width) * width);
  }
  /** The next row's values, to fill; `commit()` keeps them. */
  next(): Float32Array {
    return this.block.subarray(this.inBlock * this.width, (this.inBlock + 1) * this.width);
  }
  commit(): void {
    if (++this.inBlock * this.width >= this.block.length) this.flush();
  }
  private flush(): void {
    if (this.inBlock > 0) this.writer.append(this.block.subarray(0, this.inBlock * this.width), this.inBlock);
    this.inBlock = 0;
  }
  /** The rows committed, as a store. */
  finish(): Rows {
    this.flush();
    return this.writer.finish(this.width);
  }
}

/** A writer in memory (`dir` null) or in an anonymous file in `dir`. */
export function rowWriter(dir: string | null): RowWriter {
  return dir === null ? new MemoryWriter() : new FileWriter(dir);
}

/**
 * Fill a new store of n rows a block at a time: `block(from, count)` returns rows [from, from + count). `step` rows per
 * block (default ~4 MB of output; smaller where computing a block takes much more memory than its output).
 */
export function buildRows(dir: string | null, n: number, width: number, block: (from: number, count: number) => Float32Array, step = blockRows(width)): Rows {
  if (dir === null) {
    const data = new Float32Array(n * width);
    for (let i = 0; i < n; i += step) data.set(block(i, Math.min(step, n - i)), i * width);
    return new MemoryRows(data, n, width);
  }
  const w = rowWriter(dir);
  try {
    for (let i = 0; i < n; i += step) {
      const count = Math.min(step, n - i);
      w.append(block(i, count), count);
    }
  } catch (err) {
    w.abort();
    throw err;
  }
  return w.finish(width);
}

/** Call `f` on every block of rows, in order. */
export function forEachBlock(rows: Rows, f: (block: Float32Array, from: number, count: number) => void, step = blockRows(rows.width)): void {
  for (let i = 0; i < rows.n; i += step) {
    const count = Math.min(step, rows.n - i);
    f(rows.read(i, count), i, count);
  }
}

/** sha256 (hex) of the rows' float32 bytes, read a block at a time: the hash of all of them in one array. */
export function hashRows(rows: Rows): string {
  const h = createHash('sha256');
  forEachBlock(rows, (b) => h.update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
  return h.digest('hex');
}

/** Every row in one Float32Array (for callers that need the whole matrix, e.g. small test splits). */
export function readAll(rows: Rows): Float32Array {
  return rows instanceof MemoryRows ? rows.data : rows.read(0, rows.n);
}

/** A store over what callers hand in: a Rows as is, a Float32Array of n rows wrapped in memory. */
export function asRows(x: Rows | Float32Array, n: number, width?: number): Rows {
  if (!(x instanceof Float32Array)) return x;
  return new MemoryRows(x, n, width ?? (n ? x.length / n : 0));
}

/** The first `count` rows, as their own store (a parity or calibration subset). */
export function headRows(rows: Rows, count: number): Rows {
  const k = Math.min(count, rows.n);
  return new MemoryRows(Float32Array.from(rows.read(0, k)), k, rows.width);
}
