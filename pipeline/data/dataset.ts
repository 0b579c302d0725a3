// Turns the config's data sources into the train / validation / test splits the pipeline uses: label mapping,
// preprocessing (x * scale + shift), seeded carving of missing splits, and the checks that make bad data fail early.
import type { DataConfig, DataSource } from './schema.ts';
import { EdgeDistillError } from '../errors.ts';
import { permutation, rng } from '../util/math.ts';
import { loadSource, STREAMED_FORMATS, streamSource, type DataSource as NumericSource, type RawSplit, type StreamedSource } from './sources.ts';
import { IndexedRows, MemoryRows, rowWriter, type RowWriter, type Rows } from './rows.ts';
import { loadTextSource, TEXT_FORMATS, type TextSource } from './text-sources.ts';
import { featurizeMany } from '../text/featurizer.js';
import { ImageSettingsSchema } from './schema.ts';
import { streamImages, type ImageSource, type TeacherImageSettings } from './images.ts';
import { augmentTrain } from './augment.ts';
import type { ImagePreprocessSpec } from './image-preprocess.js';

export interface Split {
  name: 'train' | 'validation' | 'test';
  /** [n, features], preprocessed: in memory, or in a file for CSV, JSONL and NPY sources (see loadDatasets). */
  x: Rows;
  n: number;
  features: number;
  featureShape: number[];
  /** Class index per example, or null when the split is unlabeled. */
  labels: Int32Array | null;
  /**
   * Fine labels, when the classes group finer ones (data.labelMap maps several raw labels to one class, as label % 2
   * does): each example's subclass within its class (its raw label's rank among the raw labels of that class), and
   * the most raw labels any class has. What the oracle method distils; null without a labelMap or labels.
   */
  fine: FineLabels | null;
  /** Each example's id where the source names it (text sources: the id column/key or the corpus file), else null. */
  ids: string[] | null;
  /** Each example's row in its source file (its id when the source names none). */
  positions: Int32Array;
  /** Text sources: the raw texts (x is their featurization with data.featurizer). */
  texts: string[] | null;
  /** Image sources: how the images became x (image-preprocess.js); null otherwise. */
  image: ImagePreprocessSpec | null;
  /** Image sources: the teacher's own input rows (teacher.image), which may be x itself; null otherwise. */
  teacher: { x: Rows; featureShape: number[]; image: ImagePreprocessSpec } | null;
}

export interface FineLabels {
  subclass: Int32Array;
  subclasses: number;
}

/** Each example's id: the source's id, or its row's position in its file. */
export function splitIds(s: Split): string[] {
  return s.ids ?? Array.from(s.positions, String);
}

export interface Datasets {
  train: Split;
  validation: Split;
  test: Split;
  /**
   * Where the run keeps rows as anonymous files: CSV/JSONL/NPY splits, and the methods' per-example targets (the
   * runner always gives its cache folder); null: all in memory (callers that pass no spillDir, e.g. teacher train).
   */
  spillDir: string | null;
}

/** Release the splits' files. */
export function closeDatasets(d: Pick<Datasets, 'train' | 'validation' | 'test'>): void {
  for (const s of [d.train, d.validation, d.test]) closeSplit(s);
}

function closeSplit(s: Split): void {
  s.x.close();
  if (s.teacher && s.teacher.x !== s.x) s.teacher.x.close();
}


/**
 * Map raw labels to class indices in [0, classes); returns the kept row indices too (labelMap may drop rows).
 * Errors name the row in file order (0-based), so the user can find it.
 */
