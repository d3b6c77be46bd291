/** Injectable time source so timing logic can be tested without sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** RFC 3339 UTC with milliseconds, the contract's timestamp format. */
export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}
