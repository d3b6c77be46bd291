import { findTenantGroup, type WaitingTask } from '../ledger/fair-dispatch.js';

/**
 * The accepted tasks, in memory, per tenant group and in queue order: what a dispatch pass
 * chooses from. Reading them from the database on every pass cost time linear in the queue
 * length for each task started, so a deep queue (thousands waiting) made dispatching
 * quadratic. The database stays the truth: the dispatcher loads this at start, the code that
 * accepts, starts or cancels a task updates both, and the sweep compares the two counts.
 */
export class WaitingQueue {
  private readonly groups = new Map<string, WaitingTask[]>();
  private readonly groupOf = new Map<string, string>();

  get size(): number {
    return this.groupOf.size;
  }

  /** Replaces the whole content (at start, or to resynchronise with the database). */
  load(tasks: readonly WaitingTask[]): void {
    this.groups.clear();
    this.groupOf.clear();
    for (const task of [...tasks].sort((a, b) => a.seq - b.seq)) this.add(task);
  }

  /** Adds a newly accepted task; its seq is normally the largest so far (an append). */
  add(task: WaitingTask): void {
    if (this.groupOf.has(task.task_id)) return;
    const key = findTenantGroup(task);
    let queue = this.groups.get(key);
    if (queue === undefined) {
      queue = [];
      this.groups.set(key, queue);
    }
    let at = queue.length;
    while (at > 0 && (queue[at - 1]?.seq ?? 0) > task.seq) at--;
    queue.splice(at, 0, task);
    this.groupOf.set(task.task_id, key);
  }

  /** Removes a task that started or was cancelled; false if it was not waiting. */
  remove(taskId: string): boolean {
    const key = this.groupOf.get(taskId);
    if (key === undefined) return false;
    this.groupOf.delete(taskId);
    const queue = this.groups.get(key) ?? [];
    // Started tasks are at the head: the search is short in the common case.
    const index = queue.findIndex((task) => task.task_id === taskId);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0) this.groups.delete(key);
    return true;
  }

  /**
   * The first `perGroup` tasks of every group, oldest first within a group. With `perGroup`
   * free slots, no group can start more than that many in one pass, so the rest of the queue
   * need not be looked at.
   */
  heads(perGroup: number): WaitingTask[] {
    const heads: WaitingTask[] = [];
    for (const queue of this.groups.values()) heads.push(...queue.slice(0, perGroup));
    return heads;
  }
}
