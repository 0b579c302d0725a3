// Kernels the TF.js wasm backend lacks but training needs. Only Conv2DBackpropFilter (the gradient of conv2d
// with respect to its filter) is missing in tfjs-backend-wasm 4.22, which makes CNN students untrainable there;
// this registers an exact JavaScript implementation (the cpu backend's algorithm) reading and writing wasm memory.
import * as tf from '@tensorflow/tfjs-core';

interface WasmBackendLike {
  readSync(dataId: object): Float32Array;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/**
 * dW[r, c, i, o] = sum over batch b and output position (y, x) of X[b, y*sh + r*dh - padTop, x*sw + c*dw - padLeft, i] * dY[b, y, x, o]
 * (NHWC input, HWIO filter; out-of-range input positions are the zero padding).
 */
function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = args.attrs as unknown as { strides: [number, number] | number; pad: 'same' | 'valid' | number; dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number] };
  if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter (edge-distill wasm kernel): only NHWC is supported');
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  const be = args.backend as WasmBackendLike;
  const xv = be.readSync(x.dataId);
  const dyv = be.readSync(dy.dataId);
  const out = be.makeOutput(a.filterShape, 'float32');
  const dw = be.typedArrayFromHeap(out);
  dw.fill(0);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dwl, filterHeight: FH, filterWidth: FW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  for (let r = 0; r < FH; r++) {
    for (let c = 0; c < FW; c++) {
      for (let b = 0; b < B; b++) {
        for (let y = 0; y < OH; y++) {
          const xr = y * sh + r * dh - top;
          if (xr < 0 || xr >= H) continue;
          for (let xo = 0; xo < OW; xo++) {
            const xc = xo * sw + c * dwl - left;
            if (xc < 0 || xc >= W) continue;
            const xBase = ((b * H + xr) * W + xc) * Ci;
            const dyBase = ((b * OH + y) * OW + xo) * Co;
            for (let i = 0; i < Ci; i++) {
              const xval = xv[xBase + i]!;
              if (xval === 0) continue; // post-ReLU activations are often 0
              const wBase = ((r * FW + c) * Ci + i) * Co;
              for (let o = 0; o < Co; o++) dw[wBase + o]! += xval * dyv[dyBase + o]!;
            }
          }
        }
      }
    }
  }
  return out;
}

let registered = false;

/** Register the missing training kernels for the wasm backend (idempotent). */
export function registerWasmTrainingKernels(): void {
  if (registered || tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter as unknown as tf.KernelFunc });
  registered = true;
}
