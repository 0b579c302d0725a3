// File writing that never leaves a half-written artifact: write to a temp file beside the target, then rename.
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync, rmSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** writeAtomic's temp files are `.<name>.<pid>.<ms>.tmp`: the pid of the process writing, or null for other names. */
export function tempFileWriter(name: string): number | null {
  const m = /^\..+\.(\d+)\.\d+\.tmp$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Write data to `file` atomically (temp file in the same folder + rename, so readers never see a partial file). */
export function writeAtomic(file: string, data: Uint8Array | string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** View a Float32Array's bytes without copying. */
export function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Concatenate byte arrays into one fresh, unshared buffer (unlike Buffer.concat, never a slice of Node's pool). */
export function concatBytes(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * A file written piecewise (positioned writes) and made visible only by `commit()`: the temp-file-then-rename of
 * writeAtomic, for outputs too large to build in memory first. `abort()` removes the temp file.
 */
export function atomicFile(file: string): { fd: number; commit(): void; abort(): void } {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w+');
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    fd,
    commit() {
      close();
      renameSync(tmp, file);
    },
    abort() {
      close();
      rmSync(tmp, { force: true });
    },
  };
}

/** Write all of `data` at `position` (writeSync may write less than asked). */
export function writeAllAt(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}
