// The example app's logic: everything it knows about a model comes from the bundle's deploy.json (which file to
// load, input name and shape, image size and channels, the affine preprocessing or the bundle's own image
// preprocessing (image-preprocess.js) for students trained from image files, class names, the probabilities
// output). URL parameters: onnx=<deploy.json URL>, tfjs=<deploy.json URL of a tfjs-layers or tfjs-graph bundle>,
// image=<image URL> (default: the bundled sample). Uses the globals `ort` and `tf` from the vendor scripts.
/* global ort, tf */

const VENDOR = new URL('vendor/', document.baseURI);
const $ = (id) => document.getElementById(id);

async function fetchOk(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res;
}

/** A bundle as the app uses it: the parsed deploy.json plus the absolute URLs and names derived from it. */
async function loadBundle(deployUrl, formats) {
  const deploy = await (await fetchOk(deployUrl)).json();
  if (deploy.schemaVersion !== 1) throw new Error(`${deployUrl}: schemaVersion ${deploy.schemaVersion}, this app reads version 1`);
  if (!formats.includes(deploy.artifact.format)) {
    throw new Error(`${deployUrl} is a ${deploy.artifact.format} bundle; this slot takes ${formats.join(' or ')}`);
  }
  const image = deploy.input.image;
  if (!image) throw new Error(`${deployUrl}: input.image is null (a feature-vector model); this app only feeds images`);
  if (image.height * image.width * image.channels !== deploy.input.shape[1]) {
    throw new Error(`${deployUrl}: input.image ${image.height}x${image.width}x${image.channels} does not fill input.shape [batch, ${deploy.input.shape[1]}]`);
  }
  const probs = deploy.outputs.find((o) => o.kind === 'class-probabilities');
  if (!probs) throw new Error(`${deployUrl}: no output of kind class-probabilities`);
  // artifact.model is relative to deploy.json, like a relative link in a page.
  return { deployUrl, deploy, modelUrl: new URL(deploy.artifact.model, deployUrl).href, probsName: probs.name };
}

/** Decode the image once, without colour management, so a grayscale PNG's stored values reach the canvas as-is. */
async function loadImage(url) {
  const blob = await (await fetchOk(url)).blob();
  return createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
}

/**
 * Raw pixel values (0..255) in the model's layout: resized to input.image, row-major, channels last. One channel is
 * the Rec. 601 luminance, which for a grayscale image is exactly its value (R = G = B and the weights sum to 1).
 */
function rawPixels(bitmap, { height, width, channels }, canvas) {
  if (![1, 3, 4].includes(channels)) throw new Error(`input.image.channels ${channels}: this app feeds 1 (gray), 3 (RGB) or 4 (RGBA)`);
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingQuality = 'high';
  ctx.clearRect(0, 0, width, height);
  ctx.drawImage(bitmap, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const out = new Uint8Array(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    const [r, g, b, a] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2], rgba[4 * p + 3]];
    if (channels === 1) out[p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    else out.set(channels === 3 ? [r, g, b] : [r, g, b, a], p * channels);
  }
  return out;
}

/** deploy.json's preprocessing, `x * scale + shift` on every raw value. */
function toFeatures(raw, { scale, shift }) {
  return Float32Array.from(raw, (x) => x * scale + shift);
}

/**
 * The image drawn at width x height as training resized it (deploy.json imagePreprocess.spec.resize: stretched,
 * centre-cropped to cover, or letterboxed in black), as RGBA bytes.
 */
