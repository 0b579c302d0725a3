// DevTools CPU throttling for a benchmark page, and the check that it really is in effect.
//
// Chromium throttles on Linux by signalling the page's main thread every ~200 µs from a helper thread; the signal
// handler busy-waits (rate - 1) x the time the thread ran. On a busy machine the helper thread may not get to run,
// and the page then runs at full speed although the rate was set: seen on our shared 2-core machines for seconds
// at a time. Throttled numbers that were not throttled would be wrong, so page.js's yardstick (a native sort) is timed before
// the rate is set and again after, and a job whose check fails is run again (harness.ts).
import type { CDPSession, Page } from 'playwright-core';

/** The yardstick functions page.js defines on the page's global object. */
export interface Yardstick {
  /** Time the loop at full speed; call before throttling. */
  edgeDistillCalibrate(): void;
  /** How many times slower the loop runs now than at calibration, or null before calibration. */
  edgeDistillSlowdown(): number | null;
}

export class ThrottleNotApplied extends Error {}

/** Below 2x, throttling is too close to full speed to tell from noise on the yardstick, so it is not checked. */
const isChecked = (rate: number) => rate >= 2;

/** Rate 10 measures 8-12x on the yardstick; less than a third of the way there is not the emulated device. */
export function throttleHolds(rate: number, slowdown: number | null): boolean {
  return !isChecked(rate) || (slowdown !== null && slowdown >= 1 + (rate - 1) / 3);
}

/**
 * Throws ThrottleNotApplied unless `slowdown`, measured after the runs, shows throttling was still on. Only a page back
 * at (nearly) full speed fails: the full-speed calibration itself is slowed when other work shares the CPU (as in a
 * parallel test run), which understates the ratio, so the strict start check would reject good runs here.
 */
export function checkThrottleAfterRuns(rate: number, slowdown: number | null): void {
  if (isChecked(rate) && !(slowdown !== null && slowdown >= 1.5)) {
    throw new ThrottleNotApplied(`CPU throttling x${rate} was not in effect at the end of the runs (the yardstick ran ${slowdown?.toFixed(1)}x slower)`);
  }
}

/** Set the rate on a loaded page.js page, then wait (up to ~1 s at rate 10) until the yardstick shows it is in effect. */
export async function throttle(page: Page, cdp: CDPSession, rate: number): Promise<void> {
  if (!isChecked(rate)) return void (await cdp.send('Emulation.setCPUThrottlingRate', { rate }));
  // These callbacks run in the page, so they can use nothing from this module.
  await page.evaluate(() => (globalThis as unknown as Yardstick).edgeDistillCalibrate());
  await cdp.send('Emulation.setCPUThrottlingRate', { rate });
  let slowdown: number | null = null;
  for (let check = 0; check < 10; check++) {
    slowdown = await page.evaluate(() => (globalThis as unknown as Yardstick).edgeDistillSlowdown());
    if (throttleHolds(rate, slowdown)) return;
  }
  throw new ThrottleNotApplied(`CPU throttling x${rate} did not take effect (the yardstick ran ${slowdown?.toFixed(1)}x slower)`);
}
