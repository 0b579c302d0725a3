// A checked reader of TFLite flatbuffers (ours or Google's converter's), over the slots of tflite-schema.ts: every
// offset and length is checked against the file before it is followed, so a truncated or mutated file gives
// E_MODEL_FORMAT, never a wrong answer or a hang. It reads what `inspect` reports and the micro bundle needs (Model,
// SubGraph, Tensor, QuantizationParameters, Buffer, Operator, OperatorCode, Metadata, SignatureDef) and exposes each
// operator's options table for the fields FLOP counting reads.
import { EdgeDistillError } from '../pipeline/errors.ts';
import { BUILTIN_OPERATOR_NAMES, Slot, TENSOR_TYPE_NAMES, TFLITE_IDENTIFIER } from './tflite-schema.ts';

const HINT = 'Pass a TFLite flatbuffer (.tflite) whole, as the converter or `edge-distill export` wrote it.';

class Malformed extends Error {}

/** A table in the buffer: its position, with checked field access by slot. */
export class Table {
  constructor(
    private readonly r: FlatReader,
    readonly pos: number,
  ) {}

  /** The field's absolute position, or 0 when the table does not have it. */
  private field(slot: number): number {
    const vt = this.pos - this.r.i32(this.pos);
    const vtLen = this.r.u16(vt);
    const at = 4 + 2 * slot;
    if (at + 2 > vtLen) return 0;
    const off = this.r.u16(vt + at);
    return off ? this.pos + off : 0;
  }
  u8(slot: number, d = 0): number {
    const p = this.field(slot);
    return p ? this.r.u8(p) : d;
  }
  i8(slot: number, d = 0): number {
    const p = this.field(slot);
    return p ? this.r.i8(p) : d;
  }
  i32(slot: number, d = 0): number {
    const p = this.field(slot);
    return p ? this.r.i32(p) : d;
  }
  u32(slot: number, d = 0): number {
    const p = this.field(slot);
    return p ? this.r.u32(p) : d;
  }
  f32(slot: number, d = 0): number {
    const p = this.field(slot);
    return p ? this.r.f32(p) : d;
  }
  private indirect(slot: number): number {
    const p = this.field(slot);
    return p ? p + this.r.u32(p) : 0;
  }
  table(slot: number): Table | null {
    const p = this.indirect(slot);
    return p ? this.r.table(p) : null;
  }
  string(slot: number): string | null {
    const p = this.indirect(slot);
    return p ? this.r.string(p) : null;
  }
  /** A vector's element start and length (elements of `size` bytes), or null when absent. */
  vector(slot: number, size: number): { start: number; length: number } | null {
    const p = this.indirect(slot);
    if (!p) return null;
    const length = this.r.u32(p);
    this.r.check(p + 4, length * size);
    return { start: p + 4, length };
  }
  ints(slot: number): number[] {
    const v = this.vector(slot, 4);
    return v ? Array.from({ length: v.length }, (_, i) => this.r.i32(v.start + 4 * i)) : [];
  }
  floats(slot: number): number[] {
    const v = this.vector(slot, 4);
    return v ? Array.from({ length: v.length }, (_, i) => this.r.f32(v.start + 4 * i)) : [];
  }
  longs(slot: number): number[] {
    const v = this.vector(slot, 8);
    return v ? Array.from({ length: v.length }, (_, i) => Number(this.r.i64(v.start + 8 * i))) : [];
  }
  tables(slot: number): Table[] {
    const v = this.vector(slot, 4);
    return v ? Array.from({ length: v.length }, (_, i) => this.r.table(v.start + 4 * i + this.r.u32(v.start + 4 * i))) : [];
  }
}

