import { isInRange, type ExposedRange, type UidRange } from './sandbox-exposure.js';

/**
 * How long a sandboxed task's uids stay exposed after it ended. A task can leave a complete
 * request in the API's accept queue and exit; if its end were processed before that
 * connection was accepted, the guard would find nothing exposed and let it through unlooked-up
 * (security round 10: a `process` task ran as root, 9 of 10). While its uids stay noted, such
 * a connection is looked up, and a peer that is already gone (no owner) is refused. For this
 * runtime's own API the grace is safe whatever the delay: it ends only after a poll phase
 * that accepted everything queued before (see `ExposedTasks`). Other runtimes read the note
 * on their own clocks: one whose event loop stalled for longer than this could still accept
 * such a connection unlooked-up. A minute is longer than any stall a task is known to cause
 * (the longest, a file lease's 45 s break time, is closed: open-task-file.ts).
 */
export const EXPOSURE_GRACE_MS = 60_000;

/**
 * Running linux_sandbox tasks with the uid each runs as (when known), and those that ended
 * less than the grace ago: the uids the API guards must treat as sandboxed. All of them,
 * `net: true` ones too: a task in its own network namespace can still be handed a socket of
 * the host's (another task's, passed over a unix socket), so the namespace is no alibi.
 */
export class ExposedTasks {
  private readonly running = new Map<string, number | undefined>();
  /** Ended tasks' uids, until when they stay exposed. */
  private readonly ended = new Map<string, { uid: number | undefined; until: number }>();
  private retireTimer: NodeJS.Timeout | undefined;

  /**
   * `ownRange`: this runtime's uid range, exposed whole while any task is; `onRetired` runs
   * when ended tasks left the set (to rewrite the host-wide note).
   */
  constructor(
    private readonly ownRange: UidRange,
    private readonly onRetired: () => void,
    private readonly graceMs = EXPOSURE_GRACE_MS,
  ) {}

  /** A sandboxed task runs (or is about to): exposed from now on. */
  add(taskId: string, uid: number | undefined): void {
    this.running.set(taskId, uid);
    this.ended.delete(taskId);
  }

  isRunning(taskId: string): boolean {
    return this.running.has(taskId);
  }

  /** The task stopped running: its uids stay exposed for the grace. False if it was not here. */
  end(taskId: string): boolean {
    const uid = this.running.get(taskId);
    if (!this.running.delete(taskId)) return false;
    this.ended.set(taskId, { uid, until: Date.now() + this.graceMs });
    this.retireTimer ??= setTimeout(() => this.retireLater(), this.graceMs).unref();
    return true;
  }

  /**
   * Retires in the check phase (setImmediate), after the poll phase of the loop turn whose
   * timers phase fired: that poll phase accepted every connection queued before the task
   * ended, however long the event loop was stalled, so the guard checked them with the
   * task's uids still exposed.
   */
  private retireLater(): void {
    setImmediate(() => {
      this.retireTimer = undefined;
      const now = Date.now();
      let retired = false;
      for (const [taskId, { until }] of this.ended)
        if (until <= now) retired = this.ended.delete(taskId);
      let next = Infinity;
      for (const { until } of this.ended.values()) next = Math.min(next, until);
      if (next !== Infinity)
        this.retireTimer = setTimeout(() => this.retireLater(), Math.max(next - now, 1)).unref();
      if (retired) this.onRetired();
    });
  }

  /**
   * This runtime's range while any task is exposed, plus the uid of every task outside it —
   * one re-attached after a restart with another `--sandbox-uid-base` still runs as the uid
   * it started with. Ranges only ended tasks hold carry the time their grace ends (`until`),
   * which the host-wide note keeps: it expires by itself if this server is gone by then.
   */
  ranges(): ExposedRange[] {
    if (this.running.size === 0 && this.ended.size === 0) return [];
    const byBase = new Map<number, ExposedRange>();
    const expose = (range: UidRange, until?: number): void => {
      const known = byBase.get(range.base);
      if (known !== undefined && (known.until === undefined || (until ?? Infinity) <= known.until))
        return;
      byBase.set(range.base, until === undefined ? range : { ...range, until });
    };
    const rangeOf = (uid: number | undefined): UidRange =>
      uid === undefined || isInRange(this.ownRange, uid) ? this.ownRange : { base: uid, count: 1 };
    if (this.running.size > 0) expose(this.ownRange);
    for (const uid of this.running.values()) expose(rangeOf(uid));
    for (const { uid, until } of this.ended.values()) {
      expose(this.ownRange, until);
      expose(rangeOf(uid), until);
    }
    return [...byBase.values()];
  }
}
