// Teacher-labelled augmentation of the train split (data.augment): `copies` shifted (and optionally mirrored) copies
// of every training image are appended after the originals, before the teacher pass, so the teacher labels each copy
// as it labels the originals and every method learns from them (KD's soft targets, LELP's subclasses). This is what
// a small transfer set lacks: students overfit 4,500 images (docs/training.md). The validation and test splits are
// never augmented, and are carved before this runs, so no copy of a held-out image enters training.
import { EdgeDistillError } from '../errors.ts';
import { rng } from '../util/math.ts';
import { buildRows, type Rows } from './rows.ts';

/** What augmentation reads and rewrites of a split (dataset.ts's Split has these and more, which pass through). */
export interface AugmentableSplit {
  x: Rows;
  n: number;
  featureShape: number[];
  labels: Int32Array | null;
  fine: { subclass: Int32Array; subclasses: number } | null;
  ids: string[] | null;
  positions: Int32Array;
  texts: string[] | null;
  teacher: { x: Rows; featureShape: number[]; image: { layout: 'nhwc' | 'nchw' } } | null;
}

export interface AugmentSettings {
  /** Augmented copies of each training example (the split grows to n * (1 + copies)). */
  copies: number;
  /** Largest shift, in pixels, along each axis (uniform in [-shift, shift]); edge pixels fill what is uncovered. */
  shift: number;
  /** Mirror left-right with probability 1/2 (only where a mirrored image keeps its label). */
  flip: boolean;
}

/** One copy's transform: a mirror, then a shift by (dy, dx). */
interface Draw {
  dy: number;
  dx: number;
  flip: boolean;
}

type Layout = { height: number; width: number; channels: number; channelsFirst: boolean };

/** The image grid of a split's rows: [H, W] or [H, W, C] channels last, or channels first when the spec says so. */
function layoutOf(featureShape: readonly number[], channelsFirst: boolean): Layout | null {
  if (featureShape.length === 2) return { height: featureShape[0]!, width: featureShape[1]!, channels: 1, channelsFirst: false };
  // [1, H, W]: one channel, as the students read it (architectures.ts imageShape).
  if (featureShape.length === 3 && featureShape[0] === 1 && !channelsFirst) return { height: featureShape[1]!, width: featureShape[2]!, channels: 1, channelsFirst: false };
  if (featureShape.length !== 3) return null;
  return channelsFirst
    ? { channels: featureShape[0]!, height: featureShape[1]!, width: featureShape[2]!, channelsFirst }
    : { height: featureShape[0]!, width: featureShape[1]!, channels: featureShape[2]!, channelsFirst };
}

/** `src` (one row of layout `g`) mirrored and shifted into `out`; uncovered pixels repeat the nearest edge pixel. */
export function transformImage(src: Float32Array, g: Layout, d: Draw, out: Float32Array): void {
  const { height: H, width: W, channels: C } = g;
  const clamp = (v: number, hi: number) => (v < 0 ? 0 : v > hi ? hi : v);
  for (let y = 0; y < H; y++) {
    const sy = clamp(y - d.dy, H - 1);
    for (let x = 0; x < W; x++) {
      const shifted = clamp(x - d.dx, W - 1);
      const sx = d.flip ? W - 1 - shifted : shifted;
      for (let c = 0; c < C; c++) {
        out[g.channelsFirst ? (c * H + y) * W + x : (y * W + x) * C + c] = src[g.channelsFirst ? (c * H + sy) * W + sx : (sy * W + sx) * C + c]!;
      }
    }
  }
}

/** The rows of `x` followed by `draws.length / n` transformed copies of all of them, in a new store in `dir`. */
function augmentedRows(x: Rows, g: Layout, draws: readonly Draw[], dir: string | null): Rows {
  const n = x.n;
  const width = x.width;
  return buildRows(dir, n + draws.length, width, (from, count) => {
    const source = Int32Array.from({ length: count }, (_, i) => (from + i) % n);
    const block = x.gather(source);
    for (let i = 0; i < count; i++) {
      const r = from + i;
      if (r < n) continue;
      const row = block.subarray(i * width, (i + 1) * width);
      transformImage(Float32Array.from(row), g, draws[r - n]!, row);
    }
    return block;
  });
}

/**
 * The train split with its augmented copies appended (originals first, then copy 1 of every example, then copy 2, ...);
 * labels, positions and ids follow their originals (ids get a `#aug<k>` suffix). The teacher's own rows (an image
 * source's teacher.image, when they are not the student's) get the same transform. Seeded: the same seed gives the
 * same copies. The input split's stores stay open (other splits may read the same file): the caller closes them.
 */
export function augmentTrain<S extends AugmentableSplit>(s: S, a: AugmentSettings, seed: number, dir: string | null): S {
  const g = layoutOf(s.featureShape, false);
  if (!g) {
    throw new EdgeDistillError('E_CONFIG', `data.augment shifts and mirrors images, but the train examples have shape [${s.featureShape}]`, 'Give images ([H, W] or [H, W, C]: IDX images, NPY [N, H, W, C] or an images source), or remove data.augment.');
  }
  const teacherLayout = s.teacher && s.teacher.x !== s.x ? layoutOf(s.teacher.featureShape, s.teacher.image.layout === 'nchw') : null;
  if (s.teacher && s.teacher.x !== s.x && (!teacherLayout || teacherLayout.height !== g.height || teacherLayout.width !== g.width)) {
    throw new EdgeDistillError('E_CONFIG', `data.augment needs the teacher's images at the student's size: the teacher reads [${s.teacher.featureShape}], the student [${s.featureShape}]`, 'Give teacher.image the same size as data.image, or remove data.augment.');
  }
  const rand = rng(seed ^ 0xa06e);
  const draws: Draw[] = [];
  for (let k = 0; k < a.copies; k++) {
    for (let i = 0; i < s.n; i++) {
      const dy = Math.floor(rand() * (2 * a.shift + 1)) - a.shift;
      const dx = Math.floor(rand() * (2 * a.shift + 1)) - a.shift;
      draws.push({ dy, dx, flip: a.flip && rand() < 0.5 });
    }
  }
  const x = augmentedRows(s.x, g, draws, dir);
  let teacherX: Rows;
  try {
    teacherX = s.teacher && s.teacher.x !== s.x ? augmentedRows(s.teacher.x, teacherLayout!, draws, dir) : x;
  } catch (err) {
    x.close();
    throw err;
  }
  const repeat = <T>(values: ArrayLike<T>, name: (v: T, k: number) => T): T[] => Array.from({ length: s.n * (1 + a.copies) }, (_, r) => name(values[r % s.n]!, Math.floor(r / s.n)));
  const out: S = {
    ...s,
    x,
    n: x.n,
    labels: s.labels ? Int32Array.from(repeat(s.labels, (v) => v)) : null,
    fine: s.fine ? { ...s.fine, subclass: Int32Array.from(repeat(s.fine.subclass, (v) => v)) } : null,
    ids: s.ids ? repeat(s.ids, (id, k) => (k === 0 ? id : `${id}#aug${k}`)) : null,
    positions: Int32Array.from(repeat(s.positions, (v) => v)),
    texts: null,
    teacher: s.teacher ? { ...s.teacher, x: teacherX } : null,
  };
  return out;
}
