// The TFLite writer, read back by our reader: the layout rules of the format (identifier, empty buffer 0, 16-byte
// aligned data, both operator-code fields, low op versions, OHWI filters, [units, inputs] weights, a SignatureDef,
// deploy.json in the metadata) on the exporter test students; inspect's view of them against the ONNX export of the
// same students; and, where Google's converter-written models are on the machine, inspect on those.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportTflite } from '../exporters/tflite.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { deployDescriptor, withDeployMetadata, DeploySchema } from '../exporters/deploy.ts';
import { readTflite } from '../exporters/tflite-read.ts';
import { inspectModel, renderModelInfo } from '../pipeline/inspect/inspect.ts';
import { BuiltinOperator } from '../exporters/tflite-schema.ts';
import { kernelDims } from '../pipeline/student/spec.ts';
import { testSpecs } from './specs.ts';

const specs = testSpecs();

test('the .tflite layout: TFL3, buffer 0 empty, data 16-byte aligned, both code fields, version 1 ops, a serving_default signature', () => {
  for (const [name, spec] of Object.entries(specs)) {
    const bytes = exportTflite(spec);
    assert.equal(Buffer.from(bytes.subarray(4, 8)).toString('latin1'), 'TFL3', name);
    const m = readTflite(bytes);
    assert.equal(m.version, 3);
    assert.deepEqual(m.buffers[0], { offset: 0, length: 0 }, `${name}: buffer 0 is the empty one`);
    for (const [i, b] of m.buffers.entries()) if (b.length) assert.equal(b.offset % 16, 0, `${name}: buffer ${i} at ${b.offset}`);
    for (const c of m.operatorCodes) {
      assert.equal(c.deprecatedBuiltinCode, c.builtinCode, `${name}: both code fields (${c.builtinCode} < 127)`);
      assert.equal(c.version, 1, `${name}: float ops are version 1`);
    }
    // Every tensor but the input and the constants is written by exactly one operator, before it is read.
    const written = new Set([...m.inputs, ...m.tensors.flatMap((t, i) => (m.buffers[t.buffer]!.length ? [i] : []))]);
    for (const o of m.operators) {
      for (const i of o.inputs) assert.ok(written.has(i), `${name}: ${o.op} reads tensor ${i} before it is written`);
      for (const i of o.outputs) {
        assert.ok(!written.has(i), `${name}: tensor ${i} written twice`);
        written.add(i);
      }
    }
    const probs = m.tensors[m.outputs[0]!]!;
    assert.equal(probs.name, spec.outputNames.probs);
    assert.deepEqual(probs.shape, [1, spec.classes]);
    assert.deepEqual(m.signatures, [{
      key: 'serving_default',
      inputs: { [spec.inputName]: m.inputs[0] },
      outputs: { [spec.outputNames.probs]: m.outputs[0], ...(spec.subclasses > 1 ? { [spec.outputNames.subclassLogits]: m.outputs[1] } : {}) },
    }]);
    assert.equal(m.outputs.length, spec.subclasses > 1 ? 2 : 1);
    if (spec.subclasses > 1) assert.deepEqual(m.tensors[m.outputs[1]!]!.shape, [1, spec.classes * spec.subclasses]);
  }
});

test('weights in TFLite layout: conv filters OHWI from the spec\'s HWIO kernels, fully connected [units, inputs]', () => {
  const spec = specs.cnn;
  const bytes = exportTflite(spec);
  const m = readTflite(bytes);
  const f32 = (tensor: number) => {
    const t = m.tensors[tensor]!;
    const b = m.buffers[t.buffer]!;
    return new Float32Array(bytes.slice(b.offset, b.offset + b.length).buffer);
  };
  const convs = m.operators.filter((o) => o.op === 'CONV_2D');
  const layers = spec.layers.filter((l) => l.kind === 'conv2d');
  assert.equal(convs.length, layers.length);
  convs.forEach((o, k) => {
    const l = layers[k]!;
    if (l.kind !== 'conv2d') return;
    const [kh, kw] = kernelDims(l);
    const I = l.inChannels;
    assert.deepEqual(m.tensors[o.inputs[1]!]!.shape, [l.filters, kh, kw, I]);
    const w = f32(o.inputs[1]!);
    for (let f = 0; f < l.filters; f++) for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) for (let c = 0; c < I; c++) {
      assert.equal(w[((f * kh + a) * kw + b) * I + c], l.kernel[((a * kw + b) * I + c) * l.filters + f]);
    }
    assert.deepEqual(Array.from(f32(o.inputs[2]!)), Array.from(l.bias));
  });
  const fcs = m.operators.filter((o) => o.op === 'FULLY_CONNECTED');
  const denses = spec.layers.filter((l) => l.kind === 'dense');
  fcs.forEach((o, k) => {
    const l = denses[k]!;
    if (l.kind !== 'dense') return;
    assert.deepEqual(m.tensors[o.inputs[1]!]!.shape, [l.units, l.inputs]);
    const w = f32(o.inputs[1]!);
    for (let u = 0; u < l.units; u++) for (let i = 0; i < l.inputs; i++) assert.equal(w[u * l.inputs + i], l.kernel[i * l.units + u]);
  });
  assert.equal(BuiltinOperator.CONV_2D, 3);
});

