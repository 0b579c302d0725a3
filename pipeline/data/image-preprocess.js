// Image preprocessing: decoded pixels at the model's size -> the model's input row.
// This one file is used for training AND copied unchanged into image deployment bundles, so an app that feeds it
// what a canvas gives (ImageData: RGBA, row-major, 0..255) gets bit-for-bit the training input. Hence: plain
// JavaScript, no imports, only IEEE-exact arithmetic in float64 rounded to float32 once. Types: image-preprocess.d.ts.
//
// Resizing is not done here: training resizes with sharp (libvips) as the spec's `resize` says, and an app draws
// the image at the model's size first (e.g. canvas drawImage to spec.width x spec.height).

/** Bump when any output could change for some input; deploy.json records the spec with this version. */
export const IMAGE_PREPROCESS_VERSION = 1;

/**
 * @typedef {object} ImagePreprocessSpec
 * @property {'image'} kind
 * @property {1} version IMAGE_PREPROCESS_VERSION the spec was made for.
 * @property {number} height Rows of the model's input image.
 * @property {number} width Columns of the model's input image.
 * @property {1 | 3} channels 1: grayscale (ITU-R BT.601 luma, rounded as Pillow's convert('L') does); 3: RGB.
 * @property {number[]} mean Per channel (or one value for all), subtracted from pixel / 255.
 * @property {number[]} std Per channel (or one value for all), dividing after the mean.
 * @property {'nhwc' | 'nchw'} layout Order of the output row: channels last (TF.js, the students) or first (PyTorch).
 * @property {'fill' | 'cover' | 'contain'} resize How training resized images to height x width (sharp's `fit`).
 */

/**
 * Throws an Error naming the bad field unless spec is a valid ImagePreprocessSpec.
 * @param {unknown} spec
 */
export function validateImageSpec(spec) {
  const s = /** @type {Record<string, unknown>} */ (spec);
  if (typeof s !== 'object' || s === null) throw new Error('image preprocessing spec must be an object');
  if (s.kind !== 'image') throw new Error(`image preprocessing spec: kind must be "image", got ${JSON.stringify(s.kind)}`);
  if (s.version !== IMAGE_PREPROCESS_VERSION) throw new Error(`image preprocessing spec: version ${JSON.stringify(s.version)} is not ${IMAGE_PREPROCESS_VERSION}`);
  for (const k of ['height', 'width']) {
    const v = s[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`image preprocessing spec: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (s.channels !== 1 && s.channels !== 3) throw new Error(`image preprocessing spec: channels must be 1 or 3, got ${JSON.stringify(s.channels)}`);
  for (const k of ['mean', 'std']) {
    const v = s[k];
    if (!Array.isArray(v) || (v.length !== 1 && v.length !== s.channels) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new Error(`image preprocessing spec: ${k} must be 1 or ${s.channels} finite numbers, got ${JSON.stringify(v)}`);
    }
  }
  if (!(/** @type {number[]} */ (s.std)).every((x) => x !== 0)) throw new Error(`image preprocessing spec: std must not contain 0, got ${JSON.stringify(s.std)}`);
  if (s.layout !== 'nhwc' && s.layout !== 'nchw') throw new Error(`image preprocessing spec: layout must be "nhwc" or "nchw", got ${JSON.stringify(s.layout)}`);
  if (s.resize !== 'fill' && s.resize !== 'cover' && s.resize !== 'contain') throw new Error(`image preprocessing spec: resize must be "fill", "cover" or "contain", got ${JSON.stringify(s.resize)}`);
}

/**
 * One image's input row: Float32Array(height * width * channels).
 * @param {ArrayLike<number>} pixels height * width * stride values 0..255, row-major (a canvas ImageData's data).
 * @param {ImagePreprocessSpec} spec
 * @param {1 | 3 | 4} [stride] Values per pixel in `pixels`: 4 RGBA (ImageData; alpha is ignored), 3 RGB, 1 gray.
 * @param {Float32Array} [out] Where to write the row (allocated when not given).
 * @returns {Float32Array}
 */
export function preprocessImage(pixels, spec, stride = 4, out) {
  const { height, width, channels, mean, std, layout } = spec;
  const hw = height * width;
  if (stride !== 1 && stride !== 3 && stride !== 4) throw new Error(`preprocessImage: stride must be 1, 3 or 4, got ${stride}`);
  if (pixels.length !== hw * stride) {
    throw new Error(`preprocessImage: expected ${hw * stride} values (${width} x ${height} pixels x ${stride}), got ${pixels.length}; draw the image at the model's size first`);
  }
  const row = out ?? new Float32Array(hw * channels);
  if (row.length !== hw * channels) throw new Error(`preprocessImage: out has ${row.length} values, the row needs ${hw * channels}`);
  const m = (c) => (mean.length === 1 ? mean[0] : mean[c]);
  const d = (c) => (std.length === 1 ? std[0] : std[c]);
  for (let p = 0; p < hw; p++) {
    const at = p * stride;
    for (let c = 0; c < channels; c++) {
      let v;
      if (stride === 1) v = pixels[at];
      else if (channels === 3) v = pixels[at + c];
      // Pillow's convert('L'): (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16, the BT.601 luma rounded to 0..255.
      else v = (pixels[at] * 19595 + pixels[at + 1] * 38470 + pixels[at + 2] * 7471 + 0x8000) >> 16;
      row[layout === 'nhwc' ? p * channels + c : c * hw + p] = (v / 255 - m(c)) / d(c);
    }
  }
  return row;
}
