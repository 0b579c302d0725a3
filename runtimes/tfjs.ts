// TF.js layers models on a TF.js backend (wasm by default): the runtime of web apps and React Native.
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, useBackend, type TfjsBackendName } from '../pipeline/util/tfjs.ts';
import { fileLoadHandler, modelJsonPath } from '../exporters/tfjs-io.ts';
import type { Runtime, RuntimeSession } from './runtime.ts';
import { exampleShapeOf } from './example-shape.ts';

export function tfjsRuntime(backend: Exclude<TfjsBackendName, 'auto'>): Runtime {
  return {
    description: `TF.js layers model, ${backend} backend`,
    ready: async () => {
      await useBackend(backend);
    },
    async load(path): Promise<RuntimeSession> {
      await useBackend(backend);
      const model = await tfl.loadLayersModel(fileLoadHandler(modelJsonPath(path)));
      const exampleShape = exampleShapeOf(model.inputs[0]!.shape, path);
      return {
        exampleShape,
        async run(x, batch) {
          const y = tf.tidy(() => {
            const out = model.predict(tf.tensor(x, [batch, ...exampleShape]));
            return Array.isArray(out) ? out[0]! : out;
          });
          const data = (await y.data()) as Float32Array;
          y.dispose();
          return data;
        },
        dispose: async () => {
          model.dispose();
        },
      };
    },
  };
}
