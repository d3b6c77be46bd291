/** Percentile by nearest rank over a copy of the samples (p in 0..100). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? Number.NaN;
}

/** Median with the range over repetitions. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  values: number[];
}

/** Summarizes one figure's values over the repetitions. */
export function summarize(values: readonly number[]): Spread {
  return {
    median: percentile(values, 50),
    min: Math.min(...values),
    max: Math.max(...values),
    values: [...values],
  };
}
