// The Pareto front of artifacts over accuracy, latency and size: the ones worth shipping, whatever the trade-off.
// Pure, so the report's chart and its tests share one definition.

/** One candidate: higher accuracy is better; lower latency and fewer bytes are better. */
export interface ParetoPoint {
  accuracy: number;
  latencyMs: number;
  bytes: number;
}

/** `a` dominates `b`: at least as accurate, at least as fast and at least as small, and strictly better in one. */
export function dominates(a: ParetoPoint, b: ParetoPoint): boolean {
  const noWorse = a.accuracy >= b.accuracy && a.latencyMs <= b.latencyMs && a.bytes <= b.bytes;
  const better = a.accuracy > b.accuracy || a.latencyMs < b.latencyMs || a.bytes < b.bytes;
  return noWorse && better;
}

/**
 * The points no other point dominates (see `dominates`), in input order. Points equal in all three objectives do not
 * dominate each other, so ties are all kept. O(n²), which is fine for the tens of artifacts a run makes.
 */
export function paretoFront<T extends ParetoPoint>(points: readonly T[]): T[] {
  return points.filter((p) => !points.some((q) => q !== p && dominates(q, p)));
}
