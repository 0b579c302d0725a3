// The deployment descriptor: deploy.json beside every artifact, and the same JSON in the model's own metadata
// (ONNX metadata_props / TF.js userDefinedMetadata under `edge-distill.deploy`). It holds everything an app needs
// to feed the model and read its answer. The zod schema here is the source of truth; schemas/deploy.schema.json is
// generated from it (`npm run schemas`) and a test keeps the two in step.
import { z } from 'zod';
import type { StudentSpec } from '../pipeline/student/spec.ts';
import type { ImagePreprocessSpec } from '../pipeline/data/image-preprocess.js';
import { TOOL_NAME, TOOL_VERSION } from '../pipeline/util/versions.ts';

export const DEPLOY_FILE = 'deploy.json';
export const DEPLOY_METADATA_KEY = 'edge-distill.deploy';
export const ARTIFACT_FORMATS = ['onnx', 'tfjs-layers', 'tfjs-graph', 'tflite'] as const;
/**
 * What `export.formats` defaults to: every format whose checks run in Node. TFLite is checked on LiteRT.js in headless
 * Chromium, so it is asked for by name (`--formats onnx,tflite`) where Chromium is installed.
 */
export const DEFAULT_FORMATS = ['onnx', 'tfjs-layers', 'tfjs-graph'] as const;
/** The fixed batch of exported .tflite models (LiteRT.js and TFLite Micro want static shapes; devices run one example). */
export const TFLITE_BATCH = 1;
export type ArtifactFormatName = (typeof ARTIFACT_FORMATS)[number];

const dim = z.union([z.number().int().positive(), z.literal('batch')]);

export const DeploySchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    artifact: z.strictObject({
      name: z.string().describe('Artifact name in report.json, e.g. "lelp.onnx".'),
      format: z.enum(ARTIFACT_FORMATS),
      variant: z.string().describe('"fp32", or the compression applied (e.g. "int8-dynamic", "uint8-weights", "pruned-50").'),
      model: z.string().describe('The file a runtime loads, relative to deploy.json: model.onnx, model.json or model.tflite.'),
      files: z.array(z.string()).min(1).describe('Every file the app must ship, relative to deploy.json.'),
      runtimes: z.array(z.string()).min(1).describe('Runtimes this artifact was verified on (parity and accuracy).'),
      loadWith: z.string().describe('The stock API that loads it.'),
    }),
    input: z.strictObject({
      name: z.string(),
      dtype: z.literal('float32'),
      shape: z.tuple([dim, z.number().int().positive()]).describe('[batch, features]: one flat row per example; a TFLite model has a fixed batch (a number).'),
      layout: z.string().describe('How one raw example maps to its row.'),
      rawShape: z.array(z.number().int().positive()).min(1).describe('Shape of one raw example before flattening, e.g. [28, 28].'),
      image: z
        .strictObject({ height: z.number().int().positive(), width: z.number().int().positive(), channels: z.number().int().positive() })
        .nullable()
        .describe('Set when the raw example is an image: pixels row-major, channels last.'),
    }),
    featurizer: z
      .strictObject({
        file: z.string().describe('The dependency-free JavaScript featurizer shipped in the bundle (ES module).'),
        call: z.string().describe('How to call it: featurize(text, spec) returns the Float32Array row to feed.'),
        spec: z.record(z.string(), z.unknown()).describe('The featurizer spec (pass it as is); pipeline/text/featurizer.js documents every field.'),
      })
      .nullable()
      .describe('Text models: the exact featurizer the student was trained with; null for numeric inputs.'),
    imagePreprocess: z
      .strictObject({
        file: z.string().describe('The dependency-free JavaScript preprocessing shipped in the bundle (ES module).'),
        call: z.string().describe('How to call it: preprocessImage(pixels, spec) returns the Float32Array row to feed.'),
        resize: z.string().describe('What the app does before calling it: draw the image at the model\'s size.'),
        spec: z.record(z.string(), z.unknown()).describe('The preprocessing spec (pass it as is); image-preprocess.js documents every field.'),
      })
      .nullable()
      .describe('Image models trained from image files: the exact preprocessing of the training input; null otherwise.'),
    preprocessing: z.strictObject({
      kind: z.literal('affine'),
      formula: z.literal('x * scale + shift'),
      scale: z.number(),
      shift: z.number(),
      appliesTo: z.string(),
    }),
    classes: z.strictObject({
      count: z.number().int().min(2),
      names: z.array(z.string()).nullable().describe('Class names by index, or null when the config gave none.'),
    }),
    outputs: z
      .array(
        z.strictObject({
          name: z.string(),
          kind: z.enum(['class-probabilities', 'subclass-logits']),
          shape: z.array(dim),
          description: z.string(),
        }),
      )
      .min(1),
    provenance: z.strictObject({
      tool: z.string(),
      version: z.string(),
      method: z.string().nullable(),
      configSha256: z.string().nullable(),
      teacherSha256: z.string().nullable(),
    }),
  })
  .describe('edge-distill deployment descriptor: how to feed an exported student and read its outputs.');

export type Deploy = z.output<typeof DeploySchema>;

/** The JSON Schema (draft 2020-12) of deploy.json, as checked in at schemas/deploy.schema.json. */
export function deployJsonSchema(): object {
  return { $id: 'https://edge-distill.dev/schemas/deploy.schema.json', ...z.toJSONSchema(DeploySchema) };
}

/** What the run knows about the raw inputs, beyond the student itself. */
export interface DeployContext {
  /** Shape of one raw example as the data source gave it (IDX images: [28, 28]). */
  rawShape: number[];
  preprocess: { scale: number; shift: number };
  classNames: string[] | null;
  teacherSha256: string | null;
  /** Text data: the student's featurizer spec (data.featurizer); null for numeric data. */
  featurizer: Record<string, unknown> | null;
  /** Image files: the student's preprocessing spec (image-preprocess.js); null otherwise. */
  image: ImagePreprocessSpec | null;
}

