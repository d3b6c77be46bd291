import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { formatTimestamp } from '../core/clock.js';
import type { Failpoints } from '../core/failpoints.js';
import type { RuntimeEvents } from '../core/runtime-events.js';
import type { TaskRecord } from '../core/task-record.js';
import type { TaskExecutor } from '../executor/task-executor.js';
import { selectDispatchable, type WaitingTask } from '../ledger/fair-dispatch.js';
import type { ResourceLedger } from '../ledger/resource-ledger.js';
import type { TaskStore, WaitingRow } from '../store/task-store.js';
import { WaitingQueue } from './waiting-queue.js';

export interface DispatcherDeps {
  store: TaskStore;
  ledger: ResourceLedger;
  executor: TaskExecutor;
  events: RuntimeEvents;
  clock: Clock;
  logger: Logger;
  failpoints: Failpoints;
}

function toWaitingTask(row: WaitingRow): WaitingTask {
  return {
    task_id: row.taskId,
    ...(row.tenant === undefined ? {} : { tenant: row.tenant }),
    reservation: row.reservation,
    seq: row.queueSeq,
  };
}

/**
 * Moves accepted tasks to running when they fit. Woken by submissions and completions (no
 * busy polling); several wake-ups in one tick coalesce into one pass. Fairness across
 * tenants and FIFO within one come from `selectDispatchable`, over the in-memory queue.
 */
export class Dispatcher {
  private isScheduled = false;
  private isDispatching = false;
  private isStopped = true;
  private cursor: string | undefined;
  private readonly waiting = new WaitingQueue();

  constructor(private readonly deps: DispatcherDeps) {}

  /** Loads the queue from the database (after recovery) and starts dispatching. */
  start(): void {
    this.waiting.load(this.deps.store.listWaiting().map(toWaitingTask));
    this.isStopped = false;
    this.wake();
  }

  /** How many accepted tasks wait (the in-memory queue; no COUNT over the index per submit). */
  get queued(): number {
    return this.waiting.size;
  }

  /**
   * A task was committed as accepted (submit). If it can start, it is launched right away,
   * before the submit's reply is written: the reply waits a fraction of a millisecond, the
   * task does not wait for the reply (sequential submit → terminal p50 −9 % measured,
   * docs/performance.md).
   */
  onTaskAccepted(row: WaitingRow): void {
    this.waiting.add(toWaitingTask(row));
    if (this.isStopped || this.isDispatching) {
      this.wake();
      return;
    }
    this.runPass();
  }

  /**
   * A task whose launch got no supervisor was put back to `accepted` (task-executor.ts): its
   * reservation is returned and it waits again in its old place (its queue_seq).
   */
  onTaskRequeued(record: TaskRecord): void {
    if (this.deps.ledger.release(record.taskId) !== undefined)
      this.deps.events.emit('ledger:changed');
    this.waiting.add(
      toWaitingTask({
        taskId: record.taskId,
        ...(record.tenant === undefined ? {} : { tenant: record.tenant }),
        reservation: record.reservation,
        queueSeq: record.queueSeq,
      }),
    );
    this.deps.events.emit('task:changed', record.taskId, 'accepted');
    this.schedule(setImmediate);
  }

  /** An accepted task was cancelled: it will never be started. */
  forget(taskId: string): void {
    this.waiting.remove(taskId);
  }

  /**
   * Compares the in-memory queue with the database and reloads it if they differ (the sweep
   * calls this; every change to both happens in one synchronous step, so between callbacks
   * they must agree). Returns whether a reload was needed.
   */
  resync(): boolean {
    if (this.isStopped) return false;
    this.releaseStrayReservations();
    if (this.deps.store.countAccepted() === this.waiting.size) return false;
    this.deps.logger.warn(
      { queued_in_memory: this.waiting.size },
      'dispatch queue differed from the database; reloaded',
    );
    this.waiting.load(this.deps.store.listWaiting().map(toWaitingTask));
    return true;
  }

