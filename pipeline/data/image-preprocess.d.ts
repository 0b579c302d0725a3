// Types for image-preprocess.js, the dependency-free image preprocessing shared by training and image bundles.
// Hand-written because the implementation must stay plain JavaScript; keep it in step with the JSDoc there.

/** Bump when any output could change for some input. */
export declare const IMAGE_PREPROCESS_VERSION: 1;

/** The preprocessing's whole configuration; it is written to deploy.json as is. */
export interface ImagePreprocessSpec {
  kind: 'image';
  version: 1;
  height: number;
  width: number;
  /** 1: grayscale (ITU-R BT.601 luma, rounded as Pillow's convert('L') does); 3: RGB. */
  channels: 1 | 3;
  /** Per channel (or one value for all), subtracted from pixel / 255. */
  mean: number[];
  /** Per channel (or one value for all), dividing after the mean. */
  std: number[];
  /** Order of the output row: channels last (TF.js, the students) or first (PyTorch teachers). */
  layout: 'nhwc' | 'nchw';
  /** How training resized images to height x width (sharp's `fit`); the app resizes the same way. */
  resize: 'fill' | 'cover' | 'contain';
}

/** Throws an Error naming the bad field unless spec is a valid ImagePreprocessSpec. */
export declare function validateImageSpec(spec: unknown): asserts spec is ImagePreprocessSpec;

/**
 * One image's input row, Float32Array(height * width * channels), from height * width * stride pixel values 0..255
 * (stride 4: a canvas ImageData's RGBA, alpha ignored; 3: RGB; 1: gray).
 */
export declare function preprocessImage(pixels: ArrayLike<number>, spec: ImagePreprocessSpec, stride?: 1 | 3 | 4, out?: Float32Array): Float32Array;