function drawnRgba(bitmap, { height, width, resize }, canvas) {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingQuality = 'high';
  ctx.fillStyle = 'black';
  ctx.fillRect(0, 0, width, height);
  const [bw, bh] = [bitmap.width, bitmap.height];
  if (resize === 'cover') {
    const s = Math.max(width / bw, height / bh);
    const [sw, sh] = [width / s, height / s];
    ctx.drawImage(bitmap, (bw - sw) / 2, (bh - sh) / 2, sw, sh, 0, 0, width, height);
  } else if (resize === 'contain') {
    const s = Math.min(width / bw, height / bh);
    const [dw, dh] = [bw * s, bh * s];
    ctx.drawImage(bitmap, 0, 0, bw, bh, (width - dw) / 2, (height - dh) / 2, dw, dh);
  } else ctx.drawImage(bitmap, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height).data;
}

/**
 * The model's input row and the raw values it came from: with deploy.json's imagePreprocess, the bundle's own
 * image-preprocess.js (the function training used) on the RGBA pixels; otherwise the pixels and the affine formula.
 */
async function inputRow(bundle, bitmap, canvas) {
  const { deploy } = bundle;
  const ip = deploy.imagePreprocess;
  if (ip) {
    const { preprocessImage } = await import(new URL(ip.file, bundle.deployUrl).href);
    const rgba = drawnRgba(bitmap, ip.spec, canvas);
    return { x: preprocessImage(rgba, ip.spec), raw: rgba };
  }
  const raw = rawPixels(bitmap, deploy.input.image, canvas);
  return { x: toFeatures(raw, deploy.preprocessing), raw };
}

/**
 * The two runtime slots. `init` runs once per page; `load` returns a model with `predict(features) -> probs` and
 * `dispose()`. Both use wasm with one thread: threads need SharedArrayBuffer, i.e. a cross-origin-isolated page
 * (COOP/COEP headers), which a plain static server does not give.
 */
