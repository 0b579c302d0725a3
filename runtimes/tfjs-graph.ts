// TF.js graph models (model.json with format "graph-model") on a TF.js backend, through the stock executor of
// @tensorflow/tfjs-converter: the runtime of web apps that ship a converted model rather than a layers model.
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { tf, useBackend, type TfjsBackendName } from '../pipeline/util/tfjs.ts';
import { fileLoadHandler, modelJsonPath } from '../exporters/tfjs-io.ts';
import { EdgeDistillError } from '../pipeline/errors.ts';
import type { Runtime, RuntimeSession } from './runtime.ts';
import { exampleShapeOf } from './example-shape.ts';

export function tfjsGraphRuntime(backend: Exclude<TfjsBackendName, 'auto'>): Runtime {
  return {
    description: `TF.js graph model, ${backend} backend`,
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
      if (!inputName || !probsName || !model.inputs[0]?.shape) {
        model.dispose();
        throw new EdgeDistillError('E_MODEL_FORMAT', `${file} has no input with a shape, or no output`, 'Point at a TF.js graph model with a signature (e.g. exported by edge-distill).');
      }
      const exampleShape = exampleShapeOf(model.inputs[0].shape, file);
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
        exampleShape,
        async run(x, batch) {
          const input = tf.tensor(x, [batch, ...exampleShape]);
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