class FlatReader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  check(pos: number, size: number): void {
    if (!Number.isSafeInteger(pos) || pos < 0 || size < 0 || pos + size > this.bytes.length) throw new Malformed(`offset ${pos} (+${size} bytes) is outside the ${this.bytes.length}-byte file`);
  }
  u8(p: number): number {
    this.check(p, 1);
    return this.view.getUint8(p);
  }
  i8(p: number): number {
    this.check(p, 1);
    return this.view.getInt8(p);
  }
  u16(p: number): number {
    this.check(p, 2);
    return this.view.getUint16(p, true);
  }
  i32(p: number): number {
    this.check(p, 4);
    return this.view.getInt32(p, true);
  }
  u32(p: number): number {
    this.check(p, 4);
    return this.view.getUint32(p, true);
  }
  f32(p: number): number {
    this.check(p, 4);
    return this.view.getFloat32(p, true);
  }
  i64(p: number): bigint {
    this.check(p, 8);
    return this.view.getBigInt64(p, true);
  }
  string(p: number): string {
    const n = this.u32(p);
    this.check(p + 4, n);
    return new TextDecoder().decode(this.bytes.subarray(p + 4, p + 4 + n));
  }
  table(p: number): Table {
    this.check(p, 4);
    const vt = p - this.i32(p);
    this.check(vt, 4);
    const vtLen = this.u16(vt);
    if (vtLen < 4 || vtLen % 2) throw new Malformed(`table at ${p} has a vtable of ${vtLen} bytes`);
    this.check(vt, vtLen);
    return new Table(this, p);
  }
}

/** One tensor as `inspect` and the TFLite tools see it. */
export interface TfliteTensor {
  name: string;
  shape: number[];
  /** shape_signature, where the file has one (-1 marks a dynamic dim). */
  signature: number[] | null;
  dtype: string;
  buffer: number;
  quantization: { scale: number[]; zeroPoint: number[]; dimension: number } | null;
}

export interface TfliteOperator {
  op: string;
  version: number;
  inputs: number[];
  outputs: number[];
  options: Table | null;
}

/** The parts of a .tflite inspect reports and the micro bundle needs. */
export interface TfliteModel {
  version: number;
  description: string | null;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
  /** Where each buffer's data lies in the file (offset 0, length 0 for the empty ones). */
  buffers: { offset: number; length: number }[];
  /** The operator code table as stored: both code fields and the version. */
  operatorCodes: { builtinCode: number; deprecatedBuiltinCode: number; version: number }[];
  metadata: Record<string, Uint8Array>;
  signatures: { key: string; inputs: Record<string, number>; outputs: Record<string, number> }[];
  subgraphs: number;
}

/** Parse a .tflite; throws E_MODEL_FORMAT (with what was wrong) for anything that is not a well-formed one. */
export function readTflite(bytes: Uint8Array, path = 'model'): TfliteModel {
  try {
    return parse(bytes);
  } catch (err) {
    if (err instanceof EdgeDistillError) throw err;
    if (err instanceof Malformed || err instanceof RangeError) throw new EdgeDistillError('E_MODEL_FORMAT', `${path} is not a well-formed TFLite file: ${err.message}`, HINT, { cause: err });
    throw err;
  }
}

/** True when the bytes carry the TFL3 file identifier. */
export function isTflite(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && Buffer.from(bytes.subarray(4, 8)).toString('latin1') === TFLITE_IDENTIFIER;
}

