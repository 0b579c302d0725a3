// Init script for the benchmark page (installed with addInitScript, so it runs before any runtime's code): records
// every WebAssembly.Memory a module exports or imports, so the page can report the largest wasm heap after the
// runs. Runtimes hold their memory privately inside emscripten closures; instantiation is the one place to see it.
(() => {
  const W = globalThis.WebAssembly;
  if (!W || globalThis.__edgeDistillWasm) return;
  const memories = new Set();

  const recordValues = (obj) => {
    if (!obj || typeof obj !== 'object') return;
    for (const value of Object.values(obj)) if (value instanceof W.Memory) memories.add(value);
  };
  // Imports are { module: { name: value } }: a threaded build imports the (shared) memory it created itself.
  const recordImports = (imports) => {
    if (imports && typeof imports === 'object') for (const ns of Object.values(imports)) recordValues(ns);
  };
  // instantiate(bytes) resolves to { module, instance }; instantiate(module) resolves to an Instance.
  const recordResult = (result) => {
    recordValues((result && result.instance ? result.instance : result)?.exports);
    return result;
  };

  const instantiate = W.instantiate;
  W.instantiate = function (source, imports, ...rest) {
    recordImports(imports);
    return instantiate.call(this, source, imports, ...rest).then(recordResult);
  };
  const instantiateStreaming = W.instantiateStreaming;
  if (instantiateStreaming) {
    W.instantiateStreaming = function (source, imports, ...rest) {
      recordImports(imports);
      return instantiateStreaming.call(this, source, imports, ...rest).then(recordResult);
    };
  }
  // A Proxy keeps `instanceof WebAssembly.Instance` and the prototype intact for code that checks them.
  W.Instance = new Proxy(W.Instance, {
    construct(target, args, newTarget) {
      recordImports(args[1]);
      const instance = Reflect.construct(target, args, newTarget);
      recordValues(instance.exports);
      return instance;
    },
  });

  Object.defineProperty(globalThis, '__edgeDistillWasm', {
    value: Object.freeze({
      /** Largest current byteLength of the recorded memories (they only grow), or null when no wasm ran. */
      maxBytes: () => (memories.size ? Math.max(...[...memories].map((m) => m.buffer.byteLength)) : null),
    }),
  });
})();
