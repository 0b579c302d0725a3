// Rebuilds this example's vendored Fashion-MNIST subset from Debian's dataset-fashion-mnist package, so
// the provenance of every byte here is reproducible:  node --import tsx examples/fmnist-bin/make-subset.ts
// train-*: 5,000 images drawn without replacement from the 60k training set (seeded, in original order);
// t10k-*: the full 10k test set, byte for byte (so the teacher's test accuracy matches the reference).
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { rng } from '../../pipeline/util/math.ts';

const SRC = '/usr/share/datasets/fashion-mnist';
const HERE = new URL('.', import.meta.url).pathname;
const N = 5000;

const images = gunzipSync(readFileSync(join(SRC, 'train-images-idx3-ubyte.gz')));
const labels = gunzipSync(readFileSync(join(SRC, 'train-labels-idx1-ubyte.gz')));
const total = images.readUInt32BE(4);
const rand = rng(20261122);
const order = Array.from({ length: total }, (_, i) => i);
for (let i = total - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [order[i], order[j]] = [order[j]!, order[i]!];
}
const picked = order.slice(0, N).sort((a, b) => a - b);
const img = Buffer.alloc(16 + N * 784);
images.copy(img, 0, 0, 16);
img.writeUInt32BE(N, 4);
const lab = Buffer.alloc(8 + N);
labels.copy(lab, 0, 0, 8);
lab.writeUInt32BE(N, 4);
picked.forEach((src, k) => {
  images.copy(img, 16 + k * 784, 16 + src * 784, 16 + (src + 1) * 784);
  lab[8 + k] = labels[8 + src]!;
});
// mtime 0 in the gzip header keeps the files byte-identical across rebuilds.
writeFileSync(join(HERE, 'train-images-idx3-ubyte.gz'), gzipSync(img, { level: 9 }));
writeFileSync(join(HERE, 'train-labels-idx1-ubyte.gz'), gzipSync(lab, { level: 9 }));
copyFileSync(join(SRC, 't10k-images-idx3-ubyte.gz'), join(HERE, 't10k-images-idx3-ubyte.gz'));
copyFileSync(join(SRC, 't10k-labels-idx1-ubyte.gz'), join(HERE, 't10k-labels-idx1-ubyte.gz'));
console.log(`wrote ${N} training images and the 10k test set to ${HERE}`);
