import type { TaskRecord } from '../core/task-record.js';

/** How long past a task's deadline the server waits for its shim before stepping in. */
export const OVERDUE_SLACK_MS = 2_000;

/** What the server does about a running task whose shim is past its deadline. */
export type OverdueAction = 'none' | 'resume' | 'kill';

/**
 * The server's backstop behind the shim's own timers. The shim enforces `wall_time_ms` and
 * carries out kills, but a stopped shim (SIGSTOP: from anyone with the right, a
 * `process`-profile task included, whose program is the shim's child) does neither, and
 * nothing else would (robustness round 10: a task that stopped its shim ran past its wall
 * time and survived a kill, holding its slot). The backstop touches only a shim that is
 * stopped: a running one keeps its own clock (monotonic, while the deadline here is on the
 * wall clock, which can step: round 11 had healthy tasks killed by a clock step) and its own
 * grace (from its launch, which a restart may have changed). Past the deadline — the wall
 * time or the kill request, plus the grace period, plus OVERDUE_SLACK_MS — a stopped shim is
 * resumed (SIGCONT): it then acts on its expired timer or pending SIGTERM and reports as
 * usual. One found stopped again a grace period (plus slack) later is killed with its task,
 * which then ends without an exit record: `timeout` for the wall time, `cancelled` for a
 * kill. Pure bookkeeping; the executor reads the state and sends the signals.
 */
export class OverdueSupervisors {
  /** When each overdue task's shim was resumed. */
  private readonly resumedAt = new Map<string, number>();
  private readonly killed = new Set<string>();

  constructor(private readonly graceMs: number) {}

  /** The shim's deadline: the wall time or the kill request, plus the grace; none unstarted. */
  deadlineOf(record: TaskRecord): number | undefined {
    const started = record.startedAt ?? record.launch?.gateOpenedAt;
    const deadlines = [
      started === undefined ? undefined : started + record.spec.limits.wall_time_ms,
      record.killRequestedAt,
    ].filter((at): at is number => at !== undefined);
    return deadlines.length === 0 ? undefined : Math.min(...deadlines) + this.graceMs;
  }

  /** What to do now about a running task whose shim is alive (`isStopped`: state T or t). */
  check(record: TaskRecord, now: number, isStopped: boolean): OverdueAction {
    if (!isStopped) return 'none';
    const deadline = this.deadlineOf(record);
    if (deadline === undefined || now < deadline + OVERDUE_SLACK_MS) return 'none';
    if (this.killed.has(record.taskId)) return 'none';
    const resumed = this.resumedAt.get(record.taskId);
    if (resumed === undefined) {
      this.resumedAt.set(record.taskId, now);
      return 'resume';
    }
    if (now < resumed + this.graceMs + OVERDUE_SLACK_MS) return 'none';
    this.killed.add(record.taskId);
    return 'kill';
  }

  /** True when the server killed this task's shim: the task ends without an exit record. */
  wasKilled(taskId: string): boolean {
    return this.killed.has(taskId);
  }

  forget(taskId: string): void {
    this.resumedAt.delete(taskId);
    this.killed.delete(taskId);
  }
}
