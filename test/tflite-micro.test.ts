// The microcontroller bundle: the C array holds exactly the .tflite's bytes, the header and the array compile with
// Debian's gcc/g++, the quantization constants are the model's, the op resolver lists every op; the arena planner
// against bounds worked out by hand; the int8-in/out model has the integer graph of its float-in/out twin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportTfliteInt8 } from '../exporters/tflite-quantize.ts';
import { integerGraph, microInfo, microSources, planActivations } from '../exporters/tflite-micro.ts';
import { readTflite } from '../exporters/tflite-read.ts';
import { fashionImages, testSpecs } from './specs.ts';

const specs = testSpecs();
const calibration = (features: number, n = 64) => ({ x: fashionImages(n).subarray(0, n * features), n });

test('model_data.cc holds the .tflite byte for byte, 16-byte aligned; model_data.h and .cc compile with gcc and g++', () => {
  const spec = specs.cnn;
  const bytes = exportTfliteInt8(spec, { io: 'int8', calibration: calibration(784) });
  const info = microInfo(bytes);
  const src = microSources(bytes, info, 'test bundle');
  const body = /g_model_data\[\] = \{([^}]*)\};/.exec(src['model_data.cc'])![1]!;
  const parsed = Uint8Array.from(body.match(/0x[0-9a-f]{2}/g)!, (h) => parseInt(h, 16));
  assert.deepEqual(parsed, bytes);
  assert.match(src['model_data.cc'], /alignas\(16\) const unsigned char g_model_data\[\]/);
  assert.match(src['model_data.cc'], new RegExp(`g_model_data_len = ${bytes.length};`));
  const dir = mkdtempSync(join(tmpdir(), 'edge-distill-micro-'));
  for (const [f, text] of Object.entries(src)) writeFileSync(join(dir, f), text);
  // A C translation unit that uses every constant the header defines.
  writeFileSync(join(dir, 'use.c'), [
    '#include "model_data.h"',
    'float first_input_scale(void) { return EDGE_DISTILL_INPUT0_SCALE; }',
    'int input_zero_point(void) { return EDGE_DISTILL_INPUT0_ZERO_POINT + EDGE_DISTILL_INPUT0_ELEMENTS; }',
    'int output_zero_point(void) { return EDGE_DISTILL_OUTPUT0_ZERO_POINT + EDGE_DISTILL_OUTPUT1_ZERO_POINT; }',
    'unsigned int arena(void) { return EDGE_DISTILL_ARENA_BYTES_ESTIMATE + g_model_data_len + g_model_data[4]; }',
    '',
  ].join('\n'));
  execFileSync('gcc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-c', 'use.c', '-o', 'use.o'], { cwd: dir });
  execFileSync('g++', ['-std=c++11', '-Wall', '-Wextra', '-Werror', '-c', 'model_data.cc', '-o', 'model_data.o'], { cwd: dir });
  const symbols = execFileSync('nm', ['model_data.o'], { cwd: dir, encoding: 'utf8' });
  assert.match(symbols, / R g_model_data\n/, 'C linkage: the symbol is not mangled');
  // The constants are the model's own quantization.
  const m = readTflite(bytes);
  const input = m.tensors[m.inputs[0]!]!;
  assert.equal(input.dtype, 'int8');
  assert.match(src['model_data.h'], new RegExp(`EDGE_DISTILL_INPUT0_ZERO_POINT \\(${input.quantization!.zeroPoint[0]}\\)`));
  assert.equal(info.inputs[0]!.scale, input.quantization!.scale[0]);
  assert.equal(info.flashBytes, bytes.length);
  // model_ops.h registers each op once, and sizes the resolver to them.
  assert.deepEqual(info.ops.sort(), ['CONV_2D', 'FULLY_CONNECTED', 'MAX_POOL_2D', 'RESHAPE', 'SOFTMAX', 'SUM']);
  assert.match(src['model_ops.h'], /MicroMutableOpResolver<6>/);
  for (const method of ['AddConv2D', 'AddFullyConnected', 'AddMaxPool2D', 'AddReshape', 'AddSoftmax', 'AddSum']) assert.match(src['model_ops.h'], new RegExp(`resolver\\.${method}\\(\\)`));
});

test('the arena planner: the MLP by hand; for every student, between the largest op\'s live set and the sum of all activations', () => {
  // MLP 784-8-2: the input (784 int8, a multiple of 16) and the first layer's 8 outputs (padded to 16) are live
  // together in the first op; everything after is smaller and reuses space.
  const mlp = readTflite(exportTfliteInt8(specs.mlp1, { io: 'int8', calibration: calibration(784) }));
  assert.equal(planActivations(mlp), 784 + 16);
  for (const [name, spec] of Object.entries(specs)) {
    const m = readTflite(exportTfliteInt8(spec, { io: 'int8', calibration: calibration(spec.features > 784 ? 784 : spec.features) }));
    const size = (t: number) => Math.ceil(m.tensors[t]!.shape.reduce((a, b) => a * b, 1) / 16) * 16;
    const activations = m.tensors.map((t, i) => ({ t, i })).filter(({ t }) => m.buffers[t.buffer]!.length === 0).map(({ i }) => i);
    const total = activations.reduce((a, t) => a + size(t), 0);
    const busiest = Math.max(...m.operators.map((o) => [...new Set([...o.inputs, ...o.outputs])].filter((t) => activations.includes(t)).reduce((a, t) => a + size(t), 0)));
    const plan = planActivations(m);
    assert.ok(plan >= busiest && plan <= total, `${name}: plan ${plan}, busiest op ${busiest}, all ${total}`);
    assert.ok(plan < total || activations.length <= 2, `${name}: the plan reuses no memory (${plan} of ${total})`);
  }
});

test('the int8-in/out model has the integer graph of its float-in/out twin; another calibration gives another graph', () => {
  const spec = specs.cnn;
  const cal = calibration(784);
  const floatIo = exportTfliteInt8(spec, { io: 'float', calibration: cal });
  const int8Io = exportTfliteInt8(spec, { io: 'int8', calibration: cal });
  assert.equal(integerGraph(int8Io), integerGraph(floatIo));
  const a = readTflite(floatIo);
  const b = readTflite(int8Io);
  assert.deepEqual(a.operators.map((o) => o.op).filter((op) => op !== 'QUANTIZE' && op !== 'DEQUANTIZE'), b.operators.map((o) => o.op));
  assert.equal(a.tensors[a.inputs[0]!]!.dtype, 'float32');
  assert.equal(b.tensors[b.inputs[0]!]!.dtype, 'int8');
  const other = exportTfliteInt8(spec, { io: 'int8', calibration: { x: fashionImages(200).subarray(100 * 784), n: 100 } });
  assert.notEqual(integerGraph(other), integerGraph(floatIo));
});