test('deploy.json rides in the model\'s metadata, with the fixed batch; inspect agrees with the ONNX export on FLOPs and shapes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-distill-tflite-'));
  for (const [name, spec] of Object.entries(specs)) {
    const deploy = deployDescriptor(spec, { rawShape: [spec.features], preprocess: { scale: 1, shift: 0 }, classNames: null, teacherSha256: null, featurizer: null, image: null }, { name: `${name}.tflite`, format: 'tflite', variant: 'fp32', model: 'model.tflite', files: ['model.tflite'], runtimes: ['litert-wasm'] });
    assert.deepEqual(deploy.input.shape, [1, spec.features]);
    const bytes = exportTflite(withDeployMetadata(spec, deploy));
    const m = readTflite(bytes);
    assert.deepEqual(DeploySchema.parse(JSON.parse(Buffer.from(m.metadata['deploy.json']!).toString('utf8'))), deploy);
    const tfl = join(dir, `${name}.tflite`);
    const onnx = join(dir, `${name}.onnx`);
    writeFileSync(tfl, bytes);
    writeFileSync(onnx, exportOnnx(spec, { producerVersion: 'test' }));
    const a = inspectModel(tfl);
    const b = inspectModel(onnx);
    assert.equal(a.format, 'tflite');
    assert.equal(a.flops.lowerBound, false, `${name}: ${a.flops.note}`);
    // The same network costs the same (fused bias and activation count as the separate ONNX ops do): exactly for
    // S = 1; with subclasses each format sums the class blocks its own way, so within 1 %.
    const detail = `${name}: ${JSON.stringify(a.flops.byOp)} vs ${JSON.stringify(b.flops.byOp)}`;
    if (spec.subclasses === 1) assert.equal(a.flops.perExample, b.flops.perExample, detail);
    else assert.ok(Math.abs(a.flops.perExample - b.flops.perExample) < 0.01 * b.flops.perExample, detail);
    assert.deepEqual(a.inputs, [{ name: spec.inputName, shape: [1, spec.features], dtype: 'float32' }]);
    assert.deepEqual(a.outputs.map((o) => o.name), b.outputs.map((o) => o.name));
    assert.deepEqual(a.tflite?.signatures, ['serving_default']);
    assert.deepEqual(a.tflite?.metadata, ['deploy.json', 'edge_distill']);
    assert.match(renderModelInfo(a), /tflite: schema 3, \d+ tensors, 1 subgraph, signatures serving_default, metadata deploy\.json, edge_distill/);
  }
});

/**
 * Google-converted models from the tflite-micro repository (Apache-2.0): hello_world (float and int8) and
 * micro_speech. They are read where they are on the machine (TFLITE_MICRO_MODELS, a folder of them); this repository
 * does not redistribute them.
 */
const GOOGLE = process.env.TFLITE_MICRO_MODELS ?? '';
const googleModels = ['hello_world_float.tflite', 'hello_world_int8.tflite', 'micro_speech_quantized.tflite'];
test('inspect reads models written by Google\'s converter', { skip: GOOGLE && googleModels.every((f) => existsSync(join(GOOGLE, f))) ? false : 'set TFLITE_MICRO_MODELS to a folder with the tflite-micro sample models' }, () => {
  const floatInfo = inspectModel(join(GOOGLE, 'hello_world_float.tflite'));
  assert.deepEqual(floatInfo.ops, { FULLY_CONNECTED: 3 });
  assert.deepEqual(floatInfo.inputs, [{ name: 'serving_default_dense_input:0', shape: ['batch', 1], dtype: 'float32' }]);
  assert.equal(floatInfo.parameters, 321); // 1x16 + 16, 16x16 + 16, 16x1 + 1
  // 2 x the multiply-adds, plus a bias add per output (16 + 16 + 1) and the two fused ReLUs (16 + 16).
  assert.equal(floatInfo.flops.perExample, 2 * (16 + 256 + 16) + 33 + 32);
  const int8 = inspectModel(join(GOOGLE, 'hello_world_int8.tflite'));
  assert.equal(int8.inputs[0]!.dtype, 'int8');
  assert.equal(int8.inputs[0]!.quantization!.scale.length, 1);
  assert.equal(int8.inputs[0]!.quantization!.zeroPoint[0], -128);
  assert.equal(int8.tflite!.opVersions.FULLY_CONNECTED, 4);
  const speech = inspectModel(join(GOOGLE, 'micro_speech_quantized.tflite'));
  assert.deepEqual(Object.keys(speech.ops).sort(), ['DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'RESHAPE', 'SOFTMAX']);
  assert.deepEqual(speech.outputs[0]!.shape, [1, 4]);
  assert.equal(speech.flops.lowerBound, false);
});
