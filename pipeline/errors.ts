// The one error type of edge-distill: a stable code, the offending value, and what to do about it.
// Only the CLI entry point turns these into an exit code (see bin/edge-distill.mjs and pipeline/cli.ts).

/** Stable error codes. Tests and scripts match on these; never rename one. */
export type ErrorCode =
  | 'E_CONFIG' // the config (file or flags) does not validate
  | 'E_UNKNOWN_OPTION' // a flag or config key that edge-distill does not know
  | 'E_FILE_NOT_FOUND' // a path named in the config or on the command line does not exist
  | 'E_DATA_FORMAT' // a data file is not in the format it claims (bad magic, ragged rows, ...)
  | 'E_DATA_EMPTY' // a data split has no examples
  | 'E_IMAGE' // an image file that cannot be used: truncated, corrupt, not an image, an unsupported format, too many pixels
  | 'E_LABEL_RANGE' // a label outside [0, classes)
  | 'E_SHAPE_MISMATCH' // data does not fit the model's input shape
  | 'E_MODEL_FORMAT' // a model file cannot be parsed
  | 'E_TEACHER_OUTPUT' // a teacher input/output name the model does not have, or roles that cannot be told apart
  | 'E_TEACHER_IDS' // precomputed teacher outputs whose ids do not match the data rows (missing, extra, duplicate)
  | 'E_RUNTIME' // a runtime failed to load or run a model
  | 'E_PARITY' // exported artifacts disagree with the in-memory student
  | 'E_BUDGET' // the run finished but broke a release budget (exit code 3; its outputs are written)
  | 'E_OUT_LOCKED' // another run is writing to the same --out (its .lock names the pid)
  | 'E_UNSUPPORTED' // a student layer (or option) that the chosen exporter, engine or stage cannot handle yet
  | 'E_MISSING_PACKAGE' // an optional npm package a feature needs (a text corpus) is not installed; the message names it
  | 'E_SHARD'; // teacher-pass shards that are missing, duplicated, overlapping, damaged or from another teacher or data

export class EdgeDistillError extends Error {
  readonly code: ErrorCode;
  /** What the user should do next; printed after the message. */
  readonly hint: string;
  constructor(code: ErrorCode, message: string, hint: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EdgeDistillError';
    this.code = code;
    this.hint = hint;
  }
  /** One line: `E_CODE: message. hint` — what the CLI prints. */
  toLine(): string {
    const msg = this.message.replace(/\s+/g, ' ').trim().replace(/\.$/, '');
    return `${this.code}: ${msg}. ${this.hint}`;
  }
}

/** A student layer that `where` (an exporter, engine or stage) cannot handle yet. */
export function unsupportedLayer(kind: string, index: number, where: string, hint = 'Export the student to ONNX, which takes every layer kind.'): EdgeDistillError {
  return new EdgeDistillError('E_UNSUPPORTED', `${where} does not support layer ${index} (${kind}) yet`, hint);
}

/** List valid choices in error messages the same way everywhere. */
export function oneOf(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}
