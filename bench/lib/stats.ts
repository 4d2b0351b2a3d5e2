/** Median, tail and spread of one set of samples (milliseconds, or any unit). */
export interface Summary {
  count: number;
  median: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Summarises `samples`; percentiles by nearest rank. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new TypeError('Expected `samples` to hold at least one number');

  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    median: percentileOf(sorted, 0.5),
    p90: percentileOf(sorted, 0.9),
    p99: percentileOf(sorted, 0.99),
    mean: sum / sorted.length,
    min: sorted[0]!,
    max: sorted.at(-1)!,
  };
}

/** The median of `values`. */
export function median(values: readonly number[]): number {
  return summarize(values).median;
}

// Nearest rank: the smallest sample with at least `fraction` of all at or
// below it, so p99 of 3,000 samples is the 2,970th.
function percentileOf(sorted: readonly number[], fraction: number): number {
  return sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)]!;
}

/** Rounds to `digits` decimals, for output. */
export function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Fisher-Yates shuffle of a copy; the order subjects take their turn in a round. */
export function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
