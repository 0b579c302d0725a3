// Writes the example app's bundled test image: one Fashion-MNIST test image as a lossless 28x28 grayscale PNG
// (sample.png) and its provenance and true label (sample.json), taken from the bundled example's data so the
// app, the Node reference and the test all see the same 784 bytes.
//   node --import tsx examples/web-app/make-sample.ts [index]      (default index 0: an ankle boot)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';
import { readIdx } from '../../pipeline/data/idx.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const EXAMPLE = join(HERE, '..', 'fmnist-bin');
export const SAMPLE_PNG = join(HERE, 'sample.png');
export const SAMPLE_JSON = join(HERE, 'sample.json');

/** Fashion-MNIST's ten original label names, for a readable sample.json. */
const FMNIST_LABELS = ['t-shirt/top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'];

export interface Sample {
  source: string;
  index: number;
  height: number;
  width: number;
  /** Raw pixel values 0..255, row-major: exactly what the PNG stores. */
  pixels: Uint8Array;
  label: number;
  labelName: string;
  /** The label after the example's labelMap: the class the binary students are trained to predict. */
  class: number;
  className: string | null;
}

/** Image `index` of the bundled test split, with its label mapped the way examples/fmnist-bin/pipeline.json maps it. */
export async function readSample(index: number): Promise<Sample> {
  const images = await readIdx(join(EXAMPLE, 't10k-images-idx3-ubyte.gz'));
  const labels = await readIdx(join(EXAMPLE, 't10k-labels-idx1-ubyte.gz'));
  const [n, height, width] = images.dims as [number, number, number];
  if (!Number.isInteger(index) || index < 0 || index >= n) throw new Error(`index ${index} is outside the test split (0..${n - 1})`);
  const cfg = JSON.parse(readFileSync(join(EXAMPLE, 'pipeline.json'), 'utf8')) as { data: { labelMap: number[]; classNames?: string[] } };
  const size = height * width;
  const label = labels.data[index]!;
  const cls = cfg.data.labelMap[label]!;
  return {
    source: 'examples/fmnist-bin/t10k-images-idx3-ubyte.gz',
    index,
    height,
    width,
    pixels: Uint8Array.from(images.data.subarray(index * size, (index + 1) * size)),
    label,
    labelName: FMNIST_LABELS[label] ?? String(label),
    class: cls,
    className: cfg.data.classNames?.[cls] ?? null,
  };
}

// CRC-32 (ISO-HDLC, polynomial 0xEDB88320), which PNG requires per chunk. Written out because zlib.crc32 only
// arrived in Node 20.15 / 22.2 and the project supports every Node 20.
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A PNG chunk: big-endian length, 4-letter type, data, CRC over type + data. */
function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * The smallest valid PNG for 8-bit grayscale: signature, IHDR, one IDAT, IEND. No gAMA/sRGB/iCCP chunk, so a browser
 * has no colour profile to apply and decodes every pixel to its exact stored value; no tIME chunk, so the bytes
 * depend only on the pixels (and the zlib build).
 */
export function encodeGrayPng(pixels: Uint8Array, width: number, height: number): Buffer {
  if (pixels.length !== width * height) throw new Error(`${pixels.length} pixels do not fill ${width}x${height}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // bit depth 8, colour type 0 (gray), deflate, adaptive filtering, no interlace
  // Each scanline starts with its filter type; 0 (None) keeps the encoder trivial and costs nothing at 28x28.
  const raw = Buffer.alloc(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))]);
}

async function main(): Promise<void> {
  const index = Number(process.argv[2] ?? 0);
  const s = await readSample(index);
  writeFileSync(SAMPLE_PNG, encodeGrayPng(s.pixels, s.width, s.height));
  const { pixels: _pixels, ...meta } = s;
  writeFileSync(SAMPLE_JSON, JSON.stringify(meta, null, 2) + '\n');
  console.log(`wrote ${SAMPLE_PNG} (test image ${index}: ${s.labelName} -> class ${s.class} ${s.className ?? ''})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
