// The measurement inside Chromium: load one runtime's vendor scripts, load the model, then time it as a web app
// would run it. The harness calls `edgeDistillBench(spec)` once per fresh page (see PageSpec in harness.ts) and
// gets { ok: true, initMs, firstRunMs, times, threads, wasmBytes, userAgent, slowdown } or { ok: false, reason }.
/* global ort, tf */

/** Classic scripts in order: each UMD bundle extends the globals the previous ones defined. */
async function loadScripts(urls) {
  for (const src of urls) {
    await new Promise((ok, fail) => {
      const script = Object.assign(document.createElement('script'), { src, async: false });
      script.onload = ok;
      script.onerror = () => fail(new Error(`could not load ${src}`));
      document.head.append(script);
    });
  }
}

/** setBackend resolves false (it does not throw) when a backend cannot start; say why where we can tell. */
async function useTfBackend(name) {
  if (await tf.setBackend(name)) return tf.ready();
  if (name === 'webgl' && !document.createElement('canvas').getContext('webgl2') && !document.createElement('canvas').getContext('webgl')) {
    throw new Error('WebGL is unavailable in this Chromium (no webgl2/webgl context; SwiftShader disabled?)');
  }
  throw new Error(`the TF.js ${name} backend failed to initialise`);
}

/** Layers and graph models as one `forward(input) -> first output tensor`. */
async function loadTfModel(spec) {
  if (spec.format === 'tfjs-layers') {
    const model = await tf.loadLayersModel(spec.modelUrl);
    return (x) => {
      const y = model.predict(x);
      if (!Array.isArray(y)) return y;
      y.slice(1).forEach((t) => t.dispose());
      return y[0];
    };
  }
  const model = await tf.loadGraphModel(spec.modelUrl);
  // Feed by the job's input name when the graph has it; a single-input graph takes its only input either way.
  const inputs = model.inputNodes;
  const inputName = inputs.includes(spec.inputName) ? spec.inputName : inputs.length === 1 ? inputs[0] : null;
  if (!inputName) throw new Error(`the graph model has no input ${JSON.stringify(spec.inputName)} (inputs: ${inputs.join(', ')})`);
  const output = model.outputNodes[0];
  // execute() is synchronous and cheapest; a graph with control flow makes it throw and ask for executeAsync().
  let dynamic = false;
  return async (x) => {
    if (!dynamic) {
      try {
        return model.execute({ [inputName]: x }, output);
      } catch (err) {
        if (!/executeAsync/.test(err.message)) throw err;
        dynamic = true;
      }
    }
    return model.executeAsync({ [inputName]: x }, output);
  };
}

/** A TF.js runtime: the backend's start-up, then `run` creates the tensor, runs, and downloads the first output. */
function tfjsRuntime(startBackend) {
  return async (spec) => {
    const threads = await startBackend(spec);
    const forward = await loadTfModel(spec);
    return {
      threads,
      async run(x, dims) {
        const input = tf.tensor(x, dims);
        let y;
        try {
          y = await forward(input);
          return await y.data();
        } finally {
          input.dispose();
          y?.dispose();
        }
      },
    };
  };
}

