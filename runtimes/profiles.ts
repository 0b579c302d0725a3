// Device profiles: emulation of slower devices, documented with their parameters. In Chromium, the DevTools
// protocol's Emulation.setCPUThrottlingRate slows the page's main thread and its workers by `cpuThrottle`; in Node
// there is no such control, so only `threads` applies there (reports say so). Users add their own in the config.

export interface DeviceProfile {
  description: string;
  /** Inference threads (onnxruntime intra-op threads; wasm threads where the page is cross-origin isolated). */
  threads: number;
  /** CPU slowdown factor applied in Chromium (1 = none). */
  cpuThrottle: number;
  /** Peak memory the device can give the model, in MB; a result above it is flagged. null = no limit. */
  memoryMB: number | null;
}

export const DEVICE_PROFILES = {
  desktop: { description: 'the machine as it is: 2 threads, no throttling', threads: 2, cpuThrottle: 1, memoryMB: null },
  // DevTools' own "mid-tier mobile" preset is a 4x slowdown; phones run small models on 1-2 big cores.
  phone: { description: 'mid-range phone: 2 threads, CPU throttled 4x (DevTools "mid-tier mobile")', threads: 2, cpuThrottle: 4, memoryMB: 512 },
  // A watch SoC (Cortex-A53 class, ~1.2 GHz, one core for the app) is roughly 10x slower per thread than a desktop core.
  watch: { description: 'smartwatch: 1 thread, CPU throttled 10x, 128 MB', threads: 1, cpuThrottle: 10, memoryMB: 128 },
  // Microcontroller-class Linux boards (single Cortex-A7 at ~1 GHz) are another 2x below a watch.
  iot: { description: 'IoT board: 1 thread, CPU throttled 20x, 64 MB', threads: 1, cpuThrottle: 20, memoryMB: 64 },
} as const satisfies Record<string, DeviceProfile>;

export type BuiltinProfileName = keyof typeof DEVICE_PROFILES;
export const BUILTIN_PROFILES = Object.keys(DEVICE_PROFILES) as BuiltinProfileName[];