/** The featurizer's file name in a text bundle. */
export const FEATURIZER_FILE = 'featurizer.js';
/** The image preprocessing's file name in an image bundle. */
export const IMAGE_PREPROCESS_FILE = 'image-preprocess.js';

const LOAD_WITH: Record<ArtifactFormatName, string> = {
  onnx: 'onnxruntime: InferenceSession.create(modelBytes)',
  'tfjs-layers': "@tensorflow/tfjs: tf.loadLayersModel(url of model.json)",
  'tfjs-graph': "@tensorflow/tfjs-converter: tf.loadGraphModel(url of model.json)",
  tflite: "LiteRT (Android/iOS Interpreter or CompiledModel, @litertjs/core's loadAndCompile(url of model.tflite), TFLite Micro's GetModel(model_data)); input and outputs have the fixed batch of input.shape",
};

/** An image when the raw example is [H, W] or [H, W, C] with a small channel count; otherwise a feature vector. */
function imageOf(spec: StudentSpec, rawShape: number[]): Deploy['input']['image'] {
  if (spec.image) return { ...spec.image };
  if (rawShape.length === 2) return { height: rawShape[0]!, width: rawShape[1]!, channels: 1 };
  if (rawShape.length === 3 && rawShape[2]! <= 4) return { height: rawShape[0]!, width: rawShape[1]!, channels: rawShape[2]! };
  return null;
}

export function deployDescriptor(
  spec: StudentSpec,
  ctx: DeployContext,
  artifact: { name: string; format: ArtifactFormatName; variant: string; model: string; files: string[]; runtimes: string[] },
): Deploy {
  const C = spec.classes;
  const S = spec.subclasses;
  // TFLite models have static shapes: the batch they were exported with (exporters/tflite.ts).
  const batch = artifact.format === 'tflite' ? TFLITE_BATCH : 'batch';
  const image = ctx.featurizer ? null : imageOf(spec, ctx.rawShape);
  const outputs: Deploy['outputs'] = [
    { name: spec.outputNames.probs, kind: 'class-probabilities', shape: [batch, C], description: `P(class) for the ${C} classes, in classes.names order; each row sums to 1.` },
  ];
  if (S > 1) {
    outputs.push({
      name: spec.outputNames.subclassLogits,
      kind: 'subclass-logits',
      shape: [batch, C * S],
      description: `LELP pseudo-subclass logits, class-major: logit c*${S}+s belongs to class c. Not needed for classification.`,
    });
  }
  return DeploySchema.parse({
    schemaVersion: 1,
    artifact: { ...artifact, loadWith: LOAD_WITH[artifact.format] },
    input: {
      name: spec.inputName,
      dtype: 'float32',
      shape: [batch, spec.features],
      layout: ctx.featurizer
        ? `each row is featurize(text, featurizer.spec) from ${FEATURIZER_FILE}: hashed n-gram features of one text`
        : ctx.image ? `each row is preprocessImage(pixels, imagePreprocess.spec) from ${IMAGE_PREPROCESS_FILE}: one image at ${ctx.image.width} x ${ctx.image.height}, row-major, channels last`
          : image ? 'each row is one image flattened row-major (height, width, channels), channels last' : 'each row is one example\'s features in the data source\'s column order',
      rawShape: ctx.rawShape,
      image,
    },
    featurizer: ctx.featurizer ? { file: FEATURIZER_FILE, call: `import { featurize } from '../pipeline/${FEATURIZER_FILE}'; featurize(text, spec)`, spec: ctx.featurizer } : null,
    imagePreprocess: ctx.image
      ? {
        file: IMAGE_PREPROCESS_FILE,
        call: `import { preprocessImage } from './${IMAGE_PREPROCESS_FILE}'; preprocessImage(imageData.data, spec)`,
        resize: `draw the image at ${ctx.image.width} x ${ctx.image.height} first (e.g. canvas drawImage(img, 0, 0, ${ctx.image.width}, ${ctx.image.height}), then getImageData); training resized with fit "${ctx.image.resize}"${ctx.image.resize === 'fill' ? ' (stretched to that size)' : ctx.image.resize === 'cover' ? ' (scaled to cover it, centre-cropped)' : ' (scaled to fit inside it, letterboxed with black)'}`,
        spec: { ...ctx.image },
      }
      : null,
    preprocessing: {
      kind: 'affine',
      formula: 'x * scale + shift',
      scale: ctx.preprocess.scale,
      shift: ctx.preprocess.shift,
      appliesTo: ctx.featurizer ? 'every featurizer output value before it is fed' : ctx.image ? `every value preprocessImage returns (identity: ${IMAGE_PREPROCESS_FILE} already normalizes)` : image ? 'every raw pixel value (e.g. 0..255) before it is fed' : 'every raw feature value before it is fed',
    },
    classes: { count: C, names: ctx.classNames },
    outputs,
    provenance: {
      tool: TOOL_NAME,
      version: TOOL_VERSION,
      method: spec.metadata['edge-distill.method'] ?? null,
      configSha256: spec.metadata['edge-distill.config_sha256'] ?? null,
      teacherSha256: ctx.teacherSha256,
    },
  });
}

/** The spec whose exported model carries `deploy` in its metadata (ONNX metadata_props, TF.js userDefinedMetadata). */
export function withDeployMetadata(spec: StudentSpec, deploy: Deploy): StudentSpec {
  return { ...spec, metadata: { ...spec.metadata, [DEPLOY_METADATA_KEY]: JSON.stringify(deploy) } };
}
