// The training recipe both engines follow: how many steps (train.steps, or train.epochs over the transfer set), the
// learning rate at each step (linear warm-up, then constant, cosine or linear decay), decoupled weight decay on the
// kernels, and keeping the weights with the best validation accuracy (checked every epoch or train.evalEvery
// steps), with early stopping after train.patience checks without improvement.
import type { TrainConfig } from './schema.ts';
import type { CheckpointTensor } from './train-checkpoint.ts';

/** What a training loop reads: the config's train section, where the recipe's fields default to a plain run. */
export type LoopConfig = Pick<TrainConfig, 'steps' | 'batchSize' | 'learningRate' | 'engine'> & Partial<Omit<TrainConfig, 'steps' | 'batchSize' | 'learningRate' | 'engine'>>;

/** The optimizer steps a training run takes: train.epochs passes over n rows in batches of B, else train.steps. */
export function totalSteps(cfg: Pick<LoopConfig, 'steps' | 'epochs'>, n: number, batch: number): number {
  return cfg.epochs !== undefined ? cfg.epochs * Math.max(1, Math.floor(n / Math.min(batch, n))) : cfg.steps;
}

/**
 * The learning rate of step `s` (0-based) of `total`: rising linearly over the first warmup * total steps (reaching
 * the full rate at the end of warm-up), then constant or decaying to 0 at the last step (cosine or linear).
 */
export function learningRateAt(cfg: Pick<LoopConfig, 'learningRate' | 'schedule' | 'warmup'>, s: number, total: number): number {
  const lr = cfg.learningRate;
  const warm = Math.round((cfg.warmup ?? 0) * total);
  if (s < warm) return (lr * (s + 1)) / warm;
  if ((cfg.schedule ?? 'constant') === 'constant') return lr;
  const span = total - warm;
  const t = span <= 1 ? 0 : (s - warm) / (span - 1);
  return cfg.schedule === 'cosine' ? lr * 0.5 * (1 + Math.cos(Math.PI * t)) : lr * (1 - t);
}

/** Where the best weights so far stand: what a checkpoint keeps to resume the choice exactly. */
export interface BestState {
  /** Steps done when the best weights were seen (0: no check yet). */
  step: number;
  accuracy: number;
  /** Checks since the best one (early stopping counts these). */
  since: number;
  /** The engine's snapshot of the best weights (null: no check yet). */
  weights: Float32Array[] | null;
}

const noCheckYet = (): BestState => ({ step: 0, accuracy: -1, since: 0, weights: null });

/**
 * Keeps the weights with the best validation accuracy seen at the checks (the first of equal accuracies wins), and
 * says when patience has run out. A check comes every `every` steps and after the last one.
 */
export class BestKeeper {
  state: BestState = noCheckYet();
  constructor(
    readonly every: number,
    readonly patience: number | null,
  ) {}

  /** True when `done` steps (of `total`) end with a check. */
  due(done: number, total: number): boolean {
    return done % this.every === 0 || done === total;
  }

  /** Records a check after `done` steps; returns true when training should stop (patience exhausted). */
  offer(done: number, acc: number, snapshot: () => Float32Array[]): boolean {
    // float32, as a checkpoint stores it: a resumed run compares exactly as an uninterrupted one.
    const accuracy = Math.fround(acc);
    if (accuracy > this.state.accuracy) this.state = { step: done, accuracy, since: 0, weights: snapshot() };
    else this.state = { ...this.state, since: this.state.since + 1 };
    return this.exhausted;
  }

  /** True once patience has run out (training stops; a resumed run too). */
  get exhausted(): boolean {
    return this.patience !== null && this.state.since >= this.patience;
  }

  /** Forgets every check (a checkpoint that was read but not used). */
  reset(): void {
    this.state = noCheckYet();
  }

  /** The progress line's addition while training. */
  progress(): string {
    return `, best validation ${(this.state.accuracy * 100).toFixed(2)} % at step ${this.state.step}`;
  }

  /** The progress line's addition at the end: the step kept, and where training stopped early. */
  outcome(stopped: boolean, done: number): string {
    return `; kept step ${this.state.step} (validation ${(this.state.accuracy * 100).toFixed(2)} %)${stopped ? `, stopped early at step ${done}` : ''}`;
  }

  /** The state as checkpoint tensors (best/meta: step, accuracy, since; best/i: the snapshot's arrays). */
  tensors(): CheckpointTensor[] {
    const { step, accuracy, since, weights } = this.state;
    return [{ name: 'best/meta', shape: [3], data: Float32Array.of(step, accuracy, since) }, ...(weights ?? []).map((data, i) => ({ name: `best/${i}`, shape: [data.length], data }))];
  }

  /** Restores the state from a checkpoint's tensors; false when they hold none. */
  restore(tensors: readonly CheckpointTensor[]): boolean {
    const meta = tensors.find((t) => t.name === 'best/meta');
    if (!meta) return false;
    const weights = tensors.filter((t) => /^best\/\d+$/.test(t.name)).map((t) => t.data);
    this.state = { step: meta.data[0]!, accuracy: meta.data[1]!, since: meta.data[2]!, weights: weights.length ? weights : null };
    return true;
  }
}

/**
 * The keeper of a training loop, or null when the best check is not kept: train.keepBest off, no way to check
 * (`evaluate`), or pruning (its masks change the student as steps go, so the last weights are the ones that meet its
 * sparsity). Checks come every train.evalEvery steps, by default every epoch.
 */
export function bestKeeper(cfg: Pick<LoopConfig, 'keepBest' | 'evalEvery' | 'patience'>, opts: { evaluate?: unknown; afterStep?: unknown }, stepsPerEpoch: number): BestKeeper | null {
  return cfg.keepBest && opts.evaluate && !opts.afterStep ? new BestKeeper(cfg.evalEvery ?? stepsPerEpoch, cfg.patience ?? null) : null;
}

/** A checkpoint's tensors without the recipe's (what the engines' own resume code reads). */
export const engineTensors = (tensors: readonly CheckpointTensor[]) => tensors.filter((t) => !t.name.startsWith('best/'));
