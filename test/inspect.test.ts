// `inspect` on real models: the shipped PyTorch teacher against FLOPs worked out by hand from its architecture,
// our own students exported to ONNX, TF.js layers and TF.js graph (the three views must agree), a Sequential
// model built by tfjs-layers itself, a hand-written graph model, the CLI, and the errors for bad inputs.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkg from 'onnx-proto';
import * as tfl from '@tensorflow/tfjs-layers';
import { cli, EXAMPLE_DIR, tempDir } from './helpers.ts';
import { rng } from '../pipeline/util/math.ts';
import { EdgeDistillError, type ErrorCode } from '../pipeline/errors.ts';
import { inspectModel, renderModelInfo, type ModelInfo } from '../pipeline/inspect/inspect.ts';
import type { LayerSpec, StudentSpec } from '../pipeline/student/spec.ts';
import { ensureBackend } from '../pipeline/util/tfjs.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { exportTfjsLayers } from '../exporters/tfjs-layers.ts';
import { exportTfjsGraph } from '../exporters/tfjs-graph.ts';
import { serializeLayersModel } from '../exporters/tfjs-io.ts';

const { onnx } = pkg;
const TEACHER = join(EXAMPLE_DIR, 'teacher.onnx');

// ---- the shipped teacher, by hand ----
// A VGG-style PyTorch CNN on 1x28x28: six 3x3 convs (pads 1, stride 1, bias) each followed by ReLU, a 2x2
// max pool after the 2nd and 4th, global average pooling, Flatten, Gemm 256->256 + ReLU (the "embedding"),
// Gemm 256->2 (the "logits"). Conventions: a multiply-add is 2 FLOPs, bias/ReLU 1 per output element,
// pooling the window size per output element, global pooling 1 per input element.
const TEACHER_CONVS = [
  { cin: 1, cout: 64, hw: 28 }, { cin: 64, cout: 64, hw: 28 },
  { cin: 64, cout: 128, hw: 14 }, { cin: 128, cout: 128, hw: 14 },
  { cin: 128, cout: 256, hw: 7 }, { cin: 256, cout: 256, hw: 7 },
];
const CONV_MACS = TEACHER_CONVS.reduce((a, c) => a + c.cin * 9 * c.cout * c.hw * c.hw, 0); // 116,057,088
const CONV_OUTPUTS = TEACHER_CONVS.reduce((a, c) => a + c.cout * c.hw * c.hw, 0); // each gets a bias add and a ReLU
const TEACHER_FLOPS =
  2 * CONV_MACS + CONV_OUTPUTS /* conv bias */ + CONV_OUTPUTS /* conv ReLU */ +
  64 * 14 * 14 * 4 + 128 * 7 * 7 * 4 /* 2x2 max pools */ +
  256 * 7 * 7 /* global average pool */ +
  (2 * 256 * 256 + 256 + 256) /* Gemm + bias + ReLU */ + (2 * 256 * 2 + 2) /* head Gemm + bias */;

// ---- students ----
function uniform(r: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * 0.1);
}
function dense(r: () => number, inputs: number, units: number, activation: 'relu' | 'linear'): LayerSpec {
  return { kind: 'dense', kernel: uniform(r, inputs * units), inputs, units, bias: uniform(r, units), activation };
}
function spec(partial: Pick<StudentSpec, 'features' | 'layers' | 'classes' | 'subclasses'> & Partial<StudentSpec>): StudentSpec {
  return { inputName: 'pixels', outputNames: { probs: 'probs', subclassLogits: 'subclass_logits' }, metadata: { 'edge-distill.method': 'test' }, ...partial };
}
const r = rng(7);
/** 784 -> 16 ReLU -> 2, softmax head (C=2, S=1). */
const MLP = spec({ features: 784, layers: [dense(r, 784, 16, 'relu'), dense(r, 16, 2, 'linear')], classes: 2, subclasses: 1 });
/** 28x28x1 -> conv 5x5 'same' 8 filters ReLU -> maxpool 2 -> flatten (1568) -> dense 6 = C*S logits (C=3, S=2). */
const CNN = spec({
  features: 784,
  image: { height: 28, width: 28, channels: 1 },
  layers: [
    { kind: 'conv2d', kernel: uniform(r, 25 * 8), kernelSize: 5, inChannels: 1, filters: 8, bias: uniform(r, 8), padding: 'same', activation: 'relu' },
    { kind: 'maxpool2d', poolSize: 2 },
    { kind: 'flatten' },
    dense(r, 14 * 14 * 8, 6, 'linear'),
  ],
  classes: 3,
  subclasses: 2,
});