/** Per runtime: `load(spec) -> { threads actually used, run(x, dims) -> first output's data }`. */
const RUNTIMES = {
  'onnxruntime-web': async (spec) => {
    ort.env.wasm.wasmPaths = spec.wasmPath;
    ort.env.wasm.numThreads = spec.threads;
    // Name the execution provider: never let onnxruntime pick one silently. ort initialises wasm on the first session.
    const session = await ort.InferenceSession.create(spec.modelUrl, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const output = session.outputNames[0];
    return {
      // ort lowers numThreads to 1 when the page cannot run threads (no cross-origin isolation).
      threads: ort.env.wasm.numThreads,
      async run(x, dims) {
        const out = await session.run({ [spec.inputName]: new ort.Tensor('float32', x, dims) }, [output]);
        return out[output].data;
      },
    };
  },
  'tfjs-wasm': tfjsRuntime(async (spec) => {
    tf.wasm.setWasmPaths(spec.wasmPath);
    // Only the threaded binary (picked in a cross-origin-isolated page) can honour it, and tfjs 4.22's reported
    // 1 thread on our 2-core machines whatever was asked: we report what the backend says, not what we asked for.
    tf.wasm.setThreadsCount(spec.threads);
    await useTfBackend('wasm');
    return tf.wasm.getThreadsCount();
  }),
  'tfjs-webgl': tfjsRuntime(async () => {
    await useTfBackend('webgl');
    return 1;
  }),
  // LiteRT.js on its CPU path (XNNPACK in wasm; this Chromium has no WebGPU). Its single-threaded builds only: the
  // threaded one's thread count cannot be read back, and emulated devices run one thread anyway.
  'litert-wasm': async (spec) => {
    const L = await import(spec.moduleUrl);
    await L.loadLiteRt(spec.wasmPath);
    const model = await L.loadAndCompile(spec.modelUrl, { accelerator: 'wasm' });
    const input = Array.from(model.getInputDetails()[0].shape);
    return {
      threads: 1,
      async run(x, dims) {
        // A .tflite has static shapes: it runs exactly the batch it was exported with.
        if (dims.join() !== input.join()) throw new Error(`the .tflite takes input [${input.join(', ')}], the job feeds [${dims.join(', ')}] (TFLite models have a fixed batch)`);
        const t = new L.Tensor(x, dims);
        try {
          const out = await model.run([t]);
          try {
            return out[0].toTypedArray().slice();
          } finally {
            for (const o of out) o.delete();
          }
        } finally {
          t.delete();
        }
      },
    };
  },
};

/** Batches cycle through the examples; each batch is a fresh array, built outside the timed region. */
function batches(examples, { n, exampleShape, batch }) {
  const size = exampleShape.reduce((a, b) => a * b, 1);
  let cursor = 0;
  return () => {
    const x = new Float32Array(batch * size);
    for (let j = 0; j < batch; j++) {
      const k = (cursor + j) % n;
      x.set(examples.subarray(k * size, (k + 1) * size), j * size);
    }
    cursor = (cursor + batch) % n;
    return x;
  };
}

/**
 * A fixed native sort, timed: the yardstick for whether CPU throttling is in effect (see throttle.ts: on a busy
 * machine Chromium can leave a page at full speed although the rate was set). It is a TypedArray sort without a
 * comparator, which V8 runs as precompiled C++: a JavaScript loop was tiered up by the JIT during the runs and then
 * ran ~10x faster than at calibration, cancelling the throttling it was meant to see.
 */
let sortInput = new Float64Array(0);
let sortWork = new Float64Array(0);
function timeSort(length) {
  if (sortInput.length !== length) {
    // Fixed pseudo-random values (the same on every page), so every timing sorts the same array.
    sortInput = Float64Array.from({ length }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1);
    sortWork = new Float64Array(length);
  }
  const t0 = performance.now();
  sortWork.set(sortInput);
  sortWork.sort();
  return performance.now() - t0;
}
const median3 = (f) => [f(), f(), f()].sort((a, b) => a - b)[1];

let yardstick = null;
/** Called by the harness before it sets the throttling rate: a sort of >= 3 ms at full speed (best of 5). */
globalThis.edgeDistillCalibrate = () => {
  let length = 1 << 12;
  while (timeSort(length) < 3) length *= 2;
  yardstick = { length, ms: Math.min(...Array.from({ length: 5 }, () => timeSort(length))) };
};
/** How many times slower the yardstick runs now than at calibration (~ the throttling rate in effect), or null. */
globalThis.edgeDistillSlowdown = () => (yardstick ? median3(() => timeSort(yardstick.length)) / yardstick.ms : null);

/** mode 'outputs': every example once, `batch` at a time (the last batch may be smaller), first outputs concatenated. */
async function outputs(examples, model, spec) {
  const size = spec.exampleShape.reduce((a, b) => a * b, 1);
  const all = [];
  for (let i = 0; i < spec.n; i += spec.batch) {
    const b = Math.min(spec.batch, spec.n - i);
    const y = await model.run(examples.slice(i * size, (i + b) * size), [b, ...spec.exampleShape]);
    for (const v of y) all.push(v);
  }
  return all;
}

async function bench(spec) {
  const res = await fetch(spec.inputsUrl);
  if (!res.ok) throw new Error(`GET ${spec.inputsUrl}: HTTP ${res.status}`);
  const examples = new Float32Array(await res.arrayBuffer());
  const next = batches(examples, spec);
  const dims = [spec.batch, ...spec.exampleShape];
  await loadScripts(spec.scripts);

  const t0 = performance.now();
  const model = await RUNTIMES[spec.runtime](spec);
  const initMs = performance.now() - t0;
  if (spec.mode === 'outputs') {
    return { ok: true, slowdown: null, initMs, firstRunMs: 0, times: [], threads: model.threads, wasmBytes: null, userAgent: navigator.userAgent, outputs: await outputs(examples, model, spec) };
  }

  const timeOne = async () => {
    const x = next();
    const start = performance.now();
    const y = await model.run(x, dims);
    const ms = performance.now() - start;
    if (!y || y.length === 0) throw new Error('the model returned an empty first output');
    return ms;
  };
  const firstRunMs = await timeOne();
  for (let i = 0; i < spec.warmup; i++) await timeOne();
  const times = [];
  let total = 0;
  // Runs below the timer's resolution add ~0 to `total`; the wall clock bounds the extension past `runs` then.
  const stopExtending = performance.now() + 10 * spec.minDurationMs;
  while (times.length < spec.runs || (total < spec.minDurationMs && performance.now() < stopExtending)) {
    const ms = await timeOne();
    times.push(ms);
    total += ms;
  }
  return {
    ok: true,
    slowdown: globalThis.edgeDistillSlowdown(),
    initMs,
    firstRunMs,
    times,
    threads: model.threads,
    wasmBytes: globalThis.__edgeDistillWasm?.maxBytes() ?? null,
    userAgent: navigator.userAgent,
  };
}

globalThis.edgeDistillBench = (spec) =>
  bench(spec).catch((err) => ({ ok: false, reason: String(err?.message ?? err).split('\n')[0] }));
