// The `teacher` section of the run config: the ONNX teacher (or its precomputed outputs), which of its inputs and
// outputs play which role, how it is batched, and `edge-distill teacher train`'s settings. pipeline/config.ts
// composes it.
import { z } from 'zod';
import { FeaturizerSchema } from '../data/schema.ts';

const path = z.string().min(1);

export const PrecomputedSchema = z.strictObject({
  /** jsonl / npy: outputs matched to data rows by id. shards: a folder of `edge-distill teacher run --shard` outputs. */
  format: z.enum(['jsonl', 'npy', 'shards']),
  /** shards: the folder the shards (or `teacher merge`) wrote; teacher.model must name the model they came from. */
  dir: path.optional(),
  path: path.optional(),
  idKey: z.string().optional(),
  logitsKey: z.string().optional(),
  embeddingKey: z.string().optional(),
  logits: path.optional(),
  embedding: path.optional(),
  ids: path.optional(),
});

export const TeacherSchema = z.strictObject({
  /** An ONNX model (e.g. exported from PyTorch); or give `precomputed` outputs instead. */
  model: path.optional(),
  /** Teacher outputs computed elsewhere, matched to the data rows by id (text sources carry ids). */
  precomputed: PrecomputedSchema.optional(),
  /**
   * Image data: the teacher's own preprocessing where it differs from the student's (data.image): each field left out
   * is the student's; the layout is NCHW (PyTorch) unless set to "nhwc".
   */
  image: z
    .strictObject({
      size: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
      channels: z.union([z.literal(1), z.literal(3)]).optional(),
      mean: z.array(z.number().refine(Number.isFinite, 'must be finite')).min(1).max(3).optional(),
      std: z.array(z.number().refine((x) => Number.isFinite(x) && x !== 0, 'must be finite and non-zero')).min(1).max(3).optional(),
      resize: z.enum(['fill', 'cover', 'contain']).optional(),
      layout: z.enum(['nchw', 'nhwc']).optional(),
    })
    .optional(),
  /** Text data: the teacher's own input featurizer when it differs from the student's (data.featurizer). */
  featurizer: FeaturizerSchema.optional(),
  /**
   * `edge-distill teacher train`: the teacher it trains on the labelled data and writes to teacher.model: an MLP, or
   * for images a CNN (a 'same' conv + ReLU + 2x2 max pool per `filters` entry, then the `hidden` dense layers). Its
   * last hidden layer is the embedding output.
   */
  train: z
    .strictObject({
      arch: z.enum(['mlp', 'cnn']).default('mlp'),
      hidden: z.array(z.number().int().positive()).min(1).default([256, 64]),
      /** cnn: filters of each conv layer. */
      filters: z.array(z.number().int().positive()).min(1).default([16, 32]),
      /** cnn: the convs' square kernel size. */
      kernelSize: z.number().int().min(1).max(7).default(3),
      steps: z.number().int().positive().default(3000),
      batchSize: z.number().int().positive().default(128),
      learningRate: z.number().positive().default(1e-3),
    })
    .prefault({}),
  /** Input name; detected when the model has exactly one input. */
  input: z.string().optional(),
  /** Output holding the penultimate-layer embedding [N, D]; detected from shapes when possible. */
  embedding: z.string().optional(),
  /** Output holding the class logits [N, C]; detected from shapes when possible. */
  logits: z.string().optional(),
  batchSize: z.number().int().positive().default(256),
  threads: z.number().int().positive().default(2),
});

/** The validated `teacher` section. */
export type TeacherConfig = z.output<typeof TeacherSchema>;