function parse(bytes: Uint8Array): TfliteModel {
  if (!isTflite(bytes)) throw new Malformed(`no "${TFLITE_IDENTIFIER}" identifier at bytes 4-8`);
  const r = new FlatReader(bytes);
  const model = r.table(r.u32(0));
  const S = Slot;
  const operatorCodes = model.tables(S.Model.operator_codes).map((c) => ({ builtinCode: c.i32(S.OperatorCode.builtin_code), deprecatedBuiltinCode: c.i8(S.OperatorCode.deprecated_builtin_code), version: c.i32(S.OperatorCode.version, 1), custom: c.string(S.OperatorCode.custom_code) }));
  const codes = operatorCodes.map((c) => {
    // builtin_code is the field since schema 3a; older files only have the byte deprecated_builtin_code.
    const code = Math.max(c.builtinCode, c.deprecatedBuiltinCode);
    return { op: code === 32 ? `CUSTOM:${c.custom ?? '?'}` : (BUILTIN_OPERATOR_NAMES[code] ?? `BUILTIN_${code}`), version: c.version };
  });
  const subgraphs = model.tables(S.Model.subgraphs);
  const main = subgraphs[0];
  if (!main) throw new Malformed('the model has no subgraph');
  const tensors = main.tables(S.SubGraph.tensors).map((t): TfliteTensor => {
    const q = t.table(S.Tensor.quantization);
    const scale = q ? q.floats(S.QuantizationParameters.scale) : [];
    const sig = t.ints(S.Tensor.shape_signature);
    const type = t.i8(S.Tensor.type);
    return {
      name: t.string(S.Tensor.name) ?? '',
      shape: t.ints(S.Tensor.shape),
      signature: sig.length ? sig : null,
      dtype: TENSOR_TYPE_NAMES[type] ?? `type${type}`,
      buffer: t.u32(S.Tensor.buffer),
      quantization: q && scale.length ? { scale, zeroPoint: q.longs(S.QuantizationParameters.zero_point), dimension: q.i32(S.QuantizationParameters.quantized_dimension) } : null,
    };
  });
  const index = (i: number, what: string) => {
    if (!Number.isInteger(i) || i < -1 || i >= tensors.length) throw new Malformed(`${what} names tensor ${i}, but there are ${tensors.length}`);
    return i;
  };
  const operators = main.tables(S.SubGraph.operators).map((o, k): TfliteOperator => {
    const ci = o.u32(S.Operator.opcode_index);
    const code = codes[ci];
    if (!code) throw new Malformed(`operator ${k} uses operator code ${ci}, but there are ${codes.length}`);
    return { op: code.op, version: code.version, inputs: o.ints(S.Operator.inputs).map((i) => index(i, `operator ${k}`)), outputs: o.ints(S.Operator.outputs).map((i) => index(i, `operator ${k}`)), options: o.table(S.Operator.builtin_options) };
  });
  const buffers = model.tables(S.Model.buffers);
  const bufferData = buffers.map((b) => {
    const v = b.vector(S.Buffer.data, 1);
    return v ? { offset: v.start, length: v.length } : { offset: 0, length: 0 };
  });
  for (const t of tensors) if (t.buffer >= buffers.length) throw new Malformed(`tensor ${t.name} names buffer ${t.buffer}, but there are ${buffers.length}`);
  const metadata: Record<string, Uint8Array> = {};
  for (const m of model.tables(S.Model.metadata)) {
    const b = buffers[m.u32(S.Metadata.buffer)];
    const v = b?.vector(S.Buffer.data, 1);
    metadata[m.string(S.Metadata.name) ?? ''] = v ? bytes.subarray(v.start, v.start + v.length) : new Uint8Array(0);
  }
  const maps = (list: Table[]) => Object.fromEntries(list.map((m) => [m.string(S.TensorMap.name) ?? '', index(m.u32(S.TensorMap.tensor_index), 'a signature')]));
  const signatures = model.tables(S.Model.signature_defs).map((s) => ({ key: s.string(S.SignatureDef.signature_key) ?? '', inputs: maps(s.tables(S.SignatureDef.inputs)), outputs: maps(s.tables(S.SignatureDef.outputs)) }));
  return {
    version: model.u32(S.Model.version),
    description: model.string(S.Model.description),
    tensors,
    inputs: main.ints(S.SubGraph.inputs).map((i) => index(i, 'the subgraph inputs')),
    outputs: main.ints(S.SubGraph.outputs).map((i) => index(i, 'the subgraph outputs')),
    operators,
    buffers: bufferData,
    operatorCodes: operatorCodes.map(({ builtinCode, deprecatedBuiltinCode, version }) => ({ builtinCode, deprecatedBuiltinCode, version })),
    metadata,
    signatures,
    subgraphs: subgraphs.length,
  };
}