  /**
   * Only a running task holds a reservation, and every change to both happens in one
   * synchronous step. A reservation in the ledger whose task is not running in the database
   * would hold its slot for good (a second server on the data dir once did this; the data dir
   * lock now prevents it): defence in depth, it is returned, with an error logged.
   */
  private releaseStrayReservations(): void {
    const { ledger, store, logger, events } = this.deps;
    const active = ledger.snapshot().active;
    if (active.length === 0) return;
    const running = store.listRunningIds();
    for (const reservation of active) {
      if (running.has(reservation.task_id)) continue;
      ledger.release(reservation.task_id);
      events.emit('ledger:changed');
      logger.error(
        { task_id: reservation.task_id },
        'the ledger held a reservation for a task that is not running; released',
      );
    }
  }

  stop(): void {
    this.isStopped = true;
  }

  /** Schedules a dispatch pass on the next turn of the event loop. */
  wake(): void {
    this.schedule(setImmediate);
  }

  /**
   * Returns a finished task's reservation to the ledger and looks for work that now fits —
   * right after the finishing code, not a turn of the event loop later: a freed slot should
   * not sit idle behind other I/O callbacks (it is what bounds `sleep`-like workloads). A
   * task that finishes during a pass (a failed launch) schedules the next pass on the next
   * turn, so a queue of failing launches cannot starve the event loop.
   */
  onTaskFinished(taskId: string): void {
    if (this.deps.ledger.release(taskId) !== undefined) this.deps.events.emit('ledger:changed');
    this.schedule(this.isDispatching ? setImmediate : queueMicrotask);
  }

  /**
   * A running task's processes are all gone (its supervisor exited): its reservation is
   * returned now and the next task launched at once, before the exited task's terminal
   * commit. The database briefly shows both reservations; recovery settles such a pair
   * correctly (the exited task is finished from its exit record), and the ledger in memory,
   * which admission and `/runtime/resources` use, never over-commits.
   */
  onTaskExited(taskId: string): void {
    if (this.deps.ledger.release(taskId) === undefined) return;
    this.deps.events.emit('ledger:changed');
    if (this.isStopped || this.isDispatching) this.schedule(setImmediate);
    else this.runPass();
  }

  private schedule(defer: (callback: () => void) => unknown): void {
    if (this.isScheduled || this.isStopped) return;
    this.isScheduled = true;
    defer(() => {
      this.isScheduled = false;
      if (this.isStopped) return;
      this.runPass();
    });
  }

  private runPass(): void {
    this.isDispatching = true;
    try {
      this.dispatchNow();
    } catch (error) {
      // A storage fault must not take the server (and every re-attach) down, nor fail the
      // submit that ran this pass; the sweep wakes the dispatcher again once storage is back.
      this.deps.logger.error({ err: error }, 'dispatch pass failed');
    } finally {
      this.isDispatching = false;
    }
  }

  /** One dispatch pass: reserve and launch everything that fits now. */
  dispatchNow(): void {
    const { store, ledger, clock, events, failpoints } = this.deps;
    const freeSlots = ledger.getAvailable().task_slots;
    if (freeSlots <= 0 || this.waiting.size === 0) return;
    const waiting = this.waiting.heads(freeSlots);
    const { selected, cursor } = selectDispatchable(waiting, ledger, this.cursor);
    this.cursor = cursor;
    for (const task of selected) {
      if (!ledger.fitsNow(task.reservation, task.tenant)) continue;
      const at = clock.now();
      const isDispatched = store.markDispatched(task.task_id, at, [
        { type: 'resource_reserved', data: task.reservation },
      ]);
      // Started, or no longer accepted (cancelled meanwhile): not waiting either way.
      this.waiting.remove(task.task_id);
      if (!isDispatched) continue;
      failpoints.hit('after-reserve-commit');
      ledger.reserve(task.task_id, task.reservation, task.tenant, formatTimestamp(at));
      events.emit('ledger:changed');
      const record = store.getTask(task.task_id);
      if (record === undefined) continue;
      events.emit('task:dispatched', record);
      events.emit('task:changed', record.taskId, 'running');
      this.deps.executor.launch(record);
    }
  }
}
