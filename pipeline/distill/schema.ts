// The run config's sections that decide how students are made: `student` (the architecture), `methods` (each
// trains one student) and `train` (the optimiser's schedule). pipeline/config.ts composes them.
import { z } from 'zod';

export const StudentSchema = z.discriminatedUnion('arch', [
  z.strictObject({ arch: z.literal('mlp'), hidden: z.array(z.number().int().positive()).min(1).default([8]) }),
  z.strictObject({
    arch: z.literal('cnn'),
    filters: z.array(z.number().int().positive()).min(1).default([8, 16]),
    kernelSize: z.number().int().min(1).max(7).default(3),
    dense: z.array(z.number().int().positive()).default([32]),
  }),
  /**
   * MobileNetV1-style: a 3x3 stem conv (stride 2), then depthwise-separable blocks (depthwise 3x3 + batch norm +
   * ReLU6, pointwise 1x1 + batch norm + ReLU6) with a stride each, global average pooling and a dense head. Filter
   * counts are scaled by the width multiplier. Trains on the onnxruntime engine.
   */
  z.strictObject({
    arch: z.literal('dscnn'),
    stem: z.number().int().positive().default(16),
    /** The stem conv's stride: 2 as in MobileNet for large images; 1 keeps small images (28 x 28) at full size. */
    stemStride: z.number().int().min(1).max(2).default(2),
    blocks: z
      .array(z.strictObject({ filters: z.number().int().positive(), stride: z.number().int().min(1).max(2).default(1) }))
      .min(1)
      .default([
        { filters: 32, stride: 1 },
        { filters: 64, stride: 2 },
        { filters: 64, stride: 1 },
        { filters: 128, stride: 2 },
      ]),
    widthMultiplier: z.number().positive().max(4).default(1),
    /**
     * How the last block's map becomes the head's input: 'average' (global average pooling, MobileNet's: one value per
     * channel) or 'flatten' (every position of the map, NHWC order, as the cnn student does: keeps where a feature is).
     */
    pooling: z.enum(['average', 'flatten']).default('average'),
    dense: z.array(z.number().int().positive()).default([]),
  }),
  /**
   * A temporal conv net for [T, C] inputs (sensor windows, audio features; [T] is one channel): blocks of 1-D conv
   * ('same' padding, a stride) + batch norm + ReLU, each optionally followed by max pooling over `pool` steps, then
   * global average pooling over time and a dense head. Trains on the onnxruntime engine.
   */
  z.strictObject({
    arch: z.literal('conv1d'),
    blocks: z
      .array(z.strictObject({
        filters: z.number().int().positive(),
        kernelSize: z.number().int().min(1).max(31).default(5),
        stride: z.number().int().min(1).max(8).default(1),
        pool: z.number().int().min(1).max(8).default(1),
      }))
      .min(1)
      .default([
        { filters: 16, kernelSize: 5, stride: 1, pool: 2 },
        { filters: 32, kernelSize: 5, stride: 1, pool: 2 },
        { filters: 64, kernelSize: 3, stride: 1, pool: 1 },
      ]),
    dense: z.array(z.number().int().positive()).default([]),
  }),
]);

// LELP's defaults (k-means pseudo-subclasses, S=10, beta=1, tau=1) won benchmarks/lelp-sweep.ts --grid options on the
// validation split of MNIST even / odd, the task with subclass structure; see docs/lelp.md.
const LelpSchema = z.strictObject({
  name: z.literal('lelp'),
  /** S: pseudo-subclasses per class. */
  subclasses: z.number().int().min(1).max(64).default(10),
  /** Subclass softmax temperature on the standardised projections. */
  beta: z.number().positive().default(1),
  /** KD temperature. */
  tau: z.number().positive().default(1),
  /** Weight of the label cross-entropy added to the distillation loss (the paper uses 0). */
  alpha: z.number().min(0).max(1).default(0),
  nullSpace: z.boolean().default(true),
  rotate: z.boolean().default(true),
  projection: z.enum(['pca', 'random']).default('pca'),
  /**
   * How pseudo-subclasses are formed: S k-means clusters in the class's top principal subspace ("kmeans", the
   * default), one per (rotated) principal direction (the paper's "directions"), or two per direction split by sign
   * ("signed", S even).
   */
  assign: z.enum(['directions', 'signed', 'kmeans']).default('kmeans'),
  /** Divide each principal coordinate by its standard deviation before forming the subclasses. */
  whiten: z.boolean().default(false),
});
const KdSchema = z.strictObject({
  name: z.literal('kd'),
  tau: z.number().positive().default(2),
  alpha: z.number().min(0).max(1).default(0.5),
});
const FitnetSchema = z.strictObject({
  name: z.literal('fitnet'),
  /** Weight of the embedding loss: gamma * mean squared error between A h_student + b and the standardised teacher embedding. */
  gamma: z.number().min(0).default(1),
  tau: z.number().positive().default(2),
  alpha: z.number().min(0).max(1).default(0.5),
});
const LabelSchema = z.strictObject({ name: z.literal('label') });
/**
 * The ceiling of pseudo-subclass methods, for data with fine labels (data.labelMap from fine to coarse classes): LELP's
 * loss with the true subclasses in place of mined ones, q_{c,s}(x) = p_c(x) * [s is x's fine label] for x's own class
 * (p_c spread evenly over the other classes' subclasses). It answers "is there subclass structure to transfer here?".
 */