/** Each format of a student, written as the pipeline writes it; returns what inspect reports for each. */
async function exportAll(dir: string, s: StudentSpec): Promise<Record<'onnx' | 'layers' | 'graph', ModelInfo>> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), exportOnnx(s, { producerVersion: 'test' }));
  for (const [sub, art] of [['tfjs', await exportTfjsLayers(s)], ['tfjs-graph', await exportTfjsGraph(s)]] as const) {
    mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(join(dir, sub, 'weights.bin'), art.weights);
    writeFileSync(join(dir, sub, 'model.json'), art.modelJson);
  }
  return { onnx: inspectModel(join(dir, 'model.onnx')), layers: inspectModel(join(dir, 'tfjs')), graph: inspectModel(join(dir, 'tfjs-graph', 'model.json')) };
}

function throwsCode(fn: () => unknown, code: ErrorCode, mentions: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof EdgeDistillError, `not an EdgeDistillError: ${err}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.includes(mentions), `"${err.message}" should name ${mentions}`);
    assert.ok(err.hint.length > 0);
    return true;
  });
}

describe('inspect', () => {
  let dir: string;
  before(() => {
    dir = tempDir('inspect');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the shipped PyTorch teacher: inputs, outputs, ops, parameters, FLOPs by hand', () => {
    const info = inspectModel(TEACHER);
    assert.equal(info.format, 'onnx');
    assert.equal(info.opset, 17);
    assert.match(info.producer ?? '', /^pytorch /);
    assert.deepEqual(info.inputs, [{ name: 'image', shape: ['batch', 1, 28, 28], dtype: 'float32' }]);
    assert.deepEqual(info.outputs, [
      { name: 'logits', shape: ['batch', 2], dtype: 'float32' },
      { name: 'embedding', shape: ['batch', 256], dtype: 'float32' },
    ]);
    assert.deepEqual(info.ops, { Conv: 6, Relu: 7, MaxPool: 2, GlobalAveragePool: 1, Flatten: 1, Gemm: 2 });

    // The hand arithmetic above is of this model: its conv and Gemm weights have the shapes the table says.
    const m = onnx.ModelProto.decode(readFileSync(TEACHER));
    const inits = m.graph!.initializer!;
    const shapes = inits.map((t) => t.dims!.map(Number));
    const convWeights = shapes.filter((s) => s.length === 4);
    assert.deepEqual(convWeights, TEACHER_CONVS.map((c) => [c.cout, c.cin, 3, 3]));
    assert.deepEqual(shapes.filter((s) => s.length === 2), [[256, 256], [2, 256]]);
    const elements = shapes.reduce((a, s) => a + s.reduce((p, d) => p * d, 1), 0);
    assert.equal(info.parameters, elements);
    assert.equal(info.parameters, 1_210_562);

    assert.equal(TEACHER_FLOPS, 232_685_826);
    assert.equal(info.flops.perExample, TEACHER_FLOPS);
    assert.equal(info.flops.lowerBound, false);
    assert.deepEqual(info.flops.unknown, {});
    assert.equal(info.flops.byOp.Conv, 2 * CONV_MACS + CONV_OUTPUTS);
    assert.equal(info.flops.byOp.GlobalAveragePool, 256 * 49);
    assert.equal(info.bytes, statSync(TEACHER).size);
    assert.ok(info.gzipBytes > 0 && info.gzipBytes < info.bytes);
    assert.match(renderModelInfo(info), /FLOPs\/example: 232\.7 M/);
  });

  test('an MLP costs the same in ONNX, TF.js layers and TF.js graph form', async () => {
    const { onnx: o, layers: l, graph: g } = await exportAll(join(dir, 'mlp'), MLP);
    // 2 per multiply-add of both dense layers, 1 per bias add (16 + 2) and ReLU (16), softmax 5 per class.
    const expected = 2 * (784 * 16 + 16 * 2) + (16 + 2) + 16 + 5 * 2;
    assert.equal(o.flops.perExample, expected);
    assert.equal(g.flops.perExample, expected);
    // The layers export sums subclass probabilities with a bias-free Dense [C*S, C]: 2*C*S*C more.
    assert.equal(l.flops.perExample, expected + 2 * 2 * 2);
    assert.ok(Math.abs(l.flops.perExample - o.flops.perExample) / o.flops.perExample < 1e-3);
    for (const info of [o, l, g]) {
      assert.equal(info.flops.lowerBound, false, `${info.format}: ${info.flops.note}`);
      assert.deepEqual(info.inputs, [{ name: 'pixels', shape: ['batch', 784], dtype: 'float32' }], info.format);
      assert.deepEqual(info.outputs, [{ name: 'probs', shape: ['batch', 2], dtype: 'float32' }], info.format);
      assert.ok(info.parameters >= 784 * 16 + 16 + 16 * 2 + 2, info.format);
    }
    assert.deepEqual(o.ops, { Gemm: 2, Relu: 1, Softmax: 1 });
    assert.deepEqual(l.ops, { InputLayer: 1, Dense: 3, Activation: 1 });
    assert.equal(l.files.length, 2, 'model.json and weights.bin');
    assert.equal(l.bytes, l.files.reduce((a, f) => a + statSync(f).size, 0));
  });

  test('a CNN is dominated by its conv term, the same in all three formats', async () => {
    const { onnx: o, layers: l, graph: g } = await exportAll(join(dir, 'cnn'), CNN);
    const convTerm = 2 * (28 * 28 * 8) * (5 * 5 * 1); // output elements x (kh*kw*Cin) multiply-adds
    const outputs = 28 * 28 * 8;
    assert.equal(o.flops.byOp.Conv, convTerm + outputs); // ONNX: bias in Conv, ReLU its own node
    assert.equal(l.flops.byOp.Conv2D, convTerm + 2 * outputs); // TF.js: bias and ReLU inside the layer
    assert.equal(g.flops.byOp._FusedConv2D, convTerm + 2 * outputs);
    for (const info of [o, l, g]) {
      assert.equal(info.flops.lowerBound, false, `${info.format}: ${info.flops.note}`);
      assert.ok(convTerm / info.flops.perExample > 0.8, `${info.format}: conv is ${convTerm} of ${info.flops.perExample}`);
      assert.ok(Math.abs(info.flops.perExample - l.flops.perExample) / l.flops.perExample < 1e-3, info.format);
      assert.deepEqual(info.outputs.map((t) => [t.name, t.shape]), [['probs', ['batch', 3]], ['subclass_logits', ['batch', 6]]], info.format);
    }
    // The ONNX path goes through Reshape (0 copies the batch) and Transpose to NCHW and back: all shapes known.
    assert.equal(o.flops.byOp.MaxPool, 14 * 14 * 8 * 4);
  });

  test('a Sequential model built by tfjs-layers (no InputLayer, strided conv, batch norm, depthwise)', async () => {
    await ensureBackend();
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'same' }),
        tfl.layers.batchNormalization(),
        tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'valid' }),
        tfl.layers.averagePooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const art = await serializeLayersModel(model);
    model.dispose();
    const sub = join(dir, 'sequential');
    mkdirSync(sub);
    writeFileSync(join(sub, 'model.json'), art.modelJson);
    writeFileSync(join(sub, 'weights.bin'), art.weights);
    const info = inspectModel(sub);
    assert.equal(info.format, 'tfjs-layers');
    assert.deepEqual(info.inputs.map((t) => t.shape), [['batch', 8, 8, 3]]);
    assert.deepEqual(info.outputs.map((t) => t.shape), [['batch', 3]]);
    // 8x8 -'same' stride 2-> 4x4x4 -valid 3x3 depthwise-> 2x2x4 -pool 2-> 1x1x4 -> 3.
    assert.deepEqual(info.flops.byOp, {
      Conv2D: 2 * 16 * 4 * 27 + 64, // 64 outputs x 27 multiply-adds, + bias (linear activation)
      BatchNormalization: 2 * 64,
      DepthwiseConv2D: 2 * 16 * 9 + 16,
      AveragePooling2D: 4 * 4,
      Dense: 2 * 4 * 3 + 3 + 5 * 3, // + bias + softmax
    });
    assert.equal(info.parameters, 3 * 3 * 3 * 4 + 4 + 4 * 4 + 3 * 3 * 4 + 4 + 4 * 3 + 3);
  });

  test('a hand-written graph model: unfused MatMul + BiasAdd + Relu + Softmax, outputs found as sinks', () => {
    const sub = join(dir, 'graph-fixture');
    mkdirSync(sub);
    const konst = (name: string, dims: number[]) => ({ name, op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: dims.map((d) => ({ size: String(d) })) } } } } });
    const weights = [['w1', [784, 16]], ['b1', [16]], ['w2', [16, 2]], ['b2', [2]]] as const;
    const json = {
      format: 'graph-model',
      modelTopology: {
        node: [
          { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '784' }] } } } },
          ...weights.map(([n, d]) => konst(n, [...d])),
          { name: 'mm1', op: 'MatMul', input: ['x', 'w1'], attr: { transpose_a: { b: false }, transpose_b: { b: false } } },
          { name: 'add1', op: 'BiasAdd', input: ['mm1', 'b1'] },
          { name: 'relu1', op: 'Relu', input: ['add1'] },
          { name: 'mm2', op: 'MatMul', input: ['relu1', 'w2'] },
          { name: 'add2', op: 'BiasAdd', input: ['mm2', 'b2'] },
          { name: 'probs', op: 'Softmax', input: ['add2'] },
        ],
      },
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: weights.map(([name, shape]) => ({ name, shape: [...shape], dtype: 'float32' })) }],
    };
    writeFileSync(join(sub, 'model.json'), JSON.stringify(json));
    writeFileSync(join(sub, 'group1-shard1of1.bin'), new Uint8Array(4 * (784 * 16 + 16 + 16 * 2 + 2)));
    const info = inspectModel(sub);
    assert.equal(info.format, 'tfjs-graph');
    assert.deepEqual(info.inputs, [{ name: 'x', shape: ['batch', 784], dtype: 'float32' }]);
    assert.deepEqual(info.outputs, [{ name: 'probs', shape: ['batch', 2], dtype: 'float32' }]);
    assert.deepEqual(info.ops, { Placeholder: 1, Const: 4, MatMul: 2, BiasAdd: 2, Relu: 1, Softmax: 1 });
    assert.equal(info.parameters, 784 * 16 + 16 + 16 * 2 + 2);
    assert.equal(info.flops.perExample, 2 * (784 * 16 + 16 * 2) + (16 + 2) + 16 + 5 * 2, 'the ONNX MLP figure');
  });

  test('CLI: inspect --json prints the report as JSON; without it, readable text', () => {
    const r = cli(['inspect', 'examples/fmnist-bin/teacher.onnx', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout) as ModelInfo;
    for (const k of ['path', 'format', 'inputs', 'outputs', 'ops', 'parameters', 'flops', 'bytes', 'gzipBytes', 'files', 'producer', 'opset']) {
      assert.ok(k in info, `missing ${k}`);
    }
    assert.equal(info.format, 'onnx');
    assert.equal(info.flops.perExample, TEACHER_FLOPS);
    assert.equal(info.parameters, 1_210_562);
    assert.equal(info.inputs[0]!.name, 'image');
    const text = cli(['inspect', 'examples/fmnist-bin/teacher.onnx']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /FLOPs\/example: 232\.7 M/);
    assert.match(text.stdout, /parameters: 1,210,562/);
  });

  test('bad inputs give stable codes naming the file', () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    throwsCode(() => inspectModel(join(bad, 'nope.onnx')), 'E_FILE_NOT_FOUND', 'nope.onnx');
    throwsCode(() => inspectModel(bad), 'E_FILE_NOT_FOUND', 'model.json');
    // Non-ONNX bytes: a TypeScript source and the example's gzipped labels.
    throwsCode(() => inspectModel(join(EXAMPLE_DIR, 'make-subset.ts')), 'E_MODEL_FORMAT', 'make-subset.ts');
    throwsCode(() => inspectModel(join(EXAMPLE_DIR, 't10k-labels-idx1-ubyte.gz')), 'E_MODEL_FORMAT', 't10k-labels');

    // A real exported model.json, cut in half / pointing outside its folder / missing its weights / not TF.js.
    const good = readFileSync(join(dir, 'mlp', 'tfjs', 'model.json'), 'utf8');
    const write = (name: string, text: string): string => {
      mkdirSync(join(bad, name));
      writeFileSync(join(bad, name, 'model.json'), text);
      return join(bad, name, 'model.json');
    };
    throwsCode(() => inspectModel(write('truncated', good.slice(0, good.length >> 1))), 'E_MODEL_FORMAT', 'truncated');
    const escaping = JSON.parse(good);
    escaping.weightsManifest[0].paths = ['../weights.bin'];
    writeFileSync(join(bad, 'weights.bin'), readFileSync(join(dir, 'mlp', 'tfjs', 'weights.bin')));
    throwsCode(() => inspectModel(write('escape', JSON.stringify(escaping))), 'E_MODEL_FORMAT', '../weights.bin');
    throwsCode(() => inspectModel(write('no-weights', good)), 'E_FILE_NOT_FOUND', 'weights.bin');
    throwsCode(() => inspectModel(write('not-tfjs', JSON.stringify({ name: 'edge-distill', version: '0.1.0' }))), 'E_MODEL_FORMAT', 'not-tfjs');

    const r = cli(['inspect', join(bad, 'escape', 'model.json')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /E_MODEL_FORMAT: .*leaves the model's folder/);
  });
});