function mapLabels(raw: Pick<RawSplit, 'labels'>, cfg: DataConfig, classes: number, where: string): { labels: Int32Array | null; keep: Int32Array | null; fine: FineLabels | null } {
  if (!raw.labels) return { labels: null, keep: null, fine: null };
  // Typed arrays, not arrays of numbers: a million rows take 4 MB each.
  const out = new Int32Array(raw.labels.length);
  const keep = new Int32Array(raw.labels.length);
  const fineOf = cfg.labelMap ? subclassIndex(cfg.labelMap) : null;
  const fine = fineOf ? new Int32Array(raw.labels.length) : null;
  let kept = 0;
  raw.labels.forEach((v: string | number, i: number) => {
    let c: number | null;
    if (typeof v === 'string') {
      if (cfg.classNames) {
        c = cfg.classNames.indexOf(v);
        if (c < 0) {
          throw new EdgeDistillError('E_LABEL_RANGE', `${where} row ${i}: label ${JSON.stringify(v)} is not in data.classNames (${cfg.classNames.join(', ')})`, 'Add it to data.classNames or fix the data.');
        }
      } else if (/^-?\d+$/.test(v.trim())) c = Number(v);
      else {
        throw new EdgeDistillError('E_LABEL_RANGE', `${where} row ${i}: label ${JSON.stringify(v)} is a string and data.classNames is not set`, 'List the class names in data.classNames (the position is the class index).');
      }
    } else c = v;
    if (cfg.labelMap) {
      if (!Number.isInteger(c) || c! < 0 || c! >= cfg.labelMap.length) {
        throw new EdgeDistillError('E_LABEL_RANGE', `${where} row ${i}: raw label ${c} has no entry in data.labelMap (length ${cfg.labelMap.length})`, 'Extend data.labelMap to cover every raw label.');
      }
      if (fine) fine[kept] = fineOf!.subclass[c!]!;
      c = cfg.labelMap[c!]!;
    }
    if (c === null) return;
    if (!Number.isInteger(c) || c < 0 || c >= classes) {
      throw new EdgeDistillError('E_LABEL_RANGE', `${where} row ${i} has label ${c}${cfg.labelMap ? ` (after data.labelMap)` : ''}, outside the teacher's ${classes} classes [0, ${classes - 1}]`, 'Fix the labels, or map them into range with data.labelMap.');
    }
    out[kept] = c;
    keep[kept++] = i;
  });
  return {
    labels: out.slice(0, kept),
    keep: kept === raw.labels.length ? null : keep.slice(0, kept),
    fine: fine && fineOf!.subclasses > 1 ? { subclass: fine.slice(0, kept), subclasses: fineOf!.subclasses } : null,
  };
}

/** Per raw label: its rank among the raw labels data.labelMap sends to the same class; and the largest such group. */
function subclassIndex(labelMap: readonly (number | null)[]): { subclass: Int32Array; subclasses: number } {
  const seen = new Map<number, number>();
  const subclass = Int32Array.from(labelMap, (c) => {
    if (c === null) return -1;
    const k = seen.get(c) ?? 0;
    seen.set(c, k + 1);
    return k;
  });
  return { subclass, subclasses: Math.max(1, ...seen.values()) };
}

/** The examples at `rows` (ascending): copied when in memory, an index into the same file when in a file. */
function pick(s: Split, rows: Int32Array, name: Split['name']): Split {
  const subset = (x: Rows) =>
    x instanceof MemoryRows ? new MemoryRows(x.gather(rows), rows.length, x.width)
      : x instanceof IndexedRows ? new IndexedRows(x.base, Int32Array.from(rows, (r) => x.index[r]!))
        : new IndexedRows(x, rows);
  const picked = subset(s.x);
  return {
    ...s, name, x: picked, n: rows.length,
    teacher: s.teacher ? { ...s.teacher, x: s.teacher.x === s.x ? picked : subset(s.teacher.x) } : null,
    labels: s.labels ? Int32Array.from(rows, (r) => s.labels![r]!) : null,
    fine: s.fine ? { ...s.fine, subclass: Int32Array.from(rows, (r) => s.fine!.subclass[r]!) } : null,
    ids: s.ids ? Array.from(rows, (r) => s.ids![r]!) : null,
    positions: Int32Array.from(rows, (r) => s.positions[r]!),
    texts: s.texts ? Array.from(rows, (r) => s.texts![r]!) : null,
  };
}

/** x * scale + shift on each block as it is written, refusing non-finite values (naming the row). */
function preprocessing(writer: RowWriter, cfg: DataConfig, name: string): RowWriter {
  const { scale, shift } = cfg.preprocess;
  return {
    get n() {
      return writer.n;
    },
    append(block, count) {
      preprocess(block, count ? block.length / count : 0, writer.n, scale, shift, name);
      writer.append(block, count);
    },
    finish: (width) => writer.finish(width),
    abort: () => writer.abort(),
  };
}

function preprocess(x: Float32Array, features: number, firstRow: number, scale: number, shift: number, name: string): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! * scale + shift;
    if (!Number.isFinite(v)) {
      throw new EdgeDistillError('E_DATA_FORMAT', `${name} data row ${firstRow + Math.floor(i / features)} has a non-finite value (${x[i]})`, 'Remove or impute NaN/infinite values before distilling.');
    }
    x[i] = v;
  }
}

const isText = (src: DataSource): src is Extract<DataSource, { format: TextSource['format'] }> => (TEXT_FORMATS as readonly string[]).includes(src.format);

