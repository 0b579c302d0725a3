// Golden tests of every exported format: a normalised summary of each file (ops, names, shapes, dtypes, attribute
// values, weight specs — not weight values or bytes) compared with the summary checked in under test/golden/.
// An intended change of an exporter updates them with:
//   UPDATE_GOLDEN=1 node --import tsx --test test/golden.test.ts
// and the diff of test/golden/*.json is then reviewed like code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkg from 'onnx-proto';
import { ROOT } from './helpers.ts';
import { fashionImages, testSpecs } from './specs.ts';
import { exportOnnx } from '../exporters/onnx.ts';
import { calibrate, exportQuantizedOnnx } from '../exporters/onnx-quantize.ts';
import { exportTfjsLayers } from '../exporters/tfjs-layers.ts';
import { exportTfjsGraph } from '../exporters/tfjs-graph.ts';
import type { StudentSpec } from '../pipeline/student/spec.ts';
import { buildConv1dSpec, buildDscnnSpec } from '../pipeline/distill/architectures.ts';
import { StudentSchema, type StudentConfig } from '../pipeline/distill/schema.ts';

const { onnx } = pkg;
const GOLDEN_DIR = join(ROOT, 'test', 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const VERSION = '0.0.0-golden';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Floats in attributes are compared to 7 significant digits: float32 precision, stable across platforms. */
const num = (x: number): number => Number(x.toPrecision(7));

const ONNX_DTYPES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 10: 'float16' };

function onnxSummary(bytes: Uint8Array): Json {
  const m = onnx.ModelProto.decode(bytes);
  const g = m.graph!;
  const value = (v: pkg.onnx.IValueInfoProto): Json => ({
    name: v.name ?? '',
    dtype: ONNX_DTYPES[v.type?.tensorType?.elemType ?? 0] ?? String(v.type?.tensorType?.elemType),
    shape: (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue))),
  });
  const attribute = (a: pkg.onnx.IAttributeProto): Json => {
    if (a.ints?.length) return a.ints.map(Number);
    if (a.floats?.length) return a.floats.map(num);
    if (a.s?.length) return Buffer.from(a.s).toString('utf8');
    if (a.t) return { tensor: { dtype: ONNX_DTYPES[a.t.dataType ?? 0] ?? null, dims: (a.t.dims ?? []).map(Number) } };
    return a.type === 1 ? num(a.f ?? 0) : Number(a.i ?? 0);
  };
  return {
    irVersion: Number(m.irVersion),
    opsets: m.opsetImport.map((o) => `${o.domain || 'ai.onnx'}:${Number(o.version)}`),
    producer: m.producerName ?? '',
    inputs: (g.input ?? []).map(value),
    outputs: (g.output ?? []).map(value),
    nodes: (g.node ?? []).map((n) => ({
      op: n.domain ? `${n.domain}:${n.opType}` : n.opType ?? '',
      name: n.name ?? '',
      inputs: n.input ?? [],
      outputs: n.output ?? [],
      attributes: Object.fromEntries((n.attribute ?? []).map((a) => [a.name ?? '', attribute(a)])),
    })),
    initializers: (g.initializer ?? []).map((t) => ({ name: t.name ?? '', dtype: ONNX_DTYPES[t.dataType ?? 0] ?? String(t.dataType), dims: (t.dims ?? []).map(Number) })),
    // Keys only: values carry the tool version and the deploy descriptor, which test/deploy.test.ts checks.
    metadataKeys: m.metadataProps.map((p) => p.key ?? '').sort(),
  };
}

interface WeightSpecJson { name: string; shape: number[]; dtype: string; quantization?: { dtype: string } }

function weightSummary(modelJson: { weightsManifest: { paths: string[]; weights: WeightSpecJson[] }[] }): Json {
  return modelJson.weightsManifest.map((g) => ({
    paths: g.paths,
    weights: g.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype, ...(w.quantization ? { quantization: w.quantization.dtype } : {}) })),
  }));
}

function tfjsLayersSummary(text: string): Json {
  const j = JSON.parse(text);
  return {
    format: j.format,
    generatedBy: j.generatedBy,
    topology: j.modelTopology,
    weights: weightSummary(j),
    metadataKeys: Object.keys(j.userDefinedMetadata ?? {}).sort(),
  };
}

function tfjsGraphSummary(text: string): Json {
  const j = JSON.parse(text);
  return {
    format: j.format,
    nodes: j.modelTopology.node.map((n: { name: string; op: string; input?: string[]; attr?: Record<string, Json> }) => ({ name: n.name, op: n.op, input: n.input ?? [], attr: n.attr ?? {} })),
    versions: j.modelTopology.versions ?? null,
    signature: j.signature ?? null,
    weights: weightSummary(j),
    metadataKeys: Object.keys(j.userDefinedMetadata ?? {}).sort(),
  };
}

