// The contract between training and the exporters: a trained student as plain arrays, independent of TF.js.
// Every exporter (ONNX, TF.js layers, later TF.js graph) consumes a StudentSpec and nothing else.

/** One layer of a student, in execution order. Weights are row-major Float32Arrays. */
export type LayerSpec =
  | {
      kind: 'dense';
      /** [inputs, units], row-major: kernel[i * units + j] (TF.js / Keras layout). */
      kernel: Float32Array;
      inputs: number;
      units: number;
      bias: Float32Array;
      activation: 'relu' | 'linear';
    }
  | {
      kind: 'conv2d';
      /** [kh, kw, inChannels, filters], row-major (TF.js HWIO layout). */
      kernel: Float32Array;
      kernelSize: number;
      inChannels: number;
      filters: number;
      bias: Float32Array;
      /** 'same' padding with stride 1, as the student CNN uses. */
      padding: 'same' | 'valid';
      activation: 'relu' | 'linear';
    }
  | { kind: 'maxpool2d'; poolSize: number }
  /** Flattens an NHWC feature map in H, W, C order (TF.js semantics). */
  | { kind: 'flatten' };

export interface StudentSpec {
  /** Name of the graph input in every exported format. */
  inputName: string;
  /** Per-example input features; the exported model takes [batch, features] float32. */
  features: number;
  /**
   * When set, the flat input is reshaped to this NHWC image before the first layer (CNN students).
   * features === height * width * channels.
   */
  image?: { height: number; width: number; channels: number };
  layers: LayerSpec[];
  /** Number of classes C. */
  classes: number;
  /**
   * Subclasses per class S (1 for every method but LELP). The last layer emits C*S logits, class-major
   * (logit c*S + s belongs to class c). Class probabilities are the sum of the C*S-way softmax over each
   * class's block, which equals softmax over classes of logsumexp of each class's subclass logits.
   */
  subclasses: number;
  /** Output names: class probabilities [batch, C]; subclass logits [batch, C*S] only when subclasses > 1. */
  outputNames: { probs: string; subclassLogits: string };
  /** Free-form provenance written into the artifacts' metadata (method, tool version, config hash). */
  metadata: Record<string, string>;
}
