// Materialises this example's images from the vendored Fashion-MNIST subset of examples/fmnist-bin: one PNG per
// image, in one folder per teacher class (top-or-bag, trouser-dress-or-shoe), saved as RGB (each 28x28 grayscale
// image in all three channels), as a folder of photos would be:
//   node --import tsx examples/fmnist-images/make-images.ts [outDir] [--train N] [--test N]
// (default outDir: examples/fmnist-images/images; `npm run example:images` runs this, then the pipeline). The PNGs
// are deterministic: the same bytes on every run.
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { readIdx } from '../../pipeline/data/idx.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const IDX = join(HERE, '..', 'fmnist-bin');
/** The teacher's classes: Fashion-MNIST label % 2 (0: tops and bags, 1: trousers, dresses and shoes). */
export const CLASS_NAMES = ['top-or-bag', 'trouser-dress-or-shoe'] as const;

/**
 * Writes `<outDir>/train/<class>/<i>.png` for the first `train` vendored training images and `<outDir>/test/...` for
 * the first `test` test images (i: the image's index in its IDX file, zero-padded). Written to a temporary folder and
 * renamed, so outDir is complete or absent.
 */
export async function writeImageFolders(outDir: string, counts: { train?: number; test?: number } = {}): Promise<{ train: number; test: number }> {
  const tmp = `${outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const written = { train: 0, test: 0 };
  try {
    for (const [split, prefix] of [['train', 'train'], ['test', 't10k']] as const) {
      const images = await readIdx(join(IDX, `${prefix}-images-idx3-ubyte.gz`));
      const labels = await readIdx(join(IDX, `${prefix}-labels-idx1-ubyte.gz`));
      const n = Math.min(counts[split] ?? images.dims[0]!, images.dims[0]!);
      for (const c of CLASS_NAMES) mkdirSync(join(tmp, split, c), { recursive: true });
      for (let i = 0; i < n; i++) {
        const gray = images.data.subarray(i * 784, (i + 1) * 784);
        const rgb = Buffer.alloc(784 * 3);
        for (let p = 0; p < 784; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = gray[p]!;
        const file = join(tmp, split, CLASS_NAMES[labels.data[i]! % 2]!, `${String(i).padStart(5, '0')}.png`);
        await sharp(rgb, { raw: { width: 28, height: 28, channels: 3 } }).png({ compressionLevel: 9 }).toFile(file);
      }
      written[split] = n;
    }
    rmSync(outDir, { recursive: true, force: true });
    renameSync(tmp, outDir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { train: { type: 'string' }, test: { type: 'string' } } });
  const out = positionals[0] ?? join(HERE, 'images');
  const n = await writeImageFolders(out, { ...(values.train ? { train: Number(values.train) } : {}), ...(values.test ? { test: Number(values.test) } : {}) });
  console.log(`wrote ${n.train} training and ${n.test} test PNGs to ${out}`);
}