/** A text source as a RawSplit: its texts featurized with data.featurizer; texts and ids kept beside. */
async function loadText(src: Extract<DataSource, { format: TextSource['format'] }>, cfg: DataConfig, name: string): Promise<{ raw: RawSplit; texts: string[]; ids: string[] }> {
  if (!cfg.featurizer) {
    throw new EdgeDistillError('E_CONFIG', `data.${name} is a text source (${src.format}) but data.featurizer is not set`, 'Add data.featurizer, e.g. {"buckets": 4096, "wordNgrams": [1, 2]}: it turns texts into the student\'s input.');
  }
  const t = await loadTextSource(src as TextSource, '/');
  const spec = cfg.featurizer;
  return { raw: { features: featurizeMany(t.texts, spec), featureShape: [spec.buckets], rows: t.texts.length, labels: t.labels }, texts: t.texts, ids: t.ids };
}

const isStreamed = (src: DataSource): src is StreamedSource => (STREAMED_FORMATS as readonly string[]).includes(src.format);

/**
 * One split's rows and labels: streamed into `spillDir` for CSV, JSONL, NPY and images when it is given, else in
 * memory; images also give the teacher's rows.
 */
type Loaded = {
  raw: RawSplit | (Omit<RawSplit, 'features'> & { features: Rows });
  text: Awaited<ReturnType<typeof loadText>> | null;
  images: Awaited<ReturnType<typeof streamImages>> | null;
};

/** Options of loadDatasets that reach one split. */
interface SplitOptions {
  spillDir: string | null;
  teacherImage: TeacherImageSettings;
  /** Image sources after the first split: the train split's preprocessing, which every split must share. */
  like: ImagePreprocessSpec | null;
}

async function loadImages(src: ImageSource, cfg: DataConfig, o: SplitOptions): Promise<Loaded> {
  if (cfg.preprocess.scale !== 1 || cfg.preprocess.shift !== 0) {
    throw new EdgeDistillError('E_CONFIG', `data.preprocess (scale ${cfg.preprocess.scale}, shift ${cfg.preprocess.shift}) does not apply to image sources`, 'Remove data.preprocess and normalize with data.image.mean and data.image.std: input = (pixel / 255 - mean) / std.');
  }
  const settings = cfg.image ?? ImageSettingsSchema.parse({});
  const images = await streamImages(src, '/', settings, rowWriter(o.spillDir), { settings: o.teacherImage, writer: () => rowWriter(o.spillDir) }, o.like);
  if (images.labels && !cfg.classNames && !images.labels.every((l) => /^-?\d+$/.test(l.trim()))) {
    images.features.close();
    if (images.teacher && images.teacher.features !== images.features) images.teacher.features.close();
    const names = [...new Set(images.labels)].sort();
    throw new EdgeDistillError('E_CONFIG', `the images of ${src.path} are labelled by name (${names.slice(0, 5).map((n) => JSON.stringify(n)).join(', ')}${names.length > 5 ? ', ...' : ''}) and data.classNames is not set`, `Set data.classNames to the class names in the teacher's class order, e.g. ${JSON.stringify(names.slice(0, 10))} if the teacher was trained with torchvision's ImageFolder (sorted folder names).`);
  }
  return { raw: { features: images.features, featureShape: images.featureShape, rows: images.rows, labels: images.labels }, text: null, images };
}

async function loadRaw(src: DataSource, cfg: DataConfig, name: Split['name'], o: SplitOptions): Promise<Loaded> {
  const spillDir = o.spillDir;
  if (src.format === 'images') return loadImages(src, cfg, o);
  if (isText(src)) {
    const text = await loadText(src, cfg, name);
    return { raw: text.raw, text, images: null };
  }
  if (spillDir !== null && isStreamed(src)) return { raw: await streamSource(src, '/', preprocessing(rowWriter(spillDir), cfg, name)), text: null, images: null };
  return { raw: await loadSource(src as NumericSource, '/'), text: null, images: null };
}

async function loadSplit(src: DataSource, cfg: DataConfig, classes: number, name: Split['name'], o: SplitOptions): Promise<Split> {
  const { raw, text, images } = await loadRaw(src, cfg, name, o);
  const features = raw.featureShape.reduce((a, b) => a * b, 1);
  let x: Rows;
  if (raw.features instanceof Float32Array) {
    preprocess(raw.features, features, 0, cfg.preprocess.scale, cfg.preprocess.shift, name);
    x = new MemoryRows(raw.features, raw.rows, features);
  } else x = raw.features;
  try {
    const { labels, keep, fine } = mapLabels(raw, cfg, classes, `${name} data`);
    const positions = Int32Array.from({ length: raw.rows }, (_, i) => i);
    const teacher = images?.teacher ? { x: images.teacher.features, featureShape: images.teacher.featureShape, image: images.teacher.spec } : null;
    const split: Split = { name, x, n: raw.rows, features: x.width, featureShape: raw.featureShape, labels: null, fine: null, ids: text?.ids ?? images?.ids ?? null, positions, texts: text?.texts ?? null, image: images?.spec ?? null, teacher };
    if (!keep) return { ...split, labels, fine };
    return { ...pick(split, keep, name), labels, fine };
  } catch (err) {
    x.close();
    if (images?.teacher && images.teacher.features !== x) images.teacher.features.close();
    throw err;
  }
}

