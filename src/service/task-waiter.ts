import type { RuntimeEvents } from '../core/runtime-events.js';

/** setTimeout fires after 1 ms for delays above 2^31-1; clamp instead. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Resolves when `isDone()` holds, re-checked on every change event of the task, or when the
 * timeout passes, or when `signal` aborts (client went away). No polling loop per waiter.
 */
export function waitForTaskChange(
  events: RuntimeEvents,
  taskId: string,
  timeoutMs: number,
  isDone: () => boolean,
  signal?: AbortSignal,
): Promise<void> {
  if (isDone() || timeoutMs <= 0 || signal?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      events.off('task:changed', onChange);
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const onChange = (changedId: string): void => {
      if (changedId === taskId && isDone()) finish();
    };
    const timer = setTimeout(finish, Math.min(timeoutMs, MAX_TIMER_MS));
    events.on('task:changed', onChange);
    signal?.addEventListener('abort', finish, { once: true });
  });
}