const OracleSchema = z.strictObject({
  name: z.literal('oracle'),
  /** KD temperature of the teacher's class probabilities p_c (LELP's default). */
  tau: z.number().positive().default(1),
  /** Weight of the label cross-entropy on the class logits (LELP's default). */
  alpha: z.number().min(0).max(1).default(0),
});

/** A method that trains one student. */
export const ConcreteMethodSchema = z.discriminatedUnion('name', [LelpSchema, KdSchema, FitnetSchema, LabelSchema, OracleSchema]);

export const MethodSchema = z.discriminatedUnion('name', [
  LelpSchema,
  KdSchema,
  FitnetSchema,
  LabelSchema,
  OracleSchema,
  z.strictObject({
    name: z.literal('auto'),
    /** Candidates trained and compared on the validation split; the best is kept. Default: pipeline/distill/auto.ts. */
    candidates: z.array(ConcreteMethodSchema).min(1).optional(),
  }),
]);

// The recipe's defaults (cosine decay after a 5 % warm-up, the best validation check kept) won
// benchmarks/recipe-sweep.ts on the validation split; see docs/training.md.
export const TrainSchema = z.strictObject({
  steps: z.number().int().positive().default(2500),
  /** Passes over the transfer set instead of `steps` (steps = epochs * floor(n / batchSize)); give one or the other. */
  epochs: z.number().int().positive().optional(),
  batchSize: z.number().int().positive().default(128),
  /** Adam's peak learning rate. */
  learningRate: z.number().positive().default(1e-3),
  /** After warm-up: keep the rate (constant) or decay it to 0 at the last step (cosine, linear). */
  schedule: z.enum(['constant', 'cosine', 'linear']).default('cosine'),
  /** Fraction of the steps over which the rate rises linearly from 0 to learningRate. */
  warmup: z.number().min(0).max(0.5).default(0.05),
  /** Decoupled weight decay (AdamW) on dense and conv kernels: w <- w * (1 - lr * weightDecay) after each step. */
  weightDecay: z.number().min(0).max(1).default(0),
  /**
   * Keep the weights with the best validation accuracy, checked every `evalEvery` steps (default: every epoch) and
   * at the end, instead of the last ones. Needs a labelled validation split; off while pruning.
   */
  keepBest: z.boolean().default(true),
  evalEvery: z.number().int().positive().optional(),
  /** With keepBest: stop once this many checks in a row bring no improvement. */
  patience: z.number().int().positive().optional(),
  /**
   * What runs the training steps: `onnxruntime` (the default; pipeline/engine: each step one ONNX graph on
   * onnxruntime-node, 11-35x faster per step than TF.js wasm, see benchmarks/results/train-speed.md) or `tfjs`
   * (TF.js autodiff on the configured backend, the cross-check).
   */
  engine: z.enum(['tfjs', 'onnxruntime']).default('onnxruntime'),
  /** onnxruntime engine: intra-op threads (default: every core). A fixed count gives byte-identical results. */
  threads: z.number().int().positive().optional(),
});

export type StudentConfig = z.output<typeof StudentSchema>;
export type TrainConfig = z.output<typeof TrainSchema>;
/** A method that trains one student (every method but `auto`). */
export type MethodConfig = z.output<typeof ConcreteMethodSchema>;
export type MethodName = MethodConfig['name'];
export type AutoMethodConfig = Extract<z.output<typeof MethodSchema>, { name: 'auto' }>;