const specs = testSpecs();
// The IR-native students as the pipeline builds them (seeded weights; batch norms fold into the convs at export).
const meta = { features: 784, featureShape: [28, 28], classes: 2, subclasses: 1, seed: 3, metadata: {} };
const dscnn = buildDscnnSpec(StudentSchema.parse({ arch: 'dscnn', stem: 8, blocks: [{ filters: 16, stride: 2 }, { filters: 16, stride: 1 }], dense: [8] }) as Extract<StudentConfig, { arch: 'dscnn' }>, meta);
const conv1d = buildConv1dSpec(StudentSchema.parse({ arch: 'conv1d', blocks: [{ filters: 8, kernelSize: 5, stride: 1, pool: 2 }, { filters: 16, kernelSize: 3, stride: 2, pool: 1 }] }) as Extract<StudentConfig, { arch: 'conv1d' }>, meta);
const calibration = (s: StudentSpec) => calibrate(s, fashionImages(256), 256, 'minmax');

const CASES: Record<string, () => Promise<Json>> = {
  'onnx-mlp-s5': async () => onnxSummary(exportOnnx(specs.mlp5, { producerVersion: VERSION })),
  'onnx-cnn': async () => onnxSummary(exportOnnx(specs.cnn, { producerVersion: VERSION })),
  'onnx-int8-dynamic-mlp-s5': async () => onnxSummary(exportQuantizedOnnx(specs.mlp5, { kind: 'dynamic', perChannel: false, reduceRange: true }, { producerVersion: VERSION })),
  'onnx-int8-static-pc-cnn': async () =>
    onnxSummary(exportQuantizedOnnx(specs.cnn, { kind: 'static', perChannel: true, reduceRange: true, calibration: 'minmax' }, { producerVersion: VERSION, calibration: calibration(specs.cnn) })),
  'onnx-float16-mlp-s5': async () => onnxSummary(exportQuantizedOnnx(specs.mlp5, { kind: 'float16' }, { producerVersion: VERSION })),
  'tfjs-layers-mlp-s5': async () => tfjsLayersSummary((await exportTfjsLayers(specs.mlp5)).modelJson),
  'tfjs-layers-cnn': async () => tfjsLayersSummary((await exportTfjsLayers(specs.cnn)).modelJson),
  'tfjs-layers-uint8-mlp-s5': async () => tfjsLayersSummary((await exportTfjsLayers(specs.mlp5, { weights: 'uint8' })).modelJson),
  'tfjs-graph-mlp-s5': async () => tfjsGraphSummary((await exportTfjsGraph(specs.mlp5)).modelJson),
  'tfjs-graph-cnn': async () => tfjsGraphSummary((await exportTfjsGraph(specs.cnn)).modelJson),
  'tfjs-graph-float16-cnn': async () => tfjsGraphSummary((await exportTfjsGraph(specs.cnn, { weights: 'float16' })).modelJson),
  'onnx-dscnn': async () => onnxSummary(exportOnnx(dscnn, { producerVersion: VERSION })),
  'tfjs-layers-dscnn': async () => tfjsLayersSummary((await exportTfjsLayers(dscnn)).modelJson),
  'tfjs-graph-dscnn': async () => tfjsGraphSummary((await exportTfjsGraph(dscnn)).modelJson),
  'onnx-conv1d': async () => onnxSummary(exportOnnx(conv1d, { producerVersion: VERSION })),
  'tfjs-layers-conv1d': async () => tfjsLayersSummary((await exportTfjsLayers(conv1d)).modelJson),
  'tfjs-graph-conv1d': async () => tfjsGraphSummary((await exportTfjsGraph(conv1d)).modelJson),
};

for (const [name, summarise] of Object.entries(CASES)) {
  test(`golden summary: ${name}`, async () => {
    const file = join(GOLDEN_DIR, `${name}.json`);
    const actual = JSON.parse(JSON.stringify(await summarise())) as Json;
    if (UPDATE) {
      writeFileSync(file, JSON.stringify(actual, null, 2) + '\n');
      return;
    }
    assert.ok(existsSync(file), `no golden file ${file}: run UPDATE_GOLDEN=1 node --import tsx --test test/golden.test.ts and review it`);
    assert.deepEqual(actual, JSON.parse(readFileSync(file, 'utf8')), `${name} differs from its golden summary; if the change is intended, update with UPDATE_GOLDEN=1 (see the header of this file)`);
  });
}
