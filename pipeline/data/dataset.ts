// Turns the config's data sources into the train / validation / test splits the pipeline uses: label mapping,
// preprocessing (x * scale + shift), seeded carving of missing splits, and the checks that make bad data fail early.
import type { Config, DataSource } from '../config.ts';
import { EdgeDistillError } from '../errors.ts';
import { permutation, rng } from '../math.ts';
import { loadSource, type DataSource as NumericSource, type RawSplit } from './sources.ts';
import { loadTextSource, TEXT_FORMATS, type TextSource } from './text-sources.ts';
import { featurizeMany } from '../text/featurizer.js';

export interface Split {
  name: 'train' | 'validation' | 'test';
  x: Float32Array; // [n, features], preprocessed
  n: number;
  features: number;
  featureShape: number[];
  /** Class index per example, or null when the split is unlabeled. */
  labels: Int32Array | null;
  /** Each example's id: the source's id column/key, the corpus file, or the row's position in its file. */
  ids: string[];
  /** Text sources: the raw texts (x is their featurization with data.featurizer). */
  texts: string[] | null;
}

export interface Datasets {
  train: Split;
  validation: Split;
  test: Split;
}

type DataConfig = Config['data'];

/**
 * Map raw labels to class indices in [0, classes); returns the kept row indices too (labelMap may drop rows).
 * Errors name the row in file order (0-based), so the user can find it.
 */
function mapLabels(raw: RawSplit, cfg: DataConfig, classes: number, where: string): { labels: Int32Array | null; keep: number[] | null } {
  if (!raw.labels) return { labels: null, keep: null };
  const out: number[] = [];
  const keep: number[] = [];
  raw.labels.forEach((v, i) => {
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
      c = cfg.labelMap[c!]!;
    }
    if (c === null) return;
    if (!Number.isInteger(c) || c < 0 || c >= classes) {
      throw new EdgeDistillError('E_LABEL_RANGE', `${where} row ${i} has label ${c}${cfg.labelMap ? ` (after data.labelMap)` : ''}, outside the teacher's ${classes} classes [0, ${classes - 1}]`, 'Fix the labels, or map them into range with data.labelMap.');
    }
    out.push(c);
    keep.push(i);
  });
  return { labels: Int32Array.from(out), keep: keep.length === raw.labels.length ? null : keep };
}

function pick(s: Split, rows: ArrayLike<number>, name: Split['name']): Split {
  const F = s.features;
  const x = new Float32Array(rows.length * F);
  for (let k = 0; k < rows.length; k++) x.set(s.x.subarray(rows[k]! * F, (rows[k]! + 1) * F), k * F);
  return {
    ...s, name, x, n: rows.length,
    labels: s.labels ? Int32Array.from(rows, (r) => s.labels![r]!) : null,
    ids: Array.from(rows, (r) => s.ids[r]!),
    texts: s.texts ? Array.from(rows, (r) => s.texts![r]!) : null,
  };
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

async function loadSplit(src: DataSource, cfg: DataConfig, classes: number, name: Split['name']): Promise<Split> {
  const text = isText(src) ? await loadText(src, cfg, name) : null;
  const raw = text ? text.raw : await loadSource(src as NumericSource, '/');
  const features = raw.rows ? raw.features.length / raw.rows : raw.featureShape.reduce((a, b) => a * b, 1);
  const { scale, shift } = cfg.preprocess;
  const x = raw.features;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! * scale + shift;
    if (!Number.isFinite(v)) {
      throw new EdgeDistillError('E_DATA_FORMAT', `${name} data row ${Math.floor(i / features)} has a non-finite value (${x[i]})`, 'Remove or impute NaN/infinite values before distilling.');
    }
    x[i] = v;
  }
  const { labels, keep } = mapLabels(raw, cfg, classes, `${name} data`);
  const ids = text ? text.ids : Array.from({ length: raw.rows }, (_, i) => String(i));
  const split: Split = { name, x, n: raw.rows, features, featureShape: raw.featureShape, labels: null, ids, texts: text?.texts ?? null };
  if (!keep) return { ...split, labels };
  return { ...pick(split, keep, name), labels };
}

function carve(s: Split, fraction: number, rand: () => number, name: Split['name']): [rest: Split, carved: Split] {
  const order = permutation(s.n, rand);
  const k = Math.round(s.n * fraction);
  const carved = Array.from(order.subarray(0, k)).sort((a, b) => a - b);
  const rest = Array.from(order.subarray(k)).sort((a, b) => a - b);
  return [pick(s, rest, s.name), pick(s, carved, name)];
}

/** Load, map, preprocess and split the data; `classes` is the teacher's class count. */
export async function loadDatasets(cfg: DataConfig, seed: number, classes: number): Promise<Datasets> {
  const rand = rng(seed ^ 0xda7a);
  let train = await loadSplit(cfg.train, cfg, classes, 'train');
  let test: Split;
  let validation: Split;
  if (cfg.test) test = await loadSplit(cfg.test, cfg, classes, 'test');
  else [train, test] = carve(train, cfg.testFraction, rand, 'test');
  if (cfg.validation) validation = await loadSplit(cfg.validation, cfg, classes, 'validation');
  else [train, validation] = carve(train, cfg.validationFraction, rand, 'validation');
  if (cfg.trainSize !== undefined && cfg.trainSize < train.n) {
    const order = permutation(train.n, rand);
    train = pick(train, Array.from(order.subarray(0, cfg.trainSize)).sort((a, b) => a - b), 'train');
  }
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
  return { train, validation, test };
}