function carve(s: Split, fraction: number, rand: () => number, name: Split['name']): [rest: Split, carved: Split] {
  const order = permutation(s.n, rand);
  const k = Math.round(s.n * fraction);
  return [pick(s, order.slice(k).sort(), s.name), pick(s, order.slice(0, k).sort(), name)];
}

/**
 * One more source read like the train split (the data's preprocess, labels unread): the rows `quantize` calibrates
 * static quantization on (compress.calibration). Close it with its `x.close()`.
 */
export async function loadExtraRows(src: DataSource, cfg: DataConfig, opts: { spillDir?: string | null; like: ImagePreprocessSpec | null }): Promise<Split> {
  return loadSplit(src, { ...cfg, labelMap: undefined }, Number.MAX_SAFE_INTEGER, 'train', { spillDir: opts.spillDir ?? null, teacherImage: {}, like: opts.like });
}

/**
 * Load, map, preprocess and split the data; `classes` is the teacher's class count. With `spillDir`, CSV, JSONL and
 * NPY sources (and images, a file at a time) are read a block at a time into anonymous files there, so memory stays
 * flat however many rows they have; IDX and text sources are read into memory. `teacherImage`: the teacher's own
 * image preprocessing (teacher.image; NCHW at the student's settings when empty). Close the splits with closeDatasets.
 */
export async function loadDatasets(cfg: DataConfig, seed: number, classes: number, opts: { spillDir?: string | null; teacherImage?: TeacherImageSettings } = {}): Promise<Datasets> {
  const spillDir = opts.spillDir ?? null;
  const rand = rng(seed ^ 0xda7a);
  const loaded: Split[] = [];
  const load = async (src: DataSource, name: Split['name']) => {
    const s = await loadSplit(src, cfg, classes, name, { spillDir, teacherImage: opts.teacherImage ?? {}, like: loaded[0]?.image ?? null });
    loaded.push(s);
    return s;
  };
  try {
    let train = await load(cfg.train, 'train');
    let test: Split;
    let validation: Split;
    if (cfg.test) test = await load(cfg.test, 'test');
    else [train, test] = carve(train, cfg.testFraction, rand, 'test');
    if (cfg.validation) validation = await load(cfg.validation, 'validation');
    else [train, validation] = carve(train, cfg.validationFraction, rand, 'validation');
    if (cfg.trainSize !== undefined && cfg.trainSize < train.n) {
      const order = permutation(train.n, rand);
      train = pick(train, order.slice(0, cfg.trainSize).sort(), 'train');
    }
    if (cfg.augment && train.n > 0) {
      const original = train;
      train = augmentTrain(original, cfg.augment, seed, spillDir);
      loaded.push(train);
      // The original rows go unless the held-out splits read the same file (they were carved from it).
      const base = (r: Rows) => (r instanceof IndexedRows ? r.base : r);
      const held = new Set([validation, test].flatMap((s) => [base(s.x), ...(s.teacher ? [base(s.teacher.x)] : [])]));
      for (const r of new Set([original.x, ...(original.teacher ? [original.teacher.x] : [])])) if (!held.has(base(r))) r.close();
    }
    checkSplits(train, validation, test);
    return { train, validation, test, spillDir };
  } catch (err) {
    for (const s of loaded) closeSplit(s);
    throw err;
  }
}

function checkSplits(train: Split, validation: Split, test: Split): void {
  for (const s of [train, validation, test]) {
    if (s.n === 0) {
      const hint = s.name === 'train'
        ? 'Give data.train some rows (or lower data.validationFraction / data.testFraction).'
        : `Give data.${s.name} some rows (or a larger data.${s.name}Fraction, or more training rows to carve it from).`;
      throw new EdgeDistillError('E_DATA_EMPTY', `the ${s.name} split has no examples`, hint);
    }
    if (s.features !== train.features) {
      throw new EdgeDistillError('E_SHAPE_MISMATCH', `${s.name} examples have ${s.features} values but train examples have ${train.features}`, 'All splits must have the same feature shape.');
    }
  }
  if (!test.labels) {
    throw new EdgeDistillError('E_CONFIG', 'the test split has no labels', 'Give data.test a labels file/column: accuracies are measured on it.');
  }
}
