// TFLite benchmark: the float32 and int8 .tflite of real students (an MLP, the CNN and the MobileNet-style dscnn,
// distilled by the real CLI on the bundled Fashion-MNIST example), checked on LiteRT.js in headless Chromium by the
// pipeline itself: parity with the in-memory student, accuracy, the int8 one's agreement and size ratio (the
// acceptance points of the TFLite issue), and the TFLite Micro bundle's flash and arena estimate.
//   node --import tsx benchmarks/tflite.ts [--out DIR] [--students mlp,cnn,dscnn]
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import type { Report } from '../pipeline/report/types.ts';
import { readTflite } from '../exporters/tflite-read.ts';

const run = promisify(execFile);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..');

const CASES = [
  { name: 'mlp', description: 'MLP 784-8, LELP head (2 classes x 10 subclasses; 2,500 steps)', flags: ['--arch', 'mlp', '--hidden', '8', '--methods', 'lelp', '--steps', '2500'] },
  { name: 'cnn', description: 'CNN conv8-pool-conv16-pool-32 (KD, 2 epochs)', flags: ['--arch', 'cnn', '--methods', 'kd', '--epochs', '2'] },
  { name: 'dscnn', description: 'dscnn (MobileNet-style, 18k parameters; KD, 2 epochs)', flags: ['--arch', 'dscnn', '--methods', 'kd', '--epochs', '2'] },
] as const;

/**
 * The fewest bytes any int8 .tflite of this graph can take under the TFLite 8-bit spec: its constants' data (int8
 * weights, int32 biases) plus one float32 scale per channel of every per-channel tensor, and nothing else (no
 * zero points, tensor tables, operators or deploy.json). A file <= 0.3x the float32 one is out of reach when this is above it.
 */
function int8Floor(bytes: Uint8Array): number {
  const m = readTflite(bytes);
  return m.tensors.filter((t) => t.buffer > 0 && m.buffers[t.buffer]!.length > 0).reduce((sum, t) => sum + m.buffers[t.buffer]!.length + ((t.quantization?.scale.length ?? 0) > 1 ? 4 * t.quantization!.scale.length : 0), 0);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: join(HERE, 'results') }, students: { type: 'string', default: CASES.map((c) => c.name).join(',') } } });
  const rows: Record<string, unknown>[] = [];
  const lines = ['# TFLite: float32 and int8 .tflite on LiteRT.js', '', `Command: \`node --import tsx benchmarks/tflite.ts\`. Each student is distilled and exported by the real CLI (\`edge-distill distill\`, then \`edge-distill quantize --formats tflite --max-accuracy-drop 0.5\`) on the bundled Fashion-MNIST example (5,000 transfer images; accuracy on the 10,000 test images). Parity and accuracy are the pipeline's own, on LiteRT.js 2.5 (XNNPACK, wasm) in headless Chromium; agreement is over 1,000 test images.`, '', '| student | params | float32 bytes | int8 bytes | int8 / float32 | floor / float32 | float32 max abs diff | int8 agreement | int8 drop (pts) | micro flash | micro arena (estimate) |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const c of CASES.filter((x) => values.students!.split(',').includes(x.name))) {
    const out = mkdtempSync(join(tmpdir(), `edge-distill-tflite-${c.name}-`));
    const cfg = JSON.parse(readFileSync(join(ROOT, 'examples/fmnist-bin/pipeline.json'), 'utf8'));
    for (const split of ['train', 'test']) for (const k of ['features', 'labels']) cfg.data[split][k] = join(ROOT, 'examples/fmnist-bin', cfg.data[split][k]);
    cfg.teacher.model = join(ROOT, 'examples/fmnist-bin', cfg.teacher.model);
    cfg.compress = { onnx: [], tfjs: [] };
    writeFileSync(join(out, 'pipeline.json'), JSON.stringify(cfg));
    const t0 = performance.now();
    const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin/edge-distill.mjs'), ...args, '--quiet'], { maxBuffer: 1 << 26 });
    await cli(['distill', '--config', join(out, 'pipeline.json'), ...c.flags, '--out', join(out, 'distilled')]);
    const method = c.flags[c.flags.indexOf('--methods') + 1]!;
    await cli(['quantize', '--config', join(out, 'pipeline.json'), '--student', join(out, 'distilled', 'students', method), '--formats', 'tflite', '--max-accuracy-drop', '0.5', '--out', join(out, 'run')]);
    const report: Report = JSON.parse(readFileSync(join(out, 'run', 'report.json'), 'utf8'));
    const fp32 = report.artifacts.find((a) => a.name === `${method}.tflite`)!;
    const int8 = report.artifacts.find((a) => a.name === `${method}.int8.tflite`)!;
    const micro = report.micro?.[0];
    const row = { student: c.name, description: c.description, parameters: JSON.parse(readFileSync(join(out, 'distilled', 'report.json'), 'utf8')).students[0].parameters, fp32Bytes: fp32.bytes, int8Bytes: int8.bytes, ratio: int8.bytes / fp32.bytes, floorRatio: int8Floor(readFileSync(join(out, 'run', int8.path))) / fp32.bytes, fp32MaxAbsDiff: fp32.parity[0]!.maxAbsDiff, int8Agreement: int8.parity[0]!.agreement, int8Drop: int8.accuracyDrop, fp32Accuracy: fp32.accuracy, int8Accuracy: int8.accuracy, microFlash: micro?.flashBytes ?? null, microArena: micro?.arenaBytes ?? null, minutes: (performance.now() - t0) / 60000 };
    rows.push(row);
    rmSync(out, { recursive: true, force: true });
    lines.push(`| ${c.description} | ${row.parameters} | ${row.fp32Bytes} | ${row.int8Bytes} | ${row.ratio.toFixed(3)} | ${row.floorRatio.toFixed(3)} | ${row.fp32MaxAbsDiff.toExponential(1)} | ${(row.int8Agreement * 100).toFixed(2)} % | ${row.int8Drop.toFixed(2)} | ${row.microFlash} | ${row.microArena} |`);
    console.log(lines.at(-1));
  }
  lines.push('', 'Acceptance (TFLite issue): float32 within 1e-4 of the student; int8 agreement >= 99.5 %, drop <= 0.5 points, file <= 0.3x the float32 one. Why the ratio misses 0.3 for two students although every weight shrinks 4x: the floor column is the fewest bytes any int8 file of the graph can take under the TFLite 8-bit spec (int8 weights, int32 biases, and one float32 scale per channel of the per-channel filters and biases; no zero points, tables or metadata), over the float32 file. For the dscnn it is above 0.3: its depthwise filters hold 9 weights per channel, each channel pays 4 bytes of int32 bias and 8 bytes of scales, so no writer can reach 0.3 while the spec asks for per-channel conv/depthwise weights. For the MLP-8 the floor is 0.225; the rest is fixed overhead (tensor and operator tables, the SignatureDef, deploy.json in the metadata: about 3.9 KB) that does not shrink with the weights. Identical vectors are written once (the per-channel zero points, all 0, are shared by a layer\'s filter and bias and by layers of one width), which took the dscnn from 0.499 to 0.416.');
  mkdirSync(values.out!, { recursive: true });
  writeFileSync(join(values.out!, 'tflite.md'), lines.join('\n') + '\n');
  writeFileSync(join(values.out!, 'tflite.json'), JSON.stringify({ rows }, null, 2) + '\n');
  console.log(lines.join('\n'));
}

await main();
