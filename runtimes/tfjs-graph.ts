// TF.js graph models (model.json with format "graph-model") on a TF.js backend, through the stock executor of
// @tensorflow/tfjs-converter: the runtime of web apps that ship a converted model rather than a layers model.
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { tf, useBackend, type TfjsBackendName } from '../pipeline/tfjs.ts';
import { fileLoadHandler, modelJsonPath } from '../exporters/tfjs-io.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import type { Runtime, RuntimeSession } from './runtime.ts';

export function tfjsGraphRuntime(backend: Exclude<TfjsBackendName, 'auto'>): Runtime {
  return {
    description: `TF.js graph model, ${backend} backend`,
    formats: ['tfjs-graph'],
    ready: async () => {
      await useBackend(backend);
    },
    async load(path): Promise<RuntimeSession> {
      await useBackend(backend);
      const file = modelJsonPath(path);
      const model = await loadGraphModel(fileLoadHandler(file));
      const [inputName] = model.inputNodes;
      // The first output is the class probabilities: our exporter puts probs first in the signature.
      const [probsName] = model.outputNodes;
      const features = model.inputs[0]?.shape?.[1];
      if (!inputName || !probsName || typeof features !== 'number' || features < 1) {
        model.dispose();
        throw new EdgeDistillError('E_MODEL_FORMAT', `${file} has no [batch, features] input and probs output`, 'Point at a TF.js graph model exported by edge-distill.');
      }
      // execute() is synchronous and cheapest; graphs with control flow need executeAsync, detected on first use.
      let dynamic = false;
      const forward = async (x: tf.Tensor): Promise<tf.Tensor> => {
        const feed = { [inputName]: x };
        if (!dynamic) {
          try {
            return model.execute(feed, probsName) as tf.Tensor;
          } catch (err) {
            if (!/executeAsync/.test((err as Error).message)) throw err;
            dynamic = true;
          }
        }
        return (await model.executeAsync(feed, probsName)) as tf.Tensor;
      };
      return {
        async run(x, batch) {
          const input = tf.tensor2d(x, [batch, features]);
          try {
            const y = await forward(input);
            const data = (await y.data()) as Float32Array;
            y.dispose();
            return data;
          } finally {
            input.dispose();
          }
        },
        dispose: async () => {
          model.dispose();
        },
      };
    },
  };
}
