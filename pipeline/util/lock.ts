// One run per output folder: `<out>/.lock` holds the writing process's pid, created exclusively. A second run into
// the same --out refuses (E_OUT_LOCKED) instead of interleaving its files with the first's; a lock whose process is gone
// (a run killed with SIGKILL) is stale and taken over.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeDistillError } from '../errors.ts';
import { tempFileWriter } from './fsutil.ts';

export const LOCK_FILE = '.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the folder's lock; returns the function that releases it. */
export function lockOutput(out: string): () => void {
  mkdirSync(out, { recursive: true });
  const file = join(out, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new EdgeDistillError('E_OUT_LOCKED', `another edge-distill run (pid ${pid}) is writing to ${out}`, `Wait for it to finish, or choose another --out. If no such run exists, delete ${file}.`);
      }
      rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new EdgeDistillError('E_OUT_LOCKED', `could not lock ${out}: another run keeps taking ${file}`, 'Run one edge-distill per output folder.');
}

/**
 * What runs killed mid-way (SIGKILL, power loss) left behind, removed by the next run once it holds the lock:
 * staging folders in `out` (only a run holding the lock writes there) and temp files of dead processes in `out` and
 * the cache folder (which other runs may share, so a live process's temp files stay). Returns what was removed.
 */
export function removeLeftovers(out: string, cacheDir: string): string[] {
  const removed: string[] = [];
  for (const [dir, staging] of [[out, true], [cacheDir, false]] as const) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const writer = tempFileWriter(name);
      if ((staging && name.startsWith('.staging-')) || (writer !== null && !alive(writer))) {
        rmSync(join(dir, name), { recursive: true, force: true });
        removed.push(join(dir, name));
      }
    }
  }
  return removed;
}
