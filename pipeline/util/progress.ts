// Progress reporting for steps that take more than a second: a bar on a terminal, one start/end line otherwise.
// Everything goes to stderr so that `--json` output on stdout stays machine-readable.
import cliProgress from 'cli-progress';

export interface Progress {
  /** Begin a step of `total` units; returns a ticker for it. */
  step(label: string, total: number): StepTicker;
  /** A one-line note (what was detected, what was skipped). */
  note(message: string): void;
}
export interface StepTicker {
  tick(units?: number, extra?: string): void;
  done(summary?: string): void;
}

export function createProgress(opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { step: () => ({ tick() {}, done() {} }), note() {} };
  const tty = Boolean(stream.isTTY);
  return {
    note: (m) => stream.write(`  ${m}\n`),
    step(label, total) {
      const t0 = performance.now();
      const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
      if (!tty) {
        stream.write(`> ${label} ...\n`);
        return { tick() {}, done: (s) => stream.write(`  ${label}: done in ${secs()} s${s ? ` (${s})` : ''}\n`) };
      }
      const bar = new cliProgress.SingleBar(
        { format: `  ${label.padEnd(28)} [{bar}] {percentage}% {value}/{total} {extra}`, stream, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { extra: '' });
      return {
        tick: (n = 1, extra = '') => bar.increment(n, { extra }),
        done: (s) => {
          bar.stop();
          stream.write(`  ${label}: done in ${secs()} s${s ? ` (${s})` : ''}\n`);
        },
      };
    },
  };
}