const RUNTIMES = {
  onnx: {
    label: 'onnxruntime-web (wasm)',
    formats: ['onnx'],
    async init() {
      ort.env.wasm.wasmPaths = new URL('onnxruntime-web/', VENDOR).href;
      ort.env.wasm.numThreads = 1;
    },
    async load({ deploy, modelUrl, probsName }) {
      // Name the execution provider: never let onnxruntime choose one silently.
      const session = await ort.InferenceSession.create(modelUrl, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      return {
        async predict(x) {
          const feeds = { [deploy.input.name]: new ort.Tensor('float32', x, [1, x.length]) };
          const out = await session.run(feeds, [probsName]);
          return Float32Array.from(out[probsName].data);
        },
        dispose: () => session.release(),
      };
    },
  },
  tfjs: {
    label: 'TF.js (wasm backend)',
    formats: ['tfjs-layers', 'tfjs-graph'],
    async init() {
      tf.wasm.setWasmPaths(new URL('tfjs-backend-wasm/', VENDOR).href);
      // setBackend resolves false (it does not throw) when the backend cannot start.
      if (!(await tf.setBackend('wasm'))) throw new Error('the TF.js wasm backend failed to initialise (see the console)');
      await tf.ready();
    },
    async load({ deploy, modelUrl, probsName }) {
      const graph = deploy.artifact.format === 'tfjs-graph';
      const model = graph ? await tf.loadGraphModel(modelUrl) : await tf.loadLayersModel(modelUrl);
      // The signature maps the deploy names (input.name, outputs[].name) to graph nodes. execute() is synchronous and
      // cheapest; a graph with control flow makes it throw and ask for executeAsync(), used from then on.
      let dynamic = false;
      const runGraph = async (feed) => {
        if (!dynamic) {
          try {
            return model.execute(feed, probsName);
          } catch (err) {
            if (!/executeAsync/.test(err.message)) throw err;
            dynamic = true;
          }
        }
        return model.executeAsync(feed, probsName);
      };
      return {
        async predict(x) {
          const input = tf.tensor2d(x, [1, x.length]);
          try {
            let y;
            if (graph) {
              y = await runGraph({ [deploy.input.name]: input });
            } else {
              y = model.predict(input);
              // A multi-output layers model returns one tensor per output layer; keep the probabilities.
              if (Array.isArray(y)) {
                const keep = Math.max(0, model.outputNames.indexOf(probsName));
                y.forEach((t, i) => i !== keep && t.dispose());
                y = y[keep];
              }
            }
            const probs = Float32Array.from(await y.data());
            y.dispose();
            return probs;
          } finally {
            input.dispose();
          }
        },
        dispose: () => model.dispose(),
      };
    },
  },
};

/** Run one slot end to end; the result row is what #result reports for it. */
async function classify(slot, bundle, bitmap) {
  const runtime = RUNTIMES[slot];
  const { deploy } = bundle;
  const { x, raw } = await inputRow(bundle, bitmap, $('image'));
  await runtime.init();
  const t0 = performance.now();
  const model = await runtime.load(bundle);
  const t1 = performance.now();
  try {
    const probs = await model.predict(x);
    const t2 = performance.now();
    if (probs.length !== deploy.classes.count) throw new Error(`${bundle.probsName} has ${probs.length} values, deploy.json says ${deploy.classes.count} classes`);
    const index = probs.indexOf(Math.max(...probs));
    return {
      runtime: runtime.label,
      bundle: deploy.artifact.name,
      format: deploy.artifact.format,
      variant: deploy.artifact.variant,
      class: deploy.classes.names?.[index] ?? `class ${index}`,
      index,
      probability: probs[index],
      probs: Array.from(probs),
      loadMs: t1 - t0,
      runMs: t2 - t1,
      // The raw values fed (before preprocessing), so a test can check the browser decoded the image exactly.
      pixels: Array.from(raw),
      // The input row itself.
      input: Array.from(x),
    };
  } finally {
    model.dispose();
  }
}

function addRow(slot, r) {
  const cells = r.error
    ? [RUNTIMES[slot].label, '', `error: ${r.error}`, '', '']
    : [r.runtime, `${r.bundle} (${r.variant})`, r.class, r.probability.toFixed(4), r.runMs.toFixed(1)];
  const tr = document.createElement('tr');
  for (const text of cells) tr.appendChild(Object.assign(document.createElement('td'), { textContent: text }));
  $('rows').appendChild(tr);
}

function finish(result, errors) {
  const status = errors.length ? 'error' : 'done';
  if (errors.length) result.error = errors.join('\n');
  for (const el of [$('status'), $('result')]) el.dataset.status = status;
  $('status').textContent = errors.length ? errors.join('\n') : 'done';
  // Compact: the pixel arrays would make an indented dump thousands of lines long; the table is for reading.
  $('result').textContent = JSON.stringify(result);
}

async function main() {
  const params = new URLSearchParams(location.search);
  const slots = Object.keys(RUNTIMES).filter((slot) => params.get(slot));
  if (!slots.length) {
    $('usage').hidden = false;
    return finish({}, ['nothing to run: give onnx=<deploy.json URL> and/or tfjs=<deploy.json URL>']);
  }
  const imageUrl = new URL(params.get('image') ?? 'sample.png', location.href).href;
  const result = { image: imageUrl };
  const errors = [];
  let bitmap;
  try {
    bitmap = await loadImage(imageUrl);
  } catch (err) {
    return finish(result, [`image: ${err.message}`]);
  }
  // One after the other: each runtime's wasm heap is sizeable on a phone, and the timings stay uncontended.
  for (const slot of slots) {
    $('status').textContent = `running ${RUNTIMES[slot].label}…`;
    try {
      const bundle = await loadBundle(new URL(params.get(slot), location.href).href, RUNTIMES[slot].formats);
      result[slot] = await classify(slot, bundle, bitmap);
    } catch (err) {
      result[slot] = { error: String(err?.message ?? err) };
      errors.push(`${slot}: ${result[slot].error}`);
    }
    addRow(slot, result[slot]);
  }
  finish(result, errors);
}

main().catch((err) => finish({}, [`app: ${err?.stack ?? err}`]));
